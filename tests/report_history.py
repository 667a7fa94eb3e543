"""A 35-day deterministic history for the compliance report's accuracy test, and its truth.

The truth is computed from the generated per-interval events (what happened), never from the rendered
counters and never through PromQL, so Prometheus's handling of the counter reset, the scrape gap and the
local day boundaries is part of what the test checks.

Samples are every 2 minutes on the absolute grid. Incidents start and end on 10-minute marks and hold a
constant number of bad events per interval: a 5-minute tile on 2-minute samples sees two intervals and
extrapolates by 5/4, which is exact for a constant burst and only for one, so the incidents' bad events have
an exact truth too. Baseline errors are kept below a burn rate of 1 in every single interval, so no tile
outside the bursts can start an incident.

Two maintenance windows exclude their minutes from the SLOs: a weekly one on appointment-scheduling (23:00
to 03:00 local, so each opening is cut at midnight) during which a 5xx burst larger than the postmortem share
happens, and a one-off one over every service during which billing has a 30-minute scrape gap. Their
openings are worked out here from local dates, not through zarish_obs.maintenance.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from zarish_obs import openmetrics
from zarish_obs.catalog import Catalog, default_catalog_text, parse_catalog
from zarish_obs.conventions import SLO_BURN_ALERTS, report_timezone
from zarish_obs.monitor.compliance.period import Period, month, previous_month
from zarish_obs.stack.synthetic import histogram_quantile, le_text

STEP = 120
MINUTE, HOUR, DAY = 60, 3600, 86400
ENVIRONMENT = "production"
LES = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
CDF = (0.30, 0.62, 0.97, 0.999, 0.9995, 0.9999)  # share of requests at or below each LES boundary
SEED = 20261101


@dataclass(frozen=True)
class Shape:
    """A service's traffic: instances, requests per 2-minute interval at the daily mean, latency histogram."""

    instances: int
    requests: int
    histogram: bool
    baseline_errors: bool


# patient-registry carries the reset, the gap and the availability incidents; appointment-scheduling the
# latency incident; billing (availability only, objective raised to 99.9) a day-long burst that breaches.
SHAPES = {
    "patient-registry": Shape(2, 2400, True, True),
    "appointment-scheduling": Shape(1, 1200, True, True),
    "billing": Shape(1, 240, False, False),
}
BILLING_OBJECTIVE = 99.9


@dataclass(frozen=True)
class Burst:
    """An incident as generated: `bad` bad events of `slo` in every 2-minute interval of [start, end), per
    instance."""

    name: str
    service: str
    slo: str
    start: int
    end: int
    bad: int


@dataclass(frozen=True)
class Firing:
    """An alert's firing stretch [start, end), written the way Prometheus writes ALERTS (every 15 s, pending
    for 4 minutes before)."""

    alert: str
    severity: str
    service: str
    slo: str
    start: int
    end: int


@dataclass(frozen=True)
class Window:
    """A maintenance window: its catalog entry, the services it covers and its openings [start, end)."""

    name: str
    services: tuple[str, ...]
    spans: tuple[tuple[int, int], ...]
    entry: dict[str, Any]


@dataclass
class Instance:
    service: str
    name: str
    requests: np.ndarray  # events per interval (interval i: between samples i and i+1)
    status: dict[str, np.ndarray]
    buckets: dict[float, np.ndarray] | None  # cumulative per interval: requests at or below le (inf = all)
    latency_sum: np.ndarray | None
    reset_sample: int | None = None


