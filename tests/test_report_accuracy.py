"""The compliance report against the truth of a 35-day backfilled history (tests/report_history.py).

A real Prometheus holds 2-minute samples of three services from four days before the last complete month to
a day after it: a counter reset, a 2-hour scrape gap, 5xx bursts at 23:30 local on the month's last day and
00:30 on the next month's first, a mid-month burst above the postmortem share, a latency burst, a day-long
burst that breaches, and the ALERTS series of each; a weekly maintenance window on one service holding a 5xx
burst above the postmortem share, and a one-off window over every service holding a scrape gap. Every figure
must be within 0.1% of the truth computed from the generated events (those inside a service's maintenance
left out of its SLO figures). Latency quantiles get no extra tolerance: the bucket increases over a month or a
local day are exact on the sample grid, so histogram_quantile interpolates the very counts the truth does.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from tests import report_history as rh
from zarish_obs import openmetrics, procs
from zarish_obs.catalog import load_catalog
from zarish_obs.monitor.client import Settings
from zarish_obs.monitor.compliance.period import Period, resolve
from zarish_obs.monitor.compliance.run import run_report

REL = 0.001  # 0.1%
LOOKBACK = 300  # backfill cannot write stale markers: the last ALERTS sample stays visible this long


def ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def utc(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Figures:
    """Collects every figure that is off, so one failure lists them all with their size."""

    def __init__(self) -> None:
        self.off: list[str] = []

    def close(self, what: str, got: Any, want: float | None, rel: float = REL) -> None:
        if want is None or got is None:
            if got != want:
                self.off.append(f"{what}: report {got!r}, truth {want!r}")
            return
        if not isinstance(got, int | float) or isinstance(got, bool) or not math.isfinite(got):
            self.off.append(f"{what}: report {got!r} is not a finite number (truth {want:.9g})")
        elif not math.isclose(got, want, rel_tol=rel, abs_tol=1e-12):
            share = f"{(got - want) / want:+.4%}" if want else "n/a"
            self.off.append(f"{what}: report {got:.9g}, truth {want:.9g} (off by {got - want:+.6g}, {share}; "
                            f"tolerance {rel:.2%})")

    def equal(self, what: str, got: Any, want: Any) -> None:
        if got != want:
            self.off.append(f"{what}: report {got!r}, truth {want!r}")

    def within(self, what: str, got: float, lo: float, hi: float, why: str) -> None:
        if not lo <= got <= hi:
            self.off.append(f"{what}: report {got!r} outside [{lo!r}, {hi!r}] ({why})")

    def check(self, title: str) -> None:
        assert not self.off, f"{title}: {len(self.off)} figure(s) off\n  " + "\n  ".join(self.off)


@dataclass
class Run:
    period: Period
    report: dict[str, Any]
    truth: dict[str, Any]


@dataclass
class Served:
    history: rh.History
    runs: dict[str, Run]
    plain: dict[str, dict[str, float]]


def plain_query(url: str, expr: str, at: float) -> dict[str, float]:
    r = requests.get(f"{url}/api/v1/query", params={"query": expr, "time": at}, timeout=30)
    r.raise_for_status()
    return {x["metric"].get("service", ""): float(x["value"][1]) for x in r.json()["data"]["result"]}


@pytest.fixture(scope="module")
def history() -> rh.History:
    return rh.build(time.time())


@pytest.fixture(scope="module")
def served(history: rh.History, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """Backfill, start Prometheus, run the three reports, stop Prometheus: the tests read the results."""
    h = history
    work = tmp_path_factory.mktemp("report-accuracy")
    catalog_file = work / "catalog.yaml"
    catalog_file.write_text(h.catalog_text, encoding="utf-8")
    catalog = load_catalog(catalog_file)
    om = h.write(work / "history.om")
    openmetrics.backfill(om, work / "data", max_block_duration="2400h")
    om.unlink()
    config = work / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 2m\n  evaluation_interval: 1m\n", encoding="utf-8")
    now = time.time()
    periods = {
        "month": resolve(h.tz, now, month_text=h.month),
        "next day": resolve(h.tz, now, from_text=str(h.month_end), to_text=str(h.month_end + rh.DAY)),
        "before history": resolve(h.tz, now, from_text=str(h.start - 10 * rh.MINUTE),
                                  to_text=str(h.start + 3 * rh.DAY)),
    }
    with procs.running(procs.start_prometheus(config, work / "data")) as prom:
        month = periods["month"]
        window = f"{int(month.seconds)}s"
        plain = {
            "requests": plain_query(prom.url, f"sum by (service) (increase(http_requests_total[{window}]))",
                                    month.end),
            "5xx": plain_query(prom.url, f'sum by (service) (increase(http_requests_total{{status=~"5.."}}'
                                         f"[{window}]))", month.end),
        }
        settings = Settings(url=prom.url, timeout=30, deadline=120)
        runs = {}
        for name, period in periods.items():
            report = run_report(catalog, None, period, settings, now)
            truth = rh.expected(h, period) if name != "before history" else {}
            runs[name] = Run(period, report, truth)
    yield Served(h, runs, plain)


def service(report: dict[str, Any], name: str) -> dict[str, Any]:
    found = [s for s in report["services"] if s["service"] == name]
    assert len(found) == 1, f"service {name}: {len(found)} entries in the report"
    return found[0]


def slo_of(entry: dict[str, Any], kind: str) -> dict[str, Any]:
    found = [s for s in entry["slos"] if s["slo"] == kind]
    assert len(found) == 1, f"{entry['service']} slo {kind}: {len(found)} entries in the report"
    return found[0]


# -- the history itself (no server) -------------------------------------------------------------------------
def test_rendered_counters_carry_the_generated_events(history: rh.History) -> None:
    """Read back from the rendered samples (restart from zero on a drop, nothing across the gap lost), the
    counters hold exactly the events the truth counts, and the reset is visible on every series."""
    h = history
    families = h.families()
    req = families[0]
    for service_name in h.services:
        total = sum(rh.decoded_increase(samples, h.month_start, h.month_end)
                    for _, labels, samples in req.series if labels["service"] == service_name)
        assert total == h.requests(service_name, h.month_start, h.month_end), service_name
    name, at = h.reset
    for _, labels, samples in families[0].series + families[1].series:
        if labels.get("instance") == name:
            before, after = (v for t, v in samples if t in (at - rh.STEP, at))
            assert after < before or before == after == 0, f"{labels}: the restart is not visible"
    gap_service, g0, g1 = h.gap
    assert h.start < h.month_start < g0 < g1 < h.month_end <= h.end
    assert not any(g0 <= t < g1 for _, labels, samples in req.series if labels["service"] == gap_service
                   for t, _ in samples)


def test_no_interval_outside_the_bursts_burns_budget(history: rh.History) -> None:
    """A single 2-minute interval is the least a 5-minute tile can see: outside the bursts none may burn
    faster than the budget, so the only incidents are the generated ones."""
    h = history
    for name in h.services:
        inst = h.of(name)
        total = sum(i.requests for i in inst)
        for kind, objective in rh.slo_objectives(h.catalog, name).items():
            if kind == "availability":
                bad = sum(i.status["500"] + i.status["503"] for i in inst)
            else:
                bad = sum(i.requests - i.buckets[h.threshold(name)] for i in inst if i.buckets is not None)
            burn = bad / total / (1 - objective / 100)
            inside = h.burst_mask(name, kind)
            assert burn[~inside].max() < 1, f"{name} {kind}: an interval outside the bursts burns at " \
                f"{burn[~inside].max():.2f}"
            if inside.any():
                assert burn[inside].min() > 1, f"{name} {kind}: a burst interval does not burn"


# -- against Prometheus ----------------------------------------------------------------------------------------
@pytest.mark.real
@pytest.mark.slow
def test_prometheus_holds_the_history_exactly(served: Served) -> None:
    """Plain increase() over the month at its end matches the truth, so any later difference is the report's."""
    h, month = served.history, served.runs["month"].period
    f = Figures()
    for name in h.services:
        f.close(f"{name} increase(requests)", served.plain["requests"].get(name),
                h.requests(name, month.start, month.end))
        f.close(f"{name} increase(5xx)", served.plain["5xx"].get(name),
                h.bad(name, "availability", month.start, month.end))
    f.check("plain PromQL on the backfilled history")


