"""Prometheus HTTP API access for the monitor and the report: bounded time, bounded retries.

prometheus-api-client's own urllib3 retries (about 6 s against a dead server) are switched off; this
module retries connection errors and 5xx itself with a short backoff, and every request's timeout is
cut to what is left of the overall deadline, so a dead, failing or hanging server ends the check
inside the deadline. Secrets travel in `Secret` wrappers and never appear in messages.
"""

from __future__ import annotations

import ast
import functools
import json
import math
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import requests
import urllib3
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from urllib3.util.retry import Retry

from zarish_obs.errors import ExitCode, ZarishError
from zarish_obs.settings import Secret, auth_from_env

MAX_POINTS = 11000  # Prometheus refuses range queries of more points per series
T = TypeVar("T")
RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
CONNECT_TIMEOUT = 3.0

# Environment variables for credentials (a *_FILE variable names a file holding the value).
ENV_PREFIX = "PROMETHEUS"  # PROMETHEUS_TOKEN(_FILE), PROMETHEUS_USER, PROMETHEUS_PASSWORD(_FILE)

_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


@dataclass(frozen=True)
class Sample:
    """One series of an instant vector; `value` is None when Prometheus answered NaN or ±Inf."""

    labels: Mapping[str, str]
    value: float | None


class QueryError(Exception):
    """A query that produced no usable answer; `kind` says whether the server itself is the problem."""

    SERVER_KINDS = frozenset({"unreachable", "timeout", "bad_answer", "deadline", "server_error"})

    def __init__(self, message: str, kind: str):
        super().__init__(message)
        self.message = message
        self.kind = kind

    @property
    def server_level(self) -> bool:
        return self.kind in self.SERVER_KINDS


@dataclass(frozen=True)
class Settings:
    url: str
    headers: tuple[tuple[str, str], ...] = ()
    token: Secret | None = None
    username: str | None = None
    password: Secret | None = None
    ca_file: str | None = None
    insecure: bool = False
    timeout: float = 10.0
    deadline: float = 20.0
    retries: int = 2
    backoff: float = 0.25
    parallel: int = 4
    secrets: tuple[Secret, ...] = field(default=(), repr=False)

    @property
    def display_url(self) -> str:
        return safe_url(self.url)


def safe_url(url: str) -> str:
    """The URL without user:password@, for reports and messages."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def parse_header(text: str) -> tuple[str, str]:
    """`Name: value` from the command line; raises a usage error otherwise."""
    name, sep, value = text.partition(":")
    name, value = name.strip(), value.strip()
    if not sep or not _HEADER_NAME.match(name) or "\n" in value or "\r" in value:
        raise ZarishError(f"--header {name or text[:20]!r}...: expected 'Name: value' (e.g. 'X-Scope-OrgID: tenant')",
                          ExitCode.USAGE)
    return name, value


def settings_from_env(url: str, headers: Sequence[str] = (), ca_file: str | None = None, insecure: bool = False,
                      timeout: float = 10.0, deadline: float = 20.0, parallel: int = 4) -> Settings:
    """Connection settings: the URL and options from the command line, credentials from the environment."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ZarishError(f"--prometheus-url {safe_url(url)!r}: expected an http(s) URL", ExitCode.USAGE)
    if not (0 < timeout <= 600) or not (0 < deadline <= 3600):
        raise ZarishError("--timeout and --deadline must be positive (seconds)", ExitCode.USAGE)
    if parallel < 1 or parallel > 32:
        raise ZarishError("--parallel must be between 1 and 32", ExitCode.USAGE)
    auth = auth_from_env(ENV_PREFIX, "Prometheus")
    token, user, password = auth.token, auth.user, auth.password
    parsed = tuple(parse_header(h) for h in headers)
    secrets = tuple(s for s in (token, password) if s) + tuple(Secret(v) for _, v in parsed if v)
    return Settings(url=url.rstrip("/"), headers=parsed, token=token, username=user.reveal() if user else None,
                    password=password, ca_file=ca_file, insecure=insecure, timeout=timeout, deadline=deadline,
                    parallel=parallel, secrets=secrets)


