"""Custom ratio SLIs (catalog `slos.ratios`): catalog problems, promtool's parse of the queries, the lexer that
pins every selector to its service, recording rules and burn alerts with their generated promtool tests, the
SLO dashboard, and a real Prometheus holding a backfilled day where the recorded SLI, `monitor check` and the
compliance report all state the truth."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import catalog_file
from zarish_obs import conventions, openmetrics, procs, promql, promql_lexer, promtool
from zarish_obs.alerts import cli as alerts_cli
from zarish_obs.alerts import common, ratio_series, unittests
from zarish_obs.alerts.render import RECORDING_FILE, render, rule_files, warnings
from zarish_obs.catalog import Catalog, load_catalog, parse_catalog
from zarish_obs.dashboards import schema_gate
from zarish_obs.dashboards import slo as slo_dashboard
from zarish_obs.errors import CatalogError
from zarish_obs.monitor.check import run_check
from zarish_obs.monitor.client import Settings
from zarish_obs.monitor.compliance.period import resolve
from zarish_obs.monitor.compliance.run import run_report
from zarish_obs.monitor.report import render_table
from zarish_obs.stack.main import main
from zarish_obs.writers import write_files

RATIO = catalog_file("ratio.yaml")
DAY = 86400
STEP = 60


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(RATIO)


def _with_ratios(catalog: Catalog, service: str, ratios: list[dict[str, Any]]) -> Catalog:
    data = catalog.model_dump(by_alias=True, exclude_none=True)
    svc = next(s for s in data["services"] if s["name"] == service)
    svc["slos"]["ratios"] = ratios
    return Catalog.model_validate(data)


# -- catalog problems -----------------------------------------------------------------------------------------
BAD = """\
version: 1
name: ratio-problems
regions: [{name: sylhet, role: primary}]
environments: [{name: production, namespace: prod}]
services:
  - name: payments
    slos:
      ratios:
        - name: settlement
          objective: 99.5
          total_query: 'sum by (environment) (increase(settled_total{service="payments"}[{{window}}]))'
          bad_query: 'sum by (environment) (increase(settled_total{result="failed"}[{{window}}]))'
        - name: settlement
          objective: 99
          total_query: 'sum by (environment) (increase(settled_total{service="payments"}[5m]))'
          good_query: 'sum(rate(settled_total{service="payments"}[{{window}}:1m]))'
        - name: latency
          objective: 99
          total_query: 'sum by (environment) (increase(x_total{service="payments"}[{{window}}]))'
          bad_query: 'sum by (environment) (increase(x_total{service="payments"}[{{window}}] @ 100))'
        - name: both
          objective: 99
          total_query: 'sum by (environment) (increase(x_total{service="payments"}[{{window}}]))'
          bad_query: 'sum by (environment) (increase(x_total{service="payments"}[{{window}}]))'
          good_query: 'sum by (environment) (increase(x_total{service="payments"}[{{window}}]))'
        - name: neither
          objective: 99
          total_query: 'sum by (environment) (increase(x_total{service="payments"}[{{window}}]))'
        - name: unreadable
          objective: 99
          total_query: 'sum(increase(x_total{service="payments}[{{window}}]))'
          bad_query: 'x_total{service="other"}[{{window}}] or on() y_total{service="payments"}[{{window}}]'