def _figures(run: Run, f: Figures, label: str) -> None:
    """Every per-service and per-SLO figure of one report against the truth."""
    period, report = run.period, run.report
    tz = period.tz
    f.equal(f"{label} period.start", ts(report["period"]["start"]), period.start)
    f.equal(f"{label} period.end", ts(report["period"]["end"]), period.end)
    for name, want in run.truth.items():
        got = service(report, name)
        where = f"{label} {name}"
        f.close(f"{where} request_count", got["request_count"], want["request_count"])
        f.close(f"{where} maintenance.minutes", got["maintenance"]["minutes"], want["maintenance"]["minutes"])
        f.equal(f"{where} maintenance.windows",
                [(w["name"], ts(w["start"]), ts(w["end"])) for w in got["maintenance"]["windows"]],
                want["maintenance"]["windows"])
        f.close(f"{where} coverage", got["coverage"], want["coverage"])
        f.close(f"{where} latency_p50_seconds", got["latency_p50_seconds"], want["latency_p50_seconds"])
        f.close(f"{where} latency_p95_seconds", got["latency_p95_seconds"], want["latency_p95_seconds"])
        # 5m rates on 2m samples see two of the 2.5 intervals and extrapolate: not an exact figure
        f.close(f"{where} peak_request_rate (2% tolerance, see test)", got["peak_request_rate"],
                want["peak_request_rate"], rel=0.02)
        f.equal(f"{where} daily dates", [d["date"] for d in got["daily"]], [d["date"] for d in want["daily"]])
        for gd, wd in zip(got["daily"], want["daily"], strict=False):
            day = f"{where} daily {wd['date']}"
            start = datetime.fromisoformat(gd["start"].replace("Z", "+00:00")).astimezone(tz)
            whole = datetime.fromtimestamp(wd["start"], tz).time() == datetime.min.time()
            if whole and (start.hour, start.minute, start.second) != (0, 0, 0):
                f.off.append(f"{day} start {gd['start']} is not local midnight in {tz} ({start.isoformat()})")
            f.equal(f"{day} start", ts(gd["start"]), wd["start"])
            f.equal(f"{day} end", ts(gd["end"]), wd["end"])
            f.close(f"{day} requests", gd["requests"], wd["requests"])
            f.close(f"{day} latency_p50_seconds", gd["latency_p50_seconds"], wd["latency_p50_seconds"])
            f.close(f"{day} latency_p95_seconds", gd["latency_p95_seconds"], wd["latency_p95_seconds"])
        f.equal(f"{where} slos", sorted(s["slo"] for s in got["slos"]), sorted(want["slos"]))
        for kind, ws in want["slos"].items():
            gs = slo_of(got, kind)
            at = f"{where} {kind}"
            f.equal(f"{at} objective", gs["objective"], ws["objective"])
            for k in ("good", "bad", "total"):
                f.close(f"{at} events.{k}", gs["events"][k], ws["events"][k])
            f.close(f"{at} sli", gs["sli"], ws["sli"])
            for k, v in ws["budget"].items():
                f.close(f"{at} budget.{k}", gs["budget"][k], v)
            f.close(f"{at} window_budget_consumed", gs["window_budget_consumed"], ws["window_budget_consumed"])
            f.equal(f"{at} verdict", gs["verdict"], ws["verdict"])
            worst = {d["date"]: d["sli"] for d in ws["daily"]}
            lowest = min(worst.values())
            gw = gs["worst_day"] or {}
            if not math.isclose(worst.get(gw.get("date"), math.inf), lowest, rel_tol=1e-9):
                f.off.append(f"{at} worst_day {gw!r}: the truth's worst day is {ws['worst_day']} (sli {lowest:.9g})")
            else:
                f.close(f"{at} worst_day.sli", gw.get("sli"), lowest)
            f.equal(f"{at} daily dates", [d["date"] for d in gs["daily"]], [d["date"] for d in ws["daily"]])
            for gd, wd in zip(gs["daily"], ws["daily"], strict=False):
                day = f"{at} daily {wd['date']}"
                f.equal(f"{day} start", ts(gd["start"]), wd["start"])
                for k in ("good", "bad", "total", "sli", "budget_remaining"):
                    f.close(f"{day} {k}", gd[k], wd[k])


