"""The catalog's field types: each check once, named by what it protects.

Every field is held to what the files generated from it demand: Prometheus and promtool (durations,
metric and label names, RE2 regexes, rule-file globs), Alertmanager and amtool (URLs, host:port), Grafana
(uids) and the Kubernetes objects (DNS names), so a catalog that validates cannot yield a file that one
of them rejects.
"""

from __future__ import annotations

import ipaddress
import re
import warnings
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlsplit

from croniter import CroniterError, croniter
from pydantic import AfterValidator, BeforeValidator, Field

from zarish_obs import conventions
from zarish_obs.durations import parse_duration

LABEL_NAME_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
METRIC_NAME_RE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
# Service, region and environment names end up in label values, Kubernetes names, file names and
# Grafana uids, so they are held to DNS-1123 labels: valid everywhere at once.
DNS_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
# Words the PromQL lexer reads as keywords (case-insensitively) wherever a metric name stands alone.
PROMQL_KEYWORDS = frozenset({
    "and", "or", "unless", "atan2", "sum", "avg", "count", "min", "max", "group", "stddev", "stdvar", "topk",
    "bottomk", "count_values", "quantile", "offset", "by", "without", "on", "ignoring", "group_left",
    "group_right", "bool", "start", "end", "inf", "nan",
})
# Labels Prometheus and Alertmanager give a meaning of their own: histogram buckets, one series per scrape
# target, the alert's name (Alertmanager groups by it).
PROMETHEUS_LABELS = ("le", "instance", "alertname")
LOOKBACK_SECONDS = 300  # Prometheus's default query.lookback-delta
# Go's time.Duration (Prometheus and Alertmanager durations) holds at most 2^63 - 1 nanoseconds.
MAX_DURATION_SECONDS = (2**63 - 1) // 10**9
_HOST = r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9_.-]*[A-Za-z0-9])?)"
HOST_PORT_RE = re.compile(rf"^(?P<host>{_HOST}):(?P<port>[0-9]{{1,5}})$")
HOSTNAME_RE = re.compile(rf"^{_HOST}$")
# RFC 3986 characters only: no spaces, quotes, braces (annotation templates) or control characters.
URL_CHARS_RE = re.compile(r"^[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+$")
BAD_PERCENT_RE = re.compile(r"%(?![0-9A-Fa-f]{2})")


# -- field types: each check once, named by what it protects -----------------------------------------------
def _not_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {str(value).lower()}")
    return value


