"""When the catalog's maintenance windows are open: every occurrence in a range, in absolute time.

Windows are written in the catalog's time zone; everything downstream (silences, recording rules, the
monitor, the report) works on the unix-second intervals this module returns, so a window means the same
minutes to all of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from zarish_obs.conventions import report_timezone
from zarish_obs.durations import parse_duration

if TYPE_CHECKING:  # the catalog model holds the windows; this module only reads them
    from zarish_obs.catalog import Catalog, MaintenanceWindow

WEEKDAY_INDEX = {d: i for i, d in enumerate(("monday", "tuesday", "wednesday", "thursday", "friday", "saturday",
                                             "sunday"))}
DAY = 86400


@dataclass(frozen=True)
class Occurrence:
    window: str
    start: float  # unix seconds, inclusive
    end: float  # unix seconds, exclusive


def services(catalog: Catalog, window: MaintenanceWindow) -> list[str]:
    return list(window.services) if window.services is not None else [s.name for s in catalog.services]


def environments(catalog: Catalog, window: MaintenanceWindow) -> list[str]:
    return list(window.environments) if window.environments is not None else [catalog.dr.error_ratio.environment]


def covers(catalog: Catalog, window: MaintenanceWindow, service: str, environment: str) -> bool:
    return service in services(catalog, window) and environment in environments(catalog, window)


def _local(catalog: Catalog, text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=report_timezone(catalog)).timestamp()


def _minutes(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def weekly_length(window: MaintenanceWindow) -> int:
    """Seconds from `from` to `to`; a `to` at or before `from` ends the next day."""
    assert window.from_ is not None and window.to is not None
    return ((_minutes(window.to) - _minutes(window.from_)) % 1440) * 60


def _starts(catalog: Catalog, window: MaintenanceWindow, since: float, until: float) -> Iterator[float]:
    """Start instants of a recurring window from `since` (minus one window length) to before `until`."""
    tz = report_timezone(catalog)
    if window.kind == "cron":
        from croniter import croniter  # only cron windows need it

        assert window.schedule is not None and window.duration is not None
        runs = croniter(window.schedule, datetime.fromtimestamp(since - parse_duration(window.duration) - 60, tz))
        while True:
            at = runs.get_next(float)
            if at >= until:
                return
            yield at
    assert window.weekdays is not None and window.from_ is not None
    days = {WEEKDAY_INDEX[d] for d in window.weekdays}
    minutes = _minutes(window.from_)
    day: date = datetime.fromtimestamp(since, tz).date() - timedelta(days=1)
    while True:
        local = datetime(day.year, day.month, day.day, minutes // 60, minutes % 60, tzinfo=tz)
        at = local.timestamp()
        if at >= until:
            return
        if day.weekday() in days:
            yield at
        day += timedelta(days=1)


def length(window: MaintenanceWindow) -> float:
    if window.kind == "cron":
        assert window.duration is not None
        return parse_duration(window.duration)
    return weekly_length(window)


def openings(catalog: Catalog, window: MaintenanceWindow, since: float, until: float) -> list[Occurrence]:
    """Every whole opening of `window` that overlaps [since, until), in time order."""
    if window.kind == "oneoff":
        assert window.start is not None and window.end is not None
        spans = [(_local(catalog, window.start), _local(catalog, window.end))]
    else:
        size = length(window)
        spans = [(at, at + size) for at in _starts(catalog, window, since, until)]
    return [Occurrence(window.name, a, b) for a, b in spans if a < until and b > since]


def occurrences(catalog: Catalog, window: MaintenanceWindow, since: float, until: float) -> list[Occurrence]:
    """The openings of `window` that overlap [since, until), cut to it."""
    return [Occurrence(o.window, max(o.start, since), min(o.end, until))
            for o in openings(catalog, window, since, until)]


def merge(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Overlapping or touching intervals joined."""
    out: list[list[float]] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


def covering(catalog: Catalog, service: str, environment: str, since: float, until: float,
             slo_only: bool = True) -> list[tuple[float, float]]:
    """The merged minutes [since, until) in which some window covers the service (with exclude_from_slo
    when `slo_only`)."""
    spans = [(o.start, o.end) for w in catalog.maintenance
             if covers(catalog, w, service, environment) and (w.exclude_from_slo or not slo_only)
             for o in occurrences(catalog, w, since, until)]
    return merge(spans)


def active(catalog: Catalog, service: str, environment: str, at: float) -> list[Occurrence]:
    """The windows open at `at` for the service, each with its own end."""
    return [o for w in catalog.maintenance if covers(catalog, w, service, environment)
            for o in openings(catalog, w, at, at + 1)]


def overlaps(catalog: Catalog, since: float, until: float) -> list[str]:
    """One line per pair of windows that overlap for some service in [since, until): they are merged (a
    minute is excluded once), and the overlap is reported so a doubled window is noticed."""
    lines = []
    windows = catalog.maintenance
    for i, a in enumerate(windows):
        for b in windows[i + 1:]:
            shared = [s for s in services(catalog, a) if s in services(catalog, b)]
            envs = [e for e in environments(catalog, a) if e in environments(catalog, b)]
            if not shared or not envs:
                continue
            spans_b = [(o.start, o.end) for o in occurrences(catalog, b, since, until)]
            hit = next((o for o in occurrences(catalog, a, since, until)
                        if any(o.start < e and s < o.end for s, e in spans_b)), None)
            if hit is not None:
                first = datetime.fromtimestamp(hit.start, report_timezone(catalog)).isoformat(timespec="minutes")
                lines.append(f"maintenance: windows {a.name!r} and {b.name!r} overlap (first at {first}, "
                             f"services {', '.join(shared)}); merged")
    return lines
