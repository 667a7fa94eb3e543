"""One-off maintenance windows as Alertmanager silences, kept in step with the catalog through API v2.

Our silences carry `createdBy: zarish-obs` and a tag in the comment naming the catalog, the window and
the part (the services' alerts, or the DR triggers of a `suppress_dr` window); anything else, above all
the silences people set, is never touched. Every change is planned before the first is made, so a server
that fails part-way leaves a known list of applied changes, and a re-run finishes the job: it finds what
was applied by its tag, so it never creates a second silence for one window.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import requests

from zarish_obs import conventions, maintenance
from zarish_obs.alerts.maintenance import muted_alerts
from zarish_obs.catalog import Catalog, MaintenanceWindow
from zarish_obs.errors import ExitCode, ZarishError
from zarish_obs.settings import Secret, auth_from_env, redact

CREATED_BY = "zarish-obs"
PARTS = ("services", "dr")
_TAG = re.compile(r"\[zarish-obs catalog=(?P<catalog>[a-z0-9-]+) window=(?P<window>[a-z0-9-]+) "
                  r"part=(?P<part>services|dr)\]$")

ENV_URL = "ALERTMANAGER_URL"
ENV_PREFIX = "ALERTMANAGER"  # ALERTMANAGER_TOKEN(_FILE), ALERTMANAGER_USER, ALERTMANAGER_PASSWORD(_FILE)

Matcher = tuple[str, str, bool, bool]  # name, value, isRegex, isEqual
Key = tuple[str, str]  # window, part


@dataclass(frozen=True)
class Silence:
    """A silence as we compare it: what it matches, when, and its comment (`id` empty until it exists)."""

    key: Key
    matchers: frozenset[Matcher]
    starts: float
    ends: float
    comment: str
    id: str = ""
    state: str = ""

    def to_api(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "matchers": [{"name": n, "value": v, "isRegex": r, "isEqual": e} for n, v, r, e in sorted(self.matchers)],
            "startsAt": _rfc3339(self.starts), "endsAt": _rfc3339(self.ends),
            "createdBy": CREATED_BY, "comment": self.comment,
        }
        if self.id:
            body["id"] = self.id
        return body


@dataclass(frozen=True)
class Change:
    """create, update (the same silence, new times or matchers), expire, or keep."""

    action: str
    key: Key
    silence: Silence
    previous: Silence | None = None

    def label(self) -> str:
        return f"{self.action} {self.key[0]}/{self.key[1]}"

    def to_json(self) -> dict[str, Any]:
        s = self.silence
        return {"action": self.action, "window": self.key[0], "part": self.key[1], "id": s.id or None,
                "matchers": [f"{n}{'=' if e else '!'}{'~' if r else ''}\"{v}\"" if r or not e else f'{n}="{v}"'
                             for n, v, r, e in sorted(s.matchers)],
                "starts_at": _rfc3339(s.starts), "ends_at": _rfc3339(s.ends)}


def _rfc3339(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse_time(text: Any) -> float | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def tag(catalog: Catalog, window: str, part: str) -> str:
    return f"[zarish-obs catalog={catalog.name} window={window} part={part}]"


def _matchers(catalog: Catalog, window: MaintenanceWindow, part: str) -> frozenset[Matcher]:
    if part == "dr":
        return frozenset({(conventions.DR_TRIGGER_LABEL, ".+", True, True)})
    m = catalog.metrics
    return frozenset({
        ("alertname", "|".join(muted_alerts(catalog)), True, True),
        (m.environment_label, "|".join(maintenance.environments(catalog, window)), True, True),
        (m.service_label, "|".join(maintenance.services(catalog, window)), True, True),
    })


def desired(catalog: Catalog, now: float) -> list[Silence]:
    """The silences the catalog's one-off windows need at `now`: those not yet over."""
    out = []
    dr_env = catalog.dr.error_ratio.environment
    for w in catalog.maintenance:
        if w.kind != "oneoff":
            continue
        [span] = maintenance.occurrences(catalog, w, float("-inf"), float("inf"))
        if span.end <= now:
            continue
        parts = ["services"]
        if w.suppress_dr and dr_env in maintenance.environments(catalog, w):
            parts.append("dr")
        out += [Silence((w.name, p), _matchers(catalog, w, p), span.start, span.end,
                        f"{w.reason} {tag(catalog, w.name, p)}") for p in parts]
    return out


def ours(catalog: Catalog, answer: Any) -> list[Silence]:
    """Our live (pending or active) silences for this catalog in a GET /api/v2/silences answer."""
    if not isinstance(answer, list):
        raise ZarishError("alertmanager: GET /api/v2/silences did not answer a list of silences",
                          ExitCode.UNAVAILABLE)
    out = []
    for item in answer:
        if not isinstance(item, dict) or item.get("createdBy") != CREATED_BY:
            continue
        found = _TAG.search(str(item.get("comment", "")))
        state = (item.get("status") or {}).get("state")
        if not found or found["catalog"] != catalog.name or state == "expired":
            continue
        starts, ends = _parse_time(item.get("startsAt")), _parse_time(item.get("endsAt"))
        if starts is None or ends is None or not isinstance(item.get("id"), str):
            continue
        matchers = frozenset((str(x.get("name")), str(x.get("value")), bool(x.get("isRegex")),
                              bool(x.get("isEqual", True))) for x in item.get("matchers") or [] if isinstance(x, dict))
        out.append(Silence((found["window"], found["part"]), matchers, starts, ends, str(item.get("comment")),
                           item["id"], str(state)))
    return out


