"""`alerts generate --target prometheus|vmalert|thanos|mimir`: the Prometheus files unchanged, vmalert's files
accepted by the real vmalert and evaluated by it against a real VictoriaMetrics into a page at a real
Alertmanager, Thanos's field checked by our schema (and the rest by promtool), Mimir's namespaces."""

from __future__ import annotations

import copy
import json
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from jsonschema import Draft202012Validator

from tests.golden import assert_golden
from tests.webhook import Hook
from zarish_obs import conventions, procs, promtool
from zarish_obs.alerts import engines
from zarish_obs.alerts.render import ALERTMANAGER_FILE, RECORDING_FILE, SLO_FILE, render, rule_groups
from zarish_obs.catalog import Catalog, parse_catalog
from zarish_obs.stack import history
from zarish_obs.stack.configs import local_catalog
from zarish_obs.stack.main import main
from zarish_obs.stack.scenarios import write_scenario
from zarish_obs.stack.workload import pod_key, workload_config
from zarish_obs.writers import to_yaml, write_files


def _catalogs(default_catalog: Catalog, other_catalogs: dict[str, Catalog]) -> dict[str, Catalog]:
    scaled = local_catalog(default_catalog, 0.02)  # the local stack's compressed time: 1 s evaluations
    return {"default": default_catalog, **other_catalogs, "default-time-scale-0.02": scaled}