@dataclass
class History:
    catalog: Catalog
    catalog_text: str
    tz: tzinfo
    month: str
    month_start: int
    month_end: int
    start: int
    end: int
    instances: list[Instance]
    bursts: list[Burst]
    firings: list[Firing]
    gap: tuple[str, int, int]  # service, [start, end): no samples of any of its series
    reset: tuple[str, int]  # instance name, time of the first sample after the restart
    marks: dict[str, int] = field(default_factory=dict)
    windows: list[Window] = field(default_factory=list)
    window_gap: tuple[str, int, int] | None = None  # a scrape gap inside a maintenance window: no gap at all

    # -- grid ---------------------------------------------------------------------------------------------
    @property
    def times(self) -> np.ndarray:
        return np.arange(self.start, self.end + 1, STEP, dtype=np.int64)

    def index(self, at: float) -> int:
        i = (int(at) - self.start) // STEP
        if (int(at) - self.start) % STEP or not 0 <= i < len(self.times):
            raise ValueError(f"{at} is not a sample time of the history")
        return i

    def present(self, service: str) -> np.ndarray:
        t = self.times
        mask = np.ones(len(t), dtype=bool)
        for name, a, b in (self.gap, self.window_gap):
            if name == service:
                mask &= ~((t >= a) & (t < b))
        return mask

    def maintenance(self, service: str, a: float, b: float) -> list[tuple[int, int]]:
        """The merged maintenance minutes of the service in [a, b)."""
        spans = sorted((max(x, int(a)), min(y, int(b))) for w in self.windows if service in w.services
                       for x, y in w.spans if x < b and y > a)
        out: list[tuple[int, int]] = []
        for x, y in spans:
            if out and x <= out[-1][1]:
                out[-1] = (out[-1][0], max(out[-1][1], y))
            else:
                out.append((x, y))
        return out

    def openings(self, service: str, a: float, b: float) -> list[tuple[str, int, int]]:
        """Each window opening of the service that overlaps [a, b), cut to it, in time order."""
        return sorted(((w.name, max(x, int(a)), min(y, int(b))) for w in self.windows if service in w.services
                       for x, y in w.spans if x < b and y > a), key=lambda o: (o[1], o[0]))

    def kept(self, service: str) -> np.ndarray:
        """The intervals outside the service's maintenance (the ones its SLOs count)."""
        starts = self.times[:-1]
        mask = np.ones(len(starts), dtype=bool)
        for x, y in self.maintenance(service, self.start, self.end):
            mask &= ~((starts >= x) & (starts < y))
        return mask

    def of(self, service: str) -> list[Instance]:
        return [i for i in self.instances if i.service == service]

    @property
    def services(self) -> list[str]:
        return list(SHAPES)

    # -- truth ----------------------------------------------------------------------------------------------
    def _sum(self, arrays: list[np.ndarray], a: float, b: float, keep: np.ndarray | None = None) -> int:
        ia, ib = self.index(a), self.index(b)
        if keep is None:
            return int(sum(int(x[ia:ib].sum()) for x in arrays))
        return int(sum(int(x[ia:ib][keep[ia:ib]].sum()) for x in arrays))

    def requests(self, service: str, a: float, b: float, slo: bool = False) -> int:
        """Requests in [a, b); `slo`: only those outside the service's maintenance (what its SLOs count)."""
        return self._sum([i.requests for i in self.of(service)], a, b, self.kept(service) if slo else None)

    def bad(self, service: str, slo: str, a: float, b: float, skip_maintenance: bool = False) -> int:
        inst = self.of(service)
        keep = self.kept(service) if skip_maintenance else None
        if slo == "availability":
            pattern = self.catalog.metrics.error_status_regex
            codes = [c for c in inst[0].status if _matches(pattern, c)]
            return self._sum([i.status[c] for i in inst for c in codes], a, b, keep)
        thr = self.threshold(service)
        return self._sum([i.requests - i.buckets[thr] for i in inst if i.buckets is not None], a, b, keep)

    def in_maintenance(self, burst: Burst) -> bool:
        return any(x <= burst.start and burst.end <= y for x, y in self.maintenance(burst.service, burst.start,
                                                                                    burst.end))

    def threshold(self, service: str) -> float:
        svc = next(s for s in self.catalog.services if s.name == service)
        assert svc.slos.latency is not None
        return svc.slos.latency.threshold_seconds

    def buckets(self, service: str, a: float, b: float) -> list[tuple[float, float]]:
        inst = [i for i in self.of(service) if i.buckets is not None]
        return [(le, float(self._sum([i.buckets[le] for i in inst], a, b))) for le in (*LES, math.inf)]

    def quantile(self, service: str, q: float, a: float, b: float) -> float | None:
        if not SHAPES[service].histogram:
            return None
        v = histogram_quantile(q, self.buckets(service, a, b))
        return None if math.isnan(v) else v

    def coverage(self, service: str, a: float, b: float) -> tuple[float, list[tuple[int, int]]]:
        """Share of the minutes of [a, b) outside the service's maintenance at whose end a sample lies within
        the coverage window, and the stretches of uncovered minutes as (first minute's start, last minute's
        end)."""
        window = coverage_window(self.catalog)
        sampled = self.times[self.present(service)]
        ends = np.arange(int(a) + MINUTE, int(b) + 1, MINUTE)
        for x, y in self.maintenance(service, a, b):
            ends = ends[(ends - MINUTE < x) | (ends > y)]
        if not len(ends):
            return 1.0, []
        pos = np.searchsorted(sampled, ends, side="right") - 1
        ok = (pos >= 0) & (ends - sampled[np.clip(pos, 0, None)] <= window)
        gaps: list[tuple[int, int]] = []
        for end, good in zip(ends.tolist(), ok.tolist(), strict=True):
            if good:
                continue
            if gaps and gaps[-1][1] == end - MINUTE:
                gaps[-1] = (gaps[-1][0], end)
            else:
                gaps.append((end - MINUTE, end))
        return float(ok.mean()), gaps

    def sampleless(self, service: str, a: float, b: float) -> list[tuple[int, int]]:
        """Stretches between consecutive samples longer than the coverage window, as (last sample before,
        first sample after)."""
        sampled = self.times[self.present(service)]
        inside = sampled[(sampled >= a) & (sampled <= b)]
        out = []
        for x, y in zip(inside[:-1].tolist(), inside[1:].tolist(), strict=True):
            if y - x > coverage_window(self.catalog):
                out.append((x, y))
        return out

    def peak_rate(self, service: str, a: float, b: float) -> float:
        """Highest request rate over two consecutive intervals (what a 5m rate on 2m samples averages)."""
        total = sum(i.requests for i in self.of(service))
        ia, ib = self.index(a), self.index(b)
        pairs = total[ia:ib - 1] + total[ia + 1:ib]
        return float(pairs.max()) / (2 * STEP)

    def burst_mask(self, service: str, slo: str) -> np.ndarray:
        """The intervals inside a burst of this service and SLO."""
        starts = self.times[:-1]
        mask = np.zeros(len(starts), dtype=bool)
        for b in self.bursts:
            if b.service == service and b.slo == slo:
                mask |= (starts >= b.start) & (starts < b.end)
        return mask

    def burn_range(self, burst: Burst) -> tuple[float, float]:
        """Lowest and highest burn rate over two consecutive intervals of the burst."""
        objective = slo_objectives(self.catalog, burst.service)[burst.slo]
        ia, ib = self.index(burst.start), self.index(burst.end)
        total = sum(i.requests for i in self.of(burst.service))[ia:ib]
        bad = np.array([self.bad(burst.service, burst.slo, t, t + STEP) for t in range(burst.start, burst.end, STEP)])
        burn = (bad[:-1] + bad[1:]) / (total[:-1] + total[1:]) / (1 - objective / 100)
        return float(burn.min()), float(burn.max())

    # -- rendering ------------------------------------------------------------------------------------------
    def families(self) -> list[openmetrics.Family]:
        m = self.catalog.metrics
        req = openmetrics.Family(m.requests_total.removesuffix("_total"), "counter")
        hist = openmetrics.Family(m.latency_histogram, "histogram")
        times = self.times
        for inst in self.instances:
            mask = self.present(inst.service)
            t = times[mask].tolist()
            labels = {m.environment_label: ENVIRONMENT, m.service_label: inst.service, "instance": inst.name}

            def series(per_interval: np.ndarray, inst: Instance = inst, mask: np.ndarray = mask,
                       t: list[int] = t) -> list[tuple[int, float]]:
                values = counter_values(per_interval, inst.reset_sample)[mask].tolist()
                return list(zip(t, values, strict=True))

            for code, counts in inst.status.items():
                req.add(m.requests_total, {**labels, m.status_label: code}, series(counts))
            if inst.buckets is not None and inst.latency_sum is not None:
                for le in (*LES, math.inf):
                    text = "+Inf" if le == math.inf else le_text(le)
                    hist.add(f"{m.latency_histogram}_bucket", {**labels, "le": text}, series(inst.buckets[le]))
                hist.add(f"{m.latency_histogram}_count", labels, series(inst.requests))
                sums = [(ts, round(v, 3)) for ts, v in series(inst.latency_sum)]
                hist.add(f"{m.latency_histogram}_sum", labels, sums)
        alerts = openmetrics.Family("ALERTS", "gauge")
        for f in self.firings:
            base = {"alertname": f.alert, "severity": f.severity, m.environment_label: ENVIRONMENT,
                    m.service_label: f.service, "slo": f.slo}
            alerts.add("ALERTS", {**base, "alertstate": "pending"},
                       [(ts, 1) for ts in range(f.start - 4 * MINUTE, f.start, 15)])
            alerts.add("ALERTS", {**base, "alertstate": "firing"}, [(ts, 1) for ts in range(f.start, f.end, 15)])
        return [req, hist, alerts]

    def write(self, path: Path) -> Path:
        return openmetrics.write(path, self.families())


