"""Maintenance windows in the rules: the PromQL opening of every window agrees with the absolute occurrences,
the generated promtool tests pass (and fail on rules that ignore the windows), and real Prometheus's
SLI over a backfilled day with a window equals the truth without the window's minutes."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests.golden import assert_golden
from zarish_obs import conventions, maintenance, maintenance_promql, openmetrics, procs, promtool
from zarish_obs.alerts import cli as alerts_cli
from zarish_obs.alerts.render import RECORDING_FILE, render, rule_files
from zarish_obs.alerts.unittests import MAINTENANCE_TEST_FILE, TESTS_DIR
from zarish_obs.catalog import Catalog, load_catalog
from zarish_obs.errors import ZarishError
from zarish_obs.writers import write_files

CATALOG = Path(__file__).resolve().parent / "data" / "catalogs" / "maintenance.yaml"
DAY = 86400


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(CATALOG)


def _with_windows(catalog: Catalog, windows: list[dict[str, Any]], timezone: str = "Asia/Dhaka") -> Catalog:
    data = catalog.model_dump(by_alias=True, exclude_none=True)
    data["maintenance"] = windows
    data["timezone"] = timezone
    return Catalog.model_validate(data)


CRON_WINDOWS = [
    {"name": "weekly", "reason": "r", "weekdays": ["saturday", "sunday"], "from": "22:00", "to": "03:30"},
    {"name": "nightly", "reason": "r", "schedule": "15 2 * * *", "duration": "45m"},
    {"name": "quarter-hours", "reason": "r", "schedule": "*/15 1-2 * * 1-5", "duration": "10m"},
    {"name": "month-day-or-weekday", "reason": "r", "schedule": "30 23 1,15 * sun", "duration": "3h"},
    {"name": "around-the-clock", "reason": "r", "schedule": "*/20 * 3 feb,mar *", "duration": "30m"},
    {"name": "once", "reason": "r", "start": "2027-02-28T23:10", "end": "2027-03-01T04:00"},
]


@pytest.mark.parametrize("window", CRON_WINDOWS, ids=[w["name"] for w in CRON_WINDOWS])
def test_opening_matches_occurrences(catalog: Catalog, window: dict[str, Any]) -> None:
    """Random instants over a year (and every minute around each opening's edges) agree with maintenance.py."""
    cat = _with_windows(catalog, [window])
    w = cat.maintenance[0]
    since, until = 1_790_000_000.0, 1_790_000_000.0 + 400 * DAY
    spans = maintenance.covering(cat, cat.services[0].name, cat.dr.error_ratio.environment, since, until)
    rng = random.Random(window["name"])
    instants = [rng.uniform(since, until) for _ in range(3000)]
    instants += [edge + d for a, b in spans[:40] for edge in (a, b) for d in (-60, -1, 0, 1, 59)]
    assert spans, "the window never opens in the sampled year"
    for t in instants:
        truth = any(a <= t < b for a, b in spans)
        local = datetime.fromtimestamp(t, conventions.report_timezone(cat))
        assert maintenance_promql.open_at(cat, w, t) == truth, local


def test_recurring_window_in_a_daylight_saving_zone_is_refused(catalog: Catalog) -> None:
    cat = _with_windows(catalog, [CRON_WINDOWS[1]], timezone="Europe/London")
    with pytest.raises(ZarishError) as err:
        rule_files(cat)
    assert err.value.exit_code == 65 and "Europe/London" in str(err.value) and "nightly" in str(err.value)
    assert rule_files(_with_windows(catalog, [CRON_WINDOWS[-1]], timezone="Europe/London"))  # one-off: fine


def test_unexpressible_cron_is_refused(catalog: Catalog) -> None:
    cat = _with_windows(catalog, [{"name": "last", "reason": "r", "schedule": "0 2 L * *", "duration": "1h"}])
    with pytest.raises(ZarishError) as err:
        rule_files(cat)
    assert err.value.exit_code == 65 and "L or #" in str(err.value)


def test_without_windows_nothing_changes(catalog: Catalog) -> None:
    """Windows that leave the SLOs alone change no rule; the active series names only covered services."""
    bare = _with_windows(catalog, [])
    only_silence = _with_windows(catalog, [{**CRON_WINDOWS[0], "exclude_from_slo": False}])
    assert rule_files(only_silence) == rule_files(bare)
    assert maintenance_promql.active(bare) is None
    text = rule_files(catalog)[RECORDING_FILE]
    assert conventions.MAINTENANCE_ACTIVE in text and "vendor-check" not in text


def test_golden_maintenance(catalog: Catalog) -> None:
    for name, text in render(catalog, "files").items():
        assert_golden(f"alerts-maintenance/{name}", text)


@pytest.mark.real
def test_generated_files_pass_promtool_and_catch_rules_without_windows(tmp_path: Path, catalog: Catalog) -> None:
    files = render(catalog, "files")
    assert f"{TESTS_DIR}/{MAINTENANCE_TEST_FILE}" in files
    tests = yaml.safe_load(files[f"{TESTS_DIR}/{MAINTENANCE_TEST_FILE}"])["tests"]
    assert {t["name"].split(" ")[1] for t in tests} == {"nightly-patch", "db-vacuum", "migration"}
    write_files(tmp_path / "good", files)
    checked = promtool.check_rules(*[tmp_path / "good" / n for n in rule_files(catalog)])
    assert checked.ok, checked.output
    # The same tests also against rules generated as if the catalog had no windows: the storms inside page.
    write_files(tmp_path / "blind", files)
    write_files(tmp_path / "blind", rule_files(catalog.model_copy(update={"maintenance": []})))
    with ThreadPoolExecutor(2) as pool:  # each promtool run is one process; the maintenance file's take ~45 s
        blind = pool.submit(promtool.test_rules, tmp_path / "blind" / TESTS_DIR / MAINTENANCE_TEST_FILE,
                            cwd=tmp_path / "blind" / TESTS_DIR)
        good = {name: pool.submit(promtool.test_rules, tmp_path / "good" / name, cwd=tmp_path / "good" / TESTS_DIR)
                for name in files if name.startswith(f"{TESTS_DIR}/")}
        for name, run in good.items():
            assert run.result().ok, f"{name}: {run.result().output[-3000:]}"
        result = blind.result()
    assert not result.ok
    assert result.output.count("exp: nil") == 3, result.output[-3000:]  # each window's inside storm, no other


# -- real Prometheus ------------------------------------------------------------------------------------------
STEP = 60


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory, catalog: Catalog) -> Iterator[dict[str, Any]]:
    """One day at 1m of both services' counters around an opening of `nightly-patch` (records): steady
    errors outside, a storm of errors inside the window; backfilled into a fresh Prometheus."""
    work = tmp_path_factory.mktemp("maint-prom")
    window = next(w for w in catalog.maintenance if w.name == "nightly-patch")
    found = maintenance_promql.next_opening(catalog, window, time.time() - 9 * DAY)
    assert found is not None
    start = int(found[0]) // 300 * 300 - 12 * 3600
    end = start + DAY
    assert end < time.time() - 3600
    rng = random.Random(12)
    m = catalog.metrics
    fam = openmetrics.Family(m.requests_total.removesuffix("_total"), "counter")
    counts: dict[tuple[str, str], list[tuple[int, float, float]]] = {}
    for svc in ("records", "billing"):
        ok = err = 0.0
        ok_samples, err_samples, minutes = [], [], []
        for t in range(start, end + 1, STEP):
            if t > start:
                spans = maintenance.covering(catalog, svc, "production", t - STEP, t)
                total = rng.randint(80, 120)
                bad = rng.randint(30, 60) if spans else rng.randint(0, 2)
                ok, err = ok + total - bad, err + bad
                minutes.append((t, float(total), float(bad)))
            ok_samples.append((t, ok))
            err_samples.append((t, err))
        labels = {m.environment_label: "production", m.service_label: svc}
        fam.add(m.requests_total, {**labels, m.status_label: "200"}, ok_samples)
        fam.add(m.requests_total, {**labels, m.status_label: "503"}, err_samples)
        counts[("production", svc)] = minutes
    openmetrics.backfill(openmetrics.write(work / "history.om", [fam]), work / "data", "2400h")
    config = work / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 15s\n  evaluation_interval: 15s\n")
    with procs.running(procs.start_prometheus(config, work / "data")) as proc:
        yield {"url": proc.url, "start": start, "end": end, "counts": counts, "window": found}