def _flat(files: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return [r for groups in files.values() for g in groups for r in g["rules"]]


def _key(rule: dict[str, Any]) -> str:
    return json.dumps(rule, sort_keys=True)


# --- prometheus ---------------------------------------------------------------------------------------------------

def test_prometheus_target_is_todays_output_byte_for_byte(tmp_path: Path, default_catalog: Catalog,
                                                          other_catalogs: dict[str, Catalog],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    for name, cat in _catalogs(default_catalog, other_catalogs).items():
        assert engines.render_target(cat, "prometheus") == render(cat, "files"), name
    for var in ("ZARISH_ALERT_EMAIL_TO", "ZARISH_SLACK_CHANNEL"):
        monkeypatch.delenv(var, raising=False)
    assert main(["alerts", "generate", "--out", str(tmp_path / "default")]) == 0
    assert main(["alerts", "generate", "--target", "prometheus", "--out", str(tmp_path / "explicit")]) == 0
    written = {p.relative_to(tmp_path / "default").as_posix(): p.read_bytes()
               for p in sorted((tmp_path / "default").rglob("*")) if p.is_file()}
    explicit = {p.relative_to(tmp_path / "explicit").as_posix(): p.read_bytes()
                for p in sorted((tmp_path / "explicit").rglob("*")) if p.is_file()}
    expected = {k: v.encode() for k, v in render(default_catalog, "files").items()}
    assert written == explicit == expected


# --- which recorded series a rule reads, and the order that follows -------------------------------------------------

def test_records_read_follows_the_selectors() -> None:
    records = {"a:x:rate5m", "a:y:rate5m", "b:x:increase5m"}
    assert engines.records_read("sum(rate(raw_total[5m]))", records) == set()
    assert engines.records_read('sum_over_time(b:x:increase5m{slo="a"}[1d:5m]) / a:x:rate5m', records) == \
        {"b:x:increase5m", "a:x:rate5m"}
    assert engines.records_read('{__name__=~"a:.*"} unless on (service) a', records) == {"a:x:rate5m", "a:y:rate5m"}
    assert engines.records_read('{__name__!="a:x:rate5m", job="j"}', records) == {"a:y:rate5m", "b:x:increase5m"}
    assert engines.records_read('{service="a:x:rate5m"}', records) == records  # no name: it may read any of them
    assert engines.records_read('label_replace(up, "a:x:rate5m", "$1", "b:x:increase5m", "(.*)")', records) == set()


def _rule(record: str, expr: str) -> dict[str, Any]:
    return {"record": record, "expr": expr}


def test_dependency_order_moves_readers_after_what_they_read() -> None:
    files = {
        "alerts.yml": [{"name": "alerts", "rules": [{"alert": "A", "expr": "l:ratio > 1"}]}],
        "recording.yml": [
            {"name": "long", "interval": "1m", "rules": [_rule("l:ratio", "sum_over_time(s:inc[1d:5m])")]},
            {"name": "short", "rules": [_rule("s:inc", "increase(raw[5m]) unless on (s) s:active"),
                                        _rule("s:active", "raw_active"),
                                        _rule("s:other", "raw_other")]},
        ],
    }
    ordered = engines.dependency_ordered(files)
    assert list(ordered) == ["recording.yml", "alerts.yml"]
    assert [g["name"] for g in ordered["recording.yml"]] == ["short", "long"]
    assert [r["record"] for r in ordered["recording.yml"][0]["rules"]] == ["s:active", "s:inc", "s:other"]
    assert ordered["recording.yml"][1]["interval"] == "1m"
    assert sorted(map(_key, _flat(ordered))) == sorted(map(_key, _flat(files)))
    assert engines.dependency_ordered(ordered) == ordered  # already in order: nothing moves

    same_name = {"r.yml": [{"name": "g", "rules": [_rule("x:r", "x:r offset 1h"), _rule("x:r", "raw")]}]}
    assert engines.dependency_ordered(same_name) == same_name  # reading its own record imposes nothing
    cycle = {"r.yml": [{"name": "g", "rules": [_rule("p:r", "q:r"), _rule("q:r", "p:r")]}]}
    with pytest.raises(ValueError, match="cycle: g/p:r, g/q:r"):
        engines.dependency_ordered(cycle)


def _placed_after_inputs(files: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Rules that read a record no earlier rule (in -rule order, group order, rule order) produced."""
    every = {r["record"] for r in _flat(files) if "record" in r}
    seen: set[str] = set()
    bad = []
    for rule in _flat(files):
        own = {rule["record"]} if "record" in rule else set()
        missing = engines.records_read(rule["expr"], every) - seen - own
        if missing:
            bad.append(f"{rule.get('record', rule.get('alert'))} reads {sorted(missing)} before they are recorded")
        seen |= own
    return bad


def test_vmalert_files_hold_the_same_rules_each_after_its_inputs(default_catalog: Catalog,
                                                                 other_catalogs: dict[str, Catalog]) -> None:
    for name, cat in _catalogs(default_catalog, other_catalogs).items():
        prom = rule_groups(cat)
        vm = engines.vmalert_groups(cat)
        assert next(iter(vm)) == RECORDING_FILE and set(vm) == set(prom), name
        assert sorted(map(_key, _flat(vm))) == sorted(map(_key, _flat(prom))), name
        assert {g["name"]: {k: v for k, v in g.items() if k != "rules"} for gs in vm.values() for g in gs} == \
            {g["name"]: {k: v for k, v in g.items() if k != "rules"} for gs in prom.values() for g in gs}, name
        assert _placed_after_inputs(vm) == [], name
    # The check is real: the Prometheus layout read backwards breaks it, and the ordering repairs it.
    backwards = {n: [{**g, "rules": g["rules"][::-1]} for g in gs[::-1]]
                 for n, gs in reversed(rule_groups(other_catalogs["maintenance"]).items())}
    assert _placed_after_inputs(backwards)
    assert _placed_after_inputs(engines.dependency_ordered(backwards)) == []


def test_vmalert_refuses_fields_vmalert_does_not_know(default_catalog: Catalog) -> None:
    files = copy.deepcopy(rule_groups(default_catalog))
    files[SLO_FILE][0]["partial_response_strategy"] = "abort"
    with pytest.raises(ValueError, match=r"zarish-slo-alerts-fast has fields vmalert 1\.79 refuses: "
                                         r"partial_response_strategy"):
        engines.check_vmalert_fields(files)
    files = copy.deepcopy(rule_groups(default_catalog))
    files[RECORDING_FILE][0]["rules"][0]["keep_firing_for"] = "5m"
    with pytest.raises(ValueError, match="keep_firing_for"):
        engines.check_vmalert_fields(files)


# --- vmalert's flags --------------------------------------------------------------------------------------------

def test_vmalert_flags_golden(default_catalog: Catalog) -> None:
    settings = engines.VmalertSettings(rule_dir="/etc/vmalert/rules")
    text = engines.render_target(default_catalog, "vmalert", vmalert=settings)[engines.VMALERT_FLAGS_FILE]
    assert_golden("alerts-engines/vmalert.flags", text)


def test_vmalert_flags_follow_the_catalog_and_the_store(default_catalog: Catalog) -> None:
    fast = local_catalog(default_catalog, 0.02)
    settings = engines.VmalertSettings(rule_dir="/rules/", datasource_url="http://vmselect:8481/select/0/prometheus",
                                       remote_write_url="http://vminsert:8480/insert/0/prometheus",
                                       notifier_urls=("http://am-0:9093", "http://am-1:9093"), latency_offset="0s")
    flags = engines.vmalert_flags(fast, settings)
    assert [f for f in flags if f.startswith("-rule=")] == [f"-rule=/rules/{n}" for n in engines.vmalert_groups(fast)]
    assert "-datasource.url=http://vmselect:8481/select/0/prometheus" in flags
    assert "-remoteWrite.url=http://vminsert:8480/insert/0/prometheus" in flags
    assert "-remoteRead.url=http://vmselect:8481/select/0/prometheus" in flags
    assert [f for f in flags if f.startswith("-notifier.url=")] == ["-notifier.url=http://am-0:9093",
                                                                   "-notifier.url=http://am-1:9093"]
    assert not any(f.startswith("-datasource.lookback") for f in flags)  # a store that hides nothing
    assert "-evaluationInterval=1s" in flags
    assert "-remoteWrite.flushInterval=500ms" in flags  # under the 1 s rounds
    assert "-disableAlertgroupLabel" in flags
    assert f"-external.label=region={default_catalog.primary_region.name}" in flags
    default = engines.vmalert_flags(default_catalog, engines.VmalertSettings(rule_dir="/r"))
    assert "-datasource.lookback=30s" in default and "-remoteWrite.flushInterval=5s" in default
    assert "-notifier.url=http://alertmanager:9093" in default


@pytest.mark.parametrize(("args", "message"), [
    (["--target", "thanos", "--latency-offset", "1s"], "--latency-offset: only with --target vmalert"),
    (["--datasource-url", "http://vm:8428"], "--datasource-url: only with --target vmalert"),
    (["--target", "mimir", "--format", "configmap"], "--format configmap: only with --target prometheus"),
    (["--target", "vmalert", "--latency-offset", "soon"], "--latency-offset: 'soon' is not a duration"),
])
def test_cli_usage_errors_exit_64_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str],
                                              message: str) -> None:
    assert main(["alerts", "generate", "--out", str(tmp_path / "o"), *args]) == 64
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not (tmp_path / "o").exists()


@pytest.mark.real
def test_every_vmalert_file_passes_vmalert_dry_run(tmp_path: Path, default_catalog: Catalog,
                                                   other_catalogs: dict[str, Catalog]) -> None:
    for name, cat in _catalogs(default_catalog, other_catalogs).items():
        out = tmp_path / name
        files = engines.render_target(cat, "vmalert", vmalert=engines.VmalertSettings(rule_dir=str(out)))
        write_files(out, files)
        flags = files[engines.VMALERT_FLAGS_FILE].split()
        # every generated flag, so vmalert also parses them (it exits after checking the rules)
        proc = subprocess.run([procs.binary("vmalert"), "-dryRun", *flags], capture_output=True, text=True,
                              timeout=60)
        assert proc.returncode == 0, f"{name}: {proc.stderr[-2000:]}"
        assert sum(f.startswith("-rule=") for f in flags) == len(rule_groups(cat))
    # ... and vmalert does refuse what the field check refuses: a Thanos file.
    thanos = tmp_path / "thanos"
    write_files(thanos, engines.render_target(default_catalog, "thanos"))
    proc = subprocess.run([procs.binary("vmalert"), "-dryRun", f"-rule={thanos / SLO_FILE}"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode != 0 and "unknown fields in group" in proc.stderr + proc.stdout


# --- Thanos -----------------------------------------------------------------------------------------------------

def _validator() -> Draft202012Validator:
    Draft202012Validator.check_schema(engines.THANOS_RULE_FILE_SCHEMA)
    return Draft202012Validator(engines.THANOS_RULE_FILE_SCHEMA)


def test_thanos_strategy_aborts_for_pages_and_dr_and_warns_otherwise(default_catalog: Catalog) -> None:
    strategies = {g["name"]: g[engines.THANOS_FIELD] for gs in engines.thanos_groups(default_catalog).values()
                  for g in gs}
    assert strategies == {
        "zarish-signals": "warn", "zarish-slo-short-windows": "warn", "zarish-slo-long-windows": "warn",
        "zarish-slo-alerts-fast": "abort",  # page tiers
        "zarish-slo-alerts-slow": "abort",  # ticket tiers, and SLOMetricsAbsent pages for critical services
        "zarish-dr-triggers": "abort", "zarish-recovery": "abort",  # DR triggers; RPOBreached pages
        "zarish-targets": "warn",
    }
    ticket_only = {"name": "t", "rules": [{"alert": "T", "expr": "up == 0", "labels": {"severity": "ticket"}}]}
    assert engines.thanos_strategy(ticket_only) == engines.WARN
    ticket_only["rules"][0]["labels"][conventions.DR_TRIGGER_LABEL] = "manual"
    assert engines.thanos_strategy(ticket_only) == engines.ABORT


@pytest.mark.real
def test_thanos_files_match_our_schema_and_pass_promtool_without_the_field(
        tmp_path: Path, default_catalog: Catalog, other_catalogs: dict[str, Catalog]) -> None:
    validator = _validator()
    paths, with_field = [], []
    for name, cat in _catalogs(default_catalog, other_catalogs).items():
        files = engines.render_target(cat, "thanos")
        assert files[ALERTMANAGER_FILE] == render(cat, "files")[ALERTMANAGER_FILE]
        for file_name, groups in rule_groups(cat).items():
            doc = yaml.safe_load(files[file_name])
            assert list(validator.iter_errors(doc)) == [], (name, file_name)
            assert engines.without_thanos_field(doc["groups"]) == groups  # nothing else changed
            paths.append(tmp_path / f"{name}-{file_name}")
            paths[-1].write_text(to_yaml({"groups": engines.without_thanos_field(doc["groups"])}))
            with_field.append(tmp_path / f"{name}-with-field-{file_name}")
            with_field[-1].write_text(files[file_name])
    result = promtool.check_rules(*paths)
    assert result.ok, result.output
    assert result.output.count("SUCCESS") == len(paths)
    assert not promtool.check_rules(with_field[0]).ok  # why the field is removed before promtool sees it


@pytest.mark.parametrize("edit", ["missing", "misspelt", "upper-case", "number", "unknown-field"])
def test_thanos_schema_rejects_bad_strategies(default_catalog: Catalog, edit: str) -> None:
    doc = yaml.safe_load(engines.render_target(default_catalog, "thanos")[SLO_FILE])
    group = doc["groups"][0]
    if edit == "missing":
        del group[engines.THANOS_FIELD]
    elif edit == "misspelt":
        group[engines.THANOS_FIELD] = "abrt"
    elif edit == "upper-case":
        group[engines.THANOS_FIELD] = "ABORT"  # Thanos would read it; we always write lower case
    elif edit == "number":
        group[engines.THANOS_FIELD] = 1
    else:
        group["partial_response"] = "warn"
    assert list(_validator().iter_errors(doc)), edit


# --- Mimir ------------------------------------------------------------------------------------------------------

@pytest.mark.real
def test_mimir_namespaces_one_per_rule_file(tmp_path: Path, default_catalog: Catalog,
                                            other_catalogs: dict[str, Catalog]) -> None:
    paths = []
    for name, cat in _catalogs(default_catalog, other_catalogs).items():
        spaces = engines.namespaces(cat)
        prom = rule_groups(cat)
        assert spaces == {file_name.removesuffix(".yml"): groups for file_name, groups in prom.items()}, name
        files = engines.render_target(cat, "mimir")
        assert set(files) == {*(f"{n}.yml" for n in spaces), ALERTMANAGER_FILE}
        for namespace, groups in spaces.items():
            assert len({g["name"] for g in groups}) == len(groups)  # group names are unique in a namespace
            doc = yaml.safe_load(files[f"{namespace}.yml"])
            assert doc == {"namespace": namespace, "groups": groups}
            paths.append(tmp_path / f"{name}-{namespace}.yml")
            paths[-1].write_text(to_yaml({"groups": doc["groups"]}))
    assert list(engines.namespaces(default_catalog)) == ["zarish-recording", "zarish-slo-alerts", "zarish-dr-alerts",
                                                         "zarish-recovery-alerts", "zarish-target-alerts"]
    result = promtool.check_rules(*paths)
    assert result.ok, result.output


@pytest.mark.real
def test_alerts_test_still_checks_the_prometheus_layout(capsys: pytest.CaptureFixture[str]) -> None:
    minimal = Path(__file__).resolve().parent / "data" / "catalogs" / "minimal.yaml"
    assert main(["alerts", "test", "--catalog", str(minimal), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and any(c["check"] == "promtool test rules" for c in report["checks"])


# --- vmalert against a real VictoriaMetrics ---------------------------------------------------------------------

BASE_CATALOG = """\
version: 1
name: clinic-vm
regions:
  - {name: sylhet, role: primary, probes: ["http://clinic-vm.example.org/health"]}
environments:
  - {name: production, namespace: clinic-prod}
services:
  - name: records
    slos:
      availability: {objective: 99.9, window: 30d}
  - name: billing
    slos:
      availability: {objective: 99.9, window: 30d}
dr:
  failover_procedure: ["Page the on-call engineer"]
"""
# The local stack's compression (stack.configs.local_catalog at 0.02): 1 s scrapes and evaluations, the page's for: 2 s.
COMPRESSED = "time_scale: 0.02\nprometheus: {scrape_interval: 1s, evaluation_interval: 1s, scrape_timeout: 1s}\n"
STORMED, CALM = "records", "billing"
SCRAPE_JOB = "zarish-e2e"
# VictoriaMetrics as installed: -search.latencyOffset is left at its 30 s default, and the flags ask 30 s back.
LATENCY = 30.0


def _rfc3339(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _import_history(vm_url: str, history_files: list[Path]) -> tuple[int, int]:
    """Each exporter's recent past into VictoriaMetrics with the labels its scrape gives the live samples (the
    same series continue); returns the span every file covers."""
    lines, starts, ends = [], [], []
    for path in history_files:
        doc = json.loads(path.read_text())
        ends.append(doc["end"])
        for pod in doc["pods"]:
            for series in pod["series"]:
                metric = {"__name__": series["name"], **series["labels"], "job": SCRAPE_JOB,
                          "instance": f"127.0.0.1:{pod['port']}"}
                starts.append(series["samples"][0][0])
                lines.append(json.dumps({"metric": metric, "values": [v for _, v in series["samples"]],
                                         "timestamps": [round(t * 1000) for t, _ in series["samples"]]}))
    r = requests.post(f"{vm_url}/api/v1/import", data="\n".join(lines) + "\n", timeout=30)
    assert r.status_code == 204, r.text[:300]
    return int(max(starts)), int(min(ends))


def _query(url: str, expr: str, at: float) -> list[dict[str, Any]]:
    r = requests.get(f"{url}/api/v1/query", params={"query": expr, "time": f"{at:.3f}"}, timeout=10)
    assert r.status_code == 200, (expr, r.text[:300])
    return r.json()["data"]["result"]


def _newest_sample(url: str, match: str) -> float:
    r = requests.get(f"{url}/api/v1/export", params={"match[]": match}, timeout=10)
    assert r.status_code == 200, r.text[:300]
    stamps = [t for line in r.text.splitlines() if line.strip() for t in json.loads(line)["timestamps"]]
    assert stamps, f"nothing stored for {match}"
    return max(stamps) / 1000


def _vmalert_alerts(url: str) -> list[dict[str, Any]]:
    r = requests.get(f"{url}/api/v1/alerts", timeout=5)
    assert r.status_code == 200, r.text[:300]
    return r.json()["data"]["alerts"]


def _wait(what: str, ok: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not ok():
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f}s waiting for {what}"
        time.sleep(0.5)


def _pages(hook: Hook, service: str) -> list[dict[str, Any]]:
    return [{"receiver": n["receiver"], **a} for n in list(hook.received) for a in n["alerts"]
            if a["labels"].get("alertname") == "SLOErrorBudgetBurn" and a["labels"].get("service") == service
            and a["status"] == "firing"]


@pytest.mark.real
@pytest.mark.slow
@pytest.mark.timeout(180)
def test_real_vmalert_on_victoria_metrics_pages_for_the_stormed_service_only(
        tmp_path: Path, hook: Hook, started: list[procs.Proc]) -> None:
    """Two services' exporters scraped by VictoriaMetrics (its own scraper, at its stock 30 s latency offset), their
    recent past imported and the recording rules replayed over it (the page's minimum-events guard reads the
    recorded 5-minute increase on the 5-minute grid), then vmalert run with exactly the generated flags: healthy
    traffic pages nobody; an error storm on one service ends in its page at the webhook behind a real
    Alertmanager, and the recorded series are in VictoriaMetrics, stamped with the time they describe."""
    base = parse_catalog(BASE_CATALOG, "base.yaml")
    catalog_file = tmp_path / "catalog.yaml"
    catalog_file.write_text(BASE_CATALOG + COMPRESSED)
    cat = parse_catalog(catalog_file.read_text(), str(catalog_file))
    assert cat == local_catalog(base, 0.02)
    budget = next(s for s in cat.services if s.name == STORMED).slos.availability.error_budget
    page_threshold = conventions.TIERS[0].factor("30d") * budget

    ports = {pod_key(s.name, "production"): procs.free_port() for s in cat.services}
    workload = workload_config(cat, ports, procs.free_port(), "scenario.json", "http://127.0.0.1:9")
    for pod in workload["pods"]:
        pod["affected"] = pod["service"] == STORMED
    workload["history"] = history.window(time.time(), cat.prometheus.scrape_interval)
    (tmp_path / "workload.json").write_text(json.dumps(workload))
    for svc in cat.services:
        argv = procs.python_module("zarish_obs.stack.exporter", str(tmp_path / "workload.json"), "--service",
                                   svc.name, "--history-out", str(tmp_path / f"history-{svc.name}.json"))
        started.append(procs.start(f"exporter-{svc.name}", argv, tmp_path / f"exporter-{svc.name}.log",
                                   f"http://127.0.0.1:{ports[pod_key(svc.name, 'production')]}", "/-/ready"))

    scrape = tmp_path / "scrape.yml"
    scrape.write_text(to_yaml({"global": {"scrape_interval": "1s"}, "scrape_configs": [
        {"job_name": SCRAPE_JOB, "static_configs": [{"targets": [f"127.0.0.1:{p}" for p in ports.values()]}]}]}))
    vm_port = procs.free_port()
    vm = procs.start("victoria-metrics", [procs.binary("victoria-metrics"), f"-storageDataPath={tmp_path / 'vm'}",
                                          f"-httpListenAddr=127.0.0.1:{vm_port}", "-retentionPeriod=100y",
                                          f"-promscrape.config={scrape}"],
                     tmp_path / "victoria-metrics.log", f"http://127.0.0.1:{vm_port}", "/health")
    started.append(vm)
    start, end = _import_history(vm.url, [tmp_path / f"history-{s.name}.json" for s in cat.services])

    out = tmp_path / "rules"
    am_port = procs.free_port()
    assert main(["alerts", "generate", "--catalog", str(catalog_file), "--target", "vmalert", "--out", str(out),
                 "--datasource-url", vm.url, "--notifier-url", f"http://127.0.0.1:{am_port}",
                 "--webhook-url", hook.url]) == 0
    flags = (out / engines.VMALERT_FLAGS_FILE).read_text().split()
    assert f"-datasource.lookback={LATENCY:g}s" in flags and f"-rule={out.absolute() / RECORDING_FILE}" in flags
    am = procs.start_alertmanager(out / ALERTMANAGER_FILE, tmp_path / "am-data", am_port)
    started.append(am)

    # The recording rules over the imported past, with the flags that shape recorded series (labels, store). Replay
    # asks for ranges at -datasource.queryStep (5m by default, one point for this past): 0s uses each group's interval.
    kept = ("-datasource.url=", "-remoteWrite.url=", "-evaluationInterval=", "-disableAlertgroupLabel",
            "-external.label=")
    replay = subprocess.run([procs.binary("vmalert"), f"-rule={out / RECORDING_FILE}",
                             *[f for f in flags if f.startswith(kept)], "-datasource.queryStep=0s",
                             f"-replay.timeFrom={_rfc3339(start)}",
                             f"-replay.timeTo={_rfc3339(end)}", "-replay.disableProgressBar",
                             f"-httpListenAddr=127.0.0.1:{procs.free_port()}"],
                            capture_output=True, text=True, timeout=90)
    assert replay.returncode == 0, replay.stderr[-2000:]
    grid = _query(vm.url, 'environment_service:zarish_slo_requests:increase5m{slo="availability"}',
                  (end // 300) * 300)
    assert sorted(r["metric"]["service"] for r in grid) == sorted(s.name for s in cat.services), grid
    assert all(float(r["value"][1]) >= cat.alerting.min_events for r in grid), grid

    va_port = procs.free_port()
    vmalert = procs.start("vmalert", [procs.binary("vmalert"), *flags, f"-httpListenAddr=127.0.0.1:{va_port}"],
                          tmp_path / "vmalert.log", f"http://127.0.0.1:{va_port}", "/health")
    started.append(vmalert)
    live = time.time()

    # Healthy: both services' ratios recorded by the running vmalert, well over the page's for:, and no page.
    def recorded_live() -> bool:
        return all(_newest_sample(vm.url, f'environment_service:zarish_slo_errors:ratio_rate5m{{service="{s.name}"}}')
                   > live - LATENCY + 4 for s in cat.services)
    _wait("vmalert's first recorded ratios", recorded_live, 30)
    time.sleep(4)
    assert not _pages(hook, STORMED) and not _pages(hook, CALM)
    assert not [a for a in _vmalert_alerts(vmalert.url) if a["name"] == "SLOErrorBudgetBurn"]

    write_scenario(tmp_path / "scenario.json", "error-storm")
    storm = time.time()
    _wait(f"the page for {STORMED}", lambda: _pages(hook, STORMED), 90)
    paged = time.time()
    page = _pages(hook, STORMED)[0]
    assert page["receiver"] == "zarish-page"
    assert {k: page["labels"].get(k) for k in ("severity", "environment", "slo", "long_window", "short_window",
                                               "region", "time_compressed")} == \
        {"severity": "page", "environment": "production", "slo": "availability", "long_window": "1h",
         "short_window": "5m", "region": "sylhet", "time_compressed": "true"}
    assert "alertgroup" not in page["labels"]
    # vmalert asks 30 s back, so the storm is seen (and the page sent) at least that long after it began.
    assert paged - storm >= LATENCY - 2, paged - storm
    assert not _pages(hook, CALM)

    # The recorded series: in VictoriaMetrics, without vmalert's group label, with the external labels, and the
    # newest stamped with the time it describes (evaluation time minus the lookback), not the time it was asked.
    at = time.time() - LATENCY - 1
    ratios = {r["metric"]["service"]: (r["metric"], float(r["value"][1])) for r in _query(
        vm.url, 'environment_service:zarish_slo_errors:ratio_rate5m{slo="availability"}', at)}
    assert set(ratios) == {STORMED, CALM}, ratios
    assert ratios[STORMED][1] > page_threshold > 10 * ratios[CALM][1], ratios
    for metric, _ in ratios.values():
        assert "alertgroup" not in metric and metric["cluster"] == cat.cluster and metric["region"] == "sylhet"
    newest = _newest_sample(vm.url, 'environment_service:zarish_slo_errors:ratio_rate1h{service="records"}')
    assert time.time() - LATENCY - 5 < newest <= time.time() - LATENCY + 1, time.time() - newest
    # vmalert 1.79 stamps ALERTS with the wall-clock time of the evaluation (not minus the lookback), inside the
    # store's latency offset: read it raw.
    def firing() -> list[dict[str, str]]:
        r = requests.get(f"{vm.url}/api/v1/export", timeout=10, params={
            "match[]": f'ALERTS{{alertname="SLOErrorBudgetBurn", alertstate="firing", service="{STORMED}"}}'})
        return [json.loads(line)["metric"] for line in r.text.splitlines() if line.strip()]
    _wait("the firing page's ALERTS series in VictoriaMetrics", firing, 15)
    assert [m["severity"] for m in firing()] == ["page"], firing()
