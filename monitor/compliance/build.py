"""The report's answers -> the JSON contract of docs/report.md (version 1). Pure: no I/O, no clock.

Every figure that could not be measured is None, never NaN; ratios are 0..1. Budgets are shares of the
period's allowed bad events (total x (1 - objective)); incidents are runs of burning 5-minute tiles merged
across short pauses, and those that cost too little to discuss are counted as blips. Maintenance windows that
exclude their minutes from the SLOs take their events out of every SLO figure (the raw increase less the
increases over the window's pieces), their tiles out of the incidents, and their minutes out of the budget
minutes and the coverage.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from zarish_obs import conventions
from zarish_obs.catalog import AvailabilitySLO, Catalog, Service
from zarish_obs.durations import parse_duration
from zarish_obs.monitor.client import Sample, Series
from zarish_obs.monitor.compliance import policy as budget_policy
from zarish_obs.monitor.compliance import queries as q
from zarish_obs.monitor.compliance import windows as maint
from zarish_obs.monitor.compliance.period import MINUTE, Period
from zarish_obs.monitor.evaluate import finite, rfc3339

VERSION = 1
MET, BREACHED, INCOMPLETE = "met", "breached", "incomplete"
SOURCE_NAMES = {"recorded": "recorded", "raw": "raw counters", "mixed": "mixed"}
_TOLERANCE = 1e-9  # an SLI that equals the objective up to float noise is met


@dataclass
class Tile:
    end: float
    bad: float = 0.0
    total: float = 0.0
    seconds: float = q.TILE  # shorter for the period's last tile when the period is not whole tiles

    @property
    def start(self) -> float:
        return self.end - self.seconds


@dataclass
class Stretch:
    """Burning tiles merged into one stretch (an incident or a blip)."""

    slo: str
    tiles: list[Tile] = field(default_factory=list)

    @property
    def start(self) -> float:
        return self.tiles[0].start

    @property
    def end(self) -> float:
        return self.tiles[-1].end

    @property
    def bad(self) -> float:
        return sum(t.bad for t in self.tiles)


# -- reading answers ------------------------------------------------------------------------------------------
class Answers:
    """The answers of one plan, restricted to the environment and keyed by service (slo, part, ...)."""

    def __init__(self, catalog: Catalog, environment: str, answers: Mapping[str, Any]):
        self.raw = answers
        self.env_label = catalog.metrics.environment_label
        self.svc_label = catalog.metrics.service_label
        self.environment = environment

    def _mine(self, labels: Mapping[str, str]) -> bool:
        return labels.get(self.env_label, self.environment) == self.environment

    def samples(self, name: str) -> list[Sample]:
        got = self.raw.get(name)
        return [s for s in got if isinstance(s, Sample) and self._mine(s.labels)] if isinstance(got, list) else []

    def series(self, prefix: str) -> list[Series]:
        """Series of the query `prefix` and of every query named `prefix:<n>`."""
        out: list[Series] = []
        for name, got in self.raw.items():
            if (name == prefix or name.startswith(prefix + ":")) and isinstance(got, list):
                out += [s for s in got if isinstance(s, Series) and self._mine(s.labels)]
        return out

    def key(self, labels: Mapping[str, str], *extra: str) -> tuple[str, ...]:
        return (labels.get(self.svc_label, ""), *(labels.get(e, "") for e in extra))

    def prefixed(self, prefix: str) -> list[Sample]:
        """Samples of the instant queries `prefix` and `prefix:<n>`."""
        return [s for name in self.raw if name == prefix or name.startswith(prefix + ":")
                for s in self.samples(name)]

    def values(self, name: str, *extra: str) -> dict[tuple[str, ...], float | None]:
        return {self.key(s.labels, *extra): finite(s.value) for s in self.samples(name)}

    def points(self, prefix: str, *extra: str) -> dict[tuple[str, ...], dict[float, float | None]]:
        out: dict[tuple[str, ...], dict[float, float | None]] = {}
        for s in self.series(prefix):
            out.setdefault(self.key(s.labels, *extra), {}).update((t, finite(v)) for t, v in s.points)
        return out


# -- small pure helpers ---------------------------------------------------------------------------------------
def ratio(part: float | None, whole: float | None) -> float | None:
    if part is None or whole is None:
        return None
    if whole <= 0:
        return 0.0 if part <= 0 else None
    return part / whole


def episodes(times: Iterable[float], step: float = MINUTE) -> list[dict[str, str]]:
    """Consecutive steps (each the end of one `step`) joined into [start, end] stretches."""
    out: list[list[float]] = []
    for t in sorted(set(times)):
        if out and t - out[-1][1] <= step:
            out[-1][1] = t
        else:
            out.append([t, t])
    return [{"start": rfc3339(a - step), "end": rfc3339(b)} for a, b in out]


def merge_tiles(slo: str, tiles: Iterable[Tile], gap: float) -> list[Stretch]:
    """Burning tiles closer than `gap` (end of one to start of the next) form one stretch."""
    out: list[Stretch] = []
    for tile in sorted(tiles, key=lambda t: t.end):
        if out and tile.start - out[-1].end < gap:
            out[-1].tiles.append(tile)
        else:
            out.append(Stretch(slo, [tile]))
    return out


def incident_json(s: Stretch, allowed: float | None, budget: float) -> dict[str, Any]:
    peak = max((t.bad / t.total / budget for t in s.tiles if t.total > 0), default=None)
    return {"slo": s.slo, "start": rfc3339(s.start), "end": rfc3339(s.end), "duration_seconds": s.end - s.start,
            "bad_events": s.bad, "budget_consumed": ratio(s.bad, allowed), "peak_burn_rate": peak}


def split_blips(stretches: list[Stretch], threshold: float | None) -> tuple[list[Stretch], list[Stretch]]:
    """(incidents, blips): stretches whose bad events reach `threshold` are incidents."""
    if threshold is None:
        return stretches, []
    return [s for s in stretches if s.bad >= threshold], [s for s in stretches if s.bad < threshold]


def gaps(covered_at_start: bool, edges: Iterable[tuple[float, str]], start: float, end: float
         ) -> list[tuple[float, float]]:
    """Uncovered stretches [a, b] of the period's minutes from the state at its start and the edges
    ("up": covered from this minute on, "down": uncovered from this minute on), each at a minute's end."""
    out: list[tuple[float, float]] = []
    down_since = None if covered_at_start else start
    for t, edge in sorted(edges):
        if edge == "down" and down_since is None:
            down_since = t - MINUTE
        elif edge == "up" and down_since is not None:
            if t - MINUTE > down_since:
                out.append((down_since, t - MINUTE))
            down_since = None
    if down_since is not None and end > down_since:
        out.append((down_since, end))
    return out