def _status_of(exc: PrometheusApiClientException) -> tuple[int | None, str]:
    """HTTP status and Prometheus's own error text from the library's exception message."""
    text = str(exc)
    m = re.match(r"HTTP Status Code (\d+) \((.*)\)$", text, re.S)
    if not m:
        return None, text[:200]
    status, body = int(m.group(1)), m.group(2)
    try:
        raw = ast.literal_eval(body)
        decoded = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    except (ValueError, SyntaxError):
        decoded = body
    try:
        detail = json.loads(decoded).get("error") or decoded
    except (ValueError, AttributeError):
        detail = decoded
    return status, " ".join(str(detail).split())[:300]


def samples(result: object) -> list[Sample]:
    """The instant vector of an answer, or QueryError when the answer is not one."""
    if not isinstance(result, list):
        raise QueryError("the answer is not an instant vector", "bad_answer")
    out = []
    isfinite = math.isfinite
    for item in result:
        try:
            labels = item["metric"]
            value = float(item["value"][1])
        except (KeyError, IndexError, TypeError, ValueError):
            raise QueryError("the answer is not an instant vector of samples", "bad_answer") from None
        if not isinstance(labels, dict):
            raise QueryError("the answer's series labels are not a mapping", "bad_answer")
        out.append(Sample(labels, value if isfinite(value) else None))
    return out


@dataclass(frozen=True)
class Series:
    """One series of a range answer; a point's value is None when Prometheus answered NaN or ±Inf."""

    labels: Mapping[str, str]
    points: list[tuple[float, float | None]]


@dataclass(frozen=True)
class Instant:
    """An instant query at its own evaluation time."""

    expr: str
    at: float


@dataclass(frozen=True)
class Range:
    """A range query: every `step` seconds from `start` to `end`, both included."""

    expr: str
    start: float
    end: float
    step: float


def series(result: object) -> list[Series]:
    """The range vector (matrix) of an answer, or QueryError when the answer is not one."""
    if not isinstance(result, list):
        raise QueryError("the answer is not a range vector", "bad_answer")
    out = []
    isfinite = math.isfinite
    for item in result:
        try:
            labels = item["metric"]
            points = []
            for t, v in item["values"]:
                value = float(v)
                points.append((float(t), value if isfinite(value) else None))
        except (KeyError, IndexError, TypeError, ValueError):
            raise QueryError("the answer is not a range vector of samples", "bad_answer") from None
        if not isinstance(labels, dict):
            raise QueryError("the answer's series labels are not a mapping", "bad_answer")
        out.append(Series(labels, points))
    return out


def chunks(start: float, end: float, step: float, limit: int = MAX_POINTS) -> list[tuple[float, float]]:
    """[start, end] cut into consecutive ranges of at most `limit` steps each, on the same step grid."""
    if step <= 0 or end < start:
        raise ValueError(f"bad range {start}..{end} step {step}")
    out = []
    a = start
    while a <= end:
        b = min(a + (limit - 1) * step, end)
        out.append((a, b))
        a = b + step
    return out


def merge_series(parts: Sequence[Sequence[Series]]) -> list[Series]:
    """The chunks of one range query joined back into one series per label set, points in time order."""
    merged: dict[frozenset[tuple[str, str]], tuple[Mapping[str, str], list[tuple[float, float | None]]]] = {}
    for part in parts:
        for s in part:
            key = frozenset(s.labels.items())
            merged.setdefault(key, (s.labels, []))[1].extend(s.points)
    return [Series(labels, sorted(points)) for labels, points in merged.values()]


def format_time(at: float) -> str:
    return str(int(at)) if float(at).is_integer() else f"{at:.3f}"


