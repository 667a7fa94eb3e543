"""Alert generation: structure, names, factors, guards, warnings, formats, CLI and golden files (no servers)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.golden import assert_golden
from zarish_obs import conventions, promql
from zarish_obs.alerts import burnrate, common, dr, recording, recovery
from zarish_obs.alerts.alertmanager import build_alertmanager_config, receivers_from_env
from zarish_obs.alerts.render import (
    DR_FILE,
    RECORDING_FILE,
    RECOVERY_FILE,
    SLO_FILE,
    TARGETS_FILE,
    render,
    rule_files,
    rule_groups,
    warnings,
)
from zarish_obs.catalog import Catalog, parse_catalog
from zarish_obs.errors import ZarishError
from zarish_obs.stack.main import main
from zarish_obs.writers import to_yaml

OBJECTIVES = (99.9, 99.5, 99.0, 95.0)


def synthetic(n: int, time_scale: float = 1.0, **alerting: Any) -> Catalog:
    """n services cycling through a few objectives and latency thresholds."""
    services = [{"name": f"svc-{i:04d}", "slos": {
        "availability": {"objective": OBJECTIVES[i % 4], "window": "30d"},
        "latency": {"objective": 99.0, "threshold_seconds": (0.25, 0.5, 1.0)[i % 3], "window": "30d"}}}
        for i in range(n)]
    data = {"version": 1, "name": f"synthetic-{n}", "regions": [{"name": "dhaka", "role": "primary"}],
            "environments": [{"name": "production", "namespace": "prod"}], "services": services,
            "time_scale": time_scale, "alerting": alerting}
    return parse_catalog(yaml.safe_dump(data))


def _rules(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for g in groups for r in g["rules"]]


def _alerts(catalog: Catalog, name: str | None = None) -> list[dict[str, Any]]:
    out = [r for groups in rule_groups(catalog).values() for r in _rules(groups) if "alert" in r]
    return [r for r in out if name is None or r["alert"] == name]


def test_rule_count_grows_with_windows_not_services() -> None:
    small, large = synthetic(8), synthetic(400)
    for file in (RECORDING_FILE, SLO_FILE, DR_FILE, RECOVERY_FILE, TARGETS_FILE):
        assert len(_rules(rule_groups(small)[file])) == len(_rules(rule_groups(large)[file])), file
    # 4 signal rules + 2 kinds x (2 increases + 5 short windows) + 4 hourly layers (hour, hour so far: total and
    # bad) + 3 long windows (1d, 3d, 30d) x (total, bad, ratio)
    assert len(_rules(rule_groups(large)[RECORDING_FILE])) == 4 + 2 * (2 + 5) + 4 + 3 * 3
    # 4 tiers x (4 availability objectives + 1 latency objective) + absence
    assert len(_alerts(large, conventions.SLO_BURN_ALERTS["availability"])) == 16
    assert len(_alerts(large, conventions.SLO_BURN_ALERTS["latency"])) == 4


def test_recording_rules_use_shared_names_and_promql(default_catalog: Catalog) -> None:
    rules = _rules(recording.recording_groups(default_catalog))
    records = {r["record"] for r in rules}
    windows = ["5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d"]
    assert records == {conventions.REQUEST_RATE, conventions.ERROR_RATIO, conventions.LATENCY_P50,
                       conventions.LATENCY_P95, conventions.SLO_REQUESTS_5M, conventions.SLO_ERRORS_5M,
                       *(conventions.slo_error_ratio(w) for w in windows),
                       *(conventions.slo_events(w, bad) for w in ("1h", "1d", "3d", "30d") for bad in (False, True)),
                       conventions.SLO_REQUESTS_HOUR_SO_FAR, conventions.SLO_ERRORS_HOUR_SO_FAR}
    for r in rules:
        assert re.fullmatch(r"[a-z_]+:[a-z0-9_]+:[a-z0-9_]+", r["record"]), r["record"]
    s = promql.signals(default_catalog)
    by_record = {(r["record"], r.get("labels", {}).get("slo")): r for r in rules}
    assert by_record[(conventions.ERROR_RATIO, None)]["expr"] == s.error_ratio()
    assert by_record[(conventions.SLO_REQUESTS_5M, "latency")]["expr"] == s.slo_total(
        "latency", default_catalog.services, "5m")
    assert by_record[(conventions.slo_error_ratio("6h"), "availability")]["expr"] == s.slo_error_ratio_raw(
        "availability", default_catalog.services, "6h")
    # A day or more: ratios of the recorded event counts, layered from the hourly increases; one rule for both kinds.
    assert by_record[(conventions.slo_error_ratio("30d"), None)]["expr"] == s.slo_error_ratio_recorded("30d")
    assert by_record[(conventions.slo_events("30d"), None)]["expr"] == s.layered_events("30d")
    assert "sum_over_time" in by_record[(conventions.slo_events("1d", True), None)]["expr"]
    # Every ratio is NaN-safe: bad / (total > 0) or total * 0.
    for r in rules:
        if r["record"].split(":")[2].startswith("ratio"):
            assert "> 0)) or (" in r["expr"], r["record"]


def test_28d_window_gets_its_own_factors_and_ratio(other_catalogs: dict[str, Catalog]) -> None:
    cat = other_catalogs["custom-labels"]
    records = {r["record"] for r in _rules(recording.recording_groups(cat))}
    assert conventions.slo_error_ratio("28d") in records and conventions.slo_error_ratio("30d") not in records
    exprs = "\n".join(r["expr"] for r in _alerts(cat))
    for factor in ("13.44", "2.8", "0.9333"):
        assert f"({factor} * " in exprs
    assert "(5.6 * " not in exprs  # page_slow is disabled in this catalog
    assert "app=" in exprs and "service=" not in exprs  # its own label names


def test_burn_rule_shape(default_catalog: Catalog) -> None:
    pages = [r for r in _alerts(default_catalog, "SLOErrorBudgetBurn") if r["labels"]["long_window"] == "1h"]
    # 99.95, 99.9 (two services), 99.5 (three), 99.0: one rule per objective, not per service.
    assert len(pages) == 4
    rule = next(r for r in pages if r["labels"]["objective"] == "99.9")
    assert rule["expr"] == (
        f'{conventions.slo_error_ratio("1h")}{{slo="availability", service=~"clinical-records|patient-registry"}}'
        " > (14.4 * 0.001)\nand\n"
        f'{conventions.slo_error_ratio("5m")}{{slo="availability", service=~"clinical-records|patient-registry"}}'
        " > (14.4 * 0.001)\nand\n"
        f'sum_over_time({conventions.SLO_REQUESTS_5M}{{slo="availability", '
        'service=~"clinical-records|patient-registry"}[59m59s999ms:5m]) >= 20')
    assert rule["for"] == "2m"
    assert rule["labels"] == {"severity": "page", "long_window": "1h", "short_window": "5m", "objective": "99.9",
                              "slo_window": "30d"}
    factors = {r["labels"]["long_window"]: r["expr"].split("(")[1].split(" *")[0]
               for r in _alerts(default_catalog, "SLOErrorBudgetBurn") if r["labels"]["objective"] == "99.9"}
    assert factors == {"1h": "14.4", "6h": "6", "1d": "3", "3d": "1"}
    severities = {r["labels"]["long_window"]: (r["labels"]["severity"], r["labels"]["short_window"], r["for"])
                  for r in _alerts(default_catalog, "SLOLatencyBudgetBurn")}
    assert severities == {"1h": ("page", "5m", "2m"), "6h": ("page", "30m", "15m"),
                          "1d": ("ticket", "2h", "1h"), "3d": ("ticket", "6h", "3h")}


def test_every_alert_links_runbook_and_dashboard(default_catalog: Catalog) -> None:
    alerts = _alerts(default_catalog)
    assert {a["alert"] for a in alerts} == {
        "SLOErrorBudgetBurn", "SLOLatencyBudgetBurn", "SLOMetricsAbsent", "DRErrorRatioHigh",
        "DRReplicationLagHigh", "DRPrimaryRegionUnavailable", "DRManualTrigger", "RPOBreached", "BackupMissed",
        "ServiceTargetsDown"}
    dr_alerts = dr.dr_rules(default_catalog) + recovery.recovery_rules(default_catalog)
    for a in alerts:
        ann = a["annotations"]
        assert ann["summary"] and ann["description"], a["alert"]
        assert ann["runbook_url"] == "https://runbooks.zarishsphere.com/zarish-his/" + common.slug(a["alert"])
        kind = "slo" if "BudgetBurn" in a["alert"] else "dr" if a in dr_alerts else "overview"
        uid = conventions.dashboard_uid("zarish-his", kind)
        assert ann["dashboard_url"] == f"https://grafana.zarishsphere.com/d/{uid}"
    assert common.slug("DRErrorRatioHigh") == "dr-error-ratio-high"
    assert common.slug("SLOMetricsAbsent") == "slo-metrics-absent"
    assert common.slug("RPOBreached") == "rpo-breached"
    assert common.slug("ServiceTargetsDown") == "service-targets-down"


def test_dr_alerts_carry_trigger_and_failover(default_catalog: Catalog) -> None:
    rules = {r["alert"]: r for r in dr.dr_rules(default_catalog)}
    triggers = {n: r["labels"].get("dr_trigger") for n, r in rules.items()}
    assert triggers == {"DRErrorRatioHigh": "error_ratio", "DRReplicationLagHigh": "replication_lag",
                        "DRPrimaryRegionUnavailable": "primary_region_unavailable", "DRManualTrigger": "manual"}
    for name in ("DRErrorRatioHigh", "DRReplicationLagHigh", "DRPrimaryRegionUnavailable", "DRManualTrigger"):
        assert rules[name]["labels"]["severity"] == "critical"
        assert rules[name]["annotations"]["failover_procedure"].splitlines()[1] == "2. Promote DR database to primary"
    assert rules["DRErrorRatioHigh"]["expr"] == f"({promql.dr_error_ratio(default_catalog)}) > 0.1"
    assert "[1m]" in rules["DRErrorRatioHigh"]["expr"] and "[5m]" not in rules["DRErrorRatioHigh"]["expr"]
    assert rules["DRErrorRatioHigh"]["for"] == "5m"
    assert rules["DRReplicationLagHigh"]["expr"] == "max(pg_replication_lag_seconds) > 300"
    assert rules["DRPrimaryRegionUnavailable"]["expr"] == '(max(probe_success{region="dhaka"})) == 0'
    assert rules["DRPrimaryRegionUnavailable"]["for"] == "30m"
    assert rules["DRPrimaryRegionUnavailable"]["labels"]["region"] == "dhaka"
    assert rules["DRManualTrigger"]["expr"] == "max(zarish_dr_manual_trigger) == 1"


def test_dr_error_ratio_window_follows_scrape_interval(other_catalogs: dict[str, Catalog]) -> None:
    cat = other_catalogs["custom-labels"]  # scrape_interval 30s: four scrapes = 2m
    assert dr.error_ratio_window(cat) == "2m"
    rule = next(r for r in dr.dr_rules(cat) if r["alert"] == "DRErrorRatioHigh")
    assert '[2m]' in rule["expr"] and 'env="prod"' in rule["expr"] and rule["for"] == "10m"


def test_time_compressed_catalog_scales_every_for_and_says_so() -> None:
    cat = synthetic(3, time_scale=0.1)
    fors = {a["alert"] + "/" + a["labels"].get("long_window", ""): a.get("for") for a in _alerts(cat)}
    assert fors["SLOErrorBudgetBurn/1h"] == "12s" and fors["SLOErrorBudgetBurn/3d"] == "18m"
    assert fors["DRPrimaryRegionUnavailable/"] == "3m" and fors["DRErrorRatioHigh/"] == "30s"
    assert fors["SLOMetricsAbsent/"] == "1m"
    assert fors["RPOBreached/"] == fors["BackupMissed/"] == "1m" and fors["ServiceTargetsDown/"] == "30s"
    for a in _alerts(cat):
        assert a["labels"][conventions.TIME_COMPRESSED_LABEL] == "true", a["alert"]
    for a in _alerts(synthetic(3)):
        assert conventions.TIME_COMPRESSED_LABEL not in a["labels"]
    am = build_alertmanager_config(cat)
    assert am["route"]["group_wait"] == "3s"


def test_tier_that_cannot_fire_is_warned_about_and_left_out(other_catalogs: dict[str, Catalog],
                                                           default_catalog: Catalog) -> None:
    cat = other_catalogs["custom-labels"]
    lines = warnings(cat)
    assert len(lines) == 1
    assert "latency SLO 90% over 28d (imaging-gateway)" in lines[0] and "page_fast" in lines[0]
    assert "134.4%" in lines[0]
    imaging = [a for a in _alerts(cat, "SLOLatencyBudgetBurn") if a["labels"]["objective"] == "90"]
    assert {a["labels"]["long_window"] for a in imaging} == {"1d", "3d"}  # 1h cannot fire, 6h is disabled
    assert warnings(default_catalog) == []


def test_disabled_tier_and_configured_for(other_catalogs: dict[str, Catalog]) -> None:
    cat = other_catalogs["custom-labels"]
    assert not [a for a in _alerts(cat) if a["labels"].get("long_window") == "6h"]
    assert {a["for"] for a in _alerts(cat) if a["labels"].get("long_window") == "3d"} == {"1h"}


def test_min_events_guard_is_configurable() -> None:
    assert all(a["expr"].endswith(">= 7") for a in _alerts(synthetic(2, min_events=7)) if "BudgetBurn" in a["alert"])


def test_absence_alert_one_rule_per_severity(default_catalog: Catalog) -> None:
    rules = burnrate.absent_rules(default_catalog)
    assert [r["labels"]["severity"] for r in rules] == ["page", "ticket"]
    page = rules[0]["expr"].split("\nor\n")
    assert page == [promql.metric_absent(default_catalog, s, "production")
                    for s in ("auth-gateway", "clinical-records", "patient-registry")]
    assert rules[0]["for"] == "10m"


def test_free_text_cannot_break_templates() -> None:
    text = yaml.safe_dump({"version": 1, "name": "t", "regions": [{"name": "a", "role": "primary"}],
                           "environments": [{"name": "production", "namespace": "p"}],
                           "services": [{"name": "s", "slos": {"availability": {"objective": 99}}}],
                           "dr": {"failover_procedure": ["run {{ kubectl }} $now", "tell {{$labels.x}}"]}})
    cat = parse_catalog(text)
    ann = next(r for r in dr.dr_rules(cat) if r["alert"] == "DRManualTrigger")["annotations"]
    assert ann["failover_procedure"] == '1. run {{ "{{" }} kubectl }} $now\n2. tell {{ "{{" }}$labels.x}}'
    assert common.expand(ann["failover_procedure"], {}) == "1. run {{ kubectl }} $now\n2. tell {{$labels.x}}"


def test_formats(default_catalog: Catalog) -> None:
    files = render(default_catalog, "files")
    assert set(files) == {RECORDING_FILE, SLO_FILE, DR_FILE, RECOVERY_FILE, TARGETS_FILE, "alertmanager.yml",
                          "tests/zarish-dr.test.yml", "tests/zarish-slo.test.yml", "tests/zarish-recovery.test.yml",
                          "tests/zarish-targets.test.yml"}
    cm = render(default_catalog, "configmap")
    rules = yaml.safe_load(cm["prometheus-rules-configmap.yaml"])
    assert rules["kind"] == "ConfigMap" and rules["metadata"]["namespace"] == "zarish-his-monitoring"
    assert rules["data"] == rule_files(default_catalog)
    amcm = yaml.safe_load(cm["alertmanager-configmap.yaml"])
    assert yaml.safe_load(amcm["data"]["alertmanager.yml"]) == build_alertmanager_config(default_catalog)
    op = render(default_catalog, "operator")
    docs = list(yaml.safe_load_all(op["prometheusrules.yaml"]))
    assert [d["kind"] for d in docs] == ["PrometheusRule"] * 5
    assert {d["apiVersion"] for d in docs} == {"monitoring.coreos.com/v1"}
    assert [d["spec"]["groups"] for d in docs] == list(rule_groups(default_catalog).values())
    with pytest.raises(ValueError):
        render(default_catalog, "helm")


def test_alertmanager_routes_inhibits_and_uses_catalog_labels(other_catalogs: dict[str, Catalog]) -> None:
    cat = other_catalogs["custom-labels"]
    am = build_alertmanager_config(cat, webhook_url="http://127.0.0.1:1/hook")
    route = am["route"]
    assert route["group_by"] == ["alertname", "env", "app"]
    assert [r["receiver"] for r in route["routes"]] == ["zarish-dr", "zarish-ticket", "zarish-page", "zarish-ticket"]
    assert 'env!="prod"' in route["routes"][1]["matchers"]
    assert {w["url"] for r in am["receivers"] for w in r["webhook_configs"]} == {"http://127.0.0.1:1/hook"}
    page_inhibit, region_inhibit = am["inhibit_rules"]
    assert page_inhibit["equal"] == ["alertname", "env", "app", "slo"]
    assert region_inhibit["source_matchers"] == ['alertname="DRPrimaryRegionUnavailable"']
    assert region_inhibit["equal"] == ["region"]
    default_url = build_alertmanager_config(cat)["receivers"][0]["webhook_configs"][0]["url"]
    assert default_url == cat.alerting.webhook_url


def test_email_and_slack_only_by_file_reference(tmp_path: Path, default_catalog: Catalog) -> None:
    secret = "s3cr3t-smtp-password-value"
    pw = tmp_path / "smtp-password"
    pw.write_text(secret)
    env = {"ZARISH_ALERT_EMAIL_TO": "oncall@zarishsphere.com", "ZARISH_SMTP_SMARTHOST": "smtp.example.org:587",
           "ZARISH_SMTP_USERNAME": "alerts", "ZARISH_SMTP_PASSWORD_FILE": str(pw),
           "ZARISH_SLACK_CHANNEL": "#zarish-oncall"}
    text = to_yaml(build_alertmanager_config(default_catalog, None, **receivers_from_env(default_catalog, env)))
    assert secret not in text and str(pw) in text
    am = yaml.safe_load(text)
    page = next(r for r in am["receivers"] if r["name"] == "zarish-page")
    assert page["email_configs"][0]["auth_password_file"] == str(pw)
    assert page["slack_configs"][0]["api_url_file"] == "/etc/alertmanager/secrets/slack-webhook-url"
    assert "api_url" not in page["slack_configs"][0]
    assert "email_configs" not in next(r for r in am["receivers"] if r["name"] == "zarish-default")
    assert receivers_from_env(default_catalog, {}) == {}
    with pytest.raises(ZarishError):
        receivers_from_env(default_catalog, {"ZARISH_ALERT_EMAIL_TO": "a@b.c"})


def test_generation_is_deterministic(default_catalog: Catalog, other_catalogs: dict[str, Catalog]) -> None:
    for cat in (default_catalog, *other_catalogs.values()):
        assert render(cat, "files") == render(cat, "files")


def test_generated_test_files_reference_the_rule_files(default_catalog: Catalog) -> None:
    files = render(default_catalog, "files")
    slo = yaml.safe_load(files["tests/zarish-slo.test.yml"])
    assert slo["rule_files"] == [f"../{RECORDING_FILE}", f"../{SLO_FILE}"]
    assert slo["group_eval_order"] == [g["name"] for g in rule_groups(default_catalog)[RECORDING_FILE]
                                       + rule_groups(default_catalog)[SLO_FILE]]
    burn = slo["tests"][0]
    # One check the step before and one at the expiry of each tier's for: (2m, 15m, 1h, 3h after 5m).
    times = {t["eval_time"] for t in burn["alert_rule_test"]}
    assert times == {"6m", "7m", "19m", "20m", "1h4m", "1h5m", "3h4m", "3h5m"}
    envs = {re.search(r'environment="([^"]+)"', s["series"]).group(1) for s in burn["input_series"]}
    assert envs == {"production", "zero-traffic", "low-traffic"}
    assert yaml.safe_load(files["tests/zarish-dr.test.yml"])["rule_files"] == [f"../{DR_FILE}"]
    assert yaml.safe_load(files["tests/zarish-recovery.test.yml"])["rule_files"] == [f"../{RECOVERY_FILE}"]
    assert yaml.safe_load(files["tests/zarish-targets.test.yml"])["rule_files"] == [f"../{TARGETS_FILE}"]


def test_golden_alerts_default(default_catalog: Catalog) -> None:
    for name, text in render(default_catalog, "files").items():
        assert_golden(f"alerts/{name}", text)


def test_cli_generate_writes_files_and_warns(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    (out).mkdir()
    (out / "keep.txt").write_text("mine")
    custom = Path(__file__).parent / "data" / "catalogs" / "custom-labels.yaml"
    assert main(["alerts", "generate", "--catalog", str(custom), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "page_fast" in captured.err and "can never fire" in captured.err
    assert (out / SLO_FILE).exists() and (out / "tests" / "zarish-slo.test.yml").exists()
    assert (out / "keep.txt").read_text() == "mine"
    assert main(["alerts", "generate", "--out", str(tmp_path / "op"), "--format", "operator",
                 "--webhook-url", "http://hooks.internal/x"]) == 0
    assert "http://hooks.internal/x" in (tmp_path / "op" / "alertmanager.yml").read_text()
    assert capsys.readouterr().err == ""


def test_cli_bad_catalog_exit_65(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nname: x\n")
    assert main(["alerts", "generate", "--catalog", str(bad), "--out", str(tmp_path / "o")]) == 65
    assert main(["alerts", "test", "--catalog", str(bad)]) == 65
    assert "Traceback" not in capsys.readouterr().err


def test_once_a_minute_groups_follow_time_scale(default_catalog: Catalog) -> None:
    """A time-compressed stack must not hold its alerts pending for an uncompressed minute."""
    from zarish_obs.alerts.recording import long_group_interval

    assert long_group_interval(default_catalog) == "1m"
    assert long_group_interval(default_catalog.model_copy(update={"time_scale": 0.5})) == "30s"
    fast = default_catalog.prometheus.model_copy(update={"evaluation_interval": "1s", "scrape_interval": "1s",
                                                         "scrape_timeout": "1s"})
    assert long_group_interval(default_catalog.model_copy(update={"time_scale": 0.02, "prometheus": fast})) is None