def _date(d: Any) -> str:
    return d.isoformat()


def _local(period: Period, at: float) -> str:
    return datetime.fromtimestamp(at, period.tz).isoformat()


def _source(kinds: set[str]) -> str:
    if not kinds:
        return SOURCE_NAMES["raw"]
    return SOURCE_NAMES[kinds.pop()] if len(kinds) == 1 else SOURCE_NAMES["mixed"]


# -- the report -----------------------------------------------------------------------------------------------
@dataclass
class _Data:
    """What every service's figures are read from, computed once."""

    period: Period
    catalog: Catalog
    a: Answers
    events: dict[tuple[str, ...], float | None]
    window_events: dict[tuple[str, ...], float | None]
    daily_events: dict[tuple[str, ...], dict[float, float | None]]
    tiles: dict[tuple[str, str], dict[float, Tile]]
    quarter_tiles: dict[tuple[str, str], dict[float, Tile]]
    spans: dict[str, list[maint.Interval]] = field(default_factory=dict)  # maintenance, per service
    excluded: dict[tuple[str, ...], list[tuple[float, float, float]]] = field(default_factory=dict)

    def less(self, value: float | None, key: tuple[str, ...], a: float, b: float) -> float | None:
        """`value` (a raw increase over [a, b]) less the increases over the maintenance pieces inside it."""
        if value is None:
            return None
        return value - sum(v for x, y, v in self.excluded.get(key, []) if a <= x and y <= b)

    def events_between(self, total: float | None, bad: float | None, keys: tuple[tuple[str, ...], ...],
                       a: float, b: float) -> tuple[float | None, float | None]:
        """(total, bad) raw increases over [a, b] less maintenance, kept consistent: no bad series with traffic
        means no bad event, and 0 <= bad <= total despite extrapolation."""
        if total is not None and bad is None:
            bad = 0.0
        total, bad = self.less(total, keys[0], a, b), self.less(bad, keys[1], a, b)
        if total is not None:
            total = max(total, 0.0)
            if bad is not None:
                bad = min(max(bad, 0.0), total)
        return total, bad

    def outside(self, service: str, tiles: Iterable[Tile]) -> list[Tile]:
        """The tiles whose middle lies outside the service's maintenance (the recording rules' rule)."""
        spans = self.spans.get(service, [])
        return [t for t in tiles if not maint.contains(spans, t.end - t.seconds / 2)]


