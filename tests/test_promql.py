"""PromQL building: escaping round-trips through a real Prometheus, and every expression parses there."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zarish_obs import openmetrics, procs, promql
from zarish_obs.catalog import Catalog
from zarish_obs.promql import Matcher, escape_label_value, regex_literal, selector

TRICKY = ['plain', 'a"b', 'back\\slash', 'trail\\', 'new\nline', '"} or vector(1) #', 'x", service=~".*',
          'ünïcödé-ঢাকা', '.*', 'a|b', '(paren)', '$1', '\\"', "tab\there", ""]
END = (int(time.time()) // 60) * 60 - 600
label_values = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                       max_size=40)


@pytest.fixture(scope="module")
def prom(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    work = tmp_path_factory.mktemp("promql")
    fam = openmetrics.Family("escape_probe", "gauge")
    for i, value in enumerate(TRICKY):
        fam.add("escape_probe", {"v": value, "i": str(i)}, [(END - 60, i), (END, i)])
    openmetrics.backfill(openmetrics.write(work / "h.om", [fam]), work / "data")
    cfg = work / "prometheus.yml"
    cfg.write_text("global: {scrape_interval: 15s}\n")
    proc = procs.start_prometheus(cfg, work / "data")
    try:
        yield proc.url
    finally:
        proc.stop()


def _query(url: str, expr: str) -> list[dict]:
    r = requests.get(f"{url}/api/v1/query", params={"query": expr, "time": END}, timeout=10)
    assert r.status_code == 200, (expr, r.text)
    return r.json()["data"]["result"]


def test_backfilled_values_survive(prom: str) -> None:
    got = {s["metric"].get("v", "") for s in _query(prom, "escape_probe")}
    assert got == set(TRICKY)


@pytest.mark.parametrize("value", TRICKY)
def test_equality_and_regex_matchers_select_exactly_one_series(prom: str, value: str) -> None:
    for m in (Matcher("v", value), Matcher("v", regex_literal(value), "=~")):
        result = _query(prom, selector("escape_probe", [m]))
        assert [s["metric"].get("v", "") for s in result] == [value], m.render()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(label_values)
def test_any_string_round_trips_through_prometheus(prom: str, value: str) -> None:
    """Prometheus's own parser reads back exactly the string we escaped, and it cannot add a series."""
    # label_replace expands $-references in its replacement; `$$` is its own escape for a literal `$`.
    expr = f'label_replace(vector(1), "v", "{escape_label_value(value.replace("$", "$$"))}", "", "")'
    result = _query(prom, expr)
    assert len(result) == 1
    assert result[0]["metric"].get("v", "") == value
    injected = _query(prom, selector("escape_probe", [Matcher("v", value)]))
    assert all(s["metric"].get("v", "") == value for s in injected)


@settings(max_examples=200, deadline=None)
@given(label_values)
def test_regex_literal_matches_only_itself(value: str) -> None:
    import re

    pattern = re.compile(regex_literal(value), re.DOTALL)
    assert pattern.fullmatch(value)
    assert not pattern.fullmatch(value + "x")


def test_every_expression_parses_in_prometheus(prom: str, default_catalog: Catalog,
                                               other_catalogs: dict[str, Catalog]) -> None:
    for cat in [default_catalog, *other_catalogs.values()]:
        s = promql.signals(cat)
        exprs = [s.request_rate(), s.error_ratio(), s.latency_quantile(0.5), s.latency_quantile(0.95),
                 s.error_ratio(group=()), s.slo_error_ratio_recorded("30d"), s.recorded_events("1h"),
                 promql.dr_error_ratio(cat), promql.dr_replication_lag(cat), promql.dr_primary_probe_success(cat),
                 promql.region_probe_success(cat), promql.dr_manual_trigger(cat), promql.backup_age_seconds(cat),
                 promql.metric_absent(cat, cat.services[0].name, cat.environments[0].name)]
        for kind in ("availability", "latency"):
            for expr in (s.slo_total(kind, cat.services, "5m"), s.slo_bad(kind, cat.services, "5m"),
                         s.slo_error_ratio_raw(kind, cat.services, "1h")):
                if expr is not None:
                    exprs.append(expr)
        for expr in exprs:
            _query(prom, expr)


def test_zero_traffic_ratio_is_zero_not_nan(tmp_path: Path) -> None:
    """safe_ratio: 0 requests -> 0, not NaN; no errors series at all -> 0; errors -> the ratio."""
    fam = openmetrics.Family("http_requests", "counter")
    times = openmetrics.grid(END - 900, END, 15)
    labels = {"service": "idle", "status": "200", "environment": "production"}
    fam.add("http_requests_total", labels, [(t, 5) for t in times])
    fam.add("http_requests_total", {**labels, "service": "ok"}, openmetrics.counter(times, lambda t: 2.0))
    fam.add("http_requests_total", {**labels, "service": "bad"}, openmetrics.counter(times, lambda t: 3.0))
    fam.add("http_requests_total", {**labels, "service": "bad", "status": "503"},
            openmetrics.counter(times, lambda t: 1.0))
    openmetrics.backfill(openmetrics.write(tmp_path / "h.om", [fam]), tmp_path / "data")
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text("global: {scrape_interval: 15s}\n")
    from zarish_obs.catalog import load_catalog

    s = promql.signals(load_catalog())
    with procs.running(procs.start_prometheus(cfg, tmp_path / "data")) as p:
        result = {r["metric"]["service"]: float(r["value"][1]) for r in _query(p.url, s.error_ratio())}
    assert result["idle"] == 0.0 and result["ok"] == 0.0
    assert result["bad"] == pytest.approx(0.25, rel=1e-6)