@pytest.mark.real
@pytest.mark.slow
def test_month_figures_match_the_truth(served: Served) -> None:
    run = served.runs["month"]
    f = Figures()
    f.equal("month complete", run.report["complete"], True)
    f.equal("month period.label", run.report["period"]["label"], served.history.month)
    f.equal("month period.days", run.report["period"]["days"], len(run.period.days()))
    _figures(run, f, "month")
    f.check(f"report for {served.history.month}")


@pytest.mark.real
@pytest.mark.slow
def test_next_day_range_figures_match_the_truth(served: Served) -> None:
    run = served.runs["next day"]
    f = Figures()
    f.equal("next-day complete", run.report["complete"], True)
    _figures(run, f, "next day")
    f.check("report for the day after the month")


def _incidents(run: Run, f: Figures, label: str) -> None:
    """Exactly the generated bursts inside the period, each with its bad events and budget share."""
    for name, want in run.truth.items():
        got = service(run.report, name)["incidents"]
        where = f"{label} {name}"
        listed = ", ".join(f"{i['slo']} {i['start']}..{i['end']}" for i in got) or "none"
        f.equal(f"{where} number of incidents (report lists {listed})", len(got), len(want["incidents"]))
        for w in want["incidents"]:
            match = [i for i in got if i["slo"] == w["slo"] and abs(ts(i["start"]) - w["start"]) <= 300
                     and abs(ts(i["end"]) - w["end"]) <= 300]
            if len(match) != 1:
                f.off.append(f"{where} incident {w['name']} ({w['slo']} {utc(w['start'])}..{utc(w['end'])}, "
                             f"one 5m tile of slack): {len(match)} match in the report ({listed})")
                continue
            i = match[0]
            f.close(f"{where} incident {w['name']} bad_events", i["bad_events"], w["bad_events"])
            f.close(f"{where} incident {w['name']} budget_consumed", i["budget_consumed"], w["budget_consumed"])
            f.close(f"{where} incident {w['name']} duration_seconds", i["duration_seconds"],
                    ts(i["end"]) - ts(i["start"]))