def _matches(pattern: str, code: str) -> bool:
    return re.fullmatch(pattern, code) is not None


def coverage_window(catalog: Catalog) -> int:
    from zarish_obs.durations import parse_duration

    return max(MINUTE, 2 * int(parse_duration(catalog.prometheus.scrape_interval)))


def counter_values(per_interval: np.ndarray, reset_sample: int | None) -> np.ndarray:
    """Counter value at every sample: a running total, restarted from zero by a restart just before
    `reset_sample` (so the value there is that interval's events alone)."""
    values = np.concatenate([[0], np.cumsum(per_interval)]).astype(per_interval.dtype)
    if reset_sample is not None:
        values[reset_sample:] -= values[reset_sample - 1]
    return values


def decoded_increase(samples: list[tuple[int, float]], a: int, b: int) -> float:
    """Events between a and b read back from counter samples: a drop is a restart from zero."""
    inside = [(t, v) for t, v in samples if a <= t <= b]
    total = 0.0
    for (_, prev), (_, cur) in itertools.pairwise(inside):
        total += cur if cur < prev else cur - prev
    return total


# -- the scenario -------------------------------------------------------------------------------------------
def local(day: int, hour: int, minute: int, month_start: int, tz: tzinfo) -> int:
    """Unix seconds of `hour:minute` local time on day `day` (1-based) of the month starting at month_start."""
    first = datetime.fromtimestamp(month_start, tz)
    at = datetime(first.year, first.month, first.day, tzinfo=tz) + timedelta(days=day - 1)
    return int(at.replace(hour=hour, minute=minute).timestamp())


