"""Every recorded series and alert name that a generated artefact refers to is defined by the generated rules.

The names come from `zarish_obs.conventions`; this test reads what was generated (rule files, dashboards,
monitor queries, Alertmanager routes and inhibitions, promtool tests), not the constants, so a name spelled
by hand anywhere shows up as a reference to something no rule defines.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from zarish_obs import conventions
from zarish_obs.alerts.alertmanager import build_alertmanager_config
from zarish_obs.alerts.render import rule_groups, unit_test_files
from zarish_obs.catalog import Catalog
from zarish_obs.dashboards.generate import build_all
from zarish_obs.monitor import queries

# A recorded series has a colon in its name (`level:metric:operation`); subquery ranges such as `[30d:5m]`
# also hold colons, but their tokens start with a digit, which the lookbehind rules out.
_RECORDED = re.compile(r"(?<![\w:.$])([a-zA-Z_][a-zA-Z0-9_]*:[a-zA-Z0-9_:]*)")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_ALERTNAME = re.compile(r'alertname\s*(=~|=)\s*"((?:[^"\\]|\\.)*)"')


def recorded_names(expr: str) -> set[str]:
    return set(_RECORDED.findall(_STRING.sub('""', expr)))


def alert_names(text: str) -> set[str]:
    """Alert names an expression or matcher selects: `alertname="X"` or `alertname=~"X|Y"`."""
    out: set[str] = set()
    for op, value in _ALERTNAME.findall(text):
        out.update(value.split("|") if op == "=~" else [value])
    return out


def test_the_extractors_find_what_they_must_and_nothing_else() -> None:
    expr = ('sum_over_time(environment_service:zarish_slo_requests:increase5m{slo="a:b"}[30d:5m]) > 0 '
            'and ALERTS{alertname=~"SLOErrorBudgetBurn|SLOLatencyBudgetBurn"} or foo{x="y"}[1h:1m] '
            'or ALERTS{alertname="DRErrorRatioHigh"}')
    assert recorded_names(expr) == {"environment_service:zarish_slo_requests:increase5m"}
    assert alert_names(expr) == {"SLOErrorBudgetBurn", "SLOLatencyBudgetBurn", "DRErrorRatioHigh"}


def _catalogs(default_catalog: Catalog, other_catalogs: dict[str, Catalog]) -> dict[str, Catalog]:
    return {"default": default_catalog, **other_catalogs,
            "compressed": default_catalog.model_copy(update={"time_scale": 0.02})}


def _rules(catalog: Catalog) -> Iterator[dict[str, Any]]:
    for groups in rule_groups(catalog).values():
        for group in groups:
            yield from group["rules"]


def _dashboard_exprs(catalog: Catalog) -> Iterator[tuple[str, str]]:
    def walk(node: Any, where: str) -> Iterator[tuple[str, str]]:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("expr", "query") and isinstance(value, str):
                    yield where, value
                else:
                    yield from walk(value, f"{where}.{key}")
        elif isinstance(node, list):
            for i, item in enumerate(node):
                yield from walk(item, f"{where}[{i}]")

    for uid, dashboard in build_all(catalog).items():
        yield from walk(dashboard, uid)


def _monitor_exprs(catalog: Catalog) -> Iterator[tuple[str, str]]:
    for env in catalog.environments:
        probe = queries.recorded_probe(catalog, env.name)
        yield f"monitor {probe.name}", probe.expr
        for source in ("recorded", "raw"):
            for q in queries.plan(catalog, env.name, source):
                yield f"monitor {source} {q.name}", q.expr


def _alertmanager_matchers(catalog: Catalog) -> Iterator[tuple[str, str]]:
    am = build_alertmanager_config(catalog)

    def routes(route: dict[str, Any], where: str) -> Iterator[tuple[str, str]]:
        for m in route.get("matchers", []):
            yield where, m
        for i, child in enumerate(route.get("routes", [])):
            yield from routes(child, f"{where}.routes[{i}]")

    yield from routes(am["route"], "route")
    for i, rule in enumerate(am.get("inhibit_rules", [])):
        for key in ("source_matchers", "target_matchers"):
            for m in rule.get(key, []):
                yield f"inhibit_rules[{i}].{key}", m


def _promtool_test_alertnames(catalog: Catalog) -> Iterator[tuple[str, str]]:
    for name, text in unit_test_files(catalog).items():
        for group in yaml.safe_load(text).get("tests", []):
            for t in group.get("alert_rule_test", []):
                yield name, f'alertname="{t["alertname"]}"'
            for t in group.get("promql_expr_test", []):
                yield f"{name} expr", t["expr"]


@pytest.mark.parametrize("which", ["rules", "dashboards", "monitor", "alertmanager", "promtool tests"])
def test_every_reference_is_defined_by_the_generated_rules(
        which: str, default_catalog: Catalog, other_catalogs: dict[str, Catalog]) -> None:
    for name, cat in _catalogs(default_catalog, other_catalogs).items():
        rules = list(_rules(cat))
        records = {r["record"] for r in rules if "record" in r}
        alerts = {r["alert"] for r in rules if "alert" in r}
        sources = {
            "rules": lambda c=cat, rs=rules: ((r.get("record") or r["alert"], r["expr"]) for r in rs),
            "dashboards": lambda c=cat: _dashboard_exprs(c),
            "monitor": lambda c=cat: _monitor_exprs(c),
            "alertmanager": lambda c=cat: _alertmanager_matchers(c),
            "promtool tests": lambda c=cat: _promtool_test_alertnames(c),
        }
        seen_records: set[str] = set()
        seen_alerts: set[str] = set()
        for where, text in sources[which]():
            used_records, used_alerts = recorded_names(text), alert_names(text)
            assert used_records <= records, f"{name}: {where} reads undefined series {sorted(used_records - records)}"
            assert used_alerts <= alerts, f"{name}: {where} names undefined alerts {sorted(used_alerts - alerts)}"
            seen_records |= used_records
            seen_alerts |= used_alerts
        # Each source really refers to something, so an extractor that finds nothing cannot pass vacuously.
        if which in ("rules", "dashboards", "monitor"):
            assert seen_records, f"{name}: no recorded series found in the {which}"
        if which in ("dashboards", "alertmanager", "promtool tests"):
            assert seen_alerts, f"{name}: no alert name found in the {which}"


def test_names_come_from_the_conventions(default_catalog: Catalog) -> None:
    """The generated rules define exactly the names the conventions module declares for this catalog."""
    rules = list(_rules(default_catalog))
    alerts = {r["alert"] for r in rules if "alert" in r}
    declared = {*conventions.SLO_BURN_ALERTS.values(), conventions.SLO_METRICS_ABSENT,
                *conventions.DR_TRIGGERS.values()}
    assert declared <= alerts, sorted(declared - alerts)
    records = {r["record"] for r in rules if "record" in r}
    expected = {conventions.REQUEST_RATE, conventions.ERROR_RATIO, conventions.LATENCY_P50, conventions.LATENCY_P95,
                conventions.SLO_REQUESTS_5M, conventions.SLO_ERRORS_5M,
                *(conventions.slo_error_ratio(w) for w in conventions.ratio_windows(default_catalog))}
    assert expected <= records, sorted(expected - records)
