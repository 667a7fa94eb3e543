"""Names of recorded series and dashboards, shared by the alerts, dashboards and monitor packages.

Recording rules follow Prometheus's `level:metric:operation` convention; the level
`environment_service` says they keep exactly those two labels (plus `slo` on the SLO series).
The monitor reads these names without importing the alerts package.
"""

from __future__ import annotations

import hashlib

LEVEL = "environment_service"

REQUEST_RATE = f"{LEVEL}:zarish_http_requests:rate5m"
ERROR_RATIO = f"{LEVEL}:zarish_http_request_errors:ratio_rate5m"
LATENCY_P50 = f"{LEVEL}:zarish_http_request_duration_seconds:p50_rate5m"
LATENCY_P95 = f"{LEVEL}:zarish_http_request_duration_seconds:p95_rate5m"

# 5-minute SLO event increases, label slo="availability"|"latency"; the source of every long window.
SLO_REQUESTS_5M = f"{LEVEL}:zarish_slo_requests:increase5m"
SLO_ERRORS_5M = f"{LEVEL}:zarish_slo_errors:increase5m"

# All-services production error ratio, the DR error-ratio trigger's input.
DR_ERROR_RATIO = "environment:zarish_http_request_errors:ratio_rate5m"


def slo_error_ratio(window: str) -> str:
    """Recorded bad/total ratio of every SLO over `window` (label slo)."""
    return f"{LEVEL}:zarish_slo_errors:ratio_rate{window}"


def dashboard_uid(catalog_name: str, kind: str) -> str:
    """Deterministic Grafana uid (<= 40 chars of [A-Za-z0-9_-]) for one of our dashboards."""
    uid = f"{catalog_name}-{kind}"
    if len(uid) <= 40:
        return uid
    # Cut long names but keep uids distinct: a hash of the full uid replaces the tail.
    digest = hashlib.sha256(uid.encode()).hexdigest()[:8]
    return f"{uid[:31]}-{digest}"


DASHBOARD_KINDS = ("overview", "slo", "dr")
