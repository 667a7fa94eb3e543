"""The conventions every component shares, in one place: names, labels, SLO kinds, windows, burn-rate
tiers and their policy, and the time scale.

Rules, dashboards, the monitor and the stack read these instead of spelling them out, so a recorded
series, an alert name or a window cannot mean one thing to the alerts and another to the dashboards.
Recording rules follow Prometheus's `level:metric:operation` convention; the level
`environment_service` says they keep exactly those two labels (plus `slo` on the SLO series).
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from zarish_obs.durations import format_duration, parse_duration
from zarish_obs.errors import ExitCode, ZarishError

if TYPE_CHECKING:  # the catalog model reads these conventions; they only name its type
    from zarish_obs.catalog import Catalog

# -- labels ---------------------------------------------------------------------------------------------
SLO_LABEL = "slo"
SEVERITY_LABEL = "severity"
DR_TRIGGER_LABEL = "dr_trigger"
REGION_LABEL = "region"
TIME_COMPRESSED_LABEL = "time_compressed"
# On burn-rate alerts: which tier and which objective burns.
LONG_WINDOW_LABEL = "long_window"
SHORT_WINDOW_LABEL = "short_window"
OBJECTIVE_LABEL = "objective"
SLO_WINDOW_LABEL = "slo_window"
# Labels zarish-obs sets on its series and alerts: the catalog's own label names must differ from them.
OWN_LABELS = (SLO_LABEL, SEVERITY_LABEL, DR_TRIGGER_LABEL, REGION_LABEL, TIME_COMPRESSED_LABEL, LONG_WINDOW_LABEL,
              SHORT_WINDOW_LABEL, OBJECTIVE_LABEL, SLO_WINDOW_LABEL)

# Prometheus's global.external_labels, which every alert and remote-written series carries (Alertmanager's
# inhibitions match on the region), and the labels a sharded or HA Prometheus adds to them.
CLUSTER_LABEL = "cluster"
SHARD_LABEL = "shard"
REPLICA_LABEL = "replica"


def external_labels(catalog: Catalog) -> dict[str, str]:
    """What Prometheus (scrape/config.py) and vmalert (alerts/engines.py) stamp on what they send."""
    return {CLUSTER_LABEL: catalog.cluster, REGION_LABEL: catalog.primary_region.name}


# Every HTTP server-error status: what the catalog's error regex must match, and what the generated tests and the
# local stack answer with when they need an error.
SERVER_ERROR_STATUSES = tuple(str(code) for code in range(500, 600))

# -- SLO kinds ------------------------------------------------------------------------------------------
# The built-in kinds over the catalog's request metrics; a ratio SLI's kind is its own name (catalog
# `slos.ratios[].name`, never one of these), shared by every service that declares a ratio of that name.
SLO_KINDS = ("availability", "latency")


def is_ratio(kind: str) -> bool:
    return kind not in SLO_KINDS


def slo_kinds(catalog: Catalog) -> list[str]:
    """SLO kinds at least one service declares: the built-in ones in the order of SLO_KINDS, then the
    ratio SLI names in the order they first appear in the catalog."""
    present = [kind for svc in catalog.services for kind, _ in svc.slo_items()]
    return [k for k in SLO_KINDS if k in present] + list(dict.fromkeys(k for k in present if is_ratio(k)))


# -- recorded series ------------------------------------------------------------------------------------
LEVEL = "environment_service"
REQUEST_RATE = f"{LEVEL}:zarish_http_requests:rate5m"
ERROR_RATIO = f"{LEVEL}:zarish_http_request_errors:ratio_rate5m"
LATENCY_P50 = f"{LEVEL}:zarish_http_request_duration_seconds:p50_rate5m"
LATENCY_P95 = f"{LEVEL}:zarish_http_request_duration_seconds:p95_rate5m"
# 5-minute SLO event increases, label slo=<kind>: the source of every long window.
SLO_REQUESTS_5M = f"{LEVEL}:zarish_slo_requests:increase5m"
SLO_ERRORS_5M = f"{LEVEL}:zarish_slo_errors:increase5m"
# The hourly SLO event increases (12 of the 5-minute ones, read on the hour grid) are slo_events(HOUR_TILE).
# The 5-minute increases of the current hour so far: the part of a long window the hourly ones do not hold yet.
SLO_REQUESTS_HOUR_SO_FAR = f"{LEVEL}:zarish_slo_requests:increase_hour_so_far"
SLO_ERRORS_HOUR_SO_FAR = f"{LEVEL}:zarish_slo_errors:increase_hour_so_far"
# 1 per (environment, service) while a maintenance window that excludes its minutes from the SLOs is open.
MAINTENANCE_ACTIVE = f"{LEVEL}:zarish_maintenance:active"
# Maintenance windows count from 1970-01-02T00:00Z on: promtool's clock starts at 0, and the generated tests
# of every other alert run in that first day, so no window may be open then (real time is decades later).
MAINTENANCE_SINCE = 86400
# The DR error ratio is deliberately not recorded: the alert, the DR dashboard and the monitor all evaluate
# promql.dr_error_ratio, so no copy on another window can disagree with them.


def slo_error_ratio(window: str) -> str:
    """Recorded bad/total ratio of every SLO over `window` (label slo)."""
    return f"{LEVEL}:zarish_slo_errors:ratio_rate{normalise(window)}"


def slo_events(window: str, bad: bool = False) -> str:
    """Recorded total (or bad) SLO events over `window` (label slo): the 5m and 1h tiles, and every window of a
    day or more, which the ratios, the alerts' minimum-event guard and the monitor read."""
    return f"{LEVEL}:zarish_slo_{'errors' if bad else 'requests'}:increase{normalise(window)}"


