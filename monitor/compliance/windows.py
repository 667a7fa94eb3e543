"""The minutes the report leaves out: maintenance windows that exclude their minutes from the SLOs.

`zarish_obs.maintenance` gives each window's occurrences in absolute time. Here they become, per service,
the merged intervals the report's SLO figures skip, and the pieces whose event increases it subtracts from
the raw counters' increases: the elementary intervals between every window edge, period, local-day and
SLO-window boundary, each with the services it covers, so that every figure (period, day, SLO window) is
the raw increase less the pieces that lie inside it, and one piece serves every service it covers.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from zarish_obs import maintenance
from zarish_obs.catalog import Catalog, MaintenanceWindow
from zarish_obs.monitor.compliance.period import Period

Interval = tuple[float, float]


@dataclass(frozen=True)
class Piece:
    """Events over [start, end) of `services` are left out of every figure whose range holds the piece."""

    start: float
    end: float
    services: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"{int(self.start)}-{int(self.end)}"


def longest_window(catalog: Catalog) -> float:
    return max((slo.window_seconds for s in catalog.services for _, slo in s.slo_items()), default=0.0)


def span_start(catalog: Catalog, period: Period) -> float:
    """The earliest instant a figure of the report reads: the period's start, its quarter's start (the
    escalation rule's incidents) or the start of the longest SLO window ending at the period's end."""
    return min(period.start, period.quarter_start(), period.end - longest_window(catalog))


def slo_windows(catalog: Catalog) -> list[MaintenanceWindow]:
    return [w for w in catalog.maintenance if w.exclude_from_slo]


def occurrences(catalog: Catalog, environment: str, since: float, until: float
                ) -> list[tuple[maintenance.Occurrence, frozenset[str]]]:
    """Every occurrence in [since, until) of a window that excludes minutes from the SLOs in `environment`,
    cut to the range, with the services it covers (each window's occurrences computed once)."""
    out = []
    for w in slo_windows(catalog):
        if environment not in maintenance.environments(catalog, w):
            continue
        names = frozenset(maintenance.services(catalog, w))
        out += [(o, names) for o in maintenance.occurrences(catalog, w, since, until) if o.end > o.start]
    return sorted(out, key=lambda x: (x[0].start, x[0].window))


def covered(catalog: Catalog, environment: str, period: Period) -> dict[str, list[Interval]]:
    """Per service with any, the merged maintenance intervals from `span_start` to the period's end."""
    spans: dict[str, list[Interval]] = {}
    for occ, names in occurrences(catalog, environment, span_start(catalog, period), period.end):
        for name in names:
            spans.setdefault(name, []).append((occ.start, occ.end))
    return {name: maintenance.merge(s) for name, s in spans.items()}


def clip(spans: Iterable[Interval], a: float, b: float) -> list[Interval]:
    return [(max(x, a), min(y, b)) for x, y in spans if x < b and y > a]


def seconds_inside(spans: Iterable[Interval], a: float, b: float) -> float:
    return sum(y - x for x, y in clip(spans, a, b))


def contains(spans: Sequence[Interval], at: float) -> bool:
    """`at` lies in one of the merged, sorted `spans` (start inclusive, end exclusive)."""
    i = bisect.bisect_right([x for x, _ in spans], at) - 1
    return i >= 0 and spans[i][0] <= at < spans[i][1]


def subtract(stretches: Iterable[Interval], spans: Sequence[Interval]) -> list[Interval]:
    """The parts of `stretches` outside `spans`."""
    out = []
    for a, b in stretches:
        cursor = a
        for x, y in clip(spans, a, b):
            if x > cursor:
                out.append((cursor, x))
            cursor = max(cursor, y)
        if cursor < b:
            out.append((cursor, b))
    return out


def intersect(first: Sequence[Interval], second: Sequence[Interval]) -> list[Interval]:
    out = []
    i = j = 0
    while i < len(first) and j < len(second):
        a, b = max(first[i][0], second[j][0]), min(first[i][1], second[j][1])
        if a < b:
            out.append((a, b))
        if first[i][1] < second[j][1]:
            i += 1
        else:
            j += 1
    return out


def common(spans: dict[str, list[Interval]], names: Iterable[str]) -> list[Interval]:
    """The intervals in which every one of `names` is in maintenance."""
    out: list[Interval] | None = None
    for name in names:
        out = spans.get(name, []) if out is None else intersect(out, spans.get(name, []))
        if not out:
            return []
    return out or []


def cuts(catalog: Catalog, period: Period) -> list[float]:
    """Boundaries no piece may cross: the period's start, its local days' ends and each SLO window's start."""
    windows = {slo.window_seconds for s in catalog.services for _, slo in s.slo_items()}
    return sorted({period.start, *(d.end for d in period.days()), *(period.end - w for w in windows)})


def pieces(catalog: Catalog, period: Period, spans: dict[str, list[Interval]]) -> list[Piece]:
    """The elementary intervals of the services' maintenance from the longest SLO window's start (or the
    period's, if earlier) to the period's end, each with the services in maintenance throughout it."""
    since = min(period.start, period.end - longest_window(catalog))
    inside = {name: clip(s, since, period.end) for name, s in spans.items()}
    edges = sorted({*(c for c in cuts(catalog, period) if since <= c <= period.end),
                    *(t for s in inside.values() for x, y in s for t in (x, y))})
    members: dict[int, list[str]] = {}
    for name in sorted(inside):
        for x, y in inside[name]:
            for k in range(bisect.bisect_left(edges, x), bisect.bisect_left(edges, y)):
                members.setdefault(k, []).append(name)
    return [Piece(edges[k], edges[k + 1], tuple(names)) for k, names in sorted(members.items())]


def minutes(seconds: float) -> int | float:
    """Whole minutes as an int (windows and periods are whole minutes), otherwise the exact float."""
    value = seconds / 60
    return int(value) if float(value).is_integer() else value
