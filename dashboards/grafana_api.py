"""A small client for the parts of Grafana's HTTP API the upload needs, with retries and timeouts.

Credentials come from the environment or a file as `Secret`s and only ever reach the Authorization
header: no message, log line or exception built here contains them (requests itself can echo a header
value in `InvalidHeader`, so tokens are checked for header-safe characters before use).
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3

from zarish_obs.errors import ExitCode, ZarishError
from zarish_obs.settings import Secret, redact, secret_from

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_HEADER_SAFE = re.compile(r"^[\x21-\x7e]+$")


class GrafanaUnavailable(ZarishError):
    """Grafana could not be reached (connection refused, DNS, TLS, timeouts, 5xx after retries)."""

    def __init__(self, message: str):
        super().__init__(message, ExitCode.UNAVAILABLE)


class GrafanaAuthError(ZarishError):
    """401/403: the credentials are wrong or lack permission; bad input, not an outage."""

    def __init__(self, message: str):
        super().__init__(message, ExitCode.USAGE)


class ApiError(ZarishError):
    """Any other non-success answer; `status` and Grafana's `status` field say why."""

    def __init__(self, message: str, http_status: int, reason: str = ""):
        super().__init__(message, ExitCode.FAILED)
        self.http_status = http_status
        self.reason = reason


@dataclass(frozen=True)
class Auth:
    token: Secret | None = None
    user: str | None = None
    password: Secret | None = None

    def describe(self) -> str:
        return "service-account token" if self.token else f"basic auth as {self.user}"

    def secrets(self) -> tuple[Secret | None, ...]:
        return (self.token, self.password)


def auth_from_env(token_file: Path | None = None) -> Auth:
    """--token-file, GRAFANA_TOKEN(_FILE), then GRAFANA_USER + GRAFANA_PASSWORD(_FILE)."""
    token = secret_from("GRAFANA_TOKEN", "GRAFANA_TOKEN_FILE", str(token_file) if token_file else None,
                        "Grafana token")
    if token:
        if not _HEADER_SAFE.match(token.reveal()):
            raise ZarishError("Grafana token contains spaces or characters not allowed in an HTTP header",
                              ExitCode.USAGE)
        return Auth(token=token)
    user = os.environ.get("GRAFANA_USER", "").strip()
    password = secret_from("GRAFANA_PASSWORD", "GRAFANA_PASSWORD_FILE", None, "Grafana password")
    if user and password:
        return Auth(user=user, password=password)
    if user or password:
        raise ZarishError("GRAFANA_USER and GRAFANA_PASSWORD must be set together", ExitCode.USAGE)
    raise ZarishError("no Grafana credentials: set GRAFANA_TOKEN (service-account token), or GRAFANA_USER and "
                      "GRAFANA_PASSWORD, or pass --token-file", ExitCode.USAGE)


