"""The report engine: merging, coverage, budgets and verdicts on hand-made answers, and a real Prometheus run
whose number of HTTP requests does not grow with the number of services."""

from __future__ import annotations

import itertools
import json
import math
import random
import re
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from zarish_obs import conventions, maintenance, openmetrics, procs
from zarish_obs.catalog import Catalog, MaintenanceWindow, Service
from zarish_obs.errors import ExitCode, ZarishError
from zarish_obs.monitor.client import Sample, Series, Settings, chunks, merge_series
from zarish_obs.monitor.compliance import build as b
from zarish_obs.monitor.compliance import queries as q
from zarish_obs.monitor.compliance import windows as maint
from zarish_obs.monitor.compliance.period import Period, month, resolve
from zarish_obs.monitor.compliance.run import run_report
from zarish_obs.monitor.evaluate import rfc3339

TZ = ZoneInfo("Asia/Dhaka")


# -- pure helpers ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(20))
def test_chunks_cover_the_range_on_its_grid(seed: int) -> None:
    rng = random.Random(seed)
    step = rng.choice([60, 300, 86400])
    start = rng.randrange(0, 10**6) * 60
    end = start + rng.randrange(0, 40000) * step
    limit = rng.choice([2, 7, 11000])
    got = chunks(start, end, step, limit)
    points = [t for a, c in got for t in range(int(a), int(c) + 1, step)]
    assert points == list(range(start, end + 1, step))
    assert all((c - a) / step + 1 <= limit for a, c in got)


def test_merged_chunks_keep_one_series_per_label_set() -> None:
    a = [Series({"x": "1"}, [(60.0, 1.0)]), Series({"x": "2"}, [(60.0, 2.0)])]
    c = [Series({"x": "1"}, [(120.0, None)])]
    merged = {s.labels["x"]: s.points for s in merge_series([c, a])}
    assert merged == {"1": [(60.0, 1.0), (120.0, None)], "2": [(60.0, 2.0)]}


def _tiles_from(ends: list[int]) -> list[b.Tile]:
    return [b.Tile(float(t), bad=1.0, total=10.0) for t in ends]


@pytest.mark.parametrize("seed", range(30))
def test_merging_tiles_joins_exactly_the_pauses_shorter_than_the_gap(seed: int) -> None:
    rng = random.Random(seed)
    ends = sorted(rng.sample(range(1, 400), rng.randrange(1, 40)))
    tiles = _tiles_from([300 * e for e in ends])
    gap = rng.choice([0, 300, 900, 1800])
    stretches = b.merge_tiles("availability", tiles, gap)
    assert sum(len(s.tiles) for s in stretches) == len(tiles)
    for s in stretches:
        assert all(t2.start - t1.end < gap for t1, t2 in itertools.pairwise(s.tiles))
    for s1, s2 in itertools.pairwise(stretches):
        assert s2.start - s1.end >= gap


def _prometheus_coverage(covered: list[bool]) -> tuple[bool, list[tuple[float, str]]]:
    """What the coverage queries answer for `covered[i]` = state at minute end i*60 (index 0: the start)."""
    edges = []
    for i in range(1, len(covered)):
        if covered[i] and not covered[i - 1]:
            edges.append((i * 60.0, "up"))
        elif covered[i - 1] and not covered[i]:
            edges.append((i * 60.0, "down"))
    return covered[0], edges


