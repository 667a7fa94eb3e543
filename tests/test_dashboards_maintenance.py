"""Maintenance windows on the overview and SLO dashboards: one region annotation per window.

The real-Prometheus part checks each annotation's expression, as Grafana would send it, over five days of
1970 (where the test catalog puts a window of every kind) against `zarish_obs.maintenance`'s own openings:
a series for exactly the covered and selected (environment, service) pairs, at exactly the instants the
window is open. It also records the generated maintenance rule over those days
(`promtool tsdb create-blocks-from rules`), to check the annotations against what the alerts mute.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.golden import assert_golden
from tests.test_dashboards_prometheus import interpolate, variable_values
from zarish_obs import conventions, maintenance, maintenance_promql, procs
from zarish_obs.catalog import Catalog, MaintenanceWindow
from zarish_obs.dashboards import generate, schema_gate
from zarish_obs.promql import Matcher, selector
from zarish_obs.writers import to_yaml

KINDS = ("overview", "slo")  # the dashboards that show windows
START, END, STEP = 0, 5 * 86400, 60  # 1970-01-01 to 1970-01-06 (UTC): every window of the test catalog but one


@pytest.fixture(scope="module")
def cat(other_catalogs: dict[str, Catalog]) -> Catalog:
    return other_catalogs["maintenance"]


def _annotations(dashboard: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["name"]: a for a in dashboard["annotations"]["list"] if not a.get("builtIn")}


def _window(cat: Catalog, name: str) -> MaintenanceWindow:
    return next(w for w in cat.maintenance if f"Maintenance: {w.name}" == name)


def test_golden_maintenance_dashboards(cat: Catalog) -> None:
    for name, text in generate.render_json(generate.build_all(cat)).items():
        assert_golden(f"dashboards-maintenance/{name}", text)


def test_one_annotation_per_window_on_overview_and_slo_and_the_schema_gate_passes(
        cat: Catalog, default_catalog: Catalog) -> None:
    dashboards = generate.build_all(cat)
    for kind in conventions.DASHBOARD_KINDS:
        dash = dashboards[conventions.dashboard_uid(cat.name, kind)]
        assert schema_gate.problems(dash) == [], kind
        annotations = _annotations(dash)
        if kind not in KINDS:
            assert annotations == {}, kind
            continue
        assert list(annotations) == [f"Maintenance: {w.name}" for w in cat.maintenance]
        assert dash["annotations"]["list"][0]["builtIn"] == 1  # Grafana's own annotations stay first
        for name, a in annotations.items():
            window = _window(cat, name)
            assert a["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            assert a["enable"] and not a["hide"]
            assert a["iconColor"] == ("purple" if window.exclude_from_slo else "blue"), name
            assert a["expr"] == maintenance_promql.annotation(cat, window, [
                Matcher("environment", "$environment", "=~"),
                *([Matcher("service", "$service", "=~")] if kind == "overview" else [])])
            assert "$environment" in a["expr"] and ("$service" in a["expr"]) == (kind == "overview"), name
    for dash in generate.build_all(default_catalog).values():  # the built-in catalog has no window
        assert _annotations(dash) == {}


# -- real Prometheus -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory, cat: Catalog) -> Iterator[str]:
    """A Prometheus serving the maintenance series the generated rule records over [START, END]."""
    recording = pytest.importorskip("zarish_obs.alerts.recording")
    work = tmp_path_factory.mktemp("dash-maint")
    rules = [r for g in recording.recording_groups(cat) for r in g["rules"]
             if r.get("record") == conventions.MAINTENANCE_ACTIVE]
    assert len(rules) == 1
    rule_file = work / "maintenance.rules.yml"
    rule_file.write_text(to_yaml({"groups": [{"name": "maintenance", "interval": f"{STEP}s", "rules": rules}]}))
    config = work / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 15s\n  evaluation_interval: 15s\n")
    blocks = work / "blocks"
    with procs.running(procs.start_prometheus(config, work / "empty")) as source:
        done = subprocess.run([procs.binary("promtool"), "tsdb", "create-blocks-from", "rules", "--quiet",
                               f"--url={source.url}", f"--start={START}", f"--end={END}",
                               f"--output-dir={blocks}", str(rule_file)],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    proc = procs.start_prometheus(config, blocks)
    try:
        yield proc.url
    finally:
        proc.stop()


def query_range(url: str, expr: str) -> dict[tuple[str, str], set[int]]:
    """Per (environment, service): the grid instants at which `expr` has a sample of value 1."""
    r = requests.get(f"{url}/api/v1/query_range", params={"query": expr, "start": START, "end": END,
                                                          "step": STEP}, timeout=60)
    assert r.status_code == 200, f"{expr}: HTTP {r.status_code} {r.text[:300]}"
    out: dict[tuple[str, str], set[int]] = {}
    for series in r.json()["data"]["result"]:
        key = (series["metric"]["environment"], series["metric"]["service"])
        assert key not in out, f"two series for {key}: {expr}"
        assert {v for _, v in series["values"]} == {"1"}
        out[key] = {int(float(t)) for t, _ in series["values"]}
    return out


def open_instants(cat: Catalog, window: MaintenanceWindow) -> set[int]:
    """The grid instants at which the window is open, by the PromQL's Python twin and by the occurrences."""
    instants = {t for t in range(START, END + 1, STEP) if maintenance_promql.open_at(cat, window, t)}
    truth = maintenance.occurrences(cat, window, START, END + 1)
    assert instants == {t for t in range(START, END + 1, STEP) if t >= conventions.MAINTENANCE_SINCE
                        and any(o.start <= t < o.end for o in truth)}
    return instants


