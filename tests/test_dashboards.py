"""Dashboards: schema-valid modern JSON for every catalog, the DR plan's overview, golden files, CLI output."""

from __future__ import annotations

import copy
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.golden import assert_golden
from zarish_obs import conventions, promql
from zarish_obs.catalog import Catalog, load_catalog, parse_catalog
from zarish_obs.dashboards import fingerprint, generate, overview, schema_gate
from zarish_obs.dashboards.normalise import normalise, to_plain
from zarish_obs.errors import ZarishError
from zarish_obs.stack.main import main
from zarish_obs.writers import to_yaml

SHARED_SCHEMA = Path(__file__).resolve().parents[2] / "shared" / "schemas"  # shared/ lies beside the clone
PACKAGED_SCHEMA = Path(__file__).resolve().parent.parent / "dashboards" / "schema"
LEGACY_DASHBOARD_KEYS = {"rows", "style", "hideControls", "sharedCrosshair", "__inputs", "gnetId", "id"}
LEGACY_PANEL_KEYS = {"span", "height", "minSpan", "error", "editable", "yAxes", "xaxis", "lines", "nullPointMode",
                     "legend", "tooltip", "styles"}
LEGACY_TARGET_KEYS = {"query", "target", "metric", "step", "intervalFactor"}


def _all(default_catalog: Catalog, other_catalogs: dict[str, Catalog]) -> dict[str, Catalog]:
    return {"default": default_catalog, **other_catalogs}


def _panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for p in dashboard["panels"]:
        out.append(p)
        out.extend(p.get("panels", []))
    return out