"""
BAD_LINES = [
    "<bad>:12: services.payments.slos.ratios.settlement.bad_query: column 32: selector "
    'settled_total{result="failed"} has no service="payments" matcher: every selector must read only the '
    "service's own series",
    "<bad>:13: services.payments.slos.ratios.settlement.name: duplicate ratio SLI name 'settlement' in this service",
    "<bad>:15: services.payments.slos.ratios.settlement.total_query: no [{{window}}] range: the query must count "
    "its events over the SLO's windows, e.g. increase(x[{{window}}])",
    "<bad>:16: services.payments.slos.ratios.settlement.good_query: column 44: {{window}} may only stand as a "
    "whole range [{{window}}] (e.g. increase(x[{{window}}]))",
    "<bad>:17: services.payments.slos.ratios.latency.name: 'latency' is the name of a built-in SLO kind "
    "(slos.latency); choose another",
    "<bad>:20: services.payments.slos.ratios.latency.bad_query: column 72: no @ modifier: zarish-obs chooses the "
    "evaluation instant",
    "<bad>:21: services.payments.slos.ratios.both: give exactly one of bad_query or good_query (bad = total - "
    "good); got both",
    "<bad>:26: services.payments.slos.ratios.neither: give exactly one of bad_query or good_query (bad = total - "
    "good); got neither",
    "<bad>:31: services.payments.slos.ratios.unreadable.total_query: cannot read the query: column 30: string not "
    "terminated",
    "<bad>:32: services.payments.slos.ratios.unreadable.bad_query: column 1: selector x_total{service=\"other\"} "
    "has no service=\"payments\" matcher: every selector must read only the service's own series",
]


def test_every_ratio_problem_is_one_located_line() -> None:
    with pytest.raises(CatalogError) as err:
        parse_catalog(BAD, "<bad>")
    assert err.value.problems == BAD_LINES
    assert err.value.exit_code == 65


def test_the_test_catalog_is_valid_and_yields_ratio_kinds_after_the_others(catalog: Catalog) -> None:
    items = {svc.name: [k for k, _ in svc.slo_items()] for svc in catalog.services}
    assert items == {"payments": ["settlement"], "records": ["availability", "sync"]}
    assert conventions.slo_kinds(catalog) == ["availability", "settlement", "sync"]
    assert conventions.slo_burn_alerts(catalog) == ["SLOErrorBudgetBurn", conventions.RATIO_BURN_ALERT]
    assert not any("http_requests_total" in r.total_query for s in catalog.services for r in s.slos.ratios)


def test_catalog_validate_counts_ratio_slos(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "validate", "--catalog", str(RATIO)]) == 0
    out, _ = capsys.readouterr()
    assert out.strip() == f"{RATIO}: valid: 2 services, 3 SLOs, 2 environments, 1 regions"


# -- promtool's parse ------------------------------------------------------------------------------------------
def _unparsable(tmp_path: Path) -> Path:
    text = RATIO.read_text(encoding="utf-8")
    text = text.replace("(increase(payments_settlements_total{service=\"payments\"}[{{window}}]))",
                        "(increasee(payments_settlements_total{service=\"payments\"}[{{window}}]))", 1)
    text = text.replace('records_sync_success_total{service="records"}[{{window}}]))',
                        'records_sync_success_total{service="records"}[{{window}}])))', 1)
    path = tmp_path / "unparsable.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.real
@pytest.mark.parametrize("command", [["catalog", "validate"], ["check"]])
def test_promtool_parse_errors_name_file_field_and_reason(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                          command: list[str]) -> None:
    path = _unparsable(tmp_path)
    assert main([*command, "--catalog", str(path)]) == 65
    out, err = capsys.readouterr()
    lines = [line.removeprefix("zarish-obs: ") for line in err.strip().splitlines()]
    assert lines == [
        f"{path}:19: services.payments.slos.ratios.settlement.total_query: promtool cannot parse the query "
        "({{window}} read as 5m): could not parse expression: 1:23: parse error: unknown function with name "
        '"increasee"',
        f"{path}:31: services.records.slos.ratios.sync.good_query: promtool cannot parse the query ({{{{window}}}} "
        "read as 5m): could not parse expression: 1:84: parse error: unexpected right parenthesis ')'",
    ], err
    assert out == ""


@pytest.mark.real
def test_the_test_catalogs_queries_all_parse(catalog: Catalog) -> None:
    assert promtool.ratio_query_problems(catalog) == []


# -- the lexer and label injection ----------------------------------------------------------------------------
LABEL_VALUES = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
LABEL_NAMES = st.from_regex(r"[a-z_][a-z0-9_]{0,6}", fullmatch=True).filter(lambda s: s not in ("service",))
METRICS = st.from_regex(r"[a-z_][a-z0-9_:]{0,10}", fullmatch=True).filter(
    lambda s: s.lower() not in {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or",
                                "unless", "bool", "offset", "atan2", "inf", "nan", "sum", "min", "max", "avg",
                                "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk", "quantile",
                                "limitk", "limit_ratio"})
OPS = st.sampled_from(["=", "!=", "=~", "!~"])


@st.composite
def selectors(draw: st.DrawFn) -> tuple[str, list[tuple[str, str, str]], bool]:
    """(text, matchers, pinned): a selector with random matchers, maybe the service's, maybe another's."""
    metric = draw(METRICS)
    matchers = [(draw(LABEL_NAMES), draw(OPS), draw(LABEL_VALUES)) for _ in range(draw(st.integers(0, 3)))]
    service = draw(st.sampled_from(["payments", "other", None, 'payments"} or x{service="payments']))
    if service is not None:
        matchers.insert(draw(st.integers(0, len(matchers))), ("service", draw(st.sampled_from(["=", "=~"])), service))
    pinned = any(m == ("service", "=", "payments") for m in matchers)
    body = ", ".join(f'{n}{op}"{promql.escape_label_value(v)}"' for n, op, v in matchers)
    return (f"{metric}{{{body}}}" if matchers else metric), [("__name__", "=", metric), *matchers], pinned


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(selectors(), min_size=1, max_size=4), LABEL_VALUES, st.sampled_from(["+", "or", "/ on()"]))
def test_lexer_reads_every_selector_and_strings_cannot_hide_or_forge_one(
        sels: list[tuple[str, list[tuple[str, str, str]], bool]], noise: str, op: str) -> None:
    """Random selectors (label values with quotes, braces, backslashes and fake matchers) joined by operators,
    with strings and a comment that spell selectors: the lexer finds exactly the real ones and their
    unescaped values, and the service check passes only when every one pins service="payments"."""
    fake = promql.escape_label_value(f'{noise}{{service="payments"}}[{{{{window}}}}]')
    terms = [f'label_replace(sum by (environment) (increase({text}[{{{{window}}}}])), "x", "{fake}", "", "")'
             for text, _, _ in sels]
    query = f" {op} ".join(terms) + ' # other{service="payments"}'
    lexed = promql_lexer.lex(query)
    assert [[(m.name, m.op, m.value) for m in s.matchers] for s in lexed.selectors] == [m for _, m, _ in sels]
    assert len(lexed.windows) == len(sels) and not lexed.stray
    assert (not promql_lexer.service_problems(lexed, "service", "payments")) == all(p for _, _, p in sels)


@settings(max_examples=200, deadline=None)
@given(LABEL_VALUES, st.sampled_from(["settlement", "sync"]), st.booleans())
def test_generated_expressions_keep_every_selector_on_its_service(env: str, kind: str, bad: bool) -> None:
    """Whatever environment value the caller adds (quotes, braces, `or` clauses), every selector of the
    generated expression still pins its own service, carries the added matcher with its exact value, and the
    result is labelled with the service by an outer label_replace the query cannot reach."""
    cat = load_catalog(RATIO)
    s = promql.signals(cat)
    expr = (s.slo_bad if bad else s.slo_total)(kind, cat.services, "5m", [s.env(env)], at=1234.5)
    assert expr is not None
    owner = "payments" if kind == "settlement" else "records"
    lexed = promql_lexer.lex(expr)
    assert lexed.selectors and not lexed.windows and not lexed.stray
    for sel in lexed.selectors:
        assert sel.pins("service", owner), sel.text(expr)
        assert promql_lexer.LabelMatcher("environment", "=", env) in sel.matchers
    assert expr.count(f'"service", "{owner}", "", "")') == expr.count("label_replace(")
    assert expr.count("@ 1234.5") == expr.count("[5m]")


@pytest.mark.real
def test_a_query_relabelling_itself_as_another_service_records_under_its_own(tmp_path: Path) -> None:
    """A ratio query that label_replaces `service` to another service's name still records events for the
    service the catalog names (promtool's unit-test engine evaluates the recording rule)."""
    cat = _with_ratios(load_catalog(RATIO), "payments", [{
        "name": "settlement", "objective": 99, "window": "7d",
        "total_query": 'label_replace(sum by (environment) (increase(payments_settlements_total{service="payments"}'
                       '[{{window}}])), "service", "records", "", "")',
        "bad_query": 'label_replace(sum by (environment, service) (increase(payments_settlements_total'
                     '{service="payments", result="failed"}[{{window}}])), "service", "records", "", "")'}])
    write_files(tmp_path, rule_files(cat))
    test = {"rule_files": [RECORDING_FILE], "evaluation_interval": "1m", "tests": [{
        "interval": "1m",
        "input_series": [
            {"series": 'payments_settlements_total{service="payments", environment="production"}',
             "values": "0+10x20"},
            {"series": 'payments_settlements_total{service="payments", environment="production", result="failed"}',
             "values": "0+1x20"}],
        "promql_expr_test": [{
            "expr": f'{conventions.SLO_REQUESTS_5M}{{slo="settlement"}}', "eval_time": "10m",
            "exp_samples": [{"labels": f'{conventions.SLO_REQUESTS_5M}{{environment="production", '
                                       'service="payments", slo="settlement"}', "value": 55}]}]}]}
    (tmp_path / "t.yml").write_text(yaml.safe_dump(test), encoding="utf-8")
    result = promtool.test_rules(tmp_path / "t.yml", cwd=tmp_path)
    assert result.ok, result.output


# -- rules and their generated tests ---------------------------------------------------------------------------
def test_recording_rules_record_each_ratio_under_its_name(catalog: Catalog) -> None:
    groups = yaml.safe_load(rule_files(catalog)[RECORDING_FILE])["groups"]
    rules = [r for g in groups for r in g["rules"] if r.get("record") == conventions.SLO_REQUESTS_5M]
    assert [r["labels"]["slo"] for r in rules] == ["availability", "settlement", "sync"]
    settlement = rules[1]["expr"]
    assert settlement.startswith('label_replace(sum by (environment) (sum by (environment) (increase('
                                 'payments_settlements_total{service="payments"}[5m]))), "service", "payments"')
    slo = yaml.safe_load(rule_files(catalog)["zarish-slo-alerts.yml"])["groups"]
    burn = [r for g in slo for r in g["rules"] if r.get("alert") == conventions.RATIO_BURN_ALERT]
    assert {re.search(r'slo="([^"]+)"', r["expr"]).group(1) for r in burn} == {"settlement", "sync"}  # type: ignore[union-attr]
    absent = [r for g in slo for r in g["rules"] if r.get("alert") == conventions.SLO_METRICS_ABSENT]
    assert [r["labels"]["severity"] for r in absent] == ["page", "ticket"]  # one rule per severity
    page, ticket = (r["expr"].split("\nor\n") for r in absent)
    assert len(page) == 1 and "http_requests_total" not in page[0]  # payments has no request metric
    assert 'payments_settlements_total{service="payments", environment="production"}[5m]' in page[0]
    assert page[0].endswith('"slo", "settlement", "", "")')
    assert ticket[0] == 'absent(http_requests_total{environment="production", service="records"})'
    assert len(ticket) == 2 and ticket[1].endswith('"slo", "sync", "", "")')
    assert 'records_sync_attempts_total{service="records", job=~"sync|resync", environment="production"}[5m]' in (
        ticket[1])
    assert "records_sync_success_total" not in ticket[1]  # only the total events are watched


@pytest.mark.real
def test_rules_pass_promtool_and_the_generated_tests_fail_on_a_wrong_rule(tmp_path: Path, catalog: Catalog
                                                                         ) -> None:
    checks = alerts_cli.run_checks(catalog, tmp_path)
    assert all(c.ok for c in checks), [f"{c.check} {c.file}: {c.output}" for c in checks if not c.ok]
    test = yaml.safe_load((tmp_path / "tests" / unittests.SLO_TEST_FILE).read_text(encoding="utf-8"))
    burn = test["tests"][0]
    fired = {a["exp_labels"]["slo"] for t in burn["alert_rule_test"] if t["alertname"] == "SLOBudgetBurn"
             for a in t["exp_alerts"]}
    assert fired == {"settlement", "sync"}
    # The same tests on a recording file whose settlement errors count nothing must fail.
    rules = (tmp_path / RECORDING_FILE).read_text(encoding="utf-8")
    broken = rules.replace('result="failed"}[5m]', 'result="never"}[5m]')
    assert broken != rules
    (tmp_path / RECORDING_FILE).write_text(broken, encoding="utf-8")
    result = promtool.test_rules(tmp_path / "tests" / unittests.SLO_TEST_FILE, cwd=tmp_path / "tests")
    assert not result.ok and "settlement" in result.output


RATE_RATIO = {"name": "settlement", "objective": 99.5, "window": "7d",
              "total_query": 'sum(rate(payments_settlements_total{service="payments"}[{{window}}])) by (environment)',
              "bad_query": 'sum by (environment) (rate(payments_settlements_total{service="payments", '
                           'result=~"failed|timeout"}[{{window}}])) + sum by (environment) (rate('
                           'payments_refused_total{service="payments"}[{{window}}]))'}
OPAQUE_RATIO = {"name": "settlement", "objective": 99.5, "window": "7d",
                "total_query": 'sum by (environment) (increase(payments_settlements_total{service="payments"}'
                               '[{{window}}]))',
                "bad_query": 'sum by (environment) (increase(payments_settlements_total{service="payments"}'
                             '[{{window}}])) - sum by (environment) (increase(payments_settled_ok_total'
                             '{service="payments", code=~"2.."}[{{window}}]))'}


@pytest.mark.real
def test_rate_queries_get_generated_tests_that_pass(tmp_path: Path, catalog: Catalog) -> None:
    cat = _with_ratios(catalog, "payments", [RATE_RATIO])
    assert ratio_series.plan(cat, cat.services[0].slos.ratios[0]).rate
    assert unittests.notes(cat) == []
    checks = alerts_cli.run_checks(cat, tmp_path)
    assert all(c.ok for c in checks), [f"{c.check} {c.file}: {c.output}" for c in checks if not c.ok]
    text = (tmp_path / "tests" / unittests.SLO_TEST_FILE).read_text(encoding="utf-8")
    assert 'payments_refused_total{service="payments", environment="production"}' in text
    assert 'result="failed"' in text


@pytest.mark.real
def test_a_query_too_complex_to_invert_is_named_on_stderr_and_the_rest_still_passes(
        tmp_path: Path, catalog: Catalog, capsys: pytest.CaptureFixture[str]) -> None:
    cat = _with_ratios(catalog, "payments", [OPAQUE_RATIO])
    reason = "it is not a sum of sum by (environment) (increase|rate(selector[{{window}}])) terms"
    note = (f"note: ratio SLI 'settlement' (payments): no generated promtool test of its burn-rate alerts: {reason}; "
            "its rules are still checked by promtool check rules")
    absent_note = (f"note: no generated promtool test of SLOMetricsAbsent: ratio SLI 'settlement' (payments): "
                   f"{reason}; its rules are still checked by promtool check rules")
    assert warnings(cat) == [note, absent_note]
    path = tmp_path / "opaque.yaml"
    path.write_text(yaml.safe_dump(cat.model_dump(mode="json", by_alias=True, exclude_none=True)), encoding="utf-8")
    assert main(["alerts", "generate", "--catalog", str(path), "--out", str(tmp_path / "out")]) == 0
    _, err = capsys.readouterr()
    assert note in err.splitlines() and absent_note in err.splitlines()
    checks = alerts_cli.run_checks(cat, tmp_path / "checked")
    assert all(c.ok for c in checks), [f"{c.check} {c.file}: {c.output}" for c in checks if not c.ok]
    assert "payments_settlements_total" not in render(cat)[f"tests/{unittests.SLO_TEST_FILE}"]


def _absent_case(name: str, payments_envs: list[str], minutes: int, expected: list[dict[str, Any]]
                 ) -> dict[str, Any]:
    """records' request and sync counters in production throughout, payments' settlements in `payments_envs`."""
    series = [
        {"series": 'http_requests_total{service="records", environment="production", status="200"}',
         "values": f"0+10x{minutes}"},
        {"series": 'records_sync_attempts_total{service="records", environment="production", job="sync"}',
         "values": f"0+10x{minutes}"},
        {"series": 'records_sync_success_total{service="records", environment="production"}',
         "values": f"0+10x{minutes}"}]
    series += [{"series": f'payments_settlements_total{{service="payments", environment="{env}"}}',
                "values": f"0+10x{minutes}"} for env in payments_envs]
    return {"name": name, "interval": "1m", "input_series": series,
            "alert_rule_test": [{"eval_time": f"{minutes}m", "alertname": conventions.SLO_METRICS_ABSENT,
                                 "exp_alerts": expected}]}


@pytest.mark.real
def test_metrics_absent_fires_for_the_ratio_only_service_without_its_metric(tmp_path: Path, catalog: Catalog
                                                                          ) -> None:
    """payments has no request metric: SLOMetricsAbsent pages for its settlement SLI when its counter has no
    series in production (even with one in staging), and stays silent while the counter is there."""
    write_files(tmp_path, rule_files(catalog))
    checked = promtool.check_rules(tmp_path / common.SLO_FILE)
    assert checked.ok and "SUCCESS" in checked.output and "duplicate" not in checked.output, checked.output
    slo = yaml.safe_load((tmp_path / common.SLO_FILE).read_text(encoding="utf-8"))["groups"]
    rule = next(r for g in slo for r in g["rules"]
                if r.get("alert") == conventions.SLO_METRICS_ABSENT and r["labels"]["severity"] == "page")
    labels = {"environment": "production", "service": "payments", "slo": "settlement", "severity": "page"}
    annotations = {k: common.expand(v, labels) for k, v in rule["annotations"].items()}
    assert annotations["summary"] == ("payments (production): the events of ratio SLI settlement are missing, it "
                                      "cannot be evaluated")
    assert annotations["description"].startswith("The total_query of ratio SLI settlement of payments, over its "
                                                  "last 5m in production, has returned no series for 10m")
    fired = [{"exp_labels": labels, "exp_annotations": annotations}]
    test = {"rule_files": [common.SLO_FILE], "evaluation_interval": "1m", "tests": [
        _absent_case("present", ["production"], 30, []),
        _absent_case("only in staging", ["staging"], 30, fired),
        _absent_case("missing, not yet for 10m", [], 9, []),
    ]}
    (tmp_path / "absent.test.yml").write_text(yaml.safe_dump(test), encoding="utf-8")
    result = promtool.test_rules(tmp_path / "absent.test.yml", cwd=tmp_path)
    assert result.ok, result.output
    # The same test fails against a rule that never watches payments.
    broken = (tmp_path / common.SLO_FILE).read_text(encoding="utf-8").replace(
        'payments_settlements_total{service="payments", environment="production"}',
        'payments_settlements_total{service="payments", environment="staging"}')
    (tmp_path / common.SLO_FILE).write_text(broken, encoding="utf-8")
    result = promtool.test_rules(tmp_path / "absent.test.yml", cwd=tmp_path)
    assert not result.ok and "only in staging" in result.output


def test_generated_absent_test_loses_the_first_service_of_each_severity(catalog: Catalog) -> None:
    """The generated SLOMetricsAbsent group: payments' settlement counters (page) and records' request metric and
    sync counters (ticket) vanish; it checks silence while they are there, a step before `metrics_absent_for` has
    passed and a step after, and each alert's own text (records' two alerts come from one rule)."""
    test = yaml.safe_load(render(catalog)[f"tests/{unittests.SLO_TEST_FILE}"])
    group = next(g for g in test["tests"] if g["name"].startswith("SLOMetricsAbsent"))
    assert {s["series"].split("{")[0] for s in group["input_series"]} == {
        "http_requests_total", "payments_settlements_total", "records_sync_attempts_total",
        "records_sync_success_total"}
    assert all(s["values"].endswith(" stale") for s in group["input_series"])
    checks = [(t["eval_time"], sorted((a["exp_labels"]["service"], a["exp_labels"].get("slo", ""))
                                      for a in t["exp_alerts"])) for t in group["alert_rule_test"]]
    assert checks == [("11m", []), ("24m", []),
                      ("26m", [("payments", "settlement"), ("records", ""), ("records", "sync")])]
    summaries = {a["exp_labels"].get("slo", ""): a["exp_annotations"]["summary"]
                 for a in group["alert_rule_test"][-1]["exp_alerts"] if a["exp_labels"]["service"] == "records"}
    assert summaries == {"": "records (production): request metrics are missing, its SLOs cannot be evaluated",
                         "sync": "records (production): the events of ratio SLI sync are missing, it cannot be "
                                 "evaluated"}


def test_series_plans_solve_bad_and_good_queries(catalog: Catalog) -> None:
    payments, records = catalog.services
    plan = ratio_series.plan(catalog, payments.slos.ratios[0])
    assert plan.increments(100, 30, "bad_query") == [70, 30]  # the total's selector also matches the bad series
    plan = ratio_series.plan(catalog, records.slos.ratios[0])
    assert [dict(s) for s in plan.series] == [
        {"__name__": "records_sync_attempts_total", "job": "sync", "service": "records"},
        {"__name__": "records_sync_success_total", "service": "records"}]
    assert plan.increments(100, 30, "good_query") == [100, 30]


# -- dashboard ---------------------------------------------------------------------------------------------------
def test_slo_dashboard_has_each_ratio_and_passes_the_schema_gate(catalog: Catalog) -> None:
    dashboard = slo_dashboard.build(catalog).to_json_data()
    from zarish_obs.dashboards import generate

    built = generate.build_all(catalog)
    slo = next(d for name, d in built.items() if "slo" in name)
    assert schema_gate.problems(slo) == []
    titles = [p.title for p in dashboard["panels"]]
    for title in ("settlement SLI (7d)", "settlement error budget left", "settlement burn rate", "sync SLI (7d)",
                  "Availability SLI (28d)"):
        assert title in titles
    exprs = [t.expr for p in dashboard["panels"] for t in getattr(p, "targets", [])]
    assert any('service="payments", slo="settlement"' in e for e in exprs)
    assert 'SLOErrorBudgetBurn|SLOBudgetBurn' in exprs[0]


# -- a real Prometheus with a backfilled day --------------------------------------------------------------------
@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory, catalog: Catalog) -> Iterator[dict[str, Any]]:
    """A day at 1m: payments' settlements (some failed), records' sync attempts and successes, records' HTTP
    requests (its availability SLO), backfilled into a fresh Prometheus."""
    import time

    work = tmp_path_factory.mktemp("ratio-prom")
    end = int(time.time()) // 3600 * 3600 - 2 * 3600
    start = end - DAY
    rng = random.Random(13)
    counters: dict[str, openmetrics.Family] = {}
    truth: dict[str, list[float]] = {"settlement": [0.0, 0.0], "sync": [0.0, 0.0], "availability": [0.0, 0.0]}

    def counter(name: str, labels: dict[str, str], increments: list[int]) -> None:
        fam = counters.setdefault(name, openmetrics.Family(name.removesuffix("_total"), "counter"))
        value, samples = 0.0, []
        for t, inc in zip(range(start, end + 1, STEP), [0, *increments], strict=True):
            value += inc
            samples.append((t, value))
        fam.add(name, labels, samples)

    n = DAY // STEP
    for env in ("production", "staging"):
        ok = [rng.randint(40, 60) for _ in range(n)]
        failed = [rng.randint(0, 3) if i % 200 else 30 for i in range(n)]
        base = {"service": "payments", "environment": env}
        counter("payments_settlements_total", {**base, "result": "ok"}, ok)
        counter("payments_settlements_total", {**base, "result": "failed"}, failed)
        attempts = [rng.randint(20, 30) for _ in range(n)]
        retries = [rng.randint(0, 5) for _ in range(n)]
        success = [a + r - rng.randint(0, 2) for a, r in zip(attempts, retries, strict=True)]
        rec = {"service": "records", "environment": env}
        counter("records_sync_attempts_total", {**rec, "job": "sync"}, attempts)
        counter("records_sync_attempts_total", {**rec, "job": "resync"}, retries)
        counter("records_sync_attempts_total", {**rec, "job": "other"}, [100] * n)  # not selected
        counter("records_sync_success_total", rec, success)
        requests_ok = [rng.randint(90, 110) for _ in range(n)]
        errors = [rng.randint(0, 2) for _ in range(n)]
        counter("http_requests_total", {**rec, "status": "200"}, requests_ok)
        counter("http_requests_total", {**rec, "status": "503"}, errors)
        if env == "production":
            truth["settlement"] = [sum(ok) + sum(failed), sum(failed)]
            total = sum(attempts) + sum(retries)
            truth["sync"] = [total, total - sum(success)]
            truth["availability"] = [sum(requests_ok) + sum(errors), sum(errors)]
    openmetrics.backfill(openmetrics.write(work / "history.om", counters.values()), work / "data", "2400h")
    config = work / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 1m\n  evaluation_interval: 1m\n", encoding="utf-8")
    with procs.running(procs.start_prometheus(config, work / "data")) as proc:
        yield {"url": proc.url, "start": start, "end": end, "truth": truth}


