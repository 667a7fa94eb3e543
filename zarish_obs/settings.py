"""Secrets and connection settings: from environment variables or files, never from the catalog.

Values read here are wrapped in `Secret`, whose repr and str never show the value, so a secret
cannot leak into logs, tracebacks or `--debug` output by accident.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from zarish_obs.errors import ExitCode, ZarishError


class Secret:
    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)


def read_secret_file(path: str | Path, what: str) -> Secret:
    p = Path(path)
    try:
        value = p.read_text("utf-8").strip()
    except OSError as exc:
        raise ZarishError(f"{p}: cannot read {what}: {exc.strerror}", ExitCode.USAGE) from None
    except UnicodeDecodeError:
        raise ZarishError(f"{p}: {what} file is not UTF-8 text", ExitCode.USAGE) from None
    if not value:
        raise ZarishError(f"{p}: {what} file is empty", ExitCode.USAGE)
    return Secret(value)


def env_secret(name: str) -> Secret | None:
    value = os.environ.get(name, "").strip()
    return Secret(value) if value else None


def secret_from(env_name: str, file_env_name: str | None = None, file_path: str | None = None,
                what: str = "secret") -> Secret | None:
    """A secret from an explicit file, `<NAME>_FILE`, or the environment variable, in that order."""
    if file_path:
        return read_secret_file(file_path, what)
    if file_env_name and os.environ.get(file_env_name):
        return read_secret_file(os.environ[file_env_name], what)
    return env_secret(env_name)


@dataclass(frozen=True)
class Auth:
    """A bearer token, or basic auth (user and password), or neither."""

    token: Secret | None
    user: Secret | None
    password: Secret | None

    @property
    def secrets(self) -> tuple[Secret, ...]:
        return tuple(s for s in (self.token, self.password) if s)


def auth_from_env(prefix: str, server: str) -> Auth:
    """Credentials for a server from `<PREFIX>_TOKEN(_FILE)` or `<PREFIX>_USER` with `<PREFIX>_PASSWORD(_FILE)`;
    a usage error (exit 64) when both kinds, or half of basic auth, are set."""
    token = secret_from(f"{prefix}_TOKEN", f"{prefix}_TOKEN_FILE", what=f"{server} bearer token")
    password = secret_from(f"{prefix}_PASSWORD", f"{prefix}_PASSWORD_FILE", what=f"{server} password")
    user = env_secret(f"{prefix}_USER")
    if token and (user or password):
        raise ZarishError(f"set either {prefix}_TOKEN(_FILE) or {prefix}_USER/{prefix}_PASSWORD(_FILE), not both",
                          ExitCode.USAGE)
    if bool(user) != bool(password):
        raise ZarishError(f"basic auth needs both {prefix}_USER and {prefix}_PASSWORD(_FILE)", ExitCode.USAGE)
    return Auth(token, user, password)


def redact(text: str, *secrets: Secret | None) -> str:
    """Remove secret values from text that is about to be shown."""
    for s in secrets:
        if s and s.reveal():
            text = text.replace(s.reveal(), "***")
    return text
