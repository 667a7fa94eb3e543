"""Synthetic, deterministic metric history for the tests and benchmarks, and its exact truth.

It lives in the top layer (not in tests/) because the benchmarks use it too and must not reach into the
tests.

A `History` describes traffic per (environment, service) as functions of time (request rate, 5xx
fraction, latency distribution) plus DR gauges. It renders OpenMetrics (raw counters and histograms
every 15 s over the last few hours, the recorded 5-minute SLO increases every 5 minutes over days),
backfills a real Prometheus or imports into VictoriaMetrics, and computes the truth the way
Prometheus does (rate over sample increments, histogram_quantile's linear interpolation).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests

from zarish_obs import conventions, openmetrics, procs
from zarish_obs.catalog import Catalog, Service

Fn = Callable[[int], float]
LES = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# Fraction of requests at or below each bucket boundary (p50 83 ms, p95 232 ms).
DEFAULT_CDF: dict[float, float] = {0.05: 0.30, 0.1: 0.60, 0.25: 0.997, 0.5: 0.999, 1.0: 0.9995, 2.5: 0.9999,
                                   5.0: 1.0}
STEP = 15
SLOT = 300


def const(value: float) -> Fn:
    return lambda t: value


def between(a: int, b: int, inside: float, outside: float) -> Fn:
    """`inside` for a <= t <= b, `outside` otherwise."""
    return lambda t: inside if a <= t <= b else outside


def le_text(le: float) -> str:
    return str(int(le)) if float(le).is_integer() else repr(le)


@dataclass
class Traffic:
    service: str
    environment: str = "production"
    rate: Fn = field(default_factory=lambda: const(10.0))
    errors: Fn = field(default_factory=lambda: const(0.0002))
    cdf: dict[float, float] = field(default_factory=lambda: dict(DEFAULT_CDF))
    instances: int = 2


@dataclass
class Gauge:
    metric: str
    labels: dict[str, str]
    value: Fn


@dataclass
class History:
    catalog: Catalog
    end: int
    raw_seconds: int = 9000
    recorded_days: float | None = 4.0
    recorded_environments: tuple[str, ...] | None = None  # None: every environment with traffic
    traffic: list[Traffic] = field(default_factory=list)
    gauges: list[Gauge] = field(default_factory=list)

    def __post_init__(self) -> None:
        assert self.end % SLOT == 0, "end on the 5-minute grid keeps recorded slots aligned"

    # -- model ---------------------------------------------------------------------------------------------
    @property
    def start(self) -> int:
        return self.end - self.raw_seconds

    def find(self, service: str, environment: str = "production") -> Traffic:
        return next(t for t in self.traffic if t.service == service and t.environment == environment)

    def service(self, name: str) -> Service:
        return next(s for s in self.catalog.services if s.name == name)

    def _increase(self, fn: Fn, a: int, b: int) -> float:
        """Counter increase between the samples at a and b (increments use the rate at the step start)."""
        return sum(fn(t) * STEP for t in range(a, b, STEP))

    def _bad_fraction(self, tr: Traffic, kind: str) -> Fn:
        if kind == "availability":
            return tr.errors
        thr = self.service(tr.service).slos.latency.threshold_seconds  # type: ignore[union-attr]
        return const(1 - self.cdf(tr, thr))

    @property
    def les(self) -> list[float]:
        """The standard buckets plus every latency threshold of the catalog (thresholds are boundaries)."""
        thresholds = {s.slos.latency.threshold_seconds for s in self.catalog.services if s.slos.latency}
        return sorted(set(LES) | thresholds)

    @staticmethod
    def cdf(tr: Traffic, le: float) -> float:
        """Share of requests at or below `le`, linear between the traffic's own boundaries."""
        if le in tr.cdf:
            return tr.cdf[le]
        points = [(0.0, 0.0), *sorted(tr.cdf.items())]
        for (a, fa), (b, fb) in itertools.pairwise(points):
            if a < le < b:
                return fa + (fb - fa) * (le - a) / (b - a)
        return 1.0

    def events(self, tr: Traffic, kind: str, a: int, b: int) -> tuple[float, float]:
        """(bad, total) events between a and b."""
        bad_frac = self._bad_fraction(tr, kind)
        total = self._increase(tr.rate, a, b)
        bad = self._increase(lambda t: tr.rate(t) * bad_frac(t), a, b)
        return bad, total

    # -- truth (Prometheus semantics at an evaluation time on the sample grid) -----------------------------
    def request_rate(self, service: str, at: int, environment: str = "production", window: int = 300) -> float:
        return self._increase(self.find(service, environment).rate, at - window, at) / window

    def error_ratio(self, service: str, at: int, environment: str = "production", window: int = 300) -> float:
        tr = self.find(service, environment)
        total = self._increase(tr.rate, at - window, at)
        bad = self._increase(lambda t: tr.rate(t) * tr.errors(t), at - window, at)
        return bad / total if total else 0.0

    def quantile(self, q: float, service: str, at: int, environment: str = "production") -> float:
        tr = self.find(service, environment)
        n = self._increase(tr.rate, at - 300, at)
        return histogram_quantile(q, [(le, n * self.cdf(tr, le)) for le in self.les] + [(math.inf, n)])

    def slo_ratio_raw(self, service: str, kind: str, at: int, window: int, environment: str = "production"
                      ) -> float:
        """bad/total from raw counters (over the raw history when the window is longer than it)."""
        a = max(at - window, self.start)
        bad, total = self.events(self.find(service, environment), kind, a, at)
        return bad / total if total else 0.0

    def slo_ratio_recorded(self, service: str, kind: str, at: int, window: int,
                           environment: str = "production") -> float:
        """bad/total from the recorded 5m increases at the grid points in (at - window, at], as the rules and the
        monitor tile them (promql.over_tiles)."""
        tr = self.find(service, environment)
        first = max(at - window, self.recorded_start)
        bad = total = 0.0
        for slot_end in range(first - first % SLOT + SLOT, at + 1, SLOT):
            if slot_end - SLOT < self.recorded_start:
                continue
            b, t = self.events(tr, kind, slot_end - SLOT, slot_end)
            bad, total = bad + b, total + t
        return bad / total if total else 0.0

    @property
    def recorded_start(self) -> int:
        return self.end - int((self.recorded_days or 0) * 86400)

    # -- rendering -----------------------------------------------------------------------------------------
    def families(self) -> list[openmetrics.Family]:
        m = self.catalog.metrics
        times = openmetrics.grid(self.start, self.end, STEP)
        req = openmetrics.Family(m.requests_total.removesuffix("_total"), "counter")
        hist = openmetrics.Family(m.latency_histogram, "histogram")
        for tr in self.traffic:
            base = {m.environment_label: tr.environment, m.service_label: tr.service}
            for i in range(tr.instances):
                inst = {**base, "instance": f"{tr.service}-{i}:9090"}
                n = tr.instances

                def ok(t: int, tr: Traffic = tr, n: int = n) -> float:
                    return tr.rate(t) * (1 - tr.errors(t)) / n

                def bad(t: int, tr: Traffic = tr, n: int = n) -> float:
                    return tr.rate(t) * tr.errors(t) / n

                req.add(m.requests_total, {**inst, m.status_label: "200"}, openmetrics.counter(times, ok))
                req.add(m.requests_total, {**inst, m.status_label: "500"}, openmetrics.counter(times, bad))
                for le in (*self.les, math.inf):
                    frac = 1.0 if le == math.inf else self.cdf(tr, le)
                    label = "+Inf" if le == math.inf else le_text(le)
                    hist.add(f"{m.latency_histogram}_bucket", {**inst, "le": label},
                             openmetrics.counter(times, lambda t, tr=tr, n=n, f=frac: tr.rate(t) * f / n))
                hist.add(f"{m.latency_histogram}_count", inst,
                         openmetrics.counter(times, lambda t, tr=tr, n=n: tr.rate(t) / n))
                hist.add(f"{m.latency_histogram}_sum", inst,
                         openmetrics.counter(times, lambda t, tr=tr, n=n: tr.rate(t) * 0.1 / n))
        fams = [req, hist]
        if self.recorded_days:
            fams += self._recorded()
        gauges: dict[str, openmetrics.Family] = {}
        for g in self.gauges:
            fam = gauges.setdefault(g.metric, openmetrics.Family(g.metric, "gauge"))
            fam.add(g.metric, g.labels, [(t, g.value(t)) for t in times])
        return fams + list(gauges.values())

    def _recorded(self) -> list[openmetrics.Family]:
        m = self.catalog.metrics
        total_f = openmetrics.Family(conventions.SLO_REQUESTS_5M, "gauge")
        bad_f = openmetrics.Family(conventions.SLO_ERRORS_5M, "gauge")
        slots = openmetrics.grid(self.recorded_start + SLOT, self.end, SLOT)
        envs = self.recorded_environments
        for tr in self.traffic:
            if envs is not None and tr.environment not in envs:
                continue
            for kind, _ in self.service(tr.service).slo_items():
                if conventions.is_ratio(kind):
                    continue  # a ratio SLI reads metrics of its own that this history does not render
                labels = {m.environment_label: tr.environment, m.service_label: tr.service, "slo": kind}
                pairs = [self.events(tr, kind, s - SLOT, s) for s in slots]
                total_f.add(conventions.SLO_REQUESTS_5M, labels, [(s, p[1]) for s, p in zip(slots, pairs, strict=True)])
                bad_f.add(conventions.SLO_ERRORS_5M, labels, [(s, p[0]) for s, p in zip(slots, pairs, strict=True)])
        return [total_f, bad_f]

    def text(self) -> str:
        return openmetrics.render(self.families())


