"""Every PromQL expression of every dashboard runs on a real Prometheus loaded with synthetic history.

One Prometheus holds the history of all three catalogs (their metric and label names differ, or their
services do). Grafana's variables are replaced the way Grafana would (All -> the variable's allValue)
and each expression is sent as an instant query at the last sample (explicit `time`). The overview is
also compared, number for number, with the DR plan's own PromQL.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from zarish_obs import conventions, openmetrics, procs
from zarish_obs.catalog import Catalog
from zarish_obs.dashboards import generate

pytestmark = pytest.mark.real

STEP = 15
HISTORY = 3600
RATE = 10.0  # requests per second per service and environment
ERROR_SHARE = 0.02
BUCKETS = ((0.1, 0.5), (0.25, 0.8), (0.5, 0.95), (1.0, 0.99), (2.5, 1.0), (math.inf, 1.0))
SLO_RATIOS = {"availability": 0.0005, "latency": 0.004}
RATIO_SLI = 0.002  # a custom ratio SLI's recorded error ratio
BACKUP_AGE = 7200
LAG = 12.0

# The DR plan's overview queries, verbatim (deployment-architecture.md, "Grafana Dashboard Configuration").
DR_PLAN = {
    "request_rate": "sum(rate(http_requests_total[5m])) by (service)",
    "error_ratio": 'sum(rate(http_requests_total{status=~"5.."}[5m])) by (service) / '
                   "sum(rate(http_requests_total[5m])) by (service)",
    "p95": "histogram_quantile(0.95, sum(rate(http_request_duration_seconds_bucket[5m])) by (le, service))",
    "p50": "histogram_quantile(0.50, sum(rate(http_request_duration_seconds_bucket[5m])) by (le, service))",
}


def _le(bound: float) -> str:
    return "+Inf" if math.isinf(bound) else repr(bound)


def families(cat: Catalog, end: int) -> list[openmetrics.Family]:
    """Raw counters and histograms, the recorded series the SLO panels read, and the DR inputs."""
    m = cat.metrics
    times = openmetrics.grid(end - HISTORY, end, STEP)
    req = openmetrics.Family(m.requests_total.removesuffix("_total"), "counter")
    hist = openmetrics.Family(m.latency_histogram, "histogram")
    ratios = {w: openmetrics.Family(conventions.slo_error_ratio(w), "gauge")
              for w in conventions.ratio_windows(cat)}
    for env in cat.environments:
        for svc in cat.services:
            labels = {m.environment_label: env.name, m.service_label: svc.name}
            req.add(m.requests_total, {**labels, m.status_label: "200"},
                    openmetrics.counter(times, lambda t: RATE * (1 - ERROR_SHARE)))
            req.add(m.requests_total, {**labels, m.status_label: "500"},
                    openmetrics.counter(times, lambda t: RATE * ERROR_SHARE))
            for bound, share in BUCKETS:
                hist.add(f"{m.latency_histogram}_bucket", {**labels, "le": _le(bound)},
                         openmetrics.counter(times, lambda t, s=share: RATE * s))
            hist.add(f"{m.latency_histogram}_count", labels, openmetrics.counter(times, lambda t: RATE))
            hist.add(f"{m.latency_histogram}_sum", labels, openmetrics.counter(times, lambda t: RATE * 0.2))
            for kind, _ in svc.slo_items():
                for fam in ratios.values():
                    fam.add(fam.name, {**labels, "slo": kind}, [(t, SLO_RATIOS.get(kind, RATIO_SLI)) for t in times])
    dr = cat.dr
    gauges = [
        (dr.replication_lag.metric, {"instance": "postgres-0"}, LAG),
        (dr.backup.metric, {}, float(end - BACKUP_AGE)),
        (dr.manual_trigger.metric, {}, 0.0),
        ("ALERTS", {"alertname": "SLOErrorBudgetBurn", "alertstate": "firing", "severity": "page",
                    m.service_label: cat.services[0].name, m.environment_label: cat.environments[0].name}, 1.0),
    ]
    gauges += [(dr.primary_region_unavailable.metric, {"region": r.name, "instance": url}, 1.0)
               for r in cat.regions for url in r.probes]
    out: dict[str, openmetrics.Family] = {}
    for name, labels, value in gauges:
        out.setdefault(name, openmetrics.Family(name, "gauge")).add(name, labels, [(t, value) for t in times])
    return [req, hist, *ratios.values(), *out.values()]


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory, default_catalog: Catalog,
               other_catalogs: dict[str, Catalog]) -> Iterator[tuple[str, int]]:
    work = tmp_path_factory.mktemp("dash-prom")
    end = (int(time.time()) // 3600) * 3600 - 3600  # on the grid, safely in the past
    merged: dict[str, openmetrics.Family] = {}
    seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    for cat in [default_catalog, *other_catalogs.values()]:
        for fam in families(cat, end):
            into = merged.setdefault(fam.name, openmetrics.Family(fam.name, fam.type))
            for name, labels, samples in fam.series:
                key = (name, tuple(sorted(labels.items())))
                if key not in seen:  # catalogs sharing metric, service and environment names write them once
                    seen.add(key)
                    into.series.append((name, labels, samples))
    om = openmetrics.write(work / "history.om", merged.values())
    openmetrics.backfill(om, work / "data")
    config = work / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 15s\n  evaluation_interval: 15s\n")
    proc = procs.start_prometheus(config, work / "data")
    try:
        yield proc.url, end
    finally:
        proc.stop()


def query(url: str, expr: str, at: int) -> list[dict[str, Any]]:
    r = requests.get(f"{url}/api/v1/query", params={"query": expr, "time": at}, timeout=30)
    assert r.status_code == 200, f"{expr}: HTTP {r.status_code} {r.text[:300]}"
    body = r.json()
    assert body["status"] == "success", f"{expr}: {body}"
    return body["data"]["result"]


def variable_values(dashboard: dict[str, Any]) -> dict[str, str]:
    """What Grafana interpolates into a query for each variable's default selection."""
    values = {}
    for var in dashboard["templating"]["list"]:
        current = var.get("current", {}).get("value")
        if current == "$__all":
            values[var["name"]] = var["allValue"]
        elif isinstance(current, str):
            values[var["name"]] = current
    return values