def slo_events_so_far(bad: bool = False) -> str:
    return SLO_ERRORS_HOUR_SO_FAR if bad else SLO_REQUESTS_HOUR_SO_FAR


# -- alert names ----------------------------------------------------------------------------------------
SLO_BURN_ALERTS = {"availability": "SLOErrorBudgetBurn", "latency": "SLOLatencyBudgetBurn"}
# Every ratio SLI burns under one alert name; its `slo` label (the ratio's name) tells them apart, so routing,
# inhibition and silences need no change when a catalog adds a ratio.
RATIO_BURN_ALERT = "SLOBudgetBurn"
ALL_BURN_ALERTS = (*SLO_BURN_ALERTS.values(), RATIO_BURN_ALERT)


def burn_alert(kind: str) -> str:
    """The burn-rate alert name of an SLO kind."""
    return SLO_BURN_ALERTS.get(kind, RATIO_BURN_ALERT)


def slo_burn_alerts(catalog: Catalog) -> list[str]:
    """The burn-rate alert names the catalog's SLO kinds produce (a matcher naming others would be stale)."""
    return list(dict.fromkeys(burn_alert(k) for k in slo_kinds(catalog)))


SLO_METRICS_ABSENT = "SLOMetricsAbsent"
TARGETS_DOWN = "ServiceTargetsDown"
DR_ERROR_RATIO_HIGH = "DRErrorRatioHigh"
DR_REPLICATION_LAG_HIGH = "DRReplicationLagHigh"
DR_PRIMARY_REGION_UNAVAILABLE = "DRPrimaryRegionUnavailable"
DR_MANUAL_TRIGGER = "DRManualTrigger"
RPO_BREACHED = "RPOBreached"
BACKUP_MISSED = "BackupMissed"
# dr_trigger label value -> the alert that carries it (the monitor's trigger names are these values).
DR_TRIGGERS = {
    "error_ratio": DR_ERROR_RATIO_HIGH,
    "replication_lag": DR_REPLICATION_LAG_HIGH,
    "primary_region_unavailable": DR_PRIMARY_REGION_UNAVAILABLE,
    "manual": DR_MANUAL_TRIGGER,
}