def _excluded(a: Answers) -> dict[tuple[str, ...], list[tuple[float, float, float]]]:
    """Per (service, slo, part), each maintenance piece's (start, end, events)."""
    out: dict[tuple[str, ...], list[tuple[float, float, float]]] = {}
    for s in a.prefixed("maintenance_events"):
        value = finite(s.value)
        start, _, end = s.labels.get(q.PIECE_LABEL, "").partition("-")
        if value is None or not start.isdigit() or not end.isdigit():
            continue
        out.setdefault(a.key(s.labels, q.SLO_LABEL, q.PART_LABEL), []).append((float(start), float(end), value))
    return out


def _tiles(a: Answers, name: str, tail: tuple[str, float, float] | None = None
           ) -> tuple[dict[tuple[str, str], dict[float, Tile]], set[str]]:
    """Burning tiles per (service, slo) from the range answer `name`, plus the instant answer of the period's
    shorter last tile (`tail`: its query name, end and length)."""
    out: dict[tuple[str, str], dict[float, Tile]] = {}
    sources: set[str] = set()
    answers: list[tuple[Mapping[str, str], list[tuple[float, float | None]], float]] = [
        (s.labels, s.points, q.TILE) for s in a.series(name)]
    if tail:
        answers += [(s.labels, [(tail[1], finite(s.value))], tail[2]) for s in a.samples(tail[0])]
    for labels, points, length in answers:
        svc, slo, part = a.key(labels, q.SLO_LABEL, q.PART_LABEL)
        sources.add("raw" if labels.get(q.SOURCE_LABEL) == q.RAW else "recorded")
        own = out.setdefault((svc, slo), {})
        for t, v in points:
            if v is None:
                continue
            tile = own.setdefault(t, Tile(t, seconds=length))
            if part == "bad":
                tile.bad = v
            elif part == "total":
                tile.total = v
    return out, sources


def _slo(d: _Data, svc: Service, kind: str, slo: AvailabilitySLO, complete: bool
         ) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """One SLO's figures, its incidents and its quarter's incidents."""
    budget = slo.error_budget
    policy = d.catalog.policy
    p = d.period
    total_key, bad_key = (svc.name, kind, "total"), (svc.name, kind, "bad")
    keys = (total_key, bad_key)
    total, bad = d.events_between(d.events.get(total_key), d.events.get(bad_key), keys, p.start, p.end)
    allowed = None if total is None else total * budget
    consumed = ratio(bad, allowed)
    period_minutes = (p.seconds - maint.seconds_inside(d.spans.get(svc.name, []), p.start, p.end)) / MINUTE
    sli = None if total is None or bad is None or total <= 0 else (total - bad) / total
    verdict = INCOMPLETE if not complete else (BREACHED if sli is not None and 100 * sli < slo.objective
                                               - _TOLERANCE else MET)

    daily: list[dict[str, Any]] = []
    spent = 0.0
    for day in p.days():
        t, b = d.events_between(d.daily_events.get(total_key, {}).get(day.end),
                                d.daily_events.get(bad_key, {}).get(day.end), keys, day.start, day.end)
        spent += b or 0.0
        remaining = None if allowed is None or allowed <= 0 else 1 - spent / allowed
        daily.append({"date": _date(day.date), "start": rfc3339(day.start), "end": rfc3339(day.end),
                      "sli": None if t is None or b is None or t <= 0 else (t - b) / t,
                      "good": None if t is None or b is None else t - b, "bad": b, "total": t,
                      "budget_remaining": remaining})
    days_with_sli = [x for x in daily if x["sli"] is not None]
    worst = min(days_with_sli, key=lambda x: x["sli"]) if days_with_sli else None

    w_total, w_bad = d.events_between(d.window_events.get(total_key), d.window_events.get(bad_key), keys,
                                      p.end - slo.window_seconds, p.end)
    window_consumed = ratio(w_bad, None if w_total is None else w_total * budget)

    gap = parse_duration(policy.incident_merge_gap)
    threshold = None if allowed is None else allowed * policy.incident_min_budget_percent / 100
    own = d.outside(svc.name, d.tiles.get((svc.name, kind), {}).values())
    stretches = merge_tiles(kind, own, gap)
    incidents, blips = split_blips(stretches, threshold)
    quarter = merge_tiles(kind, [*d.outside(svc.name, d.quarter_tiles.get((svc.name, kind), {}).values()), *own],
                          gap)
    quarter_incidents, _ = split_blips(quarter, threshold)

    out = {
        "slo": kind, "objective": slo.objective, "window": conventions.normalise(slo.window), "sli": sli,
        "events": {"good": None if total is None or bad is None else total - bad, "bad": bad, "total": total},
        "budget": {"allowed_bad_events": allowed, "consumed": consumed,
                   "remaining": None if consumed is None else 1 - consumed,
                   "allowed_minutes": budget * period_minutes,
                   "consumed_minutes": None if consumed is None else consumed * budget * period_minutes},
        "verdict": verdict,
        "worst_day": None if worst is None else {"date": worst["date"], "sli": worst["sli"]},
        "daily": daily,
        "window_budget_consumed": window_consumed,
        "blips": {"count": len(blips), "budget_consumed": ratio(sum(s.bad for s in blips), allowed) or 0.0},
    }
    return (out, [incident_json(s, allowed, budget) for s in incidents],
            [incident_json(s, allowed, budget) for s in quarter_incidents])


