"""Recurring maintenance windows as Alertmanager `time_intervals` and the routes they mute.

Alertmanager reads a window as local clock times on matching days, in `location`; the catalog writes it
as weekdays with from/to or as a cron schedule with a duration. Both become entries of the same shape:
the days a window opens on with its times that day, plus the days after with the part past midnight.
Only what can be said exactly is written; a cron schedule whose openings Alertmanager cannot describe
(L, W, #, or a spill past the end of February) is refused rather than approximated.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from croniter import croniter

from zarish_obs import conventions, maintenance
from zarish_obs.catalog import WEEKDAYS, Catalog, MaintenanceWindow
from zarish_obs.durations import parse_duration
from zarish_obs.errors import ExitCode, ZarishError

MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december")
_MONTH_DAYS = {1: 31, 3: 31, 4: 30, 5: 31, 6: 30, 7: 31, 8: 31, 9: 30, 10: 31, 11: 30, 12: 31}  # not February
DAY_MINUTES = 1440


@dataclass(frozen=True)
class Days:
    """Days on which an entry applies: every field given must match (None: any)."""

    weekdays: frozenset[int] | None = None  # 0 = monday
    days: frozenset[int] | None = None  # days of the month
    months: frozenset[int] | None = None  # 1 = january


def recurring(catalog: Catalog) -> list[MaintenanceWindow]:
    return [w for w in catalog.maintenance if w.kind != "oneoff"]


def muted_alerts(catalog: Catalog) -> list[str]:
    """The per-service alerts a window mutes: SLO burn, SLO metrics absent and targets down."""
    return [*conventions.slo_burn_alerts(catalog), conventions.SLO_METRICS_ABSENT, conventions.TARGETS_DOWN]


def location(catalog: Catalog) -> str:
    return conventions.report_timezone(catalog).key


def _unexpressible(window: MaintenanceWindow, why: str) -> ZarishError:
    return ZarishError(f"maintenance.{window.name}: schedule {window.schedule!r} cannot be expressed exactly as "
                       f"Alertmanager time intervals: {why}", ExitCode.DATAERR)


def _cron_parts(window: MaintenanceWindow) -> tuple[list[int], list[Days]]:
    """Start minutes of the day and the days a cron window opens on (cron's rule: a restricted day of month
    and a restricted weekday each open it)."""
    assert window.schedule is not None
    fields, nth = croniter.expand(window.schedule)
    if nth:
        raise _unexpressible(window, "'#' (n-th weekday of the month) has no Alertmanager equivalent")
    if any(not isinstance(v, int) and v != "*" for f in fields for v in f):
        raise _unexpressible(window, "'L' and 'W' have no exact Alertmanager equivalent")
    minute, hour, dom, month, dow = ([] if f == ["*"] else [int(v) for v in f] for f in fields)
    minutes = sorted(h * 60 + m for h in (hour or range(24)) for m in (minute or range(60)))
    months = frozenset(month) if month else None
    weekdays = frozenset((d - 1) % 7 for d in dow) if dow else None
    if dom and weekdays is not None:
        return minutes, [Days(days=frozenset(dom), months=months), Days(weekdays=weekdays, months=months)]
    if dom:
        return minutes, [Days(days=frozenset(dom), months=months)]
    return minutes, [Days(weekdays=weekdays, months=months)]


def _next_month(months: Iterable[int]) -> frozenset[int]:
    return frozenset(m % 12 + 1 for m in months)


def _following(window: MaintenanceWindow, day: Days) -> list[Days]:
    """The days right after `day`'s days, exactly."""
    weekdays = frozenset((d + 1) % 7 for d in day.weekdays) if day.weekdays is not None else None
    if day.days is None:
        if day.months is None:
            return [Days(weekdays=weekdays)]
        return [Days(weekdays, frozenset(range(2, 32)), day.months),
                Days(weekdays, frozenset({1}), _next_month(day.months))]
    by_day: dict[int, set[int]] = {}
    for d in day.days:
        for m in sorted(day.months or range(1, 13)):
            if m == 2 and d in (28, 29):
                raise _unexpressible(window, f"the day after February {d} is March 1st in some years only")
            last = 29 if m == 2 else _MONTH_DAYS[m]
            if d > last:
                continue
            nd, nm = (d + 1, m) if d < last else (1, m % 12 + 1)
            by_day.setdefault(nd, set()).add(nm)
    by_months: dict[frozenset[int], set[int]] = {}
    for d, ms in by_day.items():
        by_months.setdefault(frozenset(ms), set()).add(d)
    return [Days(None, frozenset(ds), None if len(ms) == 12 else ms) for ms, ds in by_months.items()]


