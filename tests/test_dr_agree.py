"""The DR triggers agree wherever they are evaluated: the DR dashboard's panels, the alert rules (promtool) and
`monitor check --at`, on one backfilled history, at the same instants of the 15s evaluation grid.

Production (every service of the built-in catalog, with a staging service failing half its requests that
must not count) runs at 0.2% errors, then a 3-minute burst at 15%, a 6-minute burst at 12% and a steady 9%;
the primary region's probes all fail for 35 minutes in between. Truth is computed here from the model the
way Prometheus evaluates it (rate over the sample increments of the trigger's rate window, the condition at
every evaluation step of the last `for:`), independently of any PromQL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.test_dashboards_prometheus import interpolate, variable_values
from tests.test_monitor_check import cli
from zarish_obs import conventions, promql, promtool
from zarish_obs.alerts import dr as dr_alerts
from zarish_obs.alerts.render import DR_FILE, rule_files
from zarish_obs.alerts.unittests import _expected
from zarish_obs.catalog import Catalog, load_catalog
from zarish_obs.dashboards import generate
from zarish_obs.durations import parse_duration
from zarish_obs.promql import Matcher, selector
from zarish_obs.stack.synthetic import STEP, History, Traffic, aligned_end, const, dr_gauges, served
from zarish_obs.writers import to_yaml

pytestmark = pytest.mark.real
MIN = 60
BASE = 0.002
# (start, end, error share) in seconds from the history's start; the steady share lasts to the end.
BURSTS = ((10 * MIN, 13 * MIN, 0.15), (25 * MIN, 31 * MIN, 0.12), (40 * MIN, 70 * MIN, 0.09))
OUTAGE = (20 * MIN, 55 * MIN)  # every probe of the primary region fails
LENGTH = 70 * MIN

ERROR_PANEL = "Error ratio (1m rate), lowest over 5m"
RATIO_PANEL = "production error ratio (1m rate) vs DR trigger"
REGION_PANEL = "Primary region (dhaka) up within 30m"


def error_share(start: int) -> Callable[[int], float]:
    def share(t: int) -> float:
        return next((s for a, b, s in BURSTS if a <= t - start < b), BASE)
    return share


@dataclass
class Scenario:
    catalog: Catalog
    history: History
    url: str

    @property
    def start(self) -> int:
        return self.history.start

    @property
    def grid(self) -> list[int]:
        """Every evaluation instant whose last `for:` of rate windows lies inside the history."""
        t = conventions.timings(self.catalog)
        first = self.start + int(parse_duration(promql.dr_error_ratio_window(self.catalog))) + int(
            max(parse_duration(t.error_ratio_for), parse_duration(t.region_unavailable_for)))
        return list(range(first, self.history.end + 1, STEP))

    # -- truth -------------------------------------------------------------------------------------------
    def ratio(self, at: int) -> float:
        """All production services together over the trigger's rate window (a ratio of sums)."""
        env = self.catalog.dr.error_ratio.environment
        window = int(parse_duration(promql.dr_error_ratio_window(self.catalog)))
        rates = [(self.history.request_rate(tr.service, at, env, window),
                  self.history.error_ratio(tr.service, at, env, window))
                 for tr in self.history.traffic if tr.environment == env]
        return sum(r * e for r, e in rates) / sum(r for r, _ in rates)

    def primary_down(self, at: int) -> bool:
        return OUTAGE[0] <= at - self.start < OUTAGE[1]

    def sustained(self, condition: Callable[[int], bool], for_: str, at: int) -> bool:
        """What an alert rule with this `for:` says at `at`: the condition held at every evaluation since."""
        return all(condition(at - k * STEP) for k in range(int(parse_duration(for_)) // STEP + 1))

    def error_fires(self, at: int) -> bool:
        thr = self.catalog.dr.error_ratio.threshold
        return self.sustained(lambda t: self.ratio(t) > thr, conventions.timings(self.catalog).error_ratio_for, at)

    def region_fires(self, at: int) -> bool:
        return self.sustained(self.primary_down, conventions.timings(self.catalog).region_unavailable_for, at)

    def boundaries(self) -> list[int]:
        """Instants worth a `monitor check`: each phase's start and for: boundary, and both sides of every
        change of either truth."""
        t = conventions.timings(self.catalog)
        starts = [a for a, _, _ in BURSTS] + list(OUTAGE)
        out = {self.start + a + d for a in starts for d in (-STEP, 0, int(parse_duration(t.error_ratio_for)))}
        grid = self.grid
        for fires in (self.error_fires, self.region_fires):
            states = [fires(x) for x in grid]
            for i in range(1, len(grid)):
                if states[i] != states[i - 1]:
                    out |= {grid[i - 1], grid[i]}
        return sorted(x for x in out if x in set(grid))


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    cat = load_catalog()
    assert parse_duration(cat.prometheus.evaluation_interval) == STEP == parse_duration(cat.prometheus.scrape_interval)
    end = aligned_end(10)
    start = end - LENGTH
    share = error_share(start)
    env = cat.dr.error_ratio.environment
    traffic = [Traffic(s.name, env, rate=const(2.0 + i), errors=share) for i, s in enumerate(cat.services)]
    traffic.append(Traffic(cat.services[0].name, "staging", rate=const(50.0), errors=const(0.5)))
    outage = (start + OUTAGE[0], start + OUTAGE[1])
    gauges = dr_gauges(cat, primary_up=lambda t: 0.0 if outage[0] <= t < outage[1] else 1.0)
    history = History(cat, end, raw_seconds=LENGTH, recorded_days=None, traffic=traffic, gauges=gauges)
    with served(history, tmp_path_factory.mktemp("dr-agree"), "prometheus") as proc:
        yield Scenario(cat, history, proc.url)


def test_the_scenario_is_the_one_the_dr_plan_cares_about(scenario: Scenario) -> None:
    """The 3-minute burst and the steady 9% never fire; the 6-minute burst does, until it ends."""
    grid, start = scenario.grid, scenario.start
    firing = [t - start for t in grid if scenario.error_fires(t)]
    (a, b, _), window = BURSTS[1], int(parse_duration(promql.dr_error_ratio_window(scenario.catalog)))
    for_ = int(parse_duration(conventions.timings(scenario.catalog).error_ratio_for))
    # Fully inside the rate window from a + window, held for `for:` from then: the burst's last instant.
    assert firing == list(range(a + window + for_, b + 1, STEP)) and firing
    assert any(scenario.region_fires(t) for t in grid)


def _dashboard_panels(catalog: Catalog) -> dict[str, str]:
    dash = generate.build_all(catalog)[conventions.dashboard_uid(catalog.name, "dr")]
    values = variable_values(dash)
    return {p["title"]: interpolate(p["targets"][0]["expr"], values) for p in dash["panels"] if p.get("targets")}


def _range(url: str, expr: str, grid: list[int]) -> dict[int, float]:
    r = requests.get(f"{url}/api/v1/query_range", params={"query": expr, "start": grid[0], "end": grid[-1],
                                                          "step": STEP}, timeout=30)
    assert r.status_code == 200, r.text[:300]
    (series,) = r.json()["data"]["result"]
    return {int(float(t)): float(v) for t, v in series["values"]}


def _instant(url: str, expr: str, at: int) -> float:
    r = requests.get(f"{url}/api/v1/query", params={"query": expr, "time": at}, timeout=30)
    assert r.status_code == 200, r.text[:300]
    (sample,) = r.json()["data"]["result"]
    return float(sample["value"][1])


def test_dashboard_panels_hold_exactly_when_the_alert_semantics_do(scenario: Scenario) -> None:
    panels, grid, url = _dashboard_panels(scenario.catalog), scenario.grid, scenario.url
    thr = scenario.catalog.dr.error_ratio.threshold
    now = _range(url, panels[RATIO_PANEL], grid)
    lowest = _range(url, panels[ERROR_PANEL], grid)
    up = _range(url, panels[REGION_PANEL], grid)
    assert set(now) == set(lowest) == set(up) == set(grid)
    for t in grid:
        assert now[t] == pytest.approx(scenario.ratio(t), rel=1e-9, abs=1e-12), t - scenario.start
        assert (lowest[t] > thr) is scenario.error_fires(t), (t - scenario.start, lowest[t])
        assert (up[t] == 0) is scenario.region_fires(t), (t - scenario.start, up[t])


def test_monitor_check_at_agrees_with_the_panels(scenario: Scenario, capsys: pytest.CaptureFixture[str]) -> None:
    panels, url = _dashboard_panels(scenario.catalog), scenario.url
    thr = scenario.catalog.dr.error_ratio.threshold
    instants = scenario.boundaries()
    assert len(instants) >= 10
    for at in instants:
        _, report = cli(capsys, "--prometheus-url", url, "--at", str(at))
        triggers = {t["name"]: t for t in report["dr_triggers"]}
        held = _instant(url, panels[ERROR_PANEL], at) > thr
        down = _instant(url, panels[REGION_PANEL], at) == 0
        where = f"{at - scenario.start}s into the history"
        assert triggers["error_ratio"]["fired"] is held is scenario.error_fires(at), where
        assert triggers["primary_region_unavailable"]["fired"] is down is scenario.region_fires(at), where
        assert "1m rate" in triggers["error_ratio"]["detail"] and "last 5m" in triggers["error_ratio"]["detail"]


def _input_series(history: History) -> list[dict[str, str]]:
    """The backfilled history itself, as promtool input: every sample of every series, t=0 at its start."""
    out = []
    grid = list(range(history.start, history.end + 1, STEP))
    for family in history.families():
        for name, labels, samples in family.series:
            assert [t for t, _ in samples] == grid, name
            out.append({"series": selector(name, [Matcher(k, v) for k, v in labels.items()]),
                        "values": " ".join(repr(float(v)) for _, v in samples)})
    return out


def test_promtool_alerts_fire_at_the_same_instants(scenario: Scenario, tmp_path: Path) -> None:
    cat = scenario.catalog
    (tmp_path / DR_FILE).write_text(rule_files(cat)[DR_FILE])
    rules = {r["alert"]: r for r in dr_alerts.dr_rules(cat)}
    truth = {conventions.DR_ERROR_RATIO_HIGH: scenario.error_fires,
             conventions.DR_PRIMARY_REGION_UNAVAILABLE: scenario.region_fires}
    tests = [{"eval_time": f"{at - scenario.start}s", "alertname": name,
              "exp_alerts": [_expected(rules[name], {})] if fires(at) else []}
             for at in scenario.grid for name, fires in truth.items()]
    assert any(t["exp_alerts"] for t in tests)
    test_file = tmp_path / "agree.test.yml"
    test_file.write_text(to_yaml({
        "rule_files": [DR_FILE], "evaluation_interval": cat.prometheus.evaluation_interval,
        "tests": [{"interval": f"{STEP}s", "input_series": _input_series(scenario.history),
                   "alert_rule_test": tests}]}))
    result = promtool.test_rules(test_file, cwd=tmp_path)
    assert result.ok, result.output[-3000:]