def _same(want: Silence, have: Silence, now: float) -> bool:
    started = want.starts <= now and have.starts <= now  # Alertmanager moves a past start to when it was created
    return (want.matchers == have.matchers and abs(want.ends - have.ends) < 1 and want.comment == have.comment
            and (started or abs(want.starts - have.starts) < 1))


def plan(want: Sequence[Silence], have: Sequence[Silence], now: float) -> list[Change]:
    """Changes that bring `have` to `want`: one silence per key, duplicates and silences of removed windows
    expired. Expiries come last, so a failure part-way never leaves a window without its silence."""
    by_key: dict[Key, list[Silence]] = {}
    for s in sorted(have, key=lambda s: (s.starts, s.id)):
        by_key.setdefault(s.key, []).append(s)
    changes: list[Change] = []
    expire: list[Change] = []
    for w in want:
        existing = by_key.pop(w.key, [])
        if not existing:
            changes.append(Change("create", w.key, w))
        else:
            keep, *extra = existing
            if _same(w, keep, now):
                changes.append(Change("keep", w.key, keep))
            else:
                starts = keep.starts if w.starts <= now and keep.starts <= now else w.starts
                changes.append(Change("update", w.key, Silence(w.key, w.matchers, starts, w.ends, w.comment,
                                                               keep.id), keep))
            expire += [Change("expire", s.key, s) for s in extra]
    expire += [Change("expire", s.key, s) for rest in by_key.values() for s in rest]
    return changes + expire


# -- the HTTP client -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Settings:
    url: str
    token: Secret | None = None
    username: str | None = None
    password: Secret | None = None
    timeout: float = 10.0
    secrets: tuple[Secret, ...] = field(default=(), repr=False)


def settings_from_env(url: str, timeout: float = 10.0) -> Settings:
    """The URL from the command line, credentials from ALERTMANAGER_TOKEN(_FILE) or ALERTMANAGER_USER and
    ALERTMANAGER_PASSWORD(_FILE)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
        raise ZarishError(f"--alertmanager-url {parts.scheme}://{parts.hostname or ''}...: expected an http(s) "
                          "URL without credentials (use the ALERTMANAGER_* variables)", ExitCode.USAGE)
    if not 0 < timeout <= 600:
        raise ZarishError("--timeout must be positive (seconds)", ExitCode.USAGE)
    auth = auth_from_env(ENV_PREFIX, "Alertmanager")
    return Settings(url.rstrip("/"), auth.token, auth.user.reveal() if auth.user else None, auth.password, timeout,
                    auth.secrets)


class RequestFailed(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class Client:
    """GET/POST /api/v2/silences and DELETE /api/v2/silence/{id}; no retries, so a write happens at most once."""

    def __init__(self, settings: Settings, session: requests.Session | None = None):
        self.settings = settings
        self.session = session or requests.Session()
        if settings.token:
            self.session.headers["Authorization"] = f"Bearer {settings.token.reveal()}"
        elif settings.username and settings.password:
            self.session.auth = (settings.username, settings.password.reveal())

    def _call(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        what = f"{method} {path}"
        try:
            r = self.session.request(method, self.settings.url + path, json=body, timeout=self.settings.timeout)
        except requests.Timeout:
            raise RequestFailed(f"{what}: no answer within {self.settings.timeout:g}s") from None
        except requests.RequestException as exc:
            raise RequestFailed(f"{what}: cannot connect ({type(exc).__name__})") from None
        if r.status_code >= 300:
            detail = " ".join(redact(r.text, *self.settings.secrets).split())[:200]
            raise RequestFailed(f"{what} answered HTTP {r.status_code}" + (f": {detail}" if detail else ""))
        try:
            return r.json() if r.content else None
        except ValueError:
            raise RequestFailed(f"{what}: the answer is not JSON") from None

    def silences(self) -> Any:
        return self._call("GET", "/api/v2/silences")

    def post(self, silence: Silence) -> str:
        answer = self._call("POST", "/api/v2/silences", silence.to_api())
        sid = answer.get("silenceID") if isinstance(answer, dict) else None
        if not isinstance(sid, str):
            raise RequestFailed("POST /api/v2/silences: the answer has no silenceID")
        return sid

    def expire(self, silence_id: str) -> None:
        self._call("DELETE", f"/api/v2/silence/{silence_id}")


def fetch(client: Client, catalog: Catalog) -> list[Silence]:
    try:
        return ours(catalog, client.silences())
    except RequestFailed as exc:
        raise ZarishError(f"alertmanager {client.settings.url}: {exc.message}; nothing was changed",
                          ExitCode.UNAVAILABLE) from None


def apply(client: Client, changes: Sequence[Change]) -> list[Change]:
    """Make the planned changes in order; the applied ones, with the ids Alertmanager gave. On a failure:
    nothing applied -> exit 69; some applied -> exit 1 naming them (a re-run finishes the plan)."""
    done: list[Change] = []
    for change in changes:
        try:
            if change.action in ("create", "update"):
                sid = client.post(change.silence)
                done.append(replace(change, silence=replace(change.silence, id=sid)))
            elif change.action == "expire":
                client.expire(change.silence.id)
                done.append(change)
        except RequestFailed as exc:
            made = [c.label() for c in done]
            if not made:
                raise ZarishError(f"alertmanager {client.settings.url}: {exc.message} at '{change.label()}'; "
                                  "nothing was changed", ExitCode.UNAVAILABLE) from None
            raise ZarishError(f"alertmanager {client.settings.url}: {exc.message} at '{change.label()}' after "
                              f"applying {len(made)} of {sum(c.action != 'keep' for c in changes)} changes "
                              f"({', '.join(made)}); re-run to finish", ExitCode.FAILED) from None
    return done