def check_url(url: str, option: str = "--grafana-url") -> str:
    """An http(s) base URL without credentials in it (they would end up in logs); trailing / removed."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ZarishError(f"{option}: expected an http(s) URL like https://grafana.example.org, got "
                          f"{parts.scheme + '://' if parts.scheme else ''}{parts.hostname or '?'}...", ExitCode.USAGE)
    if parts.username or parts.password:
        raise ZarishError(f"{option} must not contain credentials (they would show in logs); use environment "
                          "variables or files for secrets", ExitCode.USAGE)
    if parts.query or parts.fragment:
        raise ZarishError(f"{option} must not have a query string or fragment", ExitCode.USAGE)
    return url.rstrip("/")


@dataclass
class Reply:
    status: int
    body: Any


def _message(body: Any, text: str) -> str:
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return body["message"]
    return text.strip().splitlines()[0][:200] if text.strip() else "(empty body)"


class GrafanaClient:
    def __init__(self, url: str, auth: Auth, org_id: int | None = None, verify: bool | str = True,
                 timeout: float = 10.0, retries: int = 3, backoff: float = 0.5, debug: bool = False,
                 log: Callable[[str], None] | None = None, sleep: Callable[[float], None] = time.sleep):
        self.url = check_url(url)
        self.auth = auth
        self.timeout = (min(timeout, 5.0), timeout)
        self.retries = max(0, retries)
        self.backoff = backoff
        self.debug = debug
        self._log = log or (lambda line: print(line, file=sys.stderr, flush=True))
        self._sleep = sleep
        self.session = requests.Session()
        self.session.trust_env = False  # no ~/.netrc credentials or proxy env sneaking in
        self.session.verify = verify
        if verify is False:
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        self.session.headers.update({"Accept": "application/json", "User-Agent": "zarish-obs"})
        if auth.token:
            self.session.headers["Authorization"] = "Bearer " + auth.token.reveal()
        elif auth.user and auth.password:
            self.session.auth = (auth.user, auth.password.reveal())
        if org_id is not None:
            self.session.headers["X-Grafana-Org-Id"] = str(org_id)

    def log(self, line: str) -> None:
        self._log(redact(line, *self.auth.secrets()))

    def close(self) -> None:
        self.session.close()

    # -- transport ----------------------------------------------------------------------------------------
    def request(self, method: str, path: str, body: Any = None, params: dict[str, Any] | None = None,
                ok: tuple[int, ...] = (200,), missing_ok: bool = False) -> Reply:
        """One API call with retries on connection errors, timeouts, 429 and 5xx.

        Returns the reply for `ok` statuses (and 404 when `missing_ok`); raises GrafanaUnavailable,
        GrafanaAuthError or ApiError otherwise."""
        url = self.url + path
        what = f"{method} {path}"
        last = ""
        for attempt in range(self.retries + 1):
            wait = self.backoff * (2 ** attempt)
            started = time.monotonic()
            try:
                resp = self.session.request(method, url, json=body, params=params, timeout=self.timeout)
            except requests.exceptions.SSLError:
                raise GrafanaUnavailable(f"{self.url}: TLS verification failed (use --ca-file for a private CA, "
                                         "or --insecure to skip verification)") from None
            except requests.exceptions.Timeout:
                last = f"no answer within {self.timeout[1]:g}s"
            except requests.exceptions.ConnectionError as exc:
                last = "cannot connect" + _reason(exc)
            except requests.exceptions.RequestException as exc:
                raise GrafanaUnavailable(f"{what}: {type(exc).__name__}") from None
            else:
                if self.debug:
                    self.log(f"debug: {what} -> HTTP {resp.status_code} "
                             f"({(time.monotonic() - started) * 1000:.0f} ms)")
                if resp.status_code not in RETRY_STATUSES:
                    return self._reply(what, resp, ok, missing_ok)
                last = f"HTTP {resp.status_code}"
                retry_after = resp.headers.get("Retry-After", "")
                if retry_after.isdigit():
                    wait = min(float(retry_after), 30.0)
            if attempt < self.retries:
                self.log(f"grafana: {what}: {last}; retry {attempt + 1}/{self.retries} in {wait:g}s")
                self._sleep(wait)
        attempts = f"{self.retries + 1} attempt{'s' if self.retries else ''}"
        raise GrafanaUnavailable(f"{self.url}: {what}: {last} (after {attempts})")

    def _reply(self, what: str, resp: requests.Response, ok: tuple[int, ...], missing_ok: bool) -> Reply:
        try:
            body = resp.json()
        except ValueError:
            body = None
        if resp.status_code in ok or (missing_ok and resp.status_code == 404):
            return Reply(resp.status_code, body)
        message = redact(_message(body, resp.text), *self.auth.secrets())
        if resp.status_code == 401:
            raise GrafanaAuthError(f"{self.url}: {what}: HTTP 401 {message}: Grafana rejected the "
                                   f"{self.auth.describe()}")
        if resp.status_code == 403:
            raise GrafanaAuthError(f"{self.url}: {what}: HTTP 403 {message}: the {self.auth.describe()} lacks "
                                   "permission (needs Editor or dashboards:write/folders:create)")
        reason = body.get("status", "") if isinstance(body, dict) else ""
        raise ApiError(f"{what}: HTTP {resp.status_code} {message}", resp.status_code, str(reason))

    # -- endpoints ----------------------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        reply = self.request("GET", "/api/health")
        body = reply.body
        if not isinstance(body, dict) or "database" not in body:
            raise GrafanaUnavailable(f"{self.url}: /api/health did not answer like Grafana (no JSON with "
                                     "'database'); check --grafana-url")
        if body["database"] != "ok":
            raise GrafanaUnavailable(f"{self.url}: Grafana reports database {body.get('database')!r}")
        return body

    def folders(self) -> list[dict[str, Any]]:
        reply = self.request("GET", "/api/folders", params={"limit": 1000})
        return reply.body if isinstance(reply.body, list) else []

    def create_folder(self, uid: str, title: str) -> dict[str, Any]:
        return self.request("POST", "/api/folders", {"uid": uid, "title": title}).body

    def search_dashboards(self, folder_uid: str) -> list[dict[str, Any]]:
        reply = self.request("GET", "/api/search", params={"type": "dash-db", "folderUIDs": folder_uid,
                                                            "limit": 5000})
        return reply.body if isinstance(reply.body, list) else []

    def dashboard(self, uid: str) -> dict[str, Any] | None:
        """{"dashboard": ..., "meta": ...} or None when Grafana has no dashboard with this uid."""
        reply = self.request("GET", f"/api/dashboards/uid/{uid}", missing_ok=True)
        return None if reply.status == 404 else reply.body

    def save_dashboard(self, dashboard: dict[str, Any], folder_uid: str, overwrite: bool,
                       message: str) -> dict[str, Any]:
        body = {"dashboard": dashboard, "folderUid": folder_uid, "overwrite": overwrite, "message": message}
        return self.request("POST", "/api/dashboards/db", body).body

    def datasource(self, uid: str) -> dict[str, Any] | None:
        reply = self.request("GET", f"/api/datasources/uid/{uid}", missing_ok=True)
        return None if reply.status == 404 else reply.body

    def create_datasource(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", "/api/datasources", body).body

    def update_datasource(self, uid: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.request("PUT", f"/api/datasources/uid/{uid}", body).body


def _reason(exc: Exception) -> str:
    text = str(exc)
    for marker in ("Connection refused", "Name or service not known", "No route to host",
                   "Temporary failure in name resolution", "Connection reset"):
        if marker in text:
            return f" ({marker.lower()})"
    return ""