def _duration(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a duration string like 5m, got {type(value).__name__}")
    seconds = parse_duration(value)
    if seconds != int(seconds):
        raise ValueError(f"{value!r} is not a whole number of seconds")
    if seconds > MAX_DURATION_SECONDS:
        raise ValueError(f"{value!r} is longer than Prometheus and Alertmanager can hold (about 292y)")
    return value


def _dns_name(value: str) -> str:
    if not DNS_NAME_RE.fullmatch(value):
        raise ValueError(f"{value!r} must be lower-case letters, digits and '-' (a DNS label, max 63)")
    return value


def _metric_name(value: str) -> str:
    if not METRIC_NAME_RE.fullmatch(value):
        raise ValueError(f"{value!r} is not a valid Prometheus metric name")
    if value.lower() in PROMQL_KEYWORDS:
        raise ValueError(f"{value!r} is a PromQL keyword and cannot be used as a metric name")
    return value


def _label_name(value: str) -> str:
    if not LABEL_NAME_RE.fullmatch(value) or value.startswith("__"):
        raise ValueError(f"{value!r} is not a valid Prometheus label name")
    return value


def _http_url(value: str) -> str:
    """What Prometheus, Alertmanager (`url.Parse`, http/https, host required) and annotation templates accept."""
    if not URL_CHARS_RE.fullmatch(value):
        raise ValueError(f"{value!r} is not an http(s) URL (no spaces, quotes, braces or non-ASCII characters)")
    try:
        parts = urlsplit(value)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        raise ValueError(f"{value!r} is not an absolute http(s) URL (like https://host/path)") from None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{value!r} is not an absolute http(s) URL (like https://host/path)")
    host = parts.netloc.rpartition("@")[2]
    host = re.sub(r":[0-9]*$", "", host) if not host.endswith("]") else host
    if not HOSTNAME_RE.fullmatch(host) or (host.startswith("[") and not _ipv6(host[1:-1])):
        raise ValueError(f"{value!r}: {host!r} is not a host name or IP address")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{value!r}: the port is not a number from 1 to 65535") from None
    if port == 0:
        raise ValueError(f"{value!r}: the port is not a number from 1 to 65535")
    if BAD_PERCENT_RE.search(value):
        raise ValueError(f"{value!r}: '%' must start a %XX escape")
    return value


def _ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def _host_port(value: str) -> str:
    """A static target (`targets:`), which Prometheus wants as host:port with no scheme or path."""
    m = HOST_PORT_RE.fullmatch(value)
    if not m or (m["host"].startswith("[") and not _ipv6(m["host"][1:-1])):
        raise ValueError(f"{value!r} is not host:port (like alertmanager:9093, without http:// or a path)")
    if not 1 <= int(m["port"]) <= 65535:
        raise ValueError(f"{value!r}: the port is not a number from 1 to 65535")
    return value


def _file_path(value: str) -> str:
    if not value or any(c in value for c in "\0\n\r"):
        raise ValueError(f"{value!r} is not a file path (empty, or with a NUL or line break)")
    return value


def _rule_file(value: str) -> str:
    """Prometheus allows `*` only in the file name of a rule_files entry and globs the rest with Go's rules."""
    _file_path(value)
    if not re.fullmatch(r"^[^*]*(\*[^/]*)?$", value):
        raise ValueError(f"{value!r}: Prometheus allows a '*' only in the last path element of a rule file")
    if value.endswith("\\") or any(part.count("[") > part.count("]") for part in value.split("/")):
        raise ValueError(f"{value!r} is not a valid glob pattern (unclosed '[' or trailing '\\')")
    return value


def _one_line(value: str) -> str:
    if not value.strip() or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError(f"{value!r} must be non-empty text on one line")
    return value


def _word(value: str) -> str:
    if not re.fullmatch(r"^[!-~]+$", value):
        raise ValueError(f"{value!r} must be non-empty, without spaces or non-ASCII characters")
    return value


Number = Annotated[float, BeforeValidator(_not_bool)]
Count = Annotated[int, BeforeValidator(_not_bool), Field(ge=0)]
Port = Annotated[int, BeforeValidator(_not_bool), Field(ge=1, le=65535)]
Duration = Annotated[str, BeforeValidator(_duration), Field(description="Prometheus duration, e.g. 5m, 1h, 30d")]
DnsName = Annotated[str, AfterValidator(_dns_name)]
MetricName = Annotated[str, AfterValidator(_metric_name)]
LabelName = Annotated[str, AfterValidator(_label_name)]
HttpUrl = Annotated[str, AfterValidator(_http_url)]
HostPort = Annotated[str, AfterValidator(_host_port)]
FilePath = Annotated[str, AfterValidator(_file_path)]
RuleFile = Annotated[str, AfterValidator(_rule_file)]
OneLine = Annotated[str, AfterValidator(_one_line)]
Word = Annotated[str, AfterValidator(_word)]


# -- RE2 -----------------------------------------------------------------------------------------------------
_RE2_ESCAPES = set("afnrtvxdDsSwW")  # escapes RE2 shares with Python, inside and outside [...]
_RE2_ASSERTIONS = set("bBAz")  # only outside [...]
_RE2_FLAGS = set("ims-")
_POSIX_CLASSES = {"alnum", "alpha", "ascii", "blank", "cntrl", "digit", "graph", "lower", "print", "punct",
                  "space", "upper", "word", "xdigit"}
_REPEAT_RE = re.compile(r"\{(\d*)(,?)(\d*)\}")


def re2_problem(pattern: str) -> str | None:
    """Why Prometheus's regex engine (Go, RE2 syntax) would refuse `pattern`, or None.

    Python's `re` is checked first for plain syntax; this scan then rejects what Python accepts and RE2
    does not: lookarounds, backreferences, atomic groups, conditionals, possessive quantifiers, comments,
    flags other than i/m/s, escapes like \\Z or \\u, and repeat counts above 1000.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            re.compile(pattern)
    except (re.error, RecursionError, OverflowError) as exc:
        return f"not a valid regular expression: {exc}"
    i, n, in_class, class_start = 0, len(pattern), False, 0
    while i < n:
        c = pattern[i]
        if c == "\\":
            nxt = pattern[i + 1] if i + 1 < n else ""
            if nxt in "123456789":
                return f"backreferences (\\{nxt}) are not supported by Prometheus (RE2)"
            if nxt.isalpha() and not (nxt in _RE2_ESCAPES or (nxt in _RE2_ASSERTIONS and not in_class)):
                return f"the escape \\{nxt} is not supported by Prometheus (RE2)"
            if nxt and ord(nxt) > 127:
                return f"escaping the non-ASCII character {nxt!r} is not supported by Prometheus (RE2)"
            i += 2
            continue
        if in_class:
            if c == "]" and i > class_start:
                in_class = False
            elif c == "[" and pattern.startswith("[:", i):
                end = pattern.find(":]", i + 2)
                if end > 0 and pattern[i + 2:end].lstrip("^") not in _POSIX_CLASSES:
                    return f"[:{pattern[i + 2:end]}:] is not a POSIX class RE2 knows"
            i += 1
            continue
        if c == "[":
            in_class = True
            class_start = i + 1 + (pattern.startswith("^", i + 1))
            i += 1
            continue
        if c == "(" and pattern.startswith("(?", i):
            why = _re2_group(pattern[i + 2:])
            if why:
                return why
        quantifier = 0
        if c in "*+?" and not pattern.startswith("(?", i - 1):
            quantifier = 1
        elif c == "{":
            m = _REPEAT_RE.match(pattern, i)
            if m and (m[1] or (m[2] and m[3])):
                if not m[1]:
                    return f"{m[0]} is a literal in Prometheus (RE2), not a repeat: write {{0,{m[3]}}}"
                if any(x and int(x) > 1000 for x in (m[1], m[3])):
                    return f"repeat count {m[0]} is above RE2's limit of 1000"
                quantifier = len(m[0])
        if quantifier:
            i += quantifier
            if pattern.startswith("+", i):
                return "possessive quantifiers (like *+ or ++) are not supported by Prometheus (RE2)"
            continue
        i += 1
    return None


def _re2_group(rest: str) -> str | None:
    """The problem with a `(?...` group whose text after `(?` is `rest`, or None."""
    for prefix, what in (("P=", "backreferences"), ("=", "lookaheads"), ("!", "lookaheads"), ("<=", "lookbehinds"),
                         ("<!", "lookbehinds"), (">", "atomic groups"), ("(", "conditional groups"),
                         ("#", "comments")):
        if rest.startswith(prefix):
            return f"{what} like (?{prefix}...) are not supported by Prometheus (RE2)"
    if rest.startswith(("P<", ":")):
        return None
    flags = re.match(r"[A-Za-z-]*", rest)[0]  # type: ignore[index]
    unsupported = sorted(set(flags) - _RE2_FLAGS)
    if unsupported:
        return f"the flag(s) {''.join(unsupported)} in (?{flags}) are not supported by Prometheus (RE2)"
    return None


def error_status_pattern(value: str) -> str:
    why = re2_problem(value)
    if why:
        raise ValueError(f"{value!r}: {why}")
    compiled = re.compile(value)
    if not any(compiled.fullmatch(code) for code in conventions.SERVER_ERROR_STATUSES):
        raise ValueError(f"{value!r} matches no 5xx status code: the SLO and DR ratios count 5xx responses")
    ok = [str(code) for code in range(100, 400) if compiled.fullmatch(str(code))]
    if ok:
        raise ValueError(f"{value!r} matches status {ok[0]}: successful responses would count as errors")
    return value


def cron_schedule(value: str) -> str:
    if len(value.split()) != 5:
        raise ValueError(f"{value!r} is not a five-field cron schedule (minute hour day month weekday)")
    try:
        runs = croniter(value, datetime(2000, 1, 1))
        runs.get_next(datetime)
        runs.get_next(datetime)
    except CroniterError as exc:
        reason = str(exc).replace(f"[{value}] ", "")
        raise ValueError(f"{value!r} is not a valid cron schedule: {reason}") from None
    return value