def histogram_quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """Prometheus's histogram_quantile on cumulative (le, count) pairs sorted by le, last le = +Inf."""
    total = buckets[-1][1]
    if total == 0:
        return math.nan
    rank = q * total
    prev_le, prev_count = 0.0, 0.0
    for i, (le, count) in enumerate(buckets):
        if count >= rank:
            if le == math.inf:
                return buckets[i - 1][0]
            if i == 0 and le <= 0:
                return le
            return prev_le + (le - prev_le) * (rank - prev_count) / (count - prev_count)
        prev_le, prev_count = le, count
    return buckets[-2][0]


# -- loading into real servers ----------------------------------------------------------------------------
def backfill(text: str, work: Path) -> Path:
    """promtool backfill into work/data with blocks large enough that days of history stay cheap."""
    om = work / "history.om"
    om.write_text(text, encoding="utf-8")
    data = work / "data"
    openmetrics.backfill(om, data, max_block_duration="2400h")
    om.unlink()
    return data


def start_prometheus(work: Path, data: Path) -> procs.Proc:
    config = work / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 15s\n  evaluation_interval: 15s\n")
    return procs.start_prometheus(config, data)


def import_victoria(url: str, text: str) -> None:
    """VictoriaMetrics reads the same OpenMetrics text (seconds timestamps) on its Prometheus import API."""
    r = requests.post(f"{url}/api/v1/import/prometheus", data=text.encode("utf-8"), timeout=120)
    r.raise_for_status()
    requests.get(f"{url}/internal/force_flush", timeout=30).raise_for_status()