def _coverage(d: _Data) -> tuple[dict[str, tuple[float, list[dict[str, Any]]]], float | None]:
    """Per service (coverage, gaps), and the end of the environment's first covered minute. Minutes inside
    the service's maintenance are no gaps (a patch restarts pods): coverage is the share of the minutes
    outside it that had a sample. The first covered minute reads the raw gaps: a window does not make up
    for data Prometheus never had."""
    a, p = d.a, d.period
    at_start = {k[0] for k, v in a.values("coverage_start").items() if v}
    edges: dict[str, list[tuple[float, str]]] = {}
    for s in a.series("coverage_edges"):
        svc, part = a.key(s.labels, q.PART_LABEL)
        edges.setdefault(svc, []).extend((t, part) for t, v in s.points if v)
    minutes = p.seconds / MINUTE
    out: dict[str, tuple[float, list[dict[str, Any]]]] = {}
    first: float | None = None
    for svc in d.catalog.services:
        raw = gaps(svc.name in at_start, edges.get(svc.name, []), p.start, p.end)
        spans = d.spans.get(svc.name, [])
        stretches = maint.subtract(raw, spans)
        missing = sum(b - a_ for a_, b in stretches) / MINUTE
        outside = minutes - maint.seconds_inside(spans, p.start, p.end) / MINUTE
        out[svc.name] = (1.0 if outside <= 0 else max(0.0, 1 - missing / outside),
                         [{"start": rfc3339(a_), "end": rfc3339(b), "minutes": round((b - a_) / MINUTE)}
                          for a_, b in stretches])
        if sum(b - a_ for a_, b in raw) / MINUTE < minutes:
            covered_from = p.start if not raw or raw[0][0] > p.start else raw[0][1]
            first = covered_from if first is None else min(first, covered_from)
    return out, first


def _alerts(d: _Data) -> tuple[dict[str, list[dict[str, Any]]], dict[str, list[float]]]:
    """Firing alerts per service, and the firing minutes of each DR trigger's alert."""
    a = d.a
    names = {s.name for s in d.catalog.services}
    per: dict[tuple[str, str, str, str], list[float]] = {}
    dr: dict[str, list[float]] = {}
    alert_trigger = {alert: trigger for trigger, alert in conventions.DR_TRIGGERS.items()}
    for s in a.series("alerts"):
        labels = s.labels
        times = [t for t, v in s.points if v is not None]
        svc = labels.get(a.svc_label)
        trigger = labels.get(q.TRIGGER_LABEL) or alert_trigger.get(labels.get("alertname", ""))
        if svc is None and trigger:
            dr.setdefault(trigger, []).extend(times)
        elif svc in names:
            key = (svc, labels.get("alertname", ""), labels.get(conventions.SEVERITY_LABEL, ""),
                   labels.get(q.SLO_LABEL, ""))
            per.setdefault(key, []).extend(times)
    out: dict[str, list[dict[str, Any]]] = {}
    for (svc, alert, severity, slo), times in sorted(per.items()):
        out.setdefault(svc, []).append({"alert": alert, "severity": severity or None, "slo": slo or None,
                                        "episodes": episodes(times), "firing_minutes": len(set(times))})
    return out, dr