def interpolate(expr: str, values: dict[str, str]) -> str:
    def sub(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        assert name in values, f"unknown variable ${name} in {expr}"
        return values[name]

    out = re.sub(r"\$\{(\w+)\}|\$(\w+)", sub, expr)
    assert "$" not in out
    return out


def expressions(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            yield f"{panel['title']}/{target['refId']}", target["expr"]


def test_every_panel_query_runs_and_returns_data(prometheus: tuple[str, int], default_catalog: Catalog,
                                                  other_catalogs: dict[str, Catalog]) -> None:
    url, end = prometheus
    checked = 0
    for cat in [default_catalog, *other_catalogs.values()]:
        for uid, dash in generate.build_all(cat).items():
            values = variable_values(dash)
            for where, expr in expressions(dash):
                result = query(url, interpolate(expr, values), end)
                assert result, f"{uid}: {where}: no data for {interpolate(expr, values)}"
                for sample in result:
                    assert math.isfinite(float(sample["value"][1])), f"{uid}: {where}: {sample}"
                checked += 1
    assert checked > 100


def test_variable_queries_find_their_values(prometheus: tuple[str, int], default_catalog: Catalog,
                                            other_catalogs: dict[str, Catalog]) -> None:
    """`label_values(<selector>, <label>)` is answered by Grafana from the series API: check the selector
    matches series that carry the label, with the other variables at their defaults."""
    url, end = prometheus
    for cat in [default_catalog, *other_catalogs.values()]:
        for dash in generate.build_all(cat).values():
            values = variable_values(dash)
            for var in dash["templating"]["list"]:
                if var["type"] != "query":
                    continue
                m = re.fullmatch(r"label_values\((.+), (\w+)\)", var["query"])
                assert m, var["query"]
                r = requests.get(f"{url}/api/v1/series", params={"match[]": interpolate(m.group(1), values),
                                                                 "start": end - 600, "end": end}, timeout=30)
                found = {s.get(m.group(2)) for s in r.json()["data"]}
                assert r.status_code == 200 and found - {None}, f"{dash['uid']}: {var['name']}"
                if var["name"] == "environment":
                    assert {e.name for e in cat.environments} <= found


def _by_service(result: list[dict[str, Any]], label: str = "service") -> dict[str, float]:
    return {s["metric"][label]: float(s["value"][1]) for s in result}


def test_overview_matches_the_dr_plans_promql(prometheus: tuple[str, int], default_catalog: Catalog) -> None:
    """With every environment and service selected, our overview answers exactly what the DR plan's
    queries answer (plus zero instead of NaN for services without traffic, which the data has none of)."""
    url, end = prometheus
    dash = generate.build_all(default_catalog)["zarish-his-overview"]
    values = {**variable_values(dash), "environment": ".+"}
    panels = {p["title"]: [t["expr"] for t in p["targets"]] for p in dash["panels"]}
    pairs = {
        "request_rate": panels["Request Rate"][0],
        "error_ratio": panels["Error Rate"][0],
        "p95": panels["Response Time"][0],
        "p50": panels["Response Time"][1],
    }
    # minimal.yaml and ratio.yaml share the metric names (this history gives every service request counters)
    services = {s.name for s in default_catalog.services} | {"records", "payments"}
    for name, expr in pairs.items():
        plan = _by_service(query(url, DR_PLAN[name], end))
        mine = _by_service(query(url, interpolate(expr, values), end))
        assert set(plan) == set(mine) == services, name
        for svc in plan:
            assert mine[svc] == pytest.approx(plan[svc], rel=1e-9), f"{name}/{svc}"
    rate = _by_service(query(url, interpolate(pairs["request_rate"], values), end))
    assert rate["billing"] == pytest.approx(RATE * len(default_catalog.environments), rel=1e-6)
    ratio = _by_service(query(url, interpolate(pairs["error_ratio"], values), end))
    assert ratio["billing"] == pytest.approx(ERROR_SHARE, rel=1e-6)
    p95 = _by_service(query(url, interpolate(pairs["p95"], values), end))
    assert 0.5 <= p95["billing"] <= 1.0  # 95% of requests are in the 0.5s bucket


def test_slo_and_dr_panels_show_the_synthetic_state(prometheus: tuple[str, int], default_catalog: Catalog) -> None:
    url, end = prometheus
    dashboards = generate.build_all(default_catalog)
    slo = dashboards["zarish-his-slo"]
    values = variable_values(slo)
    panels = {(p["title"], p["gridPos"]["y"]): p for p in slo["panels"]}
    first_row = min(y for (title, y) in panels if title == "Availability SLI (30d)")
    sli = panels[("Availability SLI (30d)", first_row)]["targets"][0]["expr"]
    assert float(query(url, interpolate(sli, values), end)[0]["value"][1]) == pytest.approx(1 - 0.0005)
    budget = panels[("Availability error budget left", first_row)]["targets"][0]["expr"]
    svc = default_catalog.services[0]
    expected = 1 - 0.0005 / svc.slos.availability.error_budget
    assert float(query(url, interpolate(budget, values), end)[0]["value"][1]) == pytest.approx(expected)
    dr = {p["title"]: p for p in dashboards["zarish-his-dr"]["panels"]}
    value = lambda title: float(query(url, dr[title]["targets"][0]["expr"], end)[0]["value"][1])  # noqa: E731
    assert value("Last successful backup age") == pytest.approx(BACKUP_AGE)
    assert value("Recoverable point age") == min(LAG, BACKUP_AGE)  # replication holds the newest point
    assert value("Replication lag") == LAG
    assert value("Manual DR trigger") == 0
    assert value("Primary region (dhaka) up within 30m") == 1
    # The DR error ratio is not recorded: the trigger panels read the raw counters (every environment at 2%).
    assert value("Error ratio (1m rate), lowest over 5m") == pytest.approx(ERROR_SHARE)
    assert value("production error ratio (1m rate) vs DR trigger") == pytest.approx(ERROR_SHARE)
    regions = {s["metric"]["region"] for s in query(url, dr["Region probe success"]["targets"][0]["expr"], end)}
    assert {"dhaka", "chittagong"} <= regions