@contextmanager
def served(history: History | None, work: Path, backend: str) -> Iterator[procs.Proc]:
    """A real Prometheus or VictoriaMetrics holding `history` (None: no data at all), stopped on exit."""
    work.mkdir(parents=True, exist_ok=True)
    text = history.text() if history is not None else None
    if backend == "prometheus":
        data = backfill(text, work) if text else (work / "data")
        data.mkdir(parents=True, exist_ok=True)
        proc = start_prometheus(work, data)
    elif backend == "victoria":
        proc = procs.start_victoria_metrics(work / "vmdata")
    else:
        raise ValueError(backend)
    try:
        if backend == "victoria" and text:
            import_victoria(proc.url, text)
        yield proc
    finally:
        proc.stop()


def dr_gauges(catalog: Catalog, lag: Fn = const(30.0), primary_up: Fn = const(1.0), manual: Fn = const(0.0),
              backup: Fn | None = None) -> list[Gauge]:
    """The DR inputs: replication lag, one probe_success per probe URL, the manual switch, backups.

    `backup` gives the last successful backup time at t (default: every 30 minutes).
    """
    dr = catalog.dr
    out = [Gauge(dr.replication_lag.metric, {"instance": "postgres-replica-0"}, lag)]
    for region in catalog.regions:
        for url in region.probes:
            fn = primary_up if region.role == "primary" else const(1.0)
            out.append(Gauge(dr.primary_region_unavailable.metric, {"region": region.name, "instance": url}, fn))
    out.append(Gauge(dr.manual_trigger.metric, {}, manual))
    out.append(Gauge(dr.backup.metric, {"job": "backup"}, backup or (lambda t: float(t - t % 1800))))
    return out


def aligned_end(minutes_ago: int = 10) -> int:
    """A history end in the past, on the 5-minute grid (data must not end in the future)."""
    import time

    now = int(time.time())
    return now - now % SLOT - minutes_ago * 60