def pick_month(now: float, tz: tzinfo) -> tuple[str, int, int]:
    """The latest calendar month that ended at least a day and an hour before `now` (the history runs a day
    past it and must end in the past)."""
    label = previous_month(now, tz)
    while True:
        start, end = month(label, tz)
        if end + DAY + HOUR <= now:
            return label, int(start), int(end)
        label = previous_month(start, tz)


def catalog_text(windows: Sequence[Window] = ()) -> str:
    data = yaml.safe_load(default_catalog_text())
    services = [s for s in data["services"] if s["name"] in SHAPES]
    for s in services:
        if s["name"] == "billing":
            s["slos"] = {"availability": {"objective": BILLING_OBJECTIVE, "window": "30d"}}
    data["services"] = services
    data["prometheus"]["scrape_interval"] = "2m"
    data["prometheus"]["evaluation_interval"] = "1m"
    data["time_scale"] = 1
    data["policy"] = {"release_freeze": True, "postmortem_budget_percent": 20, "escalate_after": 3,
                      "incident_min_budget_percent": 1, "incident_merge_gap": "15m",
                      "minimum_coverage_percent": 99}
    if windows:
        data["maintenance"] = [w.entry for w in windows]
    return "# The accuracy test's catalog: three services of the built-in one, 2-minute scrapes.\n" + \
        yaml.safe_dump(data, sort_keys=False)


WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _windows(m0: int, tz: tzinfo, start: int, end: int) -> list[Window]:
    """The weekly window on appointment-scheduling (from the weekday of the month's 7th, 23:00 to 03:00) and
    the one-off window over every service (the 25th, 01:00 to 04:00)."""
    seventh = datetime.fromtimestamp(local(7, 0, 0, m0, tz), tz).date()
    weekly = []
    day = datetime.fromtimestamp(start, tz).date() - timedelta(days=1)
    while (opening := int(datetime(day.year, day.month, day.day, 23, tzinfo=tz).timestamp())) < end:
        if day.weekday() == seventh.weekday():
            weekly.append((opening, opening + 4 * HOUR))
        day += timedelta(days=1)
    one_off = (local(25, 1, 0, m0, tz), local(25, 4, 0, m0, tz))

    def text(at: int) -> str:
        return datetime.fromtimestamp(at, tz).strftime("%Y-%m-%dT%H:%M")

    return [
        Window("weekly-patch", ("appointment-scheduling",), tuple(weekly),
               {"name": "weekly-patch", "reason": "weekly OS patches of the scheduling nodes",
                "services": ["appointment-scheduling"], "weekdays": [WEEKDAYS[seventh.weekday()]],
                "from": "23:00", "to": "03:00"}),
        Window("storage-migration", tuple(SHAPES), (one_off,),
               {"name": "storage-migration", "reason": "storage migration of the whole cluster",
                "start": text(one_off[0]), "end": text(one_off[1])}),
    ]