def _query(url: str, expr: str, at: int) -> dict[tuple[str, str], float]:
    r = requests.get(f"{url}/api/v1/query", params={"query": expr, "time": at}, timeout=60)
    assert r.status_code == 200, f"{expr[:200]}: HTTP {r.status_code} {r.text[:300]}"
    return {(s["metric"].get("environment", ""), s["metric"].get("service", "")): float(s["value"][1])
            for s in r.json()["data"]["result"]}


def _recorded(catalog: Catalog, name: str, kind: str) -> str:
    groups = yaml.safe_load(rule_files(catalog)[RECORDING_FILE])["groups"]
    return next(r["expr"] for g in groups for r in g["rules"]
                if r.get("record") == name and r.get("labels", {}).get("slo") == kind)


def _sli(truth: list[float]) -> float:
    total, bad = truth
    return 1 - bad / total


@pytest.mark.real
@pytest.mark.parametrize(("kind", "service"), [("settlement", "payments"), ("sync", "records")])
def test_recorded_ratio_sli_over_a_day_equals_the_truth(history: dict[str, Any], catalog: Catalog, kind: str,
                                                        service: str) -> None:
    """The day's events summed from the generated 5-minute increase rules (the `[1d:5m]` tiling of every long
    window) equal the generated events within 0.1%, per environment and labelled with the right service."""
    url, end = history["url"], history["end"]
    total = _query(url, f"sum_over_time(({_recorded(catalog, conventions.SLO_REQUESTS_5M, kind)})[1d:5m])", end)
    bad = _query(url, f"sum_over_time(({_recorded(catalog, conventions.SLO_ERRORS_5M, kind)})[1d:5m])", end)
    assert set(total) == {("production", service), ("staging", service)}
    want_total, want_bad = history["truth"][kind]
    got_total, got_bad = total[("production", service)], bad[("production", service)]
    assert got_total == pytest.approx(want_total, rel=1e-3)
    assert got_bad == pytest.approx(want_bad, rel=1e-3)
    assert 1 - got_bad / got_total == pytest.approx(_sli(history["truth"][kind]), rel=1e-3)