def _dr_triggers(d: _Data, alert_minutes: dict[str, list[float]]) -> list[dict[str, Any]]:
    held: dict[str, list[float]] = {}
    for s in d.a.series("dr"):
        held.setdefault(s.labels.get(q.TRIGGER_LABEL, ""), []).extend(t for t, v in s.points if v is not None)
    return [{"trigger": trigger, "alert": alert, "held_minutes": len(set(held.get(trigger, []))),
             "episodes": episodes(held.get(trigger, [])),
             "alert_firing_minutes": len(set(alert_minutes.get(trigger, []))),
             "alert_episodes": episodes(alert_minutes.get(trigger, []))}
            for trigger, alert in conventions.DR_TRIGGERS.items()]


def _peaks(a: Answers) -> tuple[dict[str, tuple[float, float]], set[str]]:
    best: dict[str, tuple[float, float]] = {}
    sources: set[str] = set()
    for s in a.series("peak"):
        svc = a.key(s.labels)[0]
        for t, v in s.points:
            if v is None:
                continue
            sources.add("raw" if s.labels.get(q.SOURCE_LABEL) == q.RAW else "recorded")
            if svc not in best or v > best[svc][0] or (v == best[svc][0] and t < best[svc][1]):
                best[svc] = (v, t)
    return best, sources


def _incident_source(d: _Data) -> str:
    """recorded when every SLO kind had recorded tiles for the whole period for every service, raw counters
    when none had any, mixed otherwise."""
    a, p = d.a, d.period
    got = a.values("recorded", q.SLO_LABEL, q.PART_LABEL)
    kinds: set[str] = set()
    for kind in conventions.slo_kinds(d.catalog):
        tiles = got.get(("", kind, "tiles")) or 0
        services = got.get(("", kind, "services")) or 0
        names = [s.name for s in d.catalog.services if any(k == kind for k, _ in s.slo_items())]
        # the rules record no tile while every service of the kind is in maintenance (one tile of slack per
        # window edge: where a window's edge falls between the subquery's steps)
        everyone = maint.clip(maint.common(d.spans, names), p.start, p.end)
        expected_tiles = (p.seconds - sum(b - a_ for a_, b in everyone)) // q.TILE - 2 * len(everyone)
        if tiles <= 0:
            kinds.add("raw")
        elif tiles >= expected_tiles and services >= len(names):
            kinds.add("recorded")
        else:
            kinds.add("mixed")
    return _source(kinds)


def _maintenance(catalog: Catalog, environment: str, period: Period) -> dict[str, list[dict[str, str]]]:
    """Per service, the occurrences in the period of the windows that exclude its minutes from the SLOs."""
    out: dict[str, list[dict[str, str]]] = {}
    for occ, names in maint.occurrences(catalog, environment, period.start, period.end):
        for name in names:
            out.setdefault(name, []).append({"name": occ.window, "start": rfc3339(occ.start),
                                             "end": rfc3339(occ.end)})
    return out


