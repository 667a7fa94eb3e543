"""Recording rules: one rule per signal and window for all services, aggregated by (environment, service).

The rule count depends on the SLO kinds and windows, never on the number of services. Windows shorter
than a day come straight from the raw counters; windows of a day or more are exact sums of the recorded
5-minute increases, tiled by a `[w:5m]` subquery, and live in their own group evaluated once a minute
(their value only changes at 5-minute boundaries anyway).
"""

from __future__ import annotations

from typing import Any

from zarish_obs import conventions, promql
from zarish_obs.catalog import Catalog
from zarish_obs.durations import format_duration, parse_duration

SIGNALS_GROUP = "zarish-signals"
SLO_SHORT_GROUP = "zarish-slo-short-windows"
SLO_LONG_GROUP = "zarish-slo-long-windows"


def long_group_interval(catalog: Catalog) -> str | None:
    """The time-scaled minute of `conventions.timings`, unless Prometheus evaluates less often anyway."""
    seconds = conventions.timings(catalog).long_group_seconds
    if parse_duration(catalog.prometheus.evaluation_interval) >= seconds:
        return None
    return format_duration(seconds)


def long_group(catalog: Catalog, name: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
    """A rule group evaluated at `long_group_interval` (its inputs change only every few minutes)."""
    group: dict[str, Any] = {"name": name}
    interval = long_group_interval(catalog)
    if interval:
        group["interval"] = interval
    group["rules"] = rules
    return group


def _rule(record: str, expr: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    rule: dict[str, Any] = {"record": record, "expr": expr}
    if labels:
        rule["labels"] = labels
    return rule


def signal_rules(catalog: Catalog) -> list[dict[str, Any]]:
    """Request rate, error ratio, p50/p95 per (environment, service); the DR error ratio is not recorded
    (see promql.dr_error_ratio)."""
    s = promql.signals(catalog)
    # histogram_quantile is NaN on zero traffic; the comparison drops those samples instead.
    return [
        _rule(conventions.REQUEST_RATE, s.request_rate()),
        _rule(conventions.ERROR_RATIO, s.error_ratio()),
        _rule(conventions.LATENCY_P50, f"{s.latency_quantile(0.5)} >= 0"),
        _rule(conventions.LATENCY_P95, f"{s.latency_quantile(0.95)} >= 0"),
    ]


def slo_short_rules(catalog: Catalog) -> list[dict[str, Any]]:
    """5-minute event increases and the ratios of windows under a day, one rule per SLO kind."""
    s = promql.signals(catalog)
    rules: list[dict[str, Any]] = []
    for kind in conventions.slo_kinds(catalog):
        label = {conventions.SLO_LABEL: kind}
        total = s.slo_total(kind, catalog.services, "5m")
        bad = s.slo_bad(kind, catalog.services, "5m")
        if total is None or bad is None:
            continue
        rules.append(_rule(conventions.SLO_REQUESTS_5M, total, label))
        rules.append(_rule(conventions.SLO_ERRORS_5M, bad, label))
    for window in conventions.ratio_windows(catalog):
        if conventions.is_long(window):
            continue
        for kind in conventions.slo_kinds(catalog):
            expr = s.slo_error_ratio_raw(kind, catalog.services, window)
            if expr is not None:
                rules.append(_rule(conventions.slo_error_ratio(window), expr, {conventions.SLO_LABEL: kind}))
    return rules


def slo_long_rules(catalog: Catalog) -> list[dict[str, Any]]:
    """Ratios of windows of a day or more, exact sums of recorded increases; one rule for all kinds."""
    s = promql.signals(catalog)
    return [_rule(conventions.slo_error_ratio(w), s.slo_error_ratio_recorded(w))
            for w in conventions.ratio_windows(catalog) if conventions.is_long(w)]


def recording_groups(catalog: Catalog) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = [{"name": SIGNALS_GROUP, "rules": signal_rules(catalog)}]
    short = slo_short_rules(catalog)
    if short:
        groups.append({"name": SLO_SHORT_GROUP, "rules": short})
    long = slo_long_rules(catalog)
    if long:
        groups.append(long_group(catalog, SLO_LONG_GROUP, long))
    return groups