def build(now: float) -> History:
    tz = report_timezone(parse_catalog(catalog_text(), "<report accuracy catalog>"))
    label, m0, m1 = pick_month(now, tz)
    end = m1 + DAY
    start = min(m0 - 4 * DAY, end - 35 * DAY)  # at least 35 days, and every 30d SLO window of the month
    days_in_month = round((m1 - m0) / DAY)
    windows = _windows(m0, tz, start, end)
    text = catalog_text(windows)
    catalog = parse_catalog(text, "<report accuracy catalog>")

    def at(day: int, hour: int, minute: int = 0) -> int:
        return local(day, hour, minute, m0, tz)

    marks = {
        "mid": at(14, 10), "mid_end": at(14, 11),
        "last_day": at(days_in_month, 23, 30), "last_day_end": at(days_in_month, 23, 50),
        "next_day": m1 + 30 * MINUTE, "next_day_end": m1 + 50 * MINUTE,
        "latency": at(18, 15), "latency_end": at(18, 16),
        "breach": at(5, 6), "breach_end": at(5, 18),
        "reset": at(10, 5, 18), "gap": at(22, 13), "gap_end": at(22, 15),
        "in_window": at(8, 0, 30), "in_window_end": at(8, 3),
        "window_gap": at(25, 2, 20), "window_gap_end": at(25, 2, 50),
    }
    bursts = [
        Burst("mid-month", "patient-registry", "availability", marks["mid"], marks["mid_end"], 300),
        Burst("last-day 23:30", "patient-registry", "availability", marks["last_day"], marks["last_day_end"], 60),
        Burst("next month 00:30", "patient-registry", "availability", marks["next_day"], marks["next_day_end"], 60),
        Burst("latency", "appointment-scheduling", "latency", marks["latency"], marks["latency_end"], 300),
        Burst("day-long breach", "billing", "availability", marks["breach"], marks["breach_end"], 20),
        # inside the weekly window: more than the postmortem share, and no incident at all
        Burst("in maintenance", "appointment-scheduling", "availability", marks["in_window"],
              marks["in_window_end"], 450),
    ]
    page, ticket = SLO_BURN_ALERTS["availability"], SLO_BURN_ALERTS["latency"]
    firings = [
        Firing(page, "page", "patient-registry", "availability", marks["mid"] + 4 * MINUTE,
               marks["mid_end"] + 6 * MINUTE),
        # fires across the month's end: the month's report must cut it at midnight
        Firing(page, "page", "patient-registry", "availability", m1 - 24 * MINUTE, m1 + 6 * MINUTE),
        Firing(page, "page", "patient-registry", "availability", marks["next_day"] + 6 * MINUTE,
               marks["next_day_end"] + 6 * MINUTE),
        Firing(ticket, "ticket", "appointment-scheduling", "latency", marks["latency"] + 10 * MINUTE,
               marks["latency_end"] + 2 * MINUTE),
        Firing(page, "page", "billing", "availability", marks["breach"] + 4 * MINUTE,
               marks["breach_end"] + 4 * MINUTE),
    ]
    history = History(catalog, text, tz, label, m0, m1, start, end, [], bursts, firings,
                      ("patient-registry", marks["gap"], marks["gap_end"]), ("patient-registry-1:9090", marks["reset"]),
                      marks, windows, ("billing", marks["window_gap"], marks["window_gap_end"]))
    history.instances = _traffic(history)
    return history