def _sanitise(value: Any) -> Any:
    """Any non-finite float that slipped through becomes None, so the JSON never carries NaN."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _sanitise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_sanitise(v) for v in value]
    return value


def build(catalog: Catalog, environment: str, period: Period, answers: Mapping[str, Any], *, now: float,
          prometheus_url: str, queries_sent: int) -> dict[str, Any]:
    """The report (JSON contract version 1) from the plan's answers; `answers["retention"]` is the server's
    retention text or None."""
    a = Answers(catalog, environment, answers)
    tiles, _ = _tiles(a, "tiles", ("tiles_tail", period.end, period.seconds % q.TILE))
    quarter_tiles, _ = _tiles(a, "quarter_tiles")
    spans = maint.covered(catalog, environment, period)
    d = _Data(period, catalog, a, a.values("events", q.SLO_LABEL, q.PART_LABEL),
              a.values("window_events", q.SLO_LABEL, q.PART_LABEL),
              a.points("daily_events", q.SLO_LABEL, q.PART_LABEL), tiles, quarter_tiles, spans, _excluded(a))
    windows = _maintenance(catalog, environment, period)
    coverage, first = _coverage(d)
    window = q.coverage_window(catalog)
    starts_before_data = first is None or first - period.start > window
    minimum = catalog.policy.minimum_coverage_percent / 100
    requests = a.values("requests")
    latency = a.values("latency", q.PART_LABEL)
    daily_requests = a.points("daily_requests")
    daily_latency = a.points("daily_latency", q.PART_LABEL)
    peaks, peak_sources = _peaks(a)
    alerts, dr_alerts = _alerts(d)

    services = []
    low: list[str] = []
    for svc in catalog.services:
        cov, svc_gaps = coverage[svc.name]
        complete = not starts_before_data and cov >= minimum - _TOLERANCE
        if cov < minimum - _TOLERANCE:
            low.append(svc.name)
        slos, incidents, quarter_incidents = [], [], []
        for kind, slo in svc.slo_items():
            entry, own, quarter = _slo(d, svc, kind, slo, complete)
            slos.append(entry)
            incidents += own
            quarter_incidents += quarter
        incidents.sort(key=lambda i: (i["start"], i["slo"]))
        peak = peaks.get(svc.name)
        count = requests.get((svc.name,))
        services.append({
            "service": svc.name, "coverage": cov, "gaps": svc_gaps,
            "maintenance": {"minutes": maint.minutes(maint.seconds_inside(spans.get(svc.name, []), period.start,
                                                                          period.end)),
                            "windows": windows.get(svc.name, [])},
            "request_count": count,
            "peak_request_rate": None if peak is None else peak[0],
            "peak_at": None if peak is None else rfc3339(peak[1]),
            "latency_p50_seconds": latency.get((svc.name, "p50")) if count else None,
            "latency_p95_seconds": latency.get((svc.name, "p95")) if count else None,
            "daily": [{"date": _date(day.date), "start": rfc3339(day.start), "end": rfc3339(day.end),
                       "requests": daily_requests.get((svc.name,), {}).get(day.end),
                       "latency_p50_seconds": daily_latency.get((svc.name, "p50"), {}).get(day.end),
                       "latency_p95_seconds": daily_latency.get((svc.name, "p95"), {}).get(day.end)}
                      for day in period.days()],
            "slos": slos,
            "incidents": incidents,
            "alerts": alerts.get(svc.name, []),
            "policy": budget_policy.evaluate(catalog.policy, slos, incidents, quarter_incidents),
        })

    complete = not starts_before_data and not low
    reason = None
    if starts_before_data:
        reason = ("no sample of the request counter in the period" if first is None else
                  f"the period starts before the oldest data ({rfc3339(first)})")
    elif low:
        reason = (f"coverage below {catalog.policy.minimum_coverage_percent:g}% for {len(low)} service(s): "
                  + ", ".join(low[:5]) + (", ..." if len(low) > 5 else ""))
    retention = answers.get("retention")
    report = {
        "version": VERSION, "catalog": catalog.name, "environment": environment,
        "generated_at": rfc3339(now), "prometheus_url": prometheus_url,
        "period": {"label": period.label, "start": rfc3339(period.start), "end": rfc3339(period.end),
                   "start_local": _local(period, period.start), "end_local": _local(period, period.end),
                   "timezone": period.timezone, "days": len(period.days()), "truncated": period.truncated},
        "complete": complete,
        "data": {"oldest_sample": None if first is None else rfc3339(first),
                 "retention": retention if isinstance(retention, str) else None,
                 "starts_before_data": starts_before_data, "minimum_coverage": minimum,
                 "coverage_window_seconds": window, "reason": reason},
        "sources": {"events": SOURCE_NAMES["raw"], "incidents": _incident_source(d),
                    "peak_request_rate": _source(peak_sources)},
        "queries": queries_sent,
        "services": services,
        "dr_triggers": _dr_triggers(d, dr_alerts),
    }
    return _sanitise(report)

