"""`openslo import`: what another tool wrote becomes ratio SLIs or is refused with one located line; what we
exported comes back as the same services and byte-identical generated alert rules."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zarish_obs import openslo, promtool
from zarish_obs.alerts.render import render, rule_files
from zarish_obs.catalog import Catalog, load_catalog, parse_catalog
from zarish_obs.catalog_import import merge
from zarish_obs.errors import ZarishError
from zarish_obs.openslo_import import import_openslo, import_texts
from zarish_obs.stack.main import main

DATA = Path(__file__).resolve().parent / "data"
FOREIGN = DATA / "openslo" / "import" / "foreign.yaml"
CATALOGS = [None, *sorted((DATA / "catalogs").glob("*.yaml"))]


def _refused(texts: list[tuple[str, str]], base: Catalog | None = None, strict: bool = False) -> list[str]:
    with pytest.raises(ZarishError) as info:
        import_openslo(texts, base or load_catalog(None), strict)
    assert info.value.exit_code == 65
    return info.value.lines


# -- foreign documents --------------------------------------------------------------------------------------
def test_foreign_multi_document_file_imports_as_ratio_slis() -> None:
    text = import_texts([(str(FOREIGN), FOREIGN.read_text("utf-8"))], load_catalog(None))
    cat = parse_catalog(text)
    assert cat.name == load_catalog(None).name  # the built-in catalog's other sections
    assert [s.name for s in cat.services] == ["payments", "lab-orders"]
    payments, lab = cat.services
    assert payments.description == "Card and mobile-money payments"
    assert (payments.tier, payments.port, payments.metrics_port) == ("standard", 8080, 9090)
    assert payments.slos.availability is None and payments.slos.latency is None
    settlement, refunds = payments.slos.ratios
    assert (settlement.name, settlement.objective, settlement.window) == ("settlement", 99.5, "4w")
    assert settlement.description == "settlements the bank confirmed"  # the SLI's, the SLO has none
    assert settlement.good_query == ('sum by (environment) (rate(payments_settlements_total{service="payments", '
                                     'result="ok"}[{{window}}]))')
    assert settlement.total_query == ('sum by (environment) (rate(payments_settlements_total{service="payments"}'
                                      '[{{window}}]))')  # [300s] is the same length as [5m]
    assert settlement.bad_query is None
    assert (refunds.name, refunds.objective, refunds.window) == ("refunds", 99.0, "7d")
    assert refunds.description == "refunds paid out without a manual step"
    assert refunds.bad_query == 'sum(increase(payments_refunds_total{service="payments", path="manual"}[{{window}}]))'
    (delivered,) = lab.slos.ratios
    assert (delivered.name, delivered.objective, delivered.window) == ("delivered", 98.0, "30d")
    assert delivered.good_query == 'increase(lab_orders_delivered_total{service="lab-orders"}[{{window}}])'
    assert delivered.total_query == 'increase(lab_orders_total{service="lab-orders", kind!="test"}[{{window}}])'


def test_foreign_import_yields_rules_promtool_accepts(tmp_path: Path) -> None:
    cat = parse_catalog(import_texts([(str(FOREIGN), FOREIGN.read_text("utf-8"))], load_catalog(None)))
    files = rule_files(cat)
    for name, text in files.items():
        (tmp_path / name).write_text(text, "utf-8")
    result = promtool.check_rules(*(tmp_path / n for n in sorted(files)))
    assert result.ok, result.output


_HEAD = """\
apiVersion: openslo/v1
kind: DataSource
metadata: {name: prom}
spec: {type: Prometheus, connectionDetails: {}}
---
apiVersion: openslo/v1
kind: DataSource
metadata: {name: dd}
spec: {type: Datadog, connectionDetails: {}}
---
apiVersion: openslo/v1
kind: Service
metadata: {name: web}
spec: {}
---
"""
_GOOD = 'sum(increase(http_ok_total{service="web"}[5m]))'
_TOTAL = 'sum(increase(http_all_total{service="web"}[5m]))'


def _slo(**over: Any) -> dict[str, Any]:
    """A foreign SLO (document #3 after _HEAD) that imports; `over` replaces parts of its spec."""
    spec: dict[str, Any] = {
        "service": "web",
        "indicator": {"metadata": {"name": "web-ok"}, "spec": {"ratioMetric": {
            "counter": False,
            "good": {"metricSource": {"metricSourceRef": "prom", "spec": {"query": _GOOD}}},
            "total": {"metricSource": {"metricSourceRef": "prom", "spec": {"query": _TOTAL}}}}}},
        "timeWindow": [{"duration": "28d", "isRolling": True}],
        "budgetingMethod": "Occurrences",
        "objectives": [{"target": 0.99}],
    }
    for path, value in over.items():
        node = spec
        keys = path.split("__")
        for key in keys[:-1]:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if value is None:
            del node[keys[-1]]
        elif isinstance(node, list):
            node[int(keys[-1])] = value
        else:
            node[keys[-1]] = value
    return {"apiVersion": "openslo/v1", "kind": "SLO", "metadata": {"name": "web-ok"}, "spec": spec}


def _file(*docs: dict[str, Any]) -> list[tuple[str, str]]:
    return [("f.yaml", _HEAD + "---\n".join(yaml.safe_dump(d, sort_keys=False) for d in docs))]


_RATIO = "indicator__spec__ratioMetric"
_SOURCE = "spec.indicator.spec.ratioMetric.good.metricSource"
REFUSED = {
    "other-datasource-ref": (
        {f"{_RATIO}__good__metricSource__metricSourceRef": "dd"},
        f"f.yaml#3: {_SOURCE}.metricSourceRef: data source type 'Datadog' cannot be imported: the catalog's SLIs "
        "are Prometheus queries"),
    "other-datasource-type": (
        {f"{_RATIO}__good__metricSource": {"type": "CloudWatch", "spec": {"query": "x"}}},
        f"f.yaml#3: {_SOURCE}.type: data source type 'CloudWatch' cannot be imported: the catalog's SLIs are "
        "Prometheus queries"),
    "calendar-window": (
        {"timeWindow": [{"duration": "1M", "calendar": {"startTime": "2024-01-01 00:00:00",
                                                        "timeZone": "Asia/Dhaka"}}]},
        "f.yaml#3: spec.timeWindow[0].calendar: a calendar-aligned window cannot be imported: the catalog's SLO "
        "windows are rolling (the monthly report covers calendar periods)"),
    "timeslices": (
        {"budgetingMethod": "Timeslices", "objectives": [{"target": 0.99, "timeSliceTarget": 0.9,
                                                          "timeSliceWindow": "5m"}]},
        "f.yaml#3: spec.budgetingMethod: Timeslices budgeting cannot be imported: the catalog counts events "
        "(Occurrences), not good time slices"),
    "ratio-timeslices": (  # our schema does not know RatioTimeslices yet: refused by the validator
        {"budgetingMethod": "RatioTimeslices"},
        "f.yaml#3: spec.budgetingMethod: must be one of Occurrences, Timeslices"),
    "several-objectives": (
        {"objectives": [{"target": 0.99}, {"target": 0.999}]},
        "f.yaml#3: spec.objectives[1]: one objective per SLO: the catalog holds one objective per SLI (several "
        "objectives make a composite SLO); split it into one SLO per objective"),
    "threshold-metric": (
        {"indicator__spec": {"thresholdMetric": {"metricSource": {"metricSourceRef": "prom",
                                                                  "spec": {"query": "x"}}}},
         "objectives": [{"target": 0.99, "op": "lte", "value": 1}]},
        "f.yaml#3: spec.indicator.spec.thresholdMetric: a threshold SLI cannot be imported: the catalog's SLIs "
        "are ratios of good (or bad) to total events"),
    "raw-ratio": (
        {_RATIO: {"rawType": "success", "raw": {"metricSource": {"metricSourceRef": "prom",
                                                                   "spec": {"query": "x"}}}}},
        "f.yaml#3: spec.indicator.spec.ratioMetric.raw: a precomputed ratio cannot be imported: the catalog adds "
        "up bad and total event counts over windows; give good or bad and total"),
    "unresolvable-sli": (
        {"indicator": None, "indicatorRef": "nowhere"},
        "f.yaml#3: spec.indicatorRef: no SLI named 'nowhere'"),
    "unresolvable-datasource": (
        {f"{_RATIO}__good__metricSource__metricSourceRef": "nowhere"},
        f"f.yaml#3: {_SOURCE}.metricSourceRef: no DataSource named 'nowhere'"),
    "ranges-differ": (
        {f"{_RATIO}__good__metricSource__spec__query": 'sum(increase(a{service="web"}[5m])) / '
                                                       'sum(increase(a{service="web"}[1h]))'},
        f"f.yaml#3: {_SOURCE}.spec.query: range selectors of different lengths (5m, 1h): only a query whose ranges "
        "all share one length can have it replaced by the SLO window; write [{{window}}] yourself"),
    "subquery": (
        {f"{_RATIO}__good__metricSource__spec__query": 'sum_over_time(a{service="web"}[1h:5m])'},
        f"f.yaml#3: {_SOURCE}.spec.query: subquery [1h:5m]: only plain range selectors can become [{{{{window}}}}]"),
    "no-range": (
        {f"{_RATIO}__good__metricSource__spec__query": 'sum(a{service="web"})'},
        f"f.yaml#3: {_SOURCE}.spec.query: no range selector to count events over the SLO window: write it with "
        "[{{window}}] (e.g. sum(increase(x[{{window}}]))), or a bare counter selector with counter: true"),
    "extra-source-field": (
        {f"{_RATIO}__good__metricSource__spec__step": "1m"},
        f"f.yaml#3: {_SOURCE}.spec.step: has no counterpart in the catalog (a Prometheus source gives only query)"),
    "other-service-query": (  # the catalog's check, told at the document field the query came from
        {f"{_RATIO}__good__metricSource__spec__query": 'sum(increase(a{service="db"}[5m]))'},
        f"f.yaml#3: {_SOURCE}.spec.query: column 14: selector a{{service=\"db\"}} has no service=\"web\" matcher: "
        "every selector must read only the service's own series"),
    "objective-too-low": (
        {"objectives": [{"targetPercent": 42}]},
        "f.yaml#3: spec.objectives[0].targetPercent: objective 42 must be a percentage from 50 up to (not "
        "including) 100"),
    "window-too-short": (
        {"timeWindow": [{"duration": "6h", "isRolling": True}]},
        "f.yaml#3: spec.timeWindow[0].duration: SLO windows must be at least 1d"),
}


@pytest.mark.parametrize("case", REFUSED)
def test_refused_with_one_line(case: str) -> None:
    over, expected = REFUSED[case]
    assert _refused(_file(_slo(**over))) == [expected]


def test_alert_policies_of_a_foreign_slo_are_noted_and_strict_refuses_them() -> None:
    base = load_catalog(DATA / "catalogs" / "minimal.yaml")
    docs = yaml.safe_load_all(openslo.files(base, True)["openslo.yaml"])
    alerting = [d for d in docs if d["kind"] in ("AlertPolicy", "AlertCondition", "AlertNotificationTarget")]
    changed = next(d for d in alerting if d["kind"] == "AlertCondition")
    changed["spec"]["condition"]["threshold"] = 10  # a burn rate the catalog's tiers do not have
    slo = _slo(alertPolicies=[{"alertPolicyRef": alerting[-1]["metadata"]["name"]}])
    texts = _file(slo, *alerting)
    imported = import_openslo(texts, base)  # unchanged alert documents are the base's own tiers: no note
    reason = ("not imported: the catalog's burn-rate alerts come from its alerting tiers (alerting.page_fast ... "
              "ticket_slow), the same for every SLO")
    first = 3 + 1 + alerting.index(changed)
    assert imported.notes == [f"f.yaml#3: spec.alertPolicies: {reason}", f"f.yaml#{first}: metadata.name: {reason}"]
    assert parse_catalog(imported.text).services[0].slos.ratios[0].name == slo["metadata"]["name"].removeprefix(
        "web-")
    assert _refused(texts, base, strict=True) == imported.notes


def test_built_in_kind_name_and_unused_sli_refused() -> None:
    slo = _slo()
    slo["metadata"]["name"] = "web-latency"
    sli = {"apiVersion": "openslo/v1", "kind": "SLI", "metadata": {"name": "spare"},
           "spec": {"ratioMetric": slo["spec"]["indicator"]["spec"]["ratioMetric"]}}
    assert _refused(_file(slo, sli)) == [
        "f.yaml#4: metadata.name: no SLO uses this SLI: the catalog holds an SLI only with its objective"]
    assert _refused(_file(slo)) == [
        "f.yaml#3: metadata.name: 'latency' is the name of a built-in SLO kind (slos.latency); choose another"]


def test_several_problems_all_reported_and_malformed_gets_validator_line() -> None:
    lines = _refused(_file(_slo(budgetingMethod="Timeslices", objectives=[
        {"target": 0.9, "timeSliceTarget": 0.9, "timeSliceWindow": "1m"}, {"target": 0.8, "timeSliceTarget": 0.9,
                                                                          "timeSliceWindow": "1m"}])))
    assert [ln.split(": ")[1] for ln in lines] == ["spec.budgetingMethod", "spec.objectives[1]"]
    assert _refused([("x.yaml", "apiVersion: openslo/v1\nkind: Service\nmetadata: {name: Web}\nspec: {}\n")]) == [
        "x.yaml#0: metadata.name: must be an RFC 1123 name: at most 63 lowercase letters, digits or '-', starting "
        "and ending with a letter or digit"]


def test_counter_query_needs_a_plain_selector() -> None:
    over = {f"{_RATIO}__counter": True, f"{_RATIO}__good__metricSource__spec__query": 'sum(a{service="web"})'}
    assert _refused(_file(_slo(**over)))[0].startswith(f"f.yaml#3: {_SOURCE}.spec.query: no range selector")
    over[f"{_RATIO}__good__metricSource__spec__query"] = 'a{service="web"}'
    cat = parse_catalog(import_texts(_file(_slo(**over)), load_catalog(None)))
    assert cat.services[0].slos.ratios[0].good_query == 'increase(a{service="web"}[{{window}}])'


def test_base_maintenance_naming_a_missing_service_is_a_located_catalog_line() -> None:
    base = load_catalog(DATA / "catalogs" / "maintenance.yaml")
    lines = _refused(_file(_slo()), base)
    assert lines and all(ln.startswith("<imported catalog>:") and "is not a declared service" in ln for ln in lines)


# -- our own documents ------------------------------------------------------------------------------------------
def _exported(cat: Catalog, single: bool) -> list[tuple[str, str]]:
    return sorted(openslo.files(cat, single).items())


@pytest.mark.parametrize("path", CATALOGS, ids=lambda p: p.name if p else "built-in")
def test_export_import_round_trip_of_test_catalogs(path: Path | None) -> None:
    cat = load_catalog(path)
    for single in (False, True):
        back = parse_catalog(import_texts(_exported(cat, single), cat))
        assert back == cat
        assert render(back, "files") == render(cat, "files")


def test_edited_export_is_refused_not_restored() -> None:
    cat = load_catalog(DATA / "catalogs" / "minimal.yaml")
    text = openslo.files(cat, True)[openslo.SINGLE_FILE]
    edited = text.replace('status=~\\"5..\\"', 'status=~\\"4..|5..\\"', 1)
    edited = text.replace('status=~"5.."', 'status=~"4..|5.."', 1) if edited == text else edited
    assert edited != text
    lines = _refused([("e.yaml", edited)], cat)
    assert len(lines) == 1 and "spec.ratioMetric.bad: differs from the query zarish-obs generates" in lines[0]


def test_window_spelling_restored_only_while_it_agrees_with_time_window() -> None:
    cat = load_catalog(DATA / "catalogs" / "minimal.yaml")  # 28d, exported as 4w with zarish-obs/window: 28d
    text = openslo.files(cat, True)[openslo.SINGLE_FILE]
    assert "duration: 4w" in text and "zarish-obs/window: 28d" in text
    assert parse_catalog(import_texts([("e.yaml", text)], cat)).services[0].slos.availability.window == "28d"
    edited = text.replace("duration: 4w", "duration: 2w")
    assert parse_catalog(import_texts([("e.yaml", edited)], cat)).services[0].slos.availability.window == "2w"


def test_unknown_zarish_annotation_refused() -> None:
    cat = load_catalog(DATA / "catalogs" / "minimal.yaml")
    text = openslo.files(cat, True)[openslo.SINGLE_FILE].replace("zarish-obs/tier:", "zarish-obs/tiers:", 1)
    assert _refused([("e.yaml", text)], cat) == [
        "e.yaml#1: metadata.annotations.'zarish-obs/tiers': unknown zarish-obs annotation on a Service (known: "
        "zarish-obs/metrics-port, zarish-obs/port, zarish-obs/tier)"]


_NAMES = ["api", "billing", "lab", "records", "sync-a", "x1"]
_OBJECTIVES = st.one_of(st.sampled_from([50.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.95, 99.99, 99.999]),
                        st.decimals(min_value=50, max_value="99.9999", places=4).map(float))
_WINDOWS = st.sampled_from(["1d", "7d", "1w", "28d", "4w", "30d", "720h", "1d12h", "90d", "2w3d"])


@st.composite
def _ratio(draw: st.DrawFn, service: str, label: str, name: str) -> dict[str, Any]:
    sel = f'{{{label}="{service}"}}'
    total = draw(st.sampled_from([f"sum by (environment) (increase(jobs_total{sel}[{{{{window}}}}]))",
                                  f"increase(jobs_total{sel}[{{{{window}}}}])"]))
    part = f"sum by (environment) (increase(jobs_failed_total{sel}[{{{{window}}}}]))"
    ratio: dict[str, Any] = {"name": name, "objective": draw(_OBJECTIVES), "window": draw(_WINDOWS),
                             "total_query": total}
    ratio["good_query" if draw(st.booleans()) else "bad_query"] = part
    if draw(st.booleans()):
        ratio["description"] = draw(st.sampled_from(["jobs done", "Café orders – settled", "a: b # c"]))
    return ratio


@st.composite
def _services(draw: st.DrawFn, label: str) -> list[dict[str, Any]]:
    names = draw(st.lists(st.sampled_from(_NAMES), min_size=1, max_size=3, unique=True))
    out = []
    for name in names:
        slos: dict[str, Any] = {}
        if draw(st.booleans()):
            slos["availability"] = {"objective": draw(_OBJECTIVES), "window": draw(_WINDOWS)}
        if draw(st.booleans()):
            slos["latency"] = {"objective": draw(_OBJECTIVES), "window": draw(_WINDOWS),
                               "threshold_seconds": draw(st.sampled_from([0.05, 0.1, 0.25, 0.3, 1, 2.5, 10]))}
        ratio_names = draw(st.lists(st.sampled_from(["jobs", "sync", "settlement"]), max_size=2, unique=True))
        if ratio_names:
            slos["ratios"] = [draw(_ratio(name, label, r)) for r in ratio_names]
        svc: dict[str, Any] = {"name": name, "slos": slos}
        if draw(st.booleans()):
            svc["tier"] = draw(st.sampled_from(["critical", "standard"]))
        if draw(st.booleans()):
            svc["port"], svc["metrics_port"] = draw(st.sampled_from([(80, 81), (8443, 9100), (1, 65535)]))
        if draw(st.booleans()):
            svc["description"] = draw(st.sampled_from(["Lab orders", "x: y", "'quoted' and \"double\""]))
        out.append(svc)
    return out


_BASES = [load_catalog(None), load_catalog(DATA / "catalogs" / "custom-labels.yaml")]


@st.composite
def _catalogs(draw: st.DrawFn) -> Catalog:
    base = copy.deepcopy(draw(st.sampled_from(_BASES)))
    data = base.model_dump(by_alias=True, mode="json", exclude_unset=True)
    data["maintenance"] = []  # windows name the built-in services
    if draw(st.booleans()):
        data.setdefault("alerting", {})["ticket_slow"] = {"enabled": False}
    without_services = Catalog.model_validate({**data, "services": [{"name": "placeholder"}]})
    return parse_catalog(merge(without_services, draw(_services(base.metrics.service_label)), "<generated>"))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_catalogs(), st.booleans())