def _diurnal(times: np.ndarray, tz: tzinfo, start: int) -> np.ndarray:
    offset = datetime.fromtimestamp(start, tz).utcoffset() or timedelta(0)
    hour = ((times + offset.total_seconds()) % DAY) / HOUR
    return 1 + 0.4 * np.sin(2 * np.pi * (hour - 8) / 24)


def _traffic(h: History) -> list[Instance]:
    rng = np.random.default_rng(SEED)
    starts = h.times[:-1]
    n = len(starts)
    shape_of = _diurnal(starts, h.tz, h.start)
    out = []
    for service, shape in SHAPES.items():
        for k in range(shape.instances):
            per = shape.requests / shape.instances
            requests = np.rint(per * shape_of + rng.integers(-5, 6, n)).astype(np.int64)
            e500 = np.zeros(n, dtype=np.int64)
            e503 = np.zeros(n, dtype=np.int64)
            if shape.baseline_errors:  # one error every fourth interval, the instances out of phase
                e500[(np.arange(n) % 4) == (2 * k) % 4] = 1
            slow = None
            for b in h.bursts:
                if b.service != service:
                    continue
                inside = (starts >= b.start) & (starts < b.end)
                if b.slo == "availability":
                    e500[inside], e503[inside] = 2 * b.bad // 3, b.bad - 2 * b.bad // 3
                else:
                    slow = (inside, b.bad)
            e404 = np.rint(requests * 0.01).astype(np.int64)
            ok = requests - e500 - e503 - e404
            assert (ok > 0).all(), f"{service}: more errors than requests in an interval"
            status = {"200": ok, "404": e404, "500": e500, "503": e503}
            buckets = latency_sum = None
            if shape.histogram:
                buckets, latency_sum = _latency(h, service, requests, slow)
            name = f"{service}-{k}:9090"
            reset = h.index(h.reset[1]) if name == h.reset[0] else None
            out.append(Instance(service, name, requests, status, buckets, latency_sum, reset))
    return out


def _latency(h: History, service: str, requests: np.ndarray, slow: tuple[np.ndarray, int] | None
             ) -> tuple[dict[float, np.ndarray], np.ndarray]:
    """Cumulative bucket counts per interval; during a latency burst exactly `bad` requests are slower than
    the service's threshold, four in five of them below the next boundary."""
    cum = {le: np.rint(requests * c).astype(np.int64) for le, c in zip(LES, CDF, strict=True)}
    cum[math.inf] = requests.copy()
    if slow is not None:
        inside, bad = slow
        thr = h.threshold(service)
        above = [le for le in LES if le > thr]
        for le in LES:
            if le < thr:
                cum[le][inside] = np.minimum(cum[le][inside], requests[inside] - bad)
            elif le == thr:
                cum[le][inside] = requests[inside] - bad
            elif above and le == above[0]:
                cum[le][inside] = requests[inside] - bad // 5
            else:
                cum[le][inside] = requests[inside] - bad // 10
    mids = [0.025, 0.075, 0.175, 0.375, 0.75, 1.75, 4.0]
    edges = [np.zeros_like(requests), *(cum[le] for le in (*LES, math.inf))]
    total = sum((edges[j + 1] - edges[j]) * mids[j] for j in range(len(mids)))
    return cum, np.asarray(total, dtype=float)


# -- the expected report -------------------------------------------------------------------------------------
def slo_objectives(catalog: Catalog, service: str) -> dict[str, float]:
    svc = next(s for s in catalog.services if s.name == service)
    return {kind: slo.objective for kind, slo in svc.slo_items()}