# -- windows --------------------------------------------------------------------------------------------
TILE = "5m"  # the recorded SLO increases; every long window is a whole number of these
TILE_SECONDS = 300
HOUR_TILE = "1h"  # the hourly increases, 12 tiles each; long windows of whole hours are summed from them
HOUR_TILE_SECONDS = 3600
# The hourly increase recorded at t sums the 12 tiles ending at t - HOUR_TILE_LAG: read at an hour point H from
# any evaluation in (H - (TILE - HOUR_TILE_LAG), H], it holds exactly the tiles from H - 1h to H - 5m, so
# consecutive hour points tile without gap or overlap whatever the group's offset within its interval, as long as
# the sample read at H is at most two intervals old (vmalert reads its own group's results a round late).
HOUR_TILE_LAG_SECONDS = 120
LONG_WINDOW_SECONDS = 86400  # windows of a day or more are sums of the recorded tiles
LONG_GROUP_INTERVAL_SECONDS = 60  # rule groups whose inputs change only every few minutes


def normalise(window: str) -> str:
    return format_duration(parse_duration(window))


def is_long(window: str) -> bool:
    return parse_duration(window) >= LONG_WINDOW_SECONDS


def long_group_seconds(catalog: Catalog) -> float:
    """How often the long-window group really runs: its time-scaled minute, or Prometheus's own evaluation
    interval when that is longer."""
    return max(timings(catalog).long_group_seconds, parse_duration(catalog.prometheus.evaluation_interval))


def layered(catalog: Catalog, window: str) -> bool:
    """Whether a long window is summed from the hourly increases (whole hours, and a long-window group that runs
    often enough for HOUR_TILE_LAG_SECONDS to hold, on vmalert too), rather than from the 5-minute tiles alone."""
    seconds = parse_duration(window)
    return (is_long(window) and seconds % HOUR_TILE_SECONDS == 0
            and 2 * long_group_seconds(catalog) <= TILE_SECONDS - HOUR_TILE_LAG_SECONDS)


def _sorted(windows: set[str]) -> list[str]:
    return sorted(windows, key=parse_duration)


# -- burn-rate tiers ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BurnTier:
    """One tier of the SRE Workbook's multiwindow, multi-burn-rate scheme and its policy.

    A tier spends `budget_share` of the error budget within `long_window`; its factor is
    budget_share x SLO period / long window (14.4/6/3/1 for 30 days). `default_for` applies when the
    catalog leaves `alerting.<name>.for` unset: long enough to ride out a blip, short against the long
    window (about 1/30 of it, as the burn is already averaged over that window).
    """

    name: str  # page_fast | page_slow | ticket_fast | ticket_slow (catalog alerting.<name>)
    severity: str  # page | ticket
    long_window: str
    short_window: str
    budget_share: float
    default_for: str

    def factor(self, slo_window: str) -> float:
        return round(self.budget_share * parse_duration(slo_window) / parse_duration(self.long_window), 4)

    @property
    def lag_allowance_seconds(self) -> int:
        """How much later than `for:` after the burn starts the tier may fire: a long window sees new
        events only when a 5-minute tile is recorded, and is evaluated once a minute after that."""
        return TILE_SECONDS + LONG_GROUP_INTERVAL_SECONDS if is_long(self.long_window) else 0

    @property
    def evaluated_once_a_minute(self) -> bool:
        return self.severity != "page"


TIERS = (
    BurnTier("page_fast", "page", "1h", "5m", 0.02, "2m"),
    BurnTier("page_slow", "page", "6h", "30m", 0.05, "15m"),
    BurnTier("ticket_fast", "ticket", "1d", "2h", 0.10, "1h"),
    BurnTier("ticket_slow", "ticket", "3d", "6h", 0.10, "3h"),
)
SEVERITIES = ("page", "ticket")