@pytest.mark.parametrize("seed", range(40))
def test_gaps_from_edges_match_the_uncovered_minutes(seed: int) -> None:
    rng = random.Random(seed)
    n = rng.randrange(2, 200)
    p_flip = rng.choice([0.02, 0.2, 0.6])
    state = rng.random() < 0.7
    covered = []
    for _ in range(n + 1):
        if rng.random() < p_flip:
            state = not state
        covered.append(state)
    at_start, edges = _prometheus_coverage(covered)
    got = b.gaps(at_start, edges, 0.0, n * 60.0)
    uncovered = {i for i in range(1, n + 1) if not covered[i]}
    from_gaps = {int(t // 60) for a, c in got for t in range(int(a) + 60, int(c) + 1, 60)}
    assert from_gaps == uncovered
    assert all(c > a for a, c in got)


def test_episodes_join_consecutive_minutes() -> None:
    eps = b.episodes([120.0, 180.0, 240.0, 600.0])
    assert eps == [{"start": rfc3339(60), "end": rfc3339(240)}, {"start": rfc3339(540), "end": rfc3339(600)}]


def test_day_runs_share_a_query_only_when_a_day_apart() -> None:
    start, end = month("2026-11", TZ)
    runs = q.day_runs(Period(start, end, TZ, "2026-11"))
    assert len(runs) == 1 and len(runs[0].days) == 30
    cut = Period(start + 3600, end - 7200, TZ, "cut")
    runs = q.day_runs(cut)
    assert [len(r.days) for r in runs] == [1, 28, 1]
    assert runs[0].window == 23 * 3600 and runs[-1].window == 22 * 3600
    # a zone with a DST change: the short day stands alone
    ny = ZoneInfo("America/New_York")
    s, e = month("2026-11", ny)
    runs = q.day_runs(Period(s, e, ny, "2026-11"))
    assert sum(len(r.days) for r in runs) == 30
    assert any(r.window == 25 * 3600 for r in runs)


# -- build on hand-made answers --------------------------------------------------------------------------
def _catalog(default_catalog: Catalog, n: int, objective: float = 99.0) -> Catalog:
    base = default_catalog.services[0]
    services = [Service.model_validate({**base.model_dump(), "name": f"svc-{i:02d}",
                                        "slos": {"availability": {"objective": objective, "window": "30d"}}})
                for i in range(n)]
    return default_catalog.model_copy(update={"services": services})


def _labels(cat: Catalog, svc: str, **extra: str) -> dict[str, str]:
    m = cat.metrics
    return {m.environment_label: "production", m.service_label: svc, **extra}


class Answers:
    """A full, healthy set of answers for a one-service catalog; tests then change what they test."""

    def __init__(self, cat: Catalog, period: Period, total: float, bad: float):
        self.cat, self.p = cat, period
        svc = cat.services[0].name
        days = period.days()
        per_day_total, per_day_bad = total / len(days), bad / len(days)
        ev = {"slo": "availability"}
        self.a: dict[str, object] = {
            "events": [Sample(_labels(cat, svc, report_part="total", **ev), total),
                       Sample(_labels(cat, svc, report_part="bad", **ev), bad)],
            "window_events": [Sample(_labels(cat, svc, report_part="total", **ev), total),
                              Sample(_labels(cat, svc, report_part="bad", **ev), bad)],
            "requests": [Sample(_labels(cat, svc), total)],
            "latency": [Sample(_labels(cat, svc, report_part="p50"), 0.05),
                        Sample(_labels(cat, svc, report_part="p95"), 0.2)],
            "daily_events:0": [
                Series(_labels(cat, svc, report_part="total", **ev), [(d.end, per_day_total) for d in days]),
                Series(_labels(cat, svc, report_part="bad", **ev), [(d.end, per_day_bad) for d in days])],
            "coverage_start": [Sample(_labels(cat, svc), 1.0)],
            "coverage_edges": [],
            "tiles": [], "alerts": [], "dr": [], "recorded": [],
            "retention": "3650d",
        }

    def burn(self, ends: list[float], bad: float, total: float, name: str = "tiles") -> None:
        svc = self.cat.services[0].name
        self.a[name] = [
            Series(_labels(self.cat, svc, slo="availability", report_part="bad"), [(t, bad) for t in ends]),
            Series(_labels(self.cat, svc, slo="availability", report_part="total"), [(t, total) for t in ends])]

    def build(self) -> dict:
        return b.build(self.cat, "production", self.p, self.a, now=self.p.end + 300,
                       prometheus_url="http://x", queries_sent=7)


@pytest.fixture
def period() -> Period:
    start, end = month("2026-11", TZ)
    return Period(start, end, TZ, "2026-11")


def test_budget_and_verdicts_follow_the_events(default_catalog: Catalog, period: Period) -> None:
    cat = _catalog(default_catalog, 1, objective=99.0)
    for total, bad, verdict in ((100000, 500, "met"), (100000, 1000, "met"), (100000, 1500, "breached")):
        report = Answers(cat, period, total, bad).build()
        slo = report["services"][0]["slos"][0]
        assert slo["verdict"] == verdict
        assert slo["sli"] == pytest.approx((total - bad) / total)
        assert slo["budget"]["allowed_bad_events"] == pytest.approx(total * 0.01)
        assert slo["budget"]["consumed"] == pytest.approx(bad / (total * 0.01))
        assert slo["budget"]["allowed_minutes"] == pytest.approx(0.01 * 30 * 1440)
        assert slo["budget"]["consumed_minutes"] == pytest.approx(bad / total * 30 * 1440)
        daily = slo["daily"]
        assert len(daily) == 30 and daily[0]["date"] == "2026-11-01"
        remaining = [d["budget_remaining"] for d in daily]
        assert remaining == sorted(remaining, reverse=True)
        assert remaining[-1] == pytest.approx(slo["budget"]["remaining"])
        assert report["complete"] is True
        json.dumps(report, allow_nan=False)


def test_low_coverage_or_missing_history_is_incomplete(default_catalog: Catalog, period: Period) -> None:
    cat = _catalog(default_catalog, 1)
    svc = cat.services[0].name
    ans = Answers(cat, period, 100000, 10)
    gap_start = period.start + 86400
    ans.a["coverage_edges"] = [Series(_labels(cat, svc, report_part="down"), [(gap_start + 60, 1.0)]),
                               Series(_labels(cat, svc, report_part="up"), [(gap_start + 60 + 600 * 60, 1.0)])]
    report = ans.build()
    entry = report["services"][0]
    assert entry["gaps"] == [{"start": rfc3339(gap_start), "end": rfc3339(gap_start + 600 * 60), "minutes": 600}]
    assert entry["coverage"] == pytest.approx(1 - 600 / (30 * 1440))
    assert entry["slos"][0]["verdict"] == "incomplete" and report["complete"] is False
    assert report["data"]["reason"]

    late = Answers(cat, period, 100000, 10)
    late.a["coverage_start"] = []
    late.a["coverage_edges"] = [Series(_labels(cat, svc, report_part="up"), [(period.start + 3 * 86400, 1.0)])]
    report = late.build()
    assert report["data"]["starts_before_data"] is True
    assert report["data"]["oldest_sample"] == rfc3339(period.start + 3 * 86400 - 60)
    assert report["services"][0]["slos"][0]["verdict"] == "incomplete"


def test_incidents_blips_and_quarter(default_catalog: Catalog, period: Period) -> None:
    cat = _catalog(default_catalog, 1, objective=99.0)
    ans = Answers(cat, period, 1_000_000, 5000)  # allowed 10,000 bad events; 1% of it is 100
    t0 = period.start + 10 * 86400
    # one long incident (4 tiles, a 10-minute pause inside), then a small stretch an hour later
    ans.burn([t0 + 300, t0 + 600, t0 + 1500, t0 + 1800, t0 + 5400], bad=40.0, total=1000.0)
    quarter_end = period.start  # October is in the same quarter as November
    ans.a["quarter_tiles"] = [
        Series(_labels(cat, "svc-00", slo="availability", report_part=p), [(t, v) for t in
               (quarter_end - 20 * 86400, quarter_end - 10 * 86400)])
        for p, v in (("bad", 500.0), ("total", 1000.0))]
    report = ans.build()
    entry = report["services"][0]
    assert [(i["start"], i["end"]) for i in entry["incidents"]] == [(rfc3339(t0), rfc3339(t0 + 1800))]
    inc = entry["incidents"][0]
    assert inc["bad_events"] == 160.0 and inc["duration_seconds"] == 1800
    assert inc["budget_consumed"] == pytest.approx(160 / 10000)
    assert inc["peak_burn_rate"] == pytest.approx(40 / 1000 / 0.01)
    assert entry["slos"][0]["blips"]["count"] == 1
    assert entry["slos"][0]["blips"]["budget_consumed"] == pytest.approx(40 / 10000)
    # three incidents this quarter (two in October, one now): the default policy escalates at 3
    assert entry["policy"]["verdict"] == "escalate"
    json.dumps(report, allow_nan=False)


def test_a_period_not_made_of_whole_tiles_ends_with_a_shorter_tile(default_catalog: Catalog) -> None:
    """Seven minutes: one 5-minute tile, then a 2-minute tile of its own (raw counters over 120s), so a
    burst in the last minutes of a short period (the demo's) is still an incident."""
    cat = _catalog(default_catalog, 1, objective=99.0)
    start = month("2026-11", TZ)[0]
    short = Period(start, start + 420, TZ, "7 minutes")
    queries = q.plan(cat, "production", short)
    assert {n for n in queries if n.startswith("tiles:")} == {"tiles:0", "tiles:1"}  # bad and total of one kind
    assert queries["tiles:0"].start == queries["tiles:0"].end == start + 300
    tail = queries["tiles_tail"]
    assert tail.at == start + 420 and "[120s]" in tail.expr and "increase5m" not in tail.expr
    assert "tiles_tail" not in q.plan(cat, "production", Period(start, start + 600, TZ, "10 minutes"))
    ans = Answers(cat, short, 1000, 60)
    svc = cat.services[0].name
    ans.a["tiles_tail"] = [Sample(_labels(cat, svc, slo="availability", report_part=p), v)
                           for p, v in (("bad", 60.0), ("total", 300.0))]
    [incident] = ans.build()["services"][0]["incidents"]
    assert (incident["start"], incident["end"]) == (rfc3339(start + 300), rfc3339(start + 420))
    assert incident["duration_seconds"] == 120 and incident["bad_events"] == 60.0
    assert incident["peak_burn_rate"] == pytest.approx(60 / 300 / 0.01)


def test_nan_answers_never_reach_the_json(default_catalog: Catalog, period: Period) -> None:
    cat = _catalog(default_catalog, 1)
    ans = Answers(cat, period, 0.0, 0.0)
    ans.a["latency"] = [Sample(_labels(cat, "svc-00", report_part="p50"), math.nan)]
    ans.a["daily_events:0"] = []
    report = ans.build()
    text = json.dumps(report, allow_nan=False)
    assert "NaN" not in text
    slo = report["services"][0]["slos"][0]
    assert slo["sli"] is None and slo["worst_day"] is None
    assert report["services"][0]["latency_p50_seconds"] is None


def test_alerts_and_dr_alerts_are_split(default_catalog: Catalog, period: Period) -> None:
    cat = _catalog(default_catalog, 1)
    ans = Answers(cat, period, 1000.0, 1.0)
    t = period.start + 3600
    ans.a["alerts"] = [
        Series({**_labels(cat, "svc-00", slo="availability"), "alertname": "SLOErrorBudgetBurn",
                "severity": "page", "alertstate": "firing", "long_window": "1h"},
               [(t + 60 * i, 1.0) for i in range(5)]),
        Series({**_labels(cat, "svc-00", slo="availability"), "alertname": "SLOErrorBudgetBurn",
                "severity": "page", "alertstate": "firing", "long_window": "6h"},
               [(t + 60 * i, 1.0) for i in range(3, 8)]),
        Series({"alertname": "DRManualTrigger", "dr_trigger": "manual", "alertstate": "firing",
                "severity": "critical"}, [(t, 1.0), (t + 60, 1.0)]),
    ]
    ans.a["dr"] = [Series({"dr_trigger": "manual"}, [(t, 1.0), (t + 60, 1.0), (t + 600, 1.0)])]
    report = ans.build()
    [alert] = report["services"][0]["alerts"]
    assert alert["firing_minutes"] == 8 and len(alert["episodes"]) == 1
    dr = {d["trigger"]: d for d in report["dr_triggers"]}
    assert set(dr) == set(conventions.DR_TRIGGERS)
    assert dr["manual"]["held_minutes"] == 3 and len(dr["manual"]["episodes"]) == 2
    assert dr["manual"]["alert_firing_minutes"] == 2
    assert dr["error_ratio"]["held_minutes"] == 0


# -- maintenance windows -----------------------------------------------------------------------------------
def _window(**fields: object) -> MaintenanceWindow:
    return MaintenanceWindow.model_validate({"reason": "planned work", **fields})


def _with_windows(cat: Catalog, *windows: MaintenanceWindow) -> Catalog:
    return cat.model_copy(update={"maintenance": list(windows)})


def _local(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=TZ).timestamp()


@pytest.mark.parametrize("seed", range(25))
def test_pieces_tile_each_services_maintenance_without_crossing_a_boundary(default_catalog: Catalog,
                                                                            seed: int) -> None:
    """Random one-off and weekly windows over random services: for every service the pieces that name it
    are exactly its merged maintenance from the longest SLO window's start to the period's end, the pieces
    are disjoint, and none crosses the period's start, a local midnight or an SLO window's start."""
    rng = random.Random(seed)
    cat = _catalog(default_catalog, 5)
    names = [s.name for s in cat.services]
    windows = []
    for i in range(rng.randrange(1, 6)):
        chosen = rng.sample(names, rng.randrange(1, 6))
        services = None if len(chosen) == 5 and rng.random() < 0.5 else chosen
        if rng.random() < 0.5:
            day, hour = rng.randrange(1, 31), rng.randrange(0, 22)
            length = rng.randrange(1, 40) * 60 * 60 // 4
            start = f"2026-11-{day:02d}T{hour:02d}:{rng.choice(['00', '15', '30'])}"
            end = (datetime.fromisoformat(start) + timedelta(seconds=length)).isoformat(timespec="minutes")
            windows.append(_window(name=f"w{i}", services=services, start=start, end=end))
        else:
            windows.append(_window(name=f"w{i}", services=services,
                                   weekdays=rng.sample(["monday", "wednesday", "friday", "sunday"], 2),
                                   **{"from": f"{rng.randrange(0, 24):02d}:00",
                                      "to": f"{rng.randrange(0, 24):02d}:30"}))
    cat = _with_windows(cat, *windows)
    start, end = month("2026-11", TZ)
    if rng.random() < 0.5:
        start, end = start + rng.randrange(0, 20) * 86400 + 3600 * rng.randrange(0, 24), end - 3600
    period = Period(start, end, TZ, "random")
    spans = maint.covered(cat, "production", period)
    pieces = maint.pieces(cat, period, spans)
    since = min(period.start, period.end - maint.longest_window(cat))
    for p1, p2 in itertools.pairwise(pieces):
        assert p1.end <= p2.start
    cuts = maint.cuts(cat, period)
    assert all(not (p.start < c < p.end) for p in pieces for c in cuts)
    for name in names:
        mine = maintenance.merge([(p.start, p.end) for p in pieces if name in p.services])
        assert mine == maint.clip(spans.get(name, []), since, period.end), name
    assert len(pieces) <= 2 * len(maint.occurrences(cat, "production", since, period.end)) + len(cuts)


def test_maintenance_is_left_out_of_every_slo_figure(default_catalog: Catalog, period: Period) -> None:
    """A two-hour window on the 10th: its events come off the period's, the day's and the SLO window's figures,
    its burning tiles are no incident, its minutes no gap and no budget minutes; a tile past it still burns."""
    a, z = _local("2026-11-10T02:00"), _local("2026-11-10T04:00")
    cat = _with_windows(_catalog(default_catalog, 2, objective=99.0),
                        _window(name="patch", services=["svc-00"], start="2026-11-10T02:00", end="2026-11-10T04:00"))
    ans = Answers(cat, period, 100000, 5000)
    piece = f"{int(a)}-{int(z)}"
    ans.a["maintenance_events:0"] = [
        Sample(_labels(cat, "svc-00", slo="availability", report_part="total", report_piece=piece), 1000.0),
        Sample(_labels(cat, "svc-00", slo="availability", report_part="bad", report_piece=piece), 100.0),
    ]
    ans.burn([a + 300, a + 600, z, z + 300], bad=5.0, total=100.0)
    ans.a["coverage_edges"] = [Series(_labels(cat, "svc-00", report_part="down"), [(a + 1800 + 60, 1.0)]),
                               Series(_labels(cat, "svc-00", report_part="up"), [(z + 600 + 60, 1.0)])]
    report = ans.build()
    entry = report["services"][0]
    assert entry["maintenance"] == {"minutes": 120, "windows": [{"name": "patch", "start": rfc3339(a),
                                                                 "end": rfc3339(z)}]}
    slo = entry["slos"][0]
    assert slo["events"] == {"total": 99000.0, "bad": 4900.0, "good": 94100.0}
    assert slo["sli"] == pytest.approx(94100 / 99000)
    assert slo["budget"]["allowed_bad_events"] == pytest.approx(990.0)
    assert slo["budget"]["allowed_minutes"] == pytest.approx(0.01 * (30 * 1440 - 120))
    assert slo["budget"]["consumed_minutes"] == pytest.approx(slo["budget"]["consumed"] * 0.01 * (30 * 1440 - 120))
    assert slo["window_budget_consumed"] == pytest.approx(4900 / (99000 * 0.01))
    day = next(d for d in slo["daily"] if d["date"] == "2026-11-10")
    other = next(d for d in slo["daily"] if d["date"] == "2026-11-11")
    assert (day["total"], day["bad"]) == pytest.approx((other["total"] - 1000, other["bad"] - 100))
    assert sum(d["bad"] for d in slo["daily"]) == pytest.approx(slo["events"]["bad"])
    # tiles a+300, a+600 and z have their middle inside the window; z+300 burns on its own (a blip)
    assert entry["incidents"] == [] and slo["blips"]["count"] == 1
    # the gap runs from 02:30 to 04:10: only its last ten minutes are outside the window
    assert entry["gaps"] == [{"start": rfc3339(z), "end": rfc3339(z + 600), "minutes": 10}]
    assert entry["coverage"] == pytest.approx(1 - 10 / (30 * 1440 - 120))
    # the other service is not covered: its figures are the raw ones
    untouched = report["services"][1]
    assert untouched["maintenance"] == {"minutes": 0, "windows": []}


def test_maintenance_queries_do_not_grow_with_the_services(default_catalog: Catalog, period: Period) -> None:
    """A nightly window over every service and a weekly one over the first: the plan is the same for 3 and
    30 services, one maintenance query per PIECES_PER_QUERY pieces, every range in it pinned with `@`."""
    plans = {}
    for n in (3, 30):
        cat = _with_windows(_catalog(default_catalog, n),
                            _window(name="nightly", schedule="30 23 * * *", duration="2h"),
                            _window(name="weekly", services=["svc-00"], weekdays=["friday"],
                                    **{"from": "10:00", "to": "12:00"}))
        plans[n] = q.plan(cat, "production", period)
        pieces = maint.pieces(cat, period, maint.covered(cat, "production", period))
        named = sorted(k for k in plans[n] if k.startswith("maintenance_events"))
        assert len(named) == math.ceil(len(pieces) / q.PIECES_PER_QUERY) > 1
        for k in named:
            expr = plans[n][k].expr
            ranges = re.findall(r"\[(\d+)s\]( @ \d+)?", expr)
            assert ranges and all(pinned for _, pinned in ranges)
    assert sorted(plans[3]) == sorted(plans[30])
    assert not any(k.startswith("maintenance") for k in q.plan(_catalog(default_catalog, 3), "production", period))


# -- the real thing ----------------------------------------------------------------------------------------
STEP = 60


def _history(cat: Catalog, start: int, end: int, gap: tuple[int, int], burn: tuple[int, int]) -> str:
    """Per service: 10 requests/s, 0.05% errors (5% during `burn` for the first one), a scrape gap for the
    last one, one-minute samples; one firing alert and a manual DR trigger for ten minutes."""
    m = cat.metrics
    req = openmetrics.Family(m.requests_total.removesuffix("_total"), "counter")
    hist = openmetrics.Family(m.latency_histogram, "histogram")
    for i, svc in enumerate(cat.services):
        times = [t for t in openmetrics.grid(start, end, STEP)
                 if not (i == len(cat.services) - 1 and gap[0] <= t < gap[1])]
        base = {m.environment_label: "production", m.service_label: svc.name}

        def err(t: int, i: int = i) -> float:
            return 0.05 if i == 0 and burn[0] <= t < burn[1] else 0.0005

        for status, share in (("200", lambda t: 1 - err(t)), ("500", err)):
            req.add(m.requests_total, {**base, m.status_label: status},
                    openmetrics.counter(times, lambda t, s=share: 10 * s(t)))
        for label, share in (("0.1", 0.6), ("0.5", 0.99), ("1.0", 0.999), ("+Inf", 1.0)):
            hist.add(f"{m.latency_histogram}_bucket", {**base, "le": label},
                     openmetrics.counter(times, lambda t, s=share: 10 * s))
        hist.add(f"{m.latency_histogram}_count", base, openmetrics.counter(times, lambda t: 10.0))
    alerts = openmetrics.Family("ALERTS", "gauge")
    svc0 = cat.services[0].name
    alerts.add("ALERTS", {"alertname": "SLOErrorBudgetBurn", "alertstate": "firing", "severity": "page",
                          m.environment_label: "production", m.service_label: svc0, "slo": "availability"},
               [(t, 1.0) for t in range(burn[0] + 120, burn[1], STEP)])
    manual = openmetrics.Family(cat.dr.manual_trigger.metric, "gauge")
    manual.add(cat.dr.manual_trigger.metric, {}, [(t, 1.0 if burn[0] <= t < burn[0] + 600 else 0.0)
                                                   for t in openmetrics.grid(start, end, STEP)])
    return openmetrics.render([req, hist, alerts, manual])


@pytest.mark.real
def test_run_report_against_prometheus_sends_as_many_requests_for_30_services_as_for_3(
        default_catalog: Catalog, tmp_path: Path) -> None:
    base = default_catalog.model_copy(update={"prometheus": default_catalog.prometheus.model_copy(
        update={"scrape_interval": "1m", "evaluation_interval": "1m", "scrape_timeout": "10s"})})
    end_day = date(2026, 11, 3)
    from datetime import datetime
    to = datetime(end_day.year, end_day.month, end_day.day, 6, tzinfo=TZ).timestamp()
    start = int(to - 2 * 86400)
    data_start = start - 3600
    burn = (start + 30 * 3600, start + 31 * 3600)
    gap = (start + 10 * 3600, start + 10 * 3600 + 1800)
    sent = {}
    for n in (3, 30):
        cat = _catalog(base, n, objective=99.9)
        work = tmp_path / str(n)
        work.mkdir()
        (work / "history.om").write_text(_history(cat, data_start, int(to), gap, burn))
        openmetrics.backfill(work / "history.om", work / "data", max_block_duration="2400h")
        (work / "prometheus.yml").write_text("global:\n  scrape_interval: 1m\n")
        now = to + 7200
        period = resolve(TZ, now, from_text=str(start), to_text=str(int(to)))
        with procs.running(procs.start_prometheus(work / "prometheus.yml", work / "data")) as prom:
            report = run_report(cat, None, period, Settings(prom.url, deadline=60, timeout=30), now)
        json.dumps(report, allow_nan=False)
        sent[n] = report["queries"]
        assert report["environment"] == "production"
        assert report["data"]["retention"] == "10y"
        svcs = {s["service"]: s for s in report["services"]}
        assert len(svcs) == n
        first, last = svcs[cat.services[0].name], svcs[cat.services[-1].name]
        expected_total = 10 * period.seconds
        slo = first["slos"][0]
        assert slo["events"]["total"] == pytest.approx(expected_total, rel=0.01)
        assert slo["events"]["bad"] == pytest.approx(10 * 3600 * 0.05 + 10 * (period.seconds - 3600) * 0.0005,
                                                     rel=0.03)
        assert slo["verdict"] == "breached"
        assert [d["date"] for d in slo["daily"]] == ["2026-11-01", "2026-11-02", "2026-11-03"]
        assert sum(d["total"] for d in slo["daily"]) == pytest.approx(expected_total, rel=0.02)

        [incident] = first["incidents"]
        assert abs(incident["duration_seconds"] - 3600) <= 600
        assert first["alerts"][0]["alert"] == "SLOErrorBudgetBurn" and first["alerts"][0]["firing_minutes"] >= 50
        assert first["peak_request_rate"] == pytest.approx(10, rel=0.01)
        assert first["latency_p50_seconds"] == pytest.approx(0.1 * (0.5 / 0.6), rel=0.01)
        # the scrape gap of the last service: 30 minutes, less the coverage window's reach
        [g] = last["gaps"]
        assert 25 <= g["minutes"] <= 30
        assert last["coverage"] < 1 and first["coverage"] == 1
        assert svcs[cat.services[1].name]["incidents"] == []
        manual = next(d for d in report["dr_triggers"] if d["trigger"] == "manual")
        assert manual["held_minutes"] == pytest.approx(10, abs=1)
        assert report["sources"]["incidents"] == "raw counters"
        assert report["sources"]["peak_request_rate"] == "raw counters"
        assert report["data"]["starts_before_data"] is False
        assert all(s["slos"][0]["verdict"] == "met" for s in report["services"][1:-1])
    assert sent[3] == sent[30]


def test_unreachable_prometheus_is_exit_69_in_one_line(default_catalog: Catalog, period: Period) -> None:
    settings = Settings(f"http://user:s3cret@127.0.0.1:{procs.free_port()}", deadline=5, retries=0)
    with pytest.raises(ZarishError) as err:
        run_report(default_catalog, None, period, settings, period.end + 60)
    assert err.value.exit_code == ExitCode.UNAVAILABLE
    assert "\n" not in str(err.value) and "s3cret" not in str(err.value)