def expected(instants: set[int], cat: Catalog, window: MaintenanceWindow, keep: set[tuple[str, str]]
             ) -> dict[tuple[str, str], set[int]]:
    pairs = {(e, s) for e in maintenance.environments(cat, window) for s in maintenance.services(cat, window)}
    return {pair: instants for pair in pairs & keep} if instants else {}


SELECTIONS = [  # what the user picked: (environment, service) as Grafana interpolates them
    (".+", ".+"),
    ("production", ".+"),
    ("(staging)", "(billing)"),
    ("production", "records"),
]


@pytest.mark.real
def test_each_annotation_marks_exactly_the_open_minutes_of_its_window_for_the_selected_services(
        prometheus: str, cat: Catalog) -> None:
    dashboards = generate.build_all(cat)
    pairs = {(e.name, s.name) for e in cat.environments for s in cat.services}
    seen_open = set()
    instants = {w.name: open_instants(cat, w) for w in cat.maintenance}
    for kind in KINDS:
        dash = dashboards[conventions.dashboard_uid(cat.name, kind)]
        for env, svc in SELECTIONS:
            values = {**variable_values(dash), "environment": env, "service": svc}
            keep = {(e, s) for e, s in pairs if _full(env, e) and (kind == "slo" or _full(svc, s))}
            for name, a in _annotations(dash).items():
                window = _window(cat, name)
                want = expected(instants[window.name], cat, window, keep)
                got = query_range(prometheus, interpolate(a["expr"], values))
                assert got == want, f"{kind} {env}/{svc}: {name}"
                seen_open |= {name for v in got.values() if v}
    # every window but the one in 2031 opens in the five days, and the test saw each region
    assert seen_open == {f"Maintenance: {w.name}" for w in cat.maintenance if w.name != "datacentre-move"}


def _full(pattern: str, value: str) -> bool:
    return re.fullmatch(pattern, value) is not None


@pytest.mark.real
@pytest.mark.parametrize("matchers", [
    [Matcher("environment", ".+", "=~"), Matcher("service", ".+", "=~")],
    [Matcher("environment", "production"), Matcher("service", "rec.*", "=~")],
    [Matcher("environment", "staging", "!=")],
    [Matcher("service", "billing|nothing", "!~"), Matcher("environment", "prod", "=~")],
    [Matcher("service", 'a"b\\c.')],
])
def test_matching_narrows_a_computed_vector_as_a_selector_would(prometheus: str, cat: Catalog,
                                                                matchers: list[Matcher]) -> None:
    recorded = conventions.MAINTENANCE_ACTIVE
    assert query_range(prometheus, maintenance_promql.matching(recorded, matchers)) == \
        query_range(prometheus, selector(recorded, matchers))


@pytest.mark.real
def test_annotations_agree_with_the_recorded_series_the_alerts_read_but_for_its_evaluation_lag(
        prometheus: str, cat: Catalog) -> None:
    """The union of the SLO-pausing windows' regions is the recorded maintenance series, except just after an
    edge: the rule group evaluates at its own offset within its interval, and the backfilled recording has no
    staleness markers, so it starts up to one interval late and ends up to the 5-minute lookback late."""
    overview = generate.build_all(cat)[conventions.dashboard_uid(cat.name, "overview")]
    values = {**variable_values(overview), "environment": ".+", "service": ".+"}
    regions: dict[tuple[str, str], set[int]] = {}
    starts, ends = set(), set()
    for name, a in _annotations(overview).items():
        window = _window(cat, name)
        if window.exclude_from_slo:
            for pair, instants in query_range(prometheus, interpolate(a["expr"], values)).items():
                regions.setdefault(pair, set()).update(instants)
            for o in maintenance.occurrences(cat, window, conventions.MAINTENANCE_SINCE, END + 1):
                starts.add(o.start)
                ends.add(o.end)
    recorded = query_range(prometheus, conventions.MAINTENANCE_ACTIVE)
    assert set(recorded) == set(regions) and regions
    for pair, instants in regions.items():
        assert len(instants & recorded[pair]) > len(instants ^ recorded[pair]), pair
        assert all(any(0 <= t - s < STEP for s in starts) for t in instants - recorded[pair]), pair
        assert all(any(0 <= t - e <= 300 for e in ends) for t in recorded[pair] - instants), pair


def test_matching_without_matchers_is_the_expression_itself() -> None:
    assert maintenance_promql.matching("up", []) == "up"