def _walk(value: Any, path: str = "$") -> list[tuple[str, Any]]:
    out = [(path, value)]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _walk(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _walk(v, f"{path}[{i}]")
    return out


def test_packaged_schema_is_the_shared_copy() -> None:
    """Byte-identical to the provided copy where it is beside the repository; the sha256 check always runs."""
    if SHARED_SCHEMA.is_dir():
        for name in ("dashboard.jsonschema.json", "SOURCE.md"):
            assert (PACKAGED_SCHEMA / name).read_bytes() == (SHARED_SCHEMA / name).read_bytes(), name
    digest = hashlib.sha256((PACKAGED_SCHEMA / "dashboard.jsonschema.json").read_bytes()).hexdigest()
    assert digest in (PACKAGED_SCHEMA / "SOURCE.md").read_text()


def test_every_dashboard_of_every_catalog_is_schema_valid_and_modern(default_catalog: Catalog,
                                                                    other_catalogs: dict[str, Catalog]) -> None:
    cats = _all(default_catalog, other_catalogs)
    assert len(cats) >= 3
    for name, cat in cats.items():
        dashboards = generate.build_all(cat)
        assert [d["uid"] for d in dashboards.values()] == [conventions.dashboard_uid(cat.name, k)
                                                           for k in conventions.DASHBOARD_KINDS]
        for uid, d in dashboards.items():
            where = f"{name}/{uid}"
            assert schema_gate.problems(d) == [], where
            assert re.fullmatch(r"[A-Za-z0-9_-]{1,40}", uid), where
            assert d["schemaVersion"] == 41 and d["timezone"] == cat.timezone, where
            assert cat.name in d["tags"] and d["title"], where
            assert not LEGACY_DASHBOARD_KEYS & set(d), where
            for path, value in _walk(d):
                assert value is not None, f"{where}: null at {path}"
            for p in _panels(d):
                assert p["type"] in {"timeseries", "stat", "table", "text", "row"}, where
                assert not LEGACY_PANEL_KEYS & set(p), f"{where}: {p.get('title')}"
                if "datasource" in p:
                    assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
                for t in p.get("targets", []):
                    assert not LEGACY_TARGET_KEYS & set(t), f"{where}: {p['title']}"
                    assert t["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
                    assert t["expr"] and t["refId"]
            ds_var = next(v for v in d["templating"]["list"] if v["name"] == "datasource")
            assert ds_var["current"]["value"] == cat.grafana.datasource_uid
            assert fingerprint.intact(d), where


def test_dashboards_link_to_each_other(default_catalog: Catalog, other_catalogs: dict[str, Catalog]) -> None:
    for cat in _all(default_catalog, other_catalogs).values():
        dashboards = generate.build_all(cat)
        for uid, d in dashboards.items():
            targets = {link["url"] for link in d["links"]}
            assert targets == {f"/d/{other}" for other in dashboards if other != uid}
            assert all(link["includeVars"] and link["keepTime"] for link in d["links"])


def test_raw_grafanalib_output_fails_the_gate_and_the_message_names_dashboard_and_path(
        default_catalog: Catalog) -> None:
    raw = to_plain(overview.build(default_catalog))
    paths = {path for path, _ in schema_gate.problems(raw)}
    assert "$.panels[0].datasource" in paths and "$.templating.list[0].allValue" in paths
    good = generate.build_all(default_catalog)["zarish-his-overview"]
    bad = copy.deepcopy(good)
    bad["panels"][1]["fieldConfig"]["defaults"]["thresholds"]["steps"][0]["value"] = None
    bad["uid"] = "x" * 41
    bad["style"] = "dark"
    with pytest.raises(ZarishError) as exc:
        schema_gate.check({"zarish-his-overview": bad})
    lines = exc.value.lines
    assert "3 schema problem(s)" in lines[0] and len(lines) == 4
    assert any(line.startswith("dashboard zarish-his-overview: $.panels[1].fieldConfig.defaults.thresholds."
                               "steps[0].value: None is not of type 'number'") for line in lines)
    assert any("$.uid:" in line and "1-40 characters" in line for line in lines)
    assert any(line.startswith("dashboard zarish-his-overview: $: Additional properties") and "'style'" in line
               for line in lines)


def test_normalise_thresholds_and_datasources() -> None:
    raw = {"panels": [{"type": "timeseries", "datasource": "uid-1", "span": 6, "targets": [
        {"expr": "up", "query": "up", "refId": "A", "step": 10, "datasource": None, "instant": False}],
        "fieldConfig": {"defaults": {"min": 0, "thresholds": {"mode": "absolute", "steps": [
            {"color": "green", "value": "null", "index": 0, "op": "gt"}, {"color": "red", "value": 0.1}]}}}}],
        "rows": [], "templating": {"list": []}, "annotations": {"list": []}, "uid": "u", "title": "T"}
    out = normalise(raw)
    panel = out["panels"][0]
    assert panel["datasource"] == {"type": "prometheus", "uid": "uid-1"}
    assert panel["targets"][0] == {"datasource": {"type": "prometheus", "uid": "uid-1"}, "editorMode": "code",
                                   "expr": "up", "instant": False, "range": True, "refId": "A"}
    assert panel["fieldConfig"]["defaults"]["thresholds"]["steps"] == [{"color": "green", "value": 0},
                                                                       {"color": "red", "value": 0.1}]
    assert "rows" not in out and "span" not in panel and out["schemaVersion"] == 41
    assert out["annotations"]["list"][0]["builtIn"] == 1


def test_fingerprint_detects_edits_and_ignores_grafana_bookkeeping(default_catalog: Catalog) -> None:
    d = generate.build_all(default_catalog)["zarish-his-dr"]
    stored = {**copy.deepcopy(d), "id": 17, "version": 4}
    assert fingerprint.intact(stored) and fingerprint.same_content(stored, d)
    stored["panels"][0]["title"] = "edited by hand"
    assert not fingerprint.intact(stored) and not fingerprint.same_content(stored, d)
    unstamped = {k: v for k, v in d.items() if k != "templating"}
    assert fingerprint.stored(unstamped) is None and not fingerprint.intact(unstamped)


def test_overview_keeps_the_dr_plan_semantics(default_catalog: Catalog) -> None:
    """The DR plan's three panels: same metrics, labels, 5m windows, grouping and quantiles (the numbers are
    compared against the plan's own PromQL in test_dashboards_prometheus)."""
    d = generate.build_all(default_catalog)["zarish-his-overview"]
    panels = {p["title"]: p for p in d["panels"]}
    assert list(panels) == ["Request Rate", "Error Rate", "Response Time"]
    assert all(p["type"] == "timeseries" for p in panels.values())
    rate = panels["Request Rate"]["targets"][0]
    assert rate["legendFormat"] == "{{service}}"
    assert re.fullmatch(r'sum by \(service\) \(rate\(http_requests_total\{[^}]*\}\[5m\]\)\)', rate["expr"])
    err = panels["Error Rate"]["targets"][0]["expr"]
    assert 'http_requests_total{environment=~"$environment", service=~"$service", status=~"5.."}[5m]' in err
    assert err.count("[5m]") == 3 and "sum by (service)" in err
    lat = [t["expr"] for t in panels["Response Time"]["targets"]]
    assert [t["legendFormat"] for t in panels["Response Time"]["targets"]] == [
        "95th percentile - {{service}}", "50th percentile - {{service}}"]
    assert lat[0].startswith("histogram_quantile(0.95, sum by (le, service) (rate(http_request_duration_seconds_"
                             "bucket{") and lat[1].startswith("histogram_quantile(0.5, ")
    units = {t: p["fieldConfig"]["defaults"]["unit"] for t, p in panels.items()}
    assert units == {"Request Rate": "reqps", "Error Rate": "percentunit", "Response Time": "s"}
    err_defaults = panels["Error Rate"]["fieldConfig"]["defaults"]
    assert (err_defaults["min"], err_defaults["max"]) == (0, 1)
    assert err_defaults["thresholds"]["steps"][-1] == {"color": "red", "value": 0.1}
    assert d["title"] == "ZARISH HIS Overview" and d["tags"][:2] == ["zarish-his", "overview"]
    assert (d["time"], d["refresh"], d["timezone"]) == ({"from": "now-1h", "to": "now"}, "30s", "Asia/Dhaka")
    names = [v["name"] for v in d["templating"]["list"]]
    assert names == ["datasource", "environment", "service", fingerprint.VARIABLE]


def test_slo_dashboard_follows_the_catalog(other_catalogs: dict[str, Catalog]) -> None:
    cat = other_catalogs["custom-labels"]
    d = generate.build_all(cat)["referral-network-slo"]
    rows = [p["title"] for p in d["panels"] if p["type"] == "row"]
    assert rows == ["referral-api (standard)", "imaging-gateway (standard)"]  # notification-worker has no SLO
    burn_panels = [p for p in d["panels"] if p["title"].endswith("burn rate")]
    assert len(burn_panels) == 3  # referral-api: availability + latency, imaging-gateway: latency
    steps = burn_panels[0]["fieldConfig"]["defaults"]["thresholds"]["steps"]
    enabled = conventions.enabled_tiers(cat)
    assert [s["value"] for s in steps[1:]] == sorted(t.factor("28d") for t in enabled)
    assert len(steps) == 4  # page_slow is disabled in this catalog
    exprs = [t["expr"] for t in burn_panels[0]["targets"]]
    assert len(exprs) == len(conventions.ALERT_WINDOWS)
    assert exprs[0] == (conventions.slo_error_ratio("5m") + '{env=~"$environment", app="referral-api", '
                        'slo="availability"} / 0.001')
    alerts = d["panels"][0]["targets"][0]
    assert alerts["expr"] == 'ALERTS{alertname=~"SLOErrorBudgetBurn|SLOLatencyBudgetBurn", alertstate="firing"}'
    assert alerts["instant"] and alerts["format"] == "table"


def test_dr_dashboard_shows_triggers_and_objectives(default_catalog: Catalog) -> None:
    d = generate.build_all(default_catalog)["zarish-his-dr"]
    panels = {p["title"]: p for p in d["panels"]}
    lag = panels["Replication lag vs DR trigger"]["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert lag[-1] == {"color": "red", "value": 300}
    # The RPO is judged on the newest recoverable point; the nightly backup on its schedule (24h + 2h grace).
    point = panels["Recoverable point age"]
    assert point["fieldConfig"]["defaults"]["thresholds"]["steps"][-1] == {"color": "red", "value": 3600}
    assert point["targets"][0]["expr"] == promql.recoverable_point_age(default_catalog)
    backup = panels["Last successful backup age"]["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert backup[-1] == {"color": "red", "value": 93600}
    assert panels["Primary region (dhaka) up within 30m"]["targets"][0]["expr"] == \
        'max_over_time((max(probe_success{region="dhaka"}))[30m:15s])'
    # The trigger panels evaluate the alerts' own window: the 1m DR error ratio, not a 5m one.
    lowest = panels["Error ratio (1m rate), lowest over 5m"]["targets"][0]["expr"]
    assert lowest == promql.dr_error_ratio_sustained(default_catalog).value and lowest.endswith(")[5m:15s])")
    assert panels["production error ratio (1m rate) vs DR trigger"]["targets"][0]["expr"] == \
        promql.dr_error_ratio(default_catalog)
    text = panels["RTO / RPO"]["options"]["content"]
    assert "**RTO** (recovery time objective): **4h**" in text and "**RPO** (recovery point objective): **1h**" \
        in text
    assert "1. Verify DR cluster health" in panels["Failover procedure"]["options"]["content"]


def test_demo_time_scale_compresses_the_dr_windows() -> None:
    from zarish_obs.catalog import default_catalog_text
    cat = parse_catalog(default_catalog_text() + "time_scale: 0.01\n", "scaled.yaml")
    panels = {p["title"]: p for p in generate.build_all(cat)["zarish-his-dr"]["panels"]}
    assert panels["Error ratio (1m rate), lowest over 3s"]["targets"][0]["expr"].endswith("[3s:15s])")
    assert panels["Primary region (dhaka) up within 18s"]["targets"][0]["expr"].endswith("[18s:15s])")
    assert "unavailable for more than 30m" in panels["RTO / RPO"]["options"]["content"]


def test_recorded_series_read_by_the_dashboards_are_recorded_by_the_alerts_package(
        default_catalog: Catalog, other_catalogs: dict[str, Catalog]) -> None:
    recording = pytest.importorskip("zarish_obs.alerts.recording")
    for cat in _all(default_catalog, other_catalogs).values():
        recorded = {r["record"] for g in recording.recording_groups(cat) for r in g["rules"] if "record" in r}
        exprs = [t["expr"] for d in generate.build_all(cat).values() for p in _panels(d) for t in p.get("targets", [])]
        exprs += [a["expr"] for d in generate.build_all(cat).values() for a in d["annotations"]["list"] if "expr" in a]
        used = {name for e in exprs for name in re.findall(r"[a-z_]+:[a-z0-9_]+:[a-z0-9_]+", e)}
        assert used and used <= recorded, sorted(used - recorded)


def test_long_catalog_names_keep_uids_short_and_distinct(default_catalog: Catalog) -> None:
    long_name = default_catalog.model_copy(update={"name": "a" * 60})
    uids = list(generate.build_all(long_name))
    assert len(set(uids)) == 3 and all(len(u) <= 40 and re.fullmatch(r"[A-Za-z0-9_-]+", u) for u in uids)


def test_generation_is_deterministic(default_catalog: Catalog) -> None:
    assert generate.render_json(generate.build_all(default_catalog)) == \
        generate.render_json(generate.build_all(load_catalog()))


def test_golden_dashboards(default_catalog: Catalog) -> None:
    files = generate.render_json(generate.build_all(default_catalog))
    for name, text in files.items():
        assert_golden(f"dashboards/{name}", text)


def test_cli_generate_json_and_configmaps(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dashboards", "generate", "--out", str(tmp_path / "json")]) == 0
    files = sorted(p.name for p in (tmp_path / "json").iterdir())
    assert files == ["zarish-his-dr.json", "zarish-his-overview.json", "zarish-his-slo.json"]
    loaded = json.loads((tmp_path / "json" / "zarish-his-slo.json").read_text())
    assert schema_gate.problems(loaded) == []
    assert main(["dashboards", "generate", "--format", "configmap", "--folder", "Hospital", "--out",
                 str(tmp_path / "cm")]) == 0
    for path in sorted((tmp_path / "cm").iterdir()):
        cm = yaml.safe_load(path.read_text())
        assert cm["kind"] == "ConfigMap" and cm["metadata"]["namespace"] == "zarish-his-monitoring"
        assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert cm["metadata"]["annotations"] == {"grafana_folder": "Hospital"}
        (key, body), = cm["data"].items()
        assert key.endswith(".json") and schema_gate.problems(json.loads(body)) == []
    out = capsys.readouterr().out
    assert out.count("\n") == 6


def _big_catalog(services: int) -> str:
    base = yaml.safe_load((Path(__file__).parent / "data" / "catalogs" / "minimal.yaml").read_text())
    base["services"] = [{"name": f"svc-{i:03d}", "slos": {
        "availability": {"objective": 99.9, "window": "30d"},
        "latency": {"objective": 99.0, "threshold_seconds": 0.5, "window": "30d"}}} for i in range(services)]
    return to_yaml(base)


def test_configmap_over_one_mebibyte_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "big.yaml"
    path.write_text(_big_catalog(90))
    out = tmp_path / "cm"
    assert main(["dashboards", "generate", "--catalog", str(path), "--format", "configmap", "--out", str(out)]) == 65
    err = capsys.readouterr().err
    assert "dashboard clinic-lite-slo: ConfigMap would be" in err and "1 MiB" in err
    assert not out.exists() or not any(out.iterdir())
    # the same catalog still works as plain JSON files (for file provisioning)
    assert main(["dashboards", "generate", "--catalog", str(path), "--out", str(tmp_path / "json")]) == 0
    assert (tmp_path / "json" / "clinic-lite-slo.json").stat().st_size > generate.CONFIGMAP_LIMIT


def test_provisioning_files(tmp_path: Path, default_catalog: Catalog, other_catalogs: dict[str, Catalog]) -> None:
    cat = other_catalogs["custom-labels"]
    path = Path(__file__).parent / "data" / "catalogs" / "custom-labels.yaml"
    assert parse_catalog(path.read_text(), str(path)) == cat
    assert main(["dashboards", "provisioning", "--catalog", str(path), "--out", str(tmp_path),
                 "--prometheus-url", "http://mimir-query:8080/prometheus"]) == 0
    provider = yaml.safe_load((tmp_path / "provisioning/dashboards/referral-network.yaml").read_text())
    assert provider["apiVersion"] == 1
    (p,) = provider["providers"]
    assert (p["type"], p["folder"], p["options"]["path"]) == ("file", "Referral Network",
                                                              "/var/lib/grafana/dashboards/zarish-obs")
    ds = yaml.safe_load((tmp_path / "provisioning/datasources/referral-network.yaml").read_text())["datasources"][0]
    assert (ds["uid"], ds["type"], ds["url"]) == ("referral-mimir", "prometheus", "http://mimir-query:8080/prometheus")
    for name in ("referral-network-overview", "referral-network-slo", "referral-network-dr"):
        d = json.loads((tmp_path / "dashboards" / f"{name}.json").read_text())
        assert any(v.get("current", {}).get("value") == "referral-mimir" for v in d["templating"]["list"])
    assert main(["dashboards", "provisioning", "--out", str(tmp_path / "default")]) == 0
    for rel in ("provisioning/dashboards/zarish-his.yaml", "provisioning/datasources/zarish-his.yaml"):
        assert_golden(f"dashboards/{rel}", (tmp_path / "default" / rel).read_text())