def _query(url: str, expr: str, at: int) -> dict[tuple[str, str], float]:
    r = requests.get(f"{url}/api/v1/query", params={"query": expr, "time": at}, timeout=60)
    assert r.status_code == 200, f"{expr[:200]}: HTTP {r.status_code} {r.text[:300]}"
    return {(s["metric"].get("environment", ""), s["metric"].get("service", "")): float(s["value"][1])
            for s in r.json()["data"]["result"]}


def _recorded(catalog: Catalog, name: str, kind: str = "availability") -> str:
    groups = yaml.safe_load(rule_files(catalog)[RECORDING_FILE])["groups"]
    return next(r["expr"] for g in groups for r in g["rules"]
                if r.get("record") == name and r.get("labels", {}).get("slo") == kind)


@pytest.mark.real
def test_recorded_sli_skips_the_window_within_a_tenth_of_a_percent(history: dict[str, Any], catalog: Catalog
                                                                  ) -> None:
    """The day's SLI summed from the generated 5-minute increase rules (the `[1d:5m]` tiling every long
    window uses) equals the SLI of the minutes outside the window, and differs from the day's raw SLI."""
    url, end = history["url"], history["end"]
    bare = catalog.model_copy(update={"maintenance": []})
    sums = {}
    for label, cat in (("excluded", catalog), ("raw", bare)):
        total = _query(url, f"sum_over_time(({_recorded(cat, conventions.SLO_REQUESTS_5M)})[1d:5m])", end)
        bad = _query(url, f"sum_over_time(({_recorded(cat, conventions.SLO_ERRORS_5M)})[1d:5m])", end)
        sums[label] = {k: (total[k], bad.get(k, 0.0)) for k in total}
    for key, minutes in history["counts"].items():
        day = [(t, n, b) for t, n, b in minutes if history["start"] < t <= end]
        outside = [(n, b) for t, n, b in day if not maintenance.covering(catalog, key[1], key[0], t - STEP, t)]
        truth_total, truth_bad = sum(n for n, _ in outside), sum(b for _, b in outside)
        got_total, got_bad = sums["excluded"][key]
        assert got_total == pytest.approx(truth_total, rel=1e-3), key
        assert got_bad == pytest.approx(truth_bad, rel=1e-3), key
        sli, truth_sli = 1 - got_bad / got_total, 1 - truth_bad / truth_total
        assert sli == pytest.approx(truth_sli, rel=1e-3), key
        raw_total, raw_bad = sums["raw"][key]
        assert raw_total == pytest.approx(sum(n for _, n, _ in day), rel=1e-3)
        if key[1] == "records":  # the window covers it: the storm is what the exclusion removed
            assert len(outside) < len(day) and abs((1 - raw_bad / raw_total) - truth_sli) > 0.01
        else:
            assert (got_total, got_bad) == pytest.approx((raw_total, raw_bad), rel=1e-9)