def test_round_trip_generated_catalogs(cat: Catalog, single: bool) -> None:
    """catalog -> export -> import (the catalog as --base) -> the same services, byte-identical rules."""
    back = parse_catalog(import_texts(_exported(cat, single), cat))
    assert back.services == cat.services
    assert back == cat
    assert render(back, "files") == render(cat, "files")


# -- the command ------------------------------------------------------------------------------------------------
def test_cli_import(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    minimal = DATA / "catalogs" / "minimal.yaml"
    exported = tmp_path / "exported"
    assert main(["openslo", "export", "--catalog", str(minimal), "--out", str(exported)]) == 0
    files = [str(p) for p in sorted(exported.glob("*.yaml"))]
    capsys.readouterr()
    assert main(["openslo", "import", *files, "--base", str(minimal)]) == 0
    printed = capsys.readouterr().out
    assert parse_catalog(printed) == load_catalog(minimal)

    out = tmp_path / "catalog.yaml"
    assert main(["openslo", "import", *files, "--base", str(minimal), "--out", str(out)]) == 0
    assert out.read_text("utf-8") == printed
    assert main(["catalog", "validate", "--catalog", str(out)]) == 0

    bad = tmp_path / "bad.yaml"
    bad.write_text(_file(_slo(budgetingMethod="Timeslices", objectives=[
        {"target": 0.99, "timeSliceTarget": 0.9, "timeSliceWindow": "5m"}]))[0][1], "utf-8")
    capsys.readouterr()
    assert main(["openslo", "import", str(bad), "--out", str(out)]) == 65
    assert capsys.readouterr().err.splitlines() == [
        f"{bad}#3: spec.budgetingMethod: Timeslices budgeting cannot be imported: the catalog counts events "
        "(Occurrences), not good time slices"]
    assert out.read_text("utf-8") == printed  # an existing --out is replaced only on success
    assert main(["openslo", "import", str(tmp_path / "missing.yaml")]) == 65
    assert capsys.readouterr().err.strip() == f"{tmp_path / 'missing.yaml'}: (file): no such file"