@pytest.mark.real
@pytest.mark.slow
def test_incidents_are_the_bursts_and_the_month_boundary_is_local_midnight(served: Served) -> None:
    """The 23:30 burst on the month's last day is in the month; the 00:30 one is in the next day's range."""
    h = served.history
    f = Figures()
    _incidents(served.runs["month"], f, "month")
    _incidents(served.runs["next day"], f, "next day")
    month_starts = [ts(i["start"]) for i in service(served.runs["month"].report, "patient-registry")["incidents"]]
    next_starts = [ts(i["start"]) for i in service(served.runs["next day"].report, "patient-registry")["incidents"]]
    def listed(at: int, starts: list[float]) -> bool:
        return any(abs(s - at) <= 300 for s in starts)

    f.equal("23:30 burst in the month", listed(h.marks["last_day"], month_starts), True)
    f.equal("00:30 burst in the month", listed(h.marks["next_day"], month_starts), False)
    f.equal("00:30 burst in the next day", listed(h.marks["next_day"], next_starts), True)
    f.equal("23:30 burst in the next day", listed(h.marks["last_day"], next_starts), False)
    f.check("incidents")


@pytest.mark.real
@pytest.mark.slow
def test_peak_burn_of_each_incident_is_one_its_tiles_saw(served: Served) -> None:
    """A tile sees two consecutive intervals of the burst: its burn lies between the lowest and highest
    burn of such pairs (it cannot be exact, which pair a tile sees depends on the grid)."""
    h = served.history
    f = Figures()
    for b in h.bursts:
        if h.in_maintenance(b):
            continue
        run = served.runs["month"] if b.start < h.month_end else served.runs["next day"]
        got = [i for i in service(run.report, b.service)["incidents"] if i["slo"] == b.slo
               and abs(ts(i["start"]) - b.start) <= 300]
        if len(got) != 1:
            f.off.append(f"{b.name}: {len(got)} incidents in the report")
            continue
        lo, hi = h.burn_range(b)
        f.within(f"{b.name} peak_burn_rate", got[0]["peak_burn_rate"], lo * (1 - REL), hi * (1 + REL),
                 "burn of two consecutive burst intervals")
    f.check("peak burn rates")


