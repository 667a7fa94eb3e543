"""Pure parts of the monitor: the query plan, the evaluation rules, the JSON guard, the table, --at."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
import yaml

from tests.conftest import REPO
from zarish_obs import conventions
from zarish_obs.catalog import Catalog, load_catalog, parse_catalog
from zarish_obs.errors import ZarishError
from zarish_obs.monitor.check import parse_at
from zarish_obs.monitor.client import QueryError, Sample, parse_header, safe_url, samples
from zarish_obs.monitor.evaluate import build_report, worst
from zarish_obs.monitor.queries import (
    HOUR_HISTORY,
    PROBE_LABEL,
    per_service_plan,
    plan,
    probed_source,
    ratio_windows,
    recorded_probe,
)
from zarish_obs.monitor.report import render_table, to_json


def big_catalog(n: int) -> Catalog:
    data = yaml.safe_load((REPO / "zarish_obs/data/default_catalog.yaml").read_text())
    template = data["services"][0]
    data["services"] = [{**template, "name": f"svc-{i:04d}"} for i in range(n)]
    return parse_catalog(yaml.safe_dump(data))


@pytest.mark.parametrize("source", ["recorded", "raw"])
def test_queries_per_check_do_not_grow_with_services(source: str) -> None:
    counts = {n: len(plan(big_catalog(n), "production", source)) for n in (1, 10, 1000)}
    assert len(set(counts.values())) == 1, counts
    assert counts[1] == 22  # 4 golden signals, 8 ratio windows, 4 event windows, 6 DR/RPO (+1 probe = 23)
    per_service = len(per_service_plan(big_catalog(10), "production", "svc-0001", source))
    assert per_service > 20  # what a one-service-at-a-time monitor sends for EACH service


def test_every_per_service_signal_is_one_grouped_query(default_catalog: Catalog) -> None:
    for q in plan(default_catalog, "production", "recorded"):
        if q.name.startswith(("dr:", "rpo:")):
            continue
        assert 'environment="production"' in q.expr, q.name
        if q.name.startswith("slo_") and conventions.is_long(q.name.split(":")[1]):
            assert conventions.slo_events(q.name.split(":")[1]) in q.expr
        else:
            assert "by (environment, service" in q.expr or "by (le, environment, service)" in q.expr, q.name


def test_custom_label_names_are_used(other_catalogs: dict[str, Catalog]) -> None:
    cat = other_catalogs["custom-labels"]
    exprs = " ".join(q.expr for q in plan(cat, "prod", "raw")) + recorded_probe(cat, "prod").expr
    assert "api_requests_total" in exprs and 'env="prod"' in exprs and "by (env, app)" in exprs
    assert "http_requests_total" not in exprs and "service=" not in exprs and "environment=" not in exprs
    assert "28d" in ratio_windows(cat)
    assert "[2m]" in next(q.expr for q in plan(cat, "prod", "raw") if q.name == "dr:error_ratio")  # 4 x 30s


def test_availability_only_catalog_sends_no_latency_slo_queries(other_catalogs: dict[str, Catalog]) -> None:
    exprs = [q.expr for q in plan(other_catalogs["minimal"], "production", "raw") if q.name.startswith("slo_")]
    assert exprs and not any("_bucket" in e for e in exprs)


# -- evaluation rules on hand-made answers ------------------------------------------------------------------
def answers(cat: Catalog, ratio: float, events: float = 1e6, rate: float = 1.0, source: str = "raw",
            drop: tuple[str, ...] = ()) -> dict[str, Any]:
    """Every query answered: each service at `rate` req/s, every SLO window at error ratio `ratio`."""
    out: dict[str, Any] = {}
    for q in plan(cat, "production", source):
        if q.name in drop:
            out[q.name] = QueryError("HTTP 422: boom", "query")
            continue
        if q.name.startswith("slo_"):
            value = ratio if q.name.startswith("slo_ratio") else events
            out[q.name] = [Sample({"environment": "production", "service": s.name, "slo": k}, value)
                           for s in cat.services for k, _ in s.slo_items()]
        elif q.name == "request_rate":
            out[q.name] = [Sample({"environment": "production", "service": s.name}, rate) for s in cat.services]
        elif q.name.startswith("latency") or q.name == "error_ratio":
            value = (math.nan if rate == 0 else 0.1) if q.name.startswith("latency") else 0.0
            out[q.name] = [Sample({"environment": "production", "service": s.name}, value) for s in cat.services]
        elif q.name.startswith("rpo:"):
            out[q.name] = [Sample({"source": "replication"}, 1.0), Sample({"source": "backup"}, 60.0)]
        else:
            out[q.name] = [Sample({}, {"dr:error_ratio": 0.0, "dr:replication_lag": 1.0,
                                       "dr:primary_region_unavailable": 1.0, "dr:manual": 0.0}[q.name])]
    return out


def report_for(cat: Catalog, results: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return build_report(cat, "production", results, source="raw", at=1795000000, prometheus_url="http://p", **kw)


@pytest.fixture
def one_service() -> Catalog:
    return parse_catalog((REPO / "tests/data/catalogs/minimal.yaml").read_text())


def test_page_needs_both_windows_strictly_above_the_factor(one_service: Catalog) -> None:
    budget = one_service.services[0].slos.availability.error_budget  # type: ignore[union-attr]
    factor = min(t.factor("28d") for t in conventions.TIERS if t.severity == "page")
    at_threshold = report_for(one_service, answers(one_service, factor * budget))
    assert at_threshold["services"][0]["slos"][0]["alerts"] == ["ticket"]  # only the lower tiers hold
    above = report_for(one_service, answers(one_service, factor * budget * 1.001))
    assert above["services"][0]["slos"][0]["alerts"] == ["page", "ticket"] and above["exit_code"] == 2


def test_min_events_boundary(one_service: Catalog) -> None:
    min_events = one_service.alerting.min_events
    burning = 0.5
    assert report_for(one_service, answers(one_service, burning, events=min_events))["exit_code"] == 2
    below = report_for(one_service, answers(one_service, burning, events=min_events - 1))
    assert below["services"][0]["slos"][0]["alerts"] == []
    assert below["status"] == "warning"  # no alert on too few requests, but the budget is gone


def test_budget_below_a_quarter_is_a_warning(one_service: Catalog) -> None:
    budget = one_service.services[0].slos.availability.error_budget  # type: ignore[union-attr]
    ok = report_for(one_service, answers(one_service, 0.74 * budget, events=0))
    low = report_for(one_service, answers(one_service, 0.76 * budget, events=0))
    assert (ok["status"], low["status"]) == ("ok", "warning")
    assert math.isclose(low["services"][0]["slos"][0]["error_budget_remaining"], 0.24)


def test_zero_traffic_gives_no_nan_and_no_alarm(one_service: Catalog) -> None:
    report = report_for(one_service, answers(one_service, 0.0, events=0, rate=0.0))
    svc = report["services"][0]
    assert report["status"] == "ok" and svc["latency_p95_seconds"] is None and svc["request_rate"] == 0
    json.loads(to_json(report))


def test_failed_query_means_unknown_but_the_rest_is_evaluated(one_service: Catalog) -> None:
    report = report_for(one_service, answers(one_service, 0.0, drop=("slo_ratio:1h",)))
    assert report["status"] == "unknown" and report["errors"] == ["slo_ratio:1h: HTTP 422: boom"]
    s = report["services"][0]["slos"][0]
    assert s["burn_rates"]["1h"] is None and s["burn_rates"]["5m"] == 0 and s["sli"] == 100


def test_critical_beats_unknown_beats_warning() -> None:
    assert worst(["ok", "warning", "unknown"]) == "unknown"
    assert worst(["unknown", "critical", "warning"]) == "critical"
    assert worst([]) == "ok"


def test_nan_and_inf_never_reach_the_json(one_service: Catalog) -> None:
    results = answers(one_service, 0.0)
    results["request_rate"] = samples([{"metric": {"environment": "production", "service": "records"},
                                        "value": [1, "NaN"]}])
    results["dr:replication_lag"] = samples([{"metric": {}, "value": [1, "+Inf"]}])
    report = report_for(one_service, results)
    assert report["services"][0]["request_rate"] is None and report["status"] == "unknown"
    json.loads(to_json(report))
    with pytest.raises(ValueError):
        to_json({"x": math.nan})


def test_table_is_readable_and_uncoloured_off_a_terminal(default_catalog: Catalog) -> None:
    report = report_for(default_catalog, answers(default_catalog, 0.0), manual_reason="drill")
    text = render_table(report)
    assert "\033[" not in text
    assert "VERDICT: CRITICAL (exit 2) - FAILOVER RECOMMENDED" in text and "1. Verify DR cluster health" in text
    assert sum(1 for line in text.splitlines() if line.startswith(("patient-registry", "billing"))) == 2
    assert "\033[31;1m" in render_table(report, colour=True)


# -- small helpers -------------------------------------------------------------------------------------------
def test_parse_at() -> None:
    assert parse_at("1795000000") == 1795000000
    assert parse_at("1795000000.5") == 1795000000.5
    assert parse_at("2026-11-20T00:00:00Z") == parse_at("2026-11-20T06:00:00+06:00")
    assert parse_at(None) is None
    for bad in ("now", "2026-11-20", "2026-11-20T00:00:00", "-5"):
        with pytest.raises(ZarishError) as exc:
            parse_at(bad)
        assert exc.value.exit_code == 64


def test_headers_and_urls() -> None:
    assert parse_header("X-Scope-OrgID:  tenant-1 ") == ("X-Scope-OrgID", "tenant-1")
    for bad in ("nocolon", ": value", "Bad Name: x"):
        with pytest.raises(ZarishError):
            parse_header(bad)
    assert safe_url("https://u:p@mimir.example.org/prometheus") == "https://mimir.example.org/prometheus"
    assert safe_url("http://127.0.0.1:9090") == "http://127.0.0.1:9090"


def test_default_catalog_loads() -> None:
    assert load_catalog().dr.error_ratio.environment == "production"


def test_golden_query_plan(default_catalog: Catalog) -> None:
    """Every query one check sends for the built-in catalog, for review in diffs."""
    from tests.golden import assert_golden

    for source in ("recorded", "raw"):
        queries = [recorded_probe(default_catalog, "production"), *plan(default_catalog, "production", source)]
        assert_golden(f"monitor/queries-{source}.txt", "".join(f"# {q.name}\n{q.expr}\n\n" for q in queries))


def test_probed_source_needs_every_kinds_long_counts_and_hours_a_window_old(default_catalog: Catalog) -> None:
    """`recorded` only with every long window's counts and the hour-history marker for every kind; the 5-minute
    increases alone (older rules, a young hourly history) give `tiles`; nothing recorded gives `raw`."""
    kinds = conventions.slo_kinds(default_catalog)
    longs = [w for w in ratio_windows(default_catalog) if conventions.is_long(w)]
    counts = [{"__name__": conventions.slo_events(w), "slo": k} for w in longs for k in kinds]
    tiles = [{"__name__": conventions.SLO_REQUESTS_5M, "slo": k} for k in kinds]
    marker = [{PROBE_LABEL: HOUR_HISTORY, "slo": k} for k in kinds]
    assert probed_source(default_catalog, counts + tiles + marker) == "recorded"
    assert probed_source(default_catalog, counts + tiles) == "tiles"
    assert probed_source(default_catalog, counts + tiles + marker[:1]) == "tiles"
    assert probed_source(default_catalog, tiles) == "tiles"
    assert probed_source(default_catalog, counts[1:] + tiles + marker) == "tiles"
    assert probed_source(default_catalog, tiles[:1]) == "raw"
    assert probed_source(default_catalog, []) == "raw"