def _runs(values: Iterable[int]) -> list[tuple[int, int]]:
    out: list[list[int]] = []
    for v in sorted(values):
        if out and v == out[-1][1] + 1:
            out[-1][1] = v
        else:
            out.append([v, v])
    return [(a, b) for a, b in out]


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _entry(day: Days, spans: Sequence[tuple[int, int]], where: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"times": [{"start_time": _hhmm(a), "end_time": _hhmm(b)} for a, b in spans]}
    if day.weekdays is not None:
        entry["weekdays"] = [WEEKDAYS[d] for d in sorted(day.weekdays)]
    if day.days is not None:
        entry["days_of_month"] = [str(a) if a == b else f"{a}:{b}" for a, b in _runs(day.days)]
    if day.months is not None:
        entry["months"] = [MONTHS[m - 1] for m in sorted(day.months)]
    entry["location"] = where
    return entry


def window_entries(catalog: Catalog, window: MaintenanceWindow) -> list[dict[str, Any]]:
    """One recurring window as Alertmanager time_interval entries, split at midnight."""
    if window.kind == "cron":
        seconds = parse_duration(window.duration or "0s")
        if seconds % 60:
            raise _unexpressible(window, f"duration {window.duration} is not a whole number of minutes")
        starts, days = _cron_parts(window)
        length = int(seconds // 60)
    elif window.kind == "weekly":
        assert window.weekdays is not None and window.from_ is not None
        hours, mins = window.from_.split(":")
        starts = [int(hours) * 60 + int(mins)]
        days = [Days(weekdays=frozenset(WEEKDAYS.index(d) for d in window.weekdays))]
        length = maintenance.weekly_length(window) // 60
    else:
        raise ValueError(f"{window.name}: one-off windows are silences, not time intervals")
    spans = [(int(a), int(b)) for a, b in maintenance.merge([(s, s + length) for s in starts])]
    same = [(a, min(b, DAY_MINUTES)) for a, b in spans if a < DAY_MINUTES]
    spill = [(max(a, DAY_MINUTES) - DAY_MINUTES, b - DAY_MINUTES) for a, b in spans if b > DAY_MINUTES]
    where = location(catalog)
    out = [_entry(d, same, where) for d in days]
    if spill:
        out += [_entry(n, spill, where) for d in days for n in _following(window, d)]
    return out


def time_intervals(catalog: Catalog) -> list[dict[str, Any]]:
    """The top-level `time_intervals` of the Alertmanager config, one named interval per recurring window."""
    return [{"name": w.name, "time_intervals": window_entries(catalog, w)} for w in recurring(catalog)]


def _alternatives(names: Sequence[str]) -> str:
    return "|".join(n.replace(".", r"\.") for n in names)


def muted_routes(catalog: Catalog, dr_route: dict[str, Any], service_routes: Sequence[dict[str, Any]]
                 ) -> list[dict[str, Any]]:
    """The child routes with the recurring windows muting what they cover.

    Alertmanager takes the first matching route and does not pass mute times on to child routes, so each
    set of (environment, services) that the same windows cover gets a route of its own, ahead of the
    ordinary ones, holding copies of them that carry the windows' mute times. DR triggers stay loud unless a
    `suppress_dr` window covers the DR environment.
    """
    windows = recurring(catalog)
    m = catalog.metrics
    alerts = _alternatives(muted_alerts(catalog))
    groups: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for env in catalog.environments:
        for svc in catalog.services:
            names = tuple(w.name for w in windows if maintenance.covers(catalog, w, svc.name, env.name))
            if names:
                groups.setdefault((env.name, names), []).append(svc.name)
    dr_env = catalog.dr.error_ratio.environment
    dr_mutes = [w.name for w in windows if w.suppress_dr and dr_env in maintenance.environments(catalog, w)]
    out = [{**dr_route, "mute_time_intervals": dr_mutes} if dr_mutes else dict(dr_route)]
    for (env, names), services in groups.items():
        out.append({
            "matchers": [f'alertname=~"{alerts}"', f'{m.environment_label}="{env}"',
                         f'{m.service_label}=~"{_alternatives(services)}"'],
            "mute_time_intervals": list(names),
            "routes": [{**r, "mute_time_intervals": list(names)} for r in service_routes],
        })
    return out + [dict(r) for r in service_routes]