@pytest.mark.real
@pytest.mark.slow
def test_policy_verdicts_follow_the_incidents_and_the_budget(served: Served) -> None:
    f = Figures()
    for label in ("month", "next day"):
        run = served.runs[label]
        for name, want in run.truth.items():
            got = service(run.report, name)["policy"]
            where = f"{label} {name} policy"
            f.equal(f"{where} verdict", got["verdict"], want["policy"]["verdict"])
            for rule, hits in want["policy"]["rules"].items():
                reasons = [r for r in got["reasons"] if r["rule"] == rule]
                f.equal(f"{where} {rule} reasons", len(reasons), len(hits))
                for slo, inc in hits:
                    mine = [r for r in reasons if r["slo"] == slo]
                    if not mine:
                        f.off.append(f"{where}: no {rule} reason for {slo}")
                        continue
                    if inc is None:
                        continue
                    named = [r["incident"] for r in mine if r["incident"]]
                    if not any(abs(ts(n["start"]) - inc["start"]) <= 300 and abs(ts(n["end"]) - inc["end"]) <= 300
                               for n in named):
                        f.off.append(f"{where}: the {rule} reason names {named!r}, not incident {inc['name']} "
                                     f"({utc(inc['start'])}..{utc(inc['end'])})")
    month = served.runs["month"].truth
    f.equal("the scenario has a postmortem, an ok and a freeze",
            [month[s]["policy"]["verdict"] for s in ("patient-registry", "appointment-scheduling", "billing")],
            ["postmortem", "ok", "release_freeze"])
    f.check("policy")


@pytest.mark.real
@pytest.mark.slow
def test_the_scrape_gap_is_listed_and_its_events_still_count(served: Served) -> None:
    h = served.history
    f = Figures()
    run = served.runs["month"]
    minutes = run.period.seconds / 60
    for name, want in run.truth.items():
        got = service(run.report, name)
        uncovered = sum((b - a) / 60 for a, b in want["uncovered"])
        f.within(f"{name} uncovered minutes (1 - coverage) x minutes", (1 - got["coverage"]) * minutes,
                 uncovered - 2, uncovered + 2, "a minute either way for where a minute's sample window ends")
        if not want["uncovered"]:
            f.equal(f"{name} gaps", got["gaps"], [])
            continue
        f.equal(f"{name} number of gaps", len(got["gaps"]), len(want["uncovered"]))
        for g, (u0, u1), (x, y) in zip(got["gaps"], want["uncovered"], want["sampleless"], strict=False):
            why = "between the last sample before and the first uncovered minute"
            f.within(f"{name} gap start", ts(g["start"]), x - 60, u0 + 60, why)
            f.within(f"{name} gap end", ts(g["end"]), u1 - 60, y + 60, "between the last uncovered minute and "
                     "the first sample after")
            f.within(f"{name} gap minutes", g["minutes"], (u1 - u0) / 60 - 2, (y - x) / 60 + 2,
                     "uncovered minutes up to the sample-less stretch")
    name, g0, g1 = h.gap
    f.equal("the gap's day counts its events across the gap",
            any(d["start"] <= g0 < g1 <= d["end"] for d in run.truth[name]["daily"]), True)
    f.check("coverage and gaps")


@pytest.mark.real
@pytest.mark.slow
def test_maintenance_hides_its_burst_and_its_gap(served: Served) -> None:
    """The burst inside the weekly window is in Prometheus (plain increase counts it) and in the report's
    requests, but not in the SLO's bad events, nor an incident; the scrape gap inside the one-off window is
    real but no gap of the report."""
    h = served.history
    run = served.runs["month"]
    f = Figures()
    [burst] = [b for b in h.bursts if h.in_maintenance(b)]
    inside = h.bad(burst.service, burst.slo, burst.start, burst.end)
    got = service(run.report, burst.service)
    plain = served.plain["5xx"][burst.service]
    f.close("plain increase(5xx) holds the burst", plain, h.bad(burst.service, burst.slo, run.period.start,
                                                                 run.period.end))
    f.close("the report's bad events are the plain 5xx less the window's", slo_of(got, burst.slo)["events"]["bad"],
            h.bad(burst.service, burst.slo, run.period.start, run.period.end, skip_maintenance=True))
    f.within("bad events left out", plain - slo_of(got, burst.slo)["events"]["bad"], inside,
             plain, "at least the burst's")
    f.equal("no incident during the window",
            [i for i in got["incidents"] if ts(i["start"]) < burst.end and ts(i["end"]) > burst.start], [])
    name, g0, g1 = h.window_gap or ("", 0, 0)
    f.equal("the gap in the window is a real sample-less stretch",
            bool(h.sampleless(name, run.period.start, run.period.end)), True)
    f.equal("the gap in the window is no gap of the report", service(run.report, name)["gaps"], [])
    f.equal("the report lists the window over the gap",
            any(ts(w["start"]) <= g0 and g1 <= ts(w["end"]) for w in service(run.report, name)["maintenance"]
                ["windows"]), True)
    f.check("maintenance")