def tier_enabled(catalog: Catalog, tier: BurnTier) -> bool:
    return getattr(catalog.alerting, tier.name).enabled


def enabled_tiers(catalog: Catalog) -> list[BurnTier]:
    return [t for t in TIERS if tier_enabled(catalog, t)]


ALERT_WINDOWS = tuple(_sorted({normalise(w) for t in TIERS for w in (t.long_window, t.short_window)}))
BURN_LONG_WINDOWS = tuple(_sorted({normalise(t.long_window) for t in TIERS}))


def slo_windows(catalog: Catalog) -> list[str]:
    """The SLO windows the catalog uses, normalised (30d, 28d, ...)."""
    return _sorted({normalise(s.window) for svc in catalog.services for _, s in svc.slo_items()})


def ratio_windows(catalog: Catalog) -> list[str]:
    """Every window a ratio is recorded for: the burn-rate windows plus each SLO window, shortest first."""
    if not slo_kinds(catalog):
        return []
    return _sorted(set(ALERT_WINDOWS) | set(slo_windows(catalog)))


def event_windows(catalog: Catalog) -> list[str]:
    """The long windows of the burn tiers: an SLO alert needs `min_events` requests there."""
    return list(BURN_LONG_WINDOWS) if slo_kinds(catalog) else []


# -- time scale -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Timings:
    """Every duration that a time-compressed (demo or test) catalog shortens, compressed once here.

    Rate windows and SLO windows are never compressed: they define what is measured. What is compressed
    is how long a condition must hold (`for:`), how often slow rule groups run, and how long
    Alertmanager waits, so a 5-minute trigger can be watched in seconds.
    """

    scale: float
    error_ratio_for: str
    replication_lag_for: str
    region_unavailable_for: str
    metrics_absent_for: str
    targets_down_for: str
    recovery_for: str
    tier_for: dict[str, str]
    long_group_seconds: int

    def __call__(self, duration: str) -> str:
        """Any other duration of the same kind (Alertmanager's timers), compressed the same way."""
        return scale_duration(duration, self.scale)

    def seconds(self, duration: str) -> float:
        return parse_duration(self(duration))

    @property
    def compressed(self) -> bool:
        return self.scale != 1


# How long the replication lag must stay above its threshold before it is a DR trigger.
REPLICATION_LAG_FOR = "1m"


def scale_duration(duration: str, scale: float) -> str:
    if scale == 1:
        return duration
    return format_duration(max(1.0, round(parse_duration(duration) * scale)))


def timings(catalog: Catalog) -> Timings:
    s = catalog.time_scale
    dr = catalog.dr
    return Timings(
        scale=s,
        error_ratio_for=scale_duration(dr.error_ratio.for_, s),
        replication_lag_for=scale_duration(REPLICATION_LAG_FOR, s),
        region_unavailable_for=scale_duration(dr.primary_region_unavailable.for_, s),
        metrics_absent_for=scale_duration(catalog.alerting.metrics_absent_for, s),
        targets_down_for=scale_duration(catalog.alerting.targets_down_for, s),
        recovery_for=scale_duration(RECOVERY_FOR, s),
        tier_for={t.name: scale_duration(getattr(catalog.alerting, t.name).for_ or t.default_for, s) for t in TIERS},
        long_group_seconds=max(1, round(LONG_GROUP_INTERVAL_SECONDS * s)),
    )


# -- recovery point and backups -------------------------------------------------------------------------
# The two sources of a recoverable point, as values of RPO_SOURCE_LABEL: the DR database (its replication
# lag) and the last successful backup (its age).
RPO_SOURCE_LABEL = "source"
RPO_SOURCES = ("replication", "backup")
# How long the recoverable point or the last backup must stay too old before RPOBreached or BackupMissed
# fires: rides out a restart of the database exporter or the Pushgateway, whose series vanish meanwhile.
RECOVERY_FOR = "10m"
# The backup schedule is read from a fixed start, so generated rules do not depend on the day they are
# generated; a leap year, so a 29 February schedule is seen within the horizon.
_SCHEDULE_START = datetime(2024, 1, 1)
_SCHEDULE_HORIZON_SECONDS = 400 * 86400
_SCHEDULE_MAX_RUNS = 20000


