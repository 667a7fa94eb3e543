"""Recording rules: one rule per signal and window for all services, aggregated by (environment, service).

The rule count depends on the SLO kinds and windows, never on the number of services. Windows shorter
than a day come straight from the raw counters; those a tier with a short `for:` reads (page_fast: 5m,
1h) are recorded at the global evaluation interval with the 5-minute increases, the others (30m, 2h, 6h) in
the group that runs once a minute (see every_minute). Windows of a day or more live there too (their value
only changes at 5-minute boundaries anyway) and are layered: the group records the hourly increases (12 of
the recorded 5-minute ones) and the current hour's 5-minute increases so far, then each window's event counts
as the hourly increases at its hour points plus the hour so far minus the hour so far a window ago, which is
exactly the sum of the window's 5-minute tiles at a twelfth of the reads (a 30-day window reads 720 hourly
points instead of 8,640 tiles), and the ratios from those counts. A window that is not whole hours, or a group
evaluated less often than HOUR_TILE_LAG allows, sums the 5-minute tiles instead. The groups read each other
one way only (the once-a-minute group reads the other), as vmalert runs them in order.

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


LAG_SHARE = 10  # a window may be recorded once a minute if every tier reading it holds for 10 minutes or more


def every_minute(catalog: Catalog, window: str) -> bool:
    """Whether a ratio window is recorded by the group that runs once a minute: every enabled tier that reads it
    waits at least LAG_SHARE times that minute (`for:`), so the lag is a tenth of it at most (page_slow's 30m
    and 6h, the tickets' 2h; page_fast's 5m and 1h stay at the global evaluation interval)."""
    minute = conventions.long_group_seconds(catalog)
    fors = conventions.timings(catalog).tier_for
    w = conventions.normalise(window)
    return all(parse_duration(fors[t.name]) >= LAG_SHARE * minute for t in conventions.enabled_tiers(catalog)
               if w in (conventions.normalise(t.long_window), conventions.normalise(t.short_window)))


def slo_tile_rules(catalog: Catalog) -> list[dict[str, Any]]:
    """The 5-minute event increases, one rule per SLO kind (in the short group, whose tiled windows read them:
    the groups must read each other one way only, as vmalert runs them in order)."""
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
    return rules


def slo_short_rules(catalog: Catalog, minute: bool = False) -> list[dict[str, Any]]:
    """The ratios of windows under a day recorded at the global interval (`minute`: once a minute, see
    every_minute), one rule per SLO kind (or one for all, summed from the tiles)."""
    s = promql.signals(catalog)
    rules: list[dict[str, Any]] = []
    for window in conventions.ratio_windows(catalog):
        if conventions.is_long(window) or every_minute(catalog, window) != minute:
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
    """The once-a-minute group: the shorter windows every_minute puts there, then the windows of a day or more
    in the order they read each other (one evaluation instant): the hourly increases and the hour so far, then
    per window its event counts and their ratio; one rule for all kinds."""
    s = promql.signals(catalog)
    windows = [w for w in conventions.ratio_windows(catalog) if conventions.is_long(w)]
    rules: list[dict[str, Any]] = slo_short_rules(catalog, minute=True)
    if any(conventions.layered(catalog, w) for w in windows):
        for bad in (False, True):
            rules.append(_rule(conventions.slo_events(conventions.HOUR_TILE, bad), s.hourly_events(bad)))
        for bad in (False, True):
            rules.append(_rule(conventions.slo_events_so_far(bad), s.events_so_far(bad)))
    for w in windows:
        for bad in (False, True):
            expr = s.layered_events(w, bad) if conventions.layered(catalog, w) else s.tiled_events(w, bad=bad)
            rules.append(_rule(conventions.slo_events(w, bad), expr))
        rules.append(_rule(conventions.slo_error_ratio(w), s.slo_error_ratio_recorded(w)))
    return rules


def recording_groups(catalog: Catalog) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = [{"name": SIGNALS_GROUP, "rules": signal_rules(catalog)}]
    active = maintenance_promql.active(catalog)
    # First in the group whose short windows it mutes: rules of one group run in order, on one instant.
    maint = [_rule(conventions.MAINTENANCE_ACTIVE, active)] if active is not None else []
    short = slo_tile_rules(catalog) + slo_short_rules(catalog)
    if short:
        groups.append({"name": SLO_SHORT_GROUP, "rules": maint + short})
    elif maint:
        groups.append({"name": MAINTENANCE_GROUP, "rules": maint})
    long = slo_long_rules(catalog) if conventions.slo_kinds(catalog) else []
    if long:
        groups.append(long_group(catalog, SLO_LONG_GROUP, long))
    return groups