def expected(h: History, period: Period) -> dict[str, Any]:
    """The figures the report must show for `period`, from the generated events."""
    s, e = int(period.start), int(period.end)
    out: dict[str, Any] = {}
    for service in h.services:
        cov, uncovered = h.coverage(service, s, e)
        svc: dict[str, Any] = {
            "request_count": h.requests(service, s, e),
            "coverage": cov,
            "uncovered": uncovered,
            "sampleless": h.sampleless(service, s, e),
            "peak_request_rate": h.peak_rate(service, s, e),
            "latency_p50_seconds": h.quantile(service, 0.5, s, e),
            "latency_p95_seconds": h.quantile(service, 0.95, s, e),
            "daily": [{"date": d.date.isoformat(), "start": int(d.start), "end": int(d.end),
                       "requests": h.requests(service, d.start, d.end),
                       "latency_p50_seconds": h.quantile(service, 0.5, d.start, d.end),
                       "latency_p95_seconds": h.quantile(service, 0.95, d.start, d.end)} for d in period.days()],
            "slos": {},
        }
        maintenance = h.maintenance(service, s, e)
        minutes = (e - s - sum(y - x for x, y in maintenance)) / MINUTE
        svc["maintenance"] = {"minutes": sum(y - x for x, y in maintenance) / MINUTE,
                              "windows": h.openings(service, s, e)}
        incidents = []
        for kind, objective in slo_objectives(h.catalog, service).items():
            budget = 1 - objective / 100
            total = h.requests(service, s, e, slo=True)
            bad = h.bad(service, kind, s, e, skip_maintenance=True)
            allowed = total * budget
            consumed = bad / allowed
            w0 = max(h.start, e - int(next(x for x in h.catalog.services if x.name == service)
                                      .slo_items()[0][1].window_seconds))
            wtotal, wbad = h.requests(service, w0, e, slo=True), h.bad(service, kind, w0, e, skip_maintenance=True)
            daily, so_far = [], 0
            for d in period.days():
                dt = h.requests(service, d.start, d.end, slo=True)
                db = h.bad(service, kind, d.start, d.end, skip_maintenance=True)
                so_far += db
                daily.append({"date": d.date.isoformat(), "start": int(d.start), "end": int(d.end),
                              "good": dt - db, "bad": db, "total": dt, "sli": (dt - db) / dt,
                              "budget_remaining": 1 - so_far / allowed})
            svc["slos"][kind] = {
                "objective": objective,
                "events": {"good": total - bad, "bad": bad, "total": total},
                "sli": (total - bad) / total,
                "budget": {"allowed_bad_events": allowed, "consumed": consumed, "remaining": 1 - consumed,
                           "allowed_minutes": budget * minutes, "consumed_minutes": consumed * budget * minutes},
                "verdict": "met" if (total - bad) / total >= objective / 100 else "breached",
                "window_budget_consumed": wbad / (wtotal * budget),
                "daily": daily,
                "worst_day": min(daily, key=lambda d: d["sli"])["date"],
            }
            for b in h.bursts:
                if b.service == service and b.slo == kind and s <= b.start and b.end <= e and not h.in_maintenance(b):
                    bb = h.bad(service, kind, b.start, b.end)
                    incidents.append({"name": b.name, "slo": kind, "start": b.start, "end": b.end,
                                      "bad_events": bb, "budget_consumed": bb / allowed})
        svc["incidents"] = incidents
        svc["policy"] = _policy(h, period, service, svc["slos"], incidents)
        svc["alerts"] = _alerts(h, service, s, e)
        out[service] = svc
    return out


def _policy(h: History, period: Period, service: str, slos: dict[str, Any], incidents: list[dict[str, Any]]
            ) -> dict[str, Any]:
    """The error-budget policy of docs/report.md applied to the true figures."""
    p = h.catalog.policy
    rules: dict[str, list[Any]] = {"release_freeze": [], "escalate": [], "postmortem": []}
    for kind, slo in slos.items():
        if p.release_freeze and slo["window_budget_consumed"] >= 1:
            rules["release_freeze"].append((kind, None))
        floor = p.incident_min_budget_percent / 100 * slo["budget"]["allowed_bad_events"]
        quarter = [b for b in h.bursts if b.slo == kind and b.service == service
                   and period.quarter_start() <= b.start and b.end <= period.end and not h.in_maintenance(b)
                   and h.bad(service, kind, b.start, b.end) >= floor]
        if len(quarter) >= p.escalate_after:
            rules["escalate"].append((kind, None))
    for inc in incidents:
        if inc["budget_consumed"] > p.postmortem_budget_percent / 100:
            rules["postmortem"].append((inc["slo"], inc))
    verdict = next((r for r in ("release_freeze", "escalate", "postmortem") if rules[r]), "ok")
    return {"verdict": verdict, "rules": rules}


def _alerts(h: History, service: str, s: int, e: int) -> dict[tuple[str, str, str], list[tuple[int, int]]]:
    out: dict[tuple[str, str, str], list[tuple[int, int]]] = {}
    for f in h.firings:
        a, b = max(f.start, s), min(f.end, e)
        if f.service == service and a < b:
            out.setdefault((f.alert, f.severity, f.slo), []).append((a, b))
    return out