@functools.lru_cache(maxsize=32)
def _longest_gap(schedule: str, timezone: str) -> int:
    from croniter import CroniterBadDateError, CroniterError, croniter

    tz = ZoneInfo("UTC" if timezone in ("browser", "utc") else timezone)  # as report_timezone reads it
    try:
        runs = croniter(schedule, _SCHEDULE_START.replace(tzinfo=tz))
        prev = first = runs.get_next(float)
        longest = 0.0
        for _ in range(_SCHEDULE_MAX_RUNS):
            run = runs.get_next(float)
            longest = max(longest, run - prev)
            if run - first > _SCHEDULE_HORIZON_SECONDS:
                break
            prev = run
    except CroniterBadDateError:
        raise ZarishError(f"dr.backup.schedule: {schedule!r} never runs (no date matches it)",
                          ExitCode.DATAERR) from None
    except (CroniterError, ValueError, KeyError) as exc:
        raise ZarishError(f"dr.backup.schedule: {schedule!r} is not a valid cron schedule (croniter: {exc})",
                          ExitCode.DATAERR) from None
    return round(longest)


def backup_interval_seconds(catalog: Catalog) -> int:
    """The longest gap between two consecutive runs of `dr.backup.schedule` in the catalog's time zone (24h
    for a nightly backup, 72h across the weekend for weekdays only): how far apart two successful backups
    may legitimately be. Never time-compressed: like the RPO, it is what is measured against."""
    return _longest_gap(catalog.dr.backup.schedule, catalog.timezone)


def backup_missed_after_seconds(catalog: Catalog) -> int:
    """Age of the last successful backup beyond which a backup counts as missed: interval plus grace (the
    grace covers the backup's own run time and a late start)."""
    return backup_interval_seconds(catalog) + round(parse_duration(catalog.dr.backup.grace))


# -- reporting periods ----------------------------------------------------------------------------------
def report_timezone(catalog: Catalog) -> ZoneInfo:
    """The zone whose midnights bound report days and months: the catalog's, UTC for Grafana's
    `browser`/`utc` settings (a report has no browser to ask)."""
    return ZoneInfo("UTC" if catalog.timezone in ("browser", "utc") else catalog.timezone)


# -- scrape targets -------------------------------------------------------------------------------------
# The pod labels of the DR plan's deployment template that name a target's service and environment; the
# pod relabelling (a labelmap of every pod label) copies them onto `up` and every series scraped from it.
TARGET_SERVICE_LABEL = "app"
TARGET_ENVIRONMENT_LABEL = "environment"
TARGET_UP = "up"  # Prometheus's own series per target: 1 when the last scrape succeeded, 0 when it failed

# -- Prometheus's own alert series ------------------------------------------------------------------------
ALERTS_SERIES = "ALERTS"  # one series per pending or firing alert, with the alert's labels
ALERT_NAME_LABEL = "alertname"
ALERT_STATE_LABEL = "alertstate"
FIRING = "firing"


# -- dashboards -----------------------------------------------------------------------------------------
DASHBOARD_KINDS = ("overview", "slo", "dr")


def dashboard_uid(catalog_name: str, kind: str) -> str:
    """Deterministic Grafana uid (<= 40 chars of [A-Za-z0-9_-]) for one of our dashboards."""
    uid = f"{catalog_name}-{kind}"
    if len(uid) <= 40:
        return uid
    # Cut long names but keep uids distinct: a hash of the full uid replaces the tail.
    digest = hashlib.sha256(uid.encode()).hexdigest()[:8]
    return f"{uid[:31]}-{digest}"
