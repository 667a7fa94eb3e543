"""Recording rules: one rule per signal and window for all services, aggregated by (environment, service).

The rule count depends on the SLO kinds and windows, never on the number of services. Windows shorter
than a day come straight from the raw counters; windows of a day or more are exact sums of the recorded
5-minute increases, tiled by a `[w:5m]` subquery, and live in their own group evaluated once a minute
(their value only changes at 5-minute boundaries anyway).

Maintenance windows that exclude their minutes from the SLOs (catalog `maintenance`, `exclude_from_slo`):
the maintenance series is recorded per (environment, service); a 5-minute increase whose middle lies in a
window is not recorded for the services it covers, so every window summed from the increases skips those
minutes. The page tiers' long windows under a day (1h, 6h) are then tiled from the increases too (up to
5 minutes later than the raw counters, as the ticket tiers already are), and the remaining short windows
(5m, 30m, 2h) read the raw counters but are muted while a window is open: a storm inside a window burns
nothing, and after it closes the long windows (which skipped it) keep the short ones from paging. Without
such windows the rules are exactly those of a catalog without maintenance.
"""

from __future__ import annotations

from typing import Any

from zarish_obs import conventions, maintenance_promql, promql
from zarish_obs.catalog import Catalog
from zarish_obs.durations import format_duration, parse_duration

SIGNALS_GROUP = "zarish-signals"
SLO_SHORT_GROUP = "zarish-slo-short-windows"
SLO_LONG_GROUP = "zarish-slo-long-windows"
MAINTENANCE_GROUP = "zarish-maintenance"


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


def tiled(catalog: Catalog, window: str) -> bool:
    """Whether the window's ratio is summed from the recorded 5-minute increases (else: raw counters)."""
    if conventions.is_long(window):
        return True
    return bool(maintenance_promql.slo_windows(catalog)) and window in conventions.BURN_LONG_WINDOWS


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
        middle = maintenance_promql.TILE_MIDDLE
        rules.append(_rule(conventions.SLO_REQUESTS_5M, maintenance_promql.unless_active(catalog, total, middle),
                           label))
        rules.append(_rule(conventions.SLO_ERRORS_5M, maintenance_promql.unless_active(catalog, bad, middle), label))
    for window in conventions.ratio_windows(catalog):
        if conventions.is_long(window):
            continue
        if tiled(catalog, window):
            rules.append(_rule(conventions.slo_error_ratio(window), s.slo_error_ratio_recorded(window)))
            continue
        for kind in conventions.slo_kinds(catalog):
            expr = s.slo_error_ratio_raw(kind, catalog.services, window)
            if expr is not None:
                rules.append(_rule(conventions.slo_error_ratio(window),
                                   maintenance_promql.unless_recorded_active(catalog, expr),
                                   {conventions.SLO_LABEL: kind}))
    return rules


def slo_long_rules(catalog: Catalog) -> list[dict[str, Any]]:
    """Ratios of windows of a day or more, exact sums of recorded increases; one rule for all kinds."""
    s = promql.signals(catalog)
    return [_rule(conventions.slo_error_ratio(w), s.slo_error_ratio_recorded(w))
            for w in conventions.ratio_windows(catalog) if conventions.is_long(w)]


def recording_groups(catalog: Catalog) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = [{"name": SIGNALS_GROUP, "rules": signal_rules(catalog)}]
    active = maintenance_promql.active(catalog)
    # First in the group whose short windows it mutes: rules of one group run in order, on one instant.
    maint = [_rule(conventions.MAINTENANCE_ACTIVE, active)] if active is not None else []
    short = slo_short_rules(catalog)
    if short:
        groups.append({"name": SLO_SHORT_GROUP, "rules": maint + short})
    elif maint:
        groups.append({"name": MAINTENANCE_GROUP, "rules": maint})
    long = slo_long_rules(catalog)
    if long:
        groups.append(long_group(catalog, SLO_LONG_GROUP, long))
    return groups