@pytest.mark.real
def test_monitor_check_lists_each_ratio_slo_with_its_value(history: dict[str, Any], catalog: Catalog) -> None:
    report = run_check(catalog, history["url"], at=history["end"])
    by_service = {s["service"]: s for s in report["services"]}
    payments, records = by_service["payments"], by_service["records"]
    assert [s["slo"] for s in payments["slos"]] == ["settlement"]
    assert [s["slo"] for s in records["slos"]] == ["availability", "sync"]
    for entry, kind in ((payments, "settlement"), (records, "sync"), (records, "availability")):
        slo = next(s for s in entry["slos"] if s["slo"] == kind)
        assert slo["sli"] == pytest.approx(100 * _sli(history["truth"][kind]), rel=1e-3), kind
        assert all(v is not None for v in slo["burn_rates"].values()), slo
    assert payments["problems"] == [] and payments["status"] != "unknown", payments
    table = render_table(report)
    assert "RATIO SLIS" in table
    row = next(line for line in table.splitlines() if line.startswith("payments "))
    assert f"settlement {100 * _sli(history['truth']['settlement']):.3f}/99.5" in row


@pytest.mark.real
def test_compliance_report_lists_each_ratio_slo_with_its_value(history: dict[str, Any], catalog: Catalog) -> None:
    tz = conventions.report_timezone(catalog)
    period = resolve(tz, history["end"] + 60, from_text=str(history["start"]), to_text=str(history["end"]))
    report = run_report(catalog, None, period, Settings(url=history["url"], timeout=30, deadline=120),
                        history["end"] + 60)
    by_service = {s["service"]: s for s in report["services"]}
    assert by_service["payments"]["coverage"] == pytest.approx(1.0, abs=2e-3)
    for service, kind in (("payments", "settlement"), ("records", "sync"), ("records", "availability")):
        slo = next(s for s in by_service[service]["slos"] if s["slo"] == kind)
        want_total, want_bad = history["truth"][kind]
        assert slo["events"]["total"] == pytest.approx(want_total, rel=1e-3), kind
        assert slo["events"]["bad"] == pytest.approx(want_bad, rel=1e-3), kind
        assert slo["sli"] == pytest.approx(_sli(history["truth"][kind]), rel=1e-3), kind
        assert slo["verdict"] in ("met", "breached"), slo["verdict"]