@pytest.mark.real
@pytest.mark.slow
def test_alert_episodes_and_firing_minutes(served: Served) -> None:
    """Firing ALERTS only (the pending samples before each are not firing), cut to the period. Backfilled
    series have no stale markers, so an episode may run up to the 5-minute lookback past its last sample."""
    f = Figures()
    for label in ("month", "next day"):
        run = served.runs[label]
        for name, want in run.truth.items():
            got = service(run.report, name)["alerts"]
            where = f"{label} {name}"
            keys = {(a["alert"], a["severity"], a["slo"]) for a in got}
            f.equal(f"{where} alerts", sorted(keys), sorted(want["alerts"]))
            for key, eps in want["alerts"].items():
                entry = [a for a in got if (a["alert"], a["severity"], a["slo"]) == key]
                if len(entry) != 1:
                    continue
                a = entry[0]
                f.equal(f"{where} {key[0]} episodes", len(a["episodes"]), len(eps))
                for g, (s, e) in zip(a["episodes"], eps, strict=False):
                    f.within(f"{where} {key[0]} episode start", ts(g["start"]), s - 60, s + 60, "a minute step")
                    late = 60 if e == run.period.end else LOOKBACK + 60
                    f.within(f"{where} {key[0]} episode end", ts(g["end"]), e - 60, min(e + late, run.period.end),
                             "a minute step plus the lookback without stale markers")
                minutes = sum((e - s) / 60 for s, e in eps)
                f.within(f"{where} {key[0]} firing_minutes", a["firing_minutes"], minutes - 1,
                         minutes + len(eps) * (LOOKBACK / 60 + 1), "a minute step plus the lookback per episode")
    f.check("alerts")


@pytest.mark.real
@pytest.mark.slow
def test_a_period_starting_before_the_history_is_incomplete(served: Served) -> None:
    report = served.runs["before history"].report
    f = Figures()
    f.equal("complete", report["complete"], False)
    f.equal("data.starts_before_data", report["data"]["starts_before_data"], True)
    for entry in report["services"]:
        for slo in entry["slos"]:
            f.equal(f"{entry['service']} {slo['slo']} verdict", slo["verdict"], "incomplete")
    f.check("period starting 10 minutes before the history")


def test_truth_is_internally_consistent(history: rh.History) -> None:
    """The month's daily events add up to the month's, and the scenario's shares are what the test needs."""
    h = history
    period = resolve(h.tz, time.time(), month_text=h.month)
    truth = rh.expected(h, period)
    for name, svc in truth.items():
        assert sum(d["requests"] for d in svc["daily"]) == svc["request_count"], name
        for kind, slo in svc["slos"].items():
            assert sum(d["bad"] for d in slo["daily"]) == slo["events"]["bad"], (name, kind)
    shares = {i["name"]: i["budget_consumed"] for s in truth.values() for i in s["incidents"]}
    assert shares["mid-month"] > 0.2 > shares["last-day 23:30"] > 0.01
    assert truth["billing"]["slos"]["availability"]["verdict"] == "breached"
    assert truth["patient-registry"]["coverage"] > h.catalog.policy.minimum_coverage_percent / 100
    assert "next month 00:30" not in shares
    [hidden] = [b for b in h.bursts if h.in_maintenance(b)]
    assert hidden.name not in shares
    allowed = truth[hidden.service]["slos"][hidden.slo]["budget"]["allowed_bad_events"]
    assert h.bad(hidden.service, hidden.slo, hidden.start, hidden.end) / allowed > 0.2  # it would be a postmortem
    for name, svc in truth.items():
        assert svc["maintenance"]["minutes"] > 0, name
        for kind, slo in svc["slos"].items():
            assert slo["events"]["total"] < h.requests(name, period.start, period.end), (name, kind)