@pytest.mark.real
def test_active_series_matches_occurrences_at_every_minute(history: dict[str, Any], catalog: Catalog) -> None:
    """The recorded maintenance expression, evaluated by Prometheus minute by minute over two weeks for
    windows of every form, is 1 exactly for the covered services inside the windows."""
    windows = [{**w, "services": ["records"]} for w in CRON_WINDOWS]
    cat = _with_windows(catalog, [*windows, {"name": "all", "reason": "r", "start": "2026-01-01T00:00",
                                             "end": "2026-01-01T01:00", "environments": ["staging"]}])
    expr = maintenance_promql.active(cat)
    assert expr is not None
    start = int(datetime(2027, 2, 25, tzinfo=conventions.report_timezone(cat)).timestamp())
    for begin in (start, int(datetime(2025, 12, 31, 12, tzinfo=conventions.report_timezone(cat)).timestamp())):
        stop = begin + 6 * DAY
        r = requests.get(f"{history['url']}/api/v1/query_range", timeout=60,
                         params={"query": expr, "start": begin, "end": stop, "step": STEP})
        assert r.status_code == 200, r.text[:300]
        got = {(s["metric"]["environment"], s["metric"]["service"]): {int(float(t)) for t, _ in s["values"]}
               for s in r.json()["data"]["result"]}
        for env in ("production", "staging"):
            for svc in ("records", "billing"):
                spans = maintenance.covering(cat, svc, env, begin, stop + 1)
                want = {t for t in range(begin, stop + 1, STEP) if any(a <= t < b for a, b in spans)}
                assert got.get((env, svc), set()) == want, (env, svc, len(want))


@pytest.mark.real
def test_a_window_open_on_promtools_first_day_leaves_the_other_generated_tests_passing(
        tmp_path: Path, catalog: Catalog) -> None:
    """1970-01-01 was a Thursday: a Thursday-morning window in Dhaka is open at promtool's time 0, where the
    burn-rate, absence, target and DR tests run. Windows count only from conventions.MAINTENANCE_SINCE, so
    those tests still see every alert they expect."""
    early = _with_windows(catalog, [{"name": "thursday", "reason": "r", "weekdays": ["thursday"], "from": "05:00",
                                     "to": "10:00"}])
    opening = maintenance_promql.opening(early, early.maintenance[0])
    assert not opening.holds(0) and opening.holds(7 * 86400)  # a week later it is open at the same hour
    checks = alerts_cli.run_checks(early, tmp_path)  # what `alerts test` runs, the test files side by side
    tested = {c.file for c in checks if c.check == "promtool test rules"}
    assert tested == {name for name in render(early, "files") if name.startswith(f"{TESTS_DIR}/")}
    for c in checks:
        assert c.ok, f"{c.check} {c.file}: {c.output[-3000:]}"