class Client:
    """Instant queries (at one evaluation time unless told otherwise) and range queries, within one overall
    deadline; `sent` counts HTTP requests."""

    def __init__(self, settings: Settings, at: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.s = settings
        self.at = at
        self._clock = clock
        self._sleep = sleep
        reserve = min(1.0, settings.deadline * 0.1)
        self.deadline_at = clock() + settings.deadline - reserve
        self._local = threading.local()
        self._lock = threading.Lock()
        self.sent = 0

    # -- connection --------------------------------------------------------------------------------------
    def _session(self) -> requests.Session:
        session = requests.Session()
        session.verify = False if self.s.insecure else (self.s.ca_file or True)
        if self.s.insecure:  # asked for explicitly; one warning per request would only bury the verdict
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        return session

    def _connect(self) -> PrometheusConnect:
        pc = getattr(self._local, "pc", None)
        if pc is None:
            headers = dict(self.s.headers)
            if self.s.token:
                headers["Authorization"] = f"Bearer {self.s.token.reveal()}"
            auth = (self.s.username, self.s.password.reveal()) if self.s.username and self.s.password else None
            pc = PrometheusConnect(url=self.s.url, headers=headers or None, auth=auth, session=self._session(),
                                   retry=Retry(total=0))
            self._local.pc = pc
        return pc

    def remaining(self) -> float:
        return self.deadline_at - self._clock()

    def _clean(self, text: str) -> str:
        for secret in self.s.secrets:
            if secret.reveal():
                text = text.replace(secret.reveal(), "***")
        return text

    # -- requests ----------------------------------------------------------------------------------------
    def _call(self, send: Callable[[PrometheusConnect, float], T]) -> T:
        """One API request, retried on connection errors and 5xx while the deadline allows; `send` gets
        the connection and the seconds this attempt may take."""
        attempt = 0
        while True:
            remaining = self.remaining()
            if remaining <= 0:
                raise QueryError(f"overall deadline of {self.s.deadline:g}s reached", "deadline")
            timeout = min(self.s.timeout, remaining)
            try:
                with self._lock:
                    self.sent += 1
                return send(self._connect(), timeout)
            except requests.exceptions.Timeout:
                raise QueryError(f"no answer within {timeout:.1f}s", "timeout") from None
            except requests.exceptions.JSONDecodeError:
                raise QueryError("the answer is not JSON (is this a Prometheus API URL?)", "bad_answer") from None
            except (KeyError, TypeError):
                raise QueryError("the answer is not a Prometheus API response", "bad_answer") from None
            except requests.exceptions.SSLError as exc:
                raise QueryError(self._clean(f"TLS error: {_reason(exc)}"), "unreachable") from None
            except requests.exceptions.ConnectionError as exc:
                if "Read timed out" in str(exc):  # urllib3 wraps it in MaxRetryError when retries are set
                    raise QueryError(f"no answer within {timeout:.1f}s", "timeout") from None
                error = QueryError(self._clean(f"cannot connect: {_reason(exc)}"), "unreachable")
            except requests.exceptions.RequestException as exc:
                raise QueryError(self._clean(f"HTTP error: {_reason(exc)}"), "bad_answer") from None
            except PrometheusApiClientException as exc:
                status, detail = _status_of(exc)
                message = self._clean(f"HTTP {status}: {detail}")
                if status is None or status not in RETRY_STATUS:
                    kind = "server_error" if status is None or status >= 500 or status in (401, 403, 404) \
                        else "query"
                    raise QueryError(message, kind) from None
                error = QueryError(message, "server_error")
            attempt += 1
            pause = self.s.backoff * (2 ** (attempt - 1))
            if attempt > self.s.retries or pause >= self.remaining():
                raise error
            self._sleep(pause)

    @staticmethod
    def _params(timeout: float) -> dict[str, str]:
        return {"timeout": f"{max(1, int(timeout * 1000))}ms"}

    # -- queries -----------------------------------------------------------------------------------------
    def query(self, expr: str, at: float | None = None) -> list[Sample]:
        """One instant query at `at` (default: the client's evaluation instant)."""
        when = format_time(self.at if at is None else at)
        return samples(self._call(lambda pc, timeout: pc.custom_query(
            expr, params={"time": when, **self._params(timeout)}, timeout=(min(CONNECT_TIMEOUT, timeout), timeout))))

    def _range_chunk(self, expr: str, start: float, end: float, step: float) -> list[Series]:
        def send(pc: PrometheusConnect, timeout: float) -> object:
            return pc.custom_query_range(
                expr, datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(end, UTC), format_time(step),
                params=self._params(timeout), timeout=(min(CONNECT_TIMEOUT, timeout), timeout))
        return series(self._call(send))

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[Series]:
        """A range query from `start` to `end` (both whole seconds) every `step`, in chunks Prometheus accepts."""
        return merge_series([self._range_chunk(expr, a, b, step) for a, b in chunks(start, end, step)])

    def runtime_info(self) -> dict[str, object] | None:
        """Prometheus's /api/v1/status/runtimeinfo; None where the server has no such endpoint (VictoriaMetrics,
        Mimir)."""
        def send(pc: PrometheusConnect, timeout: float) -> dict[str, object] | None:
            r = pc._session.request("GET", f"{pc.url}/api/v1/status/runtimeinfo", headers=pc.headers, auth=pc.auth,
                                    timeout=(min(CONNECT_TIMEOUT, timeout), timeout))
            if r.status_code in (400, 404, 405, 501):
                return None
            if r.status_code != 200:
                raise PrometheusApiClientException(f"HTTP Status Code {r.status_code} ({r.content!r})")
            data = r.json()["data"]
            return data if isinstance(data, dict) else None
        return self._call(send)

    def retention(self) -> str | None:
        """The server's storage retention as it reports it ("30d", "15d or 10GiB"); None when it does not say."""
        info = self.runtime_info()
        value = (info or {}).get("storageRetention")
        return value if isinstance(value, str) and value else None

    def query_many(self, queries: Mapping[str, str | Instant | Range]
                   ) -> dict[str, list[Sample] | list[Series] | QueryError]:
        """Every query, `parallel` requests at a time (a long range query's chunks go in parallel too); a
        failure is returned in its slot, never raised. A plain string is an instant query at the client's
        instant."""
        jobs: list[tuple[str, Callable[[], list[Any]]]] = []
        for name, q in queries.items():
            if isinstance(q, Range):
                jobs += [(name, functools.partial(self._range_chunk, q.expr, a, b, q.step))
                         for a, b in chunks(q.start, q.end, q.step)]
            else:
                expr, at = (q, None) if isinstance(q, str) else (q.expr, q.at)
                jobs.append((name, functools.partial(self.query, expr, at)))

        def one(job: Callable[[], list[Any]]) -> list[Any] | QueryError:
            try:
                return job()
            except QueryError as exc:
                return exc

        if self.s.parallel <= 1 or len(jobs) <= 1:
            answers = [one(job) for _, job in jobs]
        else:
            with ThreadPoolExecutor(max_workers=min(self.s.parallel, len(jobs))) as pool:
                answers = list(pool.map(one, [job for _, job in jobs]))
        parts: dict[str, list[Any]] = {name: [] for name in queries}
        for (name, _), answer in zip(jobs, answers, strict=True):
            parts[name].append(answer)
        out: dict[str, list[Sample] | list[Series] | QueryError] = {}
        for name, got in parts.items():
            failed = next((a for a in got if isinstance(a, QueryError)), None)
            if failed is not None:
                out[name] = failed
            elif isinstance(queries[name], Range):
                out[name] = merge_series(got)
            else:
                out[name] = got[0]
        return out


def _reason(exc: BaseException) -> str:
    """The innermost cause of a requests exception, without URLs (they may carry credentials)."""
    text = str(exc)
    for pattern, reason in (("Connection refused", "connection refused"),
                            ("Name or service not known", "unknown host"),
                            ("Temporary failure in name resolution", "unknown host"),
                            ("No route to host", "no route to host"),
                            ("Network is unreachable", "network unreachable"),
                            ("RemoteDisconnected", "server closed the connection without answering"),
                            ("Connection reset", "connection reset"),
                            ("CERTIFICATE_VERIFY_FAILED", "certificate verify failed"),
                            ("WRONG_VERSION_NUMBER", "server does not speak TLS")):
        if pattern in text:
            return reason
    return type(exc).__name__
