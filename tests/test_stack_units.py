"""The local stack's parts one at a time: workload description, exporter traffic, scenarios, configs,
receiver, state directory. Fast; the real binaries check what they would read."""

from __future__ import annotations

import itertools
import json
import math
import os
import subprocess
import time
from pathlib import Path, PurePosixPath

import pytest
import requests
import yaml

from tests.conftest import catalog_file
from zarish_obs import conventions, maintenance, procs, promtool
from zarish_obs.catalog import Catalog, load_catalog, parse_catalog
from zarish_obs.durations import parse_duration
from zarish_obs.errors import CatalogError, ExitCode, ZarishError
from zarish_obs.scrape.kubernetes import pod_relabel_configs
from zarish_obs.stack import configs, history, layout, scenarios
from zarish_obs.stack.exporter import Infra, PodTraffic
from zarish_obs.stack.layout import Component, Layout, StackState, cmdline_mentions, proc_starttime
from zarish_obs.stack.observe import received
from zarish_obs.stack.plan import START_ORDER, StackPlan, build_plan
from zarish_obs.stack.workload import (
    DRILL_WINDOW,
    buckets,
    pod_keys,
    pod_targets,
    probe_urls,
    status_codes,
    workload_config,
)
from zarish_obs.writers import to_yaml


def _workload(cat: Catalog, tmp: Path, base_port: int = 20000) -> dict:
    ports = {key: base_port + i for i, key in enumerate(pod_keys(cat))}
    return workload_config(cat, ports, base_port - 1, str(tmp / "scenario.json"), "http://127.0.0.1:9")


def _all_catalogs(default_catalog: Catalog, other_catalogs: dict[str, Catalog]) -> list[Catalog]:
    return [default_catalog, *other_catalogs.values()]


def test_workload_has_a_pod_per_service_and_environment(default_catalog, other_catalogs, tmp_path):
    for cat in _all_catalogs(default_catalog, other_catalogs):
        wl = _workload(cat, tmp_path)
        pods = wl["pods"]
        assert {(p["service"], p["environment"]) for p in pods} == {
            (s.name, e.name) for s in cat.services for e in cat.environments}
        assert len({p["port"] for p in pods}) == len(pods)
        dr_env = cat.dr.error_ratio.environment
        assert {p["environment"] for p in pods if p["affected"]} == {dr_env}
        targets = pod_targets(wl)
        assert len(targets) == len(pods) + 1
        for t in targets:
            assert t.address.startswith("127.0.0.1:")
            assert t.annotations["prometheus.io/scrape"] == "true"
            assert t.address.endswith(":" + t.annotations["prometheus.io/port"])
        probes = probe_urls(wl)
        assert set(probes) == {r.name for r in cat.regions}
        for region in cat.regions:
            assert len(probes[region.name]) == max(1, len(region.probes))


def test_status_codes_follow_the_catalog_error_regex(other_catalogs):
    ok, errors = status_codes(other_catalogs["custom-labels"].metrics.error_status_regex)
    assert ok and errors
    assert all(c.startswith("5") for c in errors)
    assert not any(c.startswith("5") or c == "429" for c in ok)
    assert status_codes("2..|5..")[0] == ["304", "404"]
    with pytest.raises(CatalogError):
        status_codes("...")
    with pytest.raises(CatalogError):
        status_codes("4..")


def test_buckets_include_every_latency_threshold(default_catalog, other_catalogs):
    for cat in _all_catalogs(default_catalog, other_catalogs):
        bounds = buckets(cat)
        assert bounds == sorted(set(bounds))
        for svc in cat.services:
            if svc.slos.latency:
                assert svc.slos.latency.threshold_seconds in bounds


def _pod(wl: dict, service: str, environment: str) -> dict:
    return next(p for p in wl["pods"] if p["service"] == service and p["environment"] == environment)


def _run(traffic: PodTraffic, scenario: str, seconds: int, start: float) -> float:
    for t in range(1, seconds + 1):
        traffic.advance(start + t, scenarios.get(scenario))
    return start + seconds


def _parse(text: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def test_exporter_exposition_passes_promtool_check_metrics(default_catalog, other_catalogs, tmp_path):
    for cat in _all_catalogs(default_catalog, other_catalogs):
        wl = _workload(cat, tmp_path)
        pod = wl["pods"][0]
        traffic = PodTraffic(pod, wl)
        _run(traffic, "healthy", 30, traffic.last)
        text = traffic.render()
        result = promtool.check_metrics(text)
        assert result.ok, result.output
        m = cat.metrics
        assert f'{m.requests_total}{{{m.service_label}="{pod["service"]}",{m.status_label}="200"' in text
        assert f'{m.latency_histogram}_bucket{{{m.service_label}="{pod["service"]}"' in text


def test_traffic_shares_follow_the_scenario_and_counters_only_grow(default_catalog, tmp_path):
    wl = _workload(default_catalog, tmp_path)
    m = default_catalog.metrics
    prod = _pod(wl, "patient-registry", "production")
    staging = _pod(wl, "patient-registry", "staging")
    a, b = PodTraffic(prod, wl), PodTraffic(staging, wl)
    start = a.last = b.last = 1_000_000.0
    previous: dict[str, float] = {}

    def errors_and_total(t: PodTraffic) -> tuple[float, float]:
        values = _parse(t.render())
        for key, value in values.items():
            if key.endswith("_total") or "_bucket" in key or key.endswith("_count"):
                assert value >= previous.get(key, 0), f"{key} went down"
                previous[key] = value
        total = sum(v for k, v in values.items() if k.startswith(m.requests_total + "{"))
        bad = sum(v for k, v in values.items() if k.startswith(m.requests_total + "{") and 'status="5' in k)
        return bad, total

    now = _run(a, "healthy", 600, start)
    _run(b, "healthy", 600, start)
    bad0, total0 = errors_and_total(a)
    budget = prod["error_budget"]
    assert total0 == pytest.approx(prod["rate"] * 600, rel=0.15)
    assert bad0 / total0 < budget  # healthy stays well inside the budget
    _run(a, "error-storm", 600, now)
    _run(b, "error-storm", 600, now)
    bad1, total1 = errors_and_total(a)
    assert (bad1 - bad0) / (total1 - total0) == pytest.approx(0.5, abs=0.02)
    bad_b, total_b = errors_and_total(b)
    assert bad_b / total_b < staging["error_budget"]  # only the DR environment is affected


def _share_above(traffic: PodTraffic, threshold: float) -> float:
    values = _parse(traffic.render())
    bucket = next(v for k, v in values.items() if "_bucket" in k and f'le="{float(threshold)!r}"' in k)
    count = next(v for k, v in values.items() if k.split("{")[0].endswith("_count"))
    return 1 - bucket / count


def test_slow_scenario_pushes_latency_over_the_threshold(default_catalog, tmp_path):
    wl = _workload(default_catalog, tmp_path)
    pod = _pod(wl, "auth-gateway", "production")
    threshold = pod["latency_threshold"]
    healthy, slow = PodTraffic(pod, wl), PodTraffic(pod, wl)
    start = healthy.last = slow.last = 1_000_000.0
    _run(healthy, "healthy", 600, start)
    _run(slow, "slow", 600, start)
    assert _share_above(healthy, threshold) < 0.1 * (1 - 99.0 / 100)
    # log-normal, median twice the threshold, sigma 0.5: P(X > t) = Phi(ln 2 / 0.5)
    expected = 0.5 * (1 + math.erf(math.log(2) / 0.5 / math.sqrt(2)))
    assert _share_above(slow, threshold) == pytest.approx(expected, abs=0.01)


def test_infra_follows_the_scenario(default_catalog, tmp_path):
    wl = _workload(default_catalog, tmp_path)
    file = Path(wl["scenario_file"])
    infra = Infra(wl, scenarios.ScenarioFile(file))
    primary = default_catalog.primary_region.name
    paths = {h["region"]: h["path"] for h in wl["infra"]["health"]}
    scenarios.write_scenario(file, "healthy")
    assert infra.lag_seconds() < 300 and infra.health(paths[primary]) == 200
    assert infra.backup_age() < 3600 * default_catalog.time_scale
    scenarios.write_scenario(file, "replication-lag")
    assert infra.lag_seconds() > 300
    scenarios.write_scenario(file, "region-down")
    assert infra.health(paths[primary]) == 503
    assert infra.health(paths["chittagong"]) == 200
    assert infra.health("/health/nowhere/0") is None
    scenarios.write_scenario(file, "backup-stale")
    assert infra.backup_age() > 3600


def test_backup_ages_straddle_the_compressed_rpo_and_the_missed_threshold(default_catalog, tmp_path):
    """Fresh is younger than the compressed RPO, stale older than the schedule's interval plus grace."""
    fast = configs.local_catalog(default_catalog, 0.02)
    wl = _workload(fast, tmp_path)
    file = Path(wl["scenario_file"])
    infra = Infra(wl, scenarios.ScenarioFile(file))
    scenarios.write_scenario(file, "healthy")
    assert 0 < infra.backup_age() < conventions.timings(fast).seconds(fast.dr.rpo)
    scenarios.write_scenario(file, "backup-stale")
    assert infra.backup_age() > conventions.backup_missed_after_seconds(fast) > parse_duration(fast.dr.rpo)


def test_infra_history_is_backfilled_with_the_labels_prometheus_gives_it(default_catalog, tmp_path):
    """The lag as scraped from the infra pod's target; the backup timestamp as the Pushgateway job, which
    honours pushed labels, stores it (only `job`)."""
    wl = _workload(default_catalog, tmp_path)
    file = Path(wl["scenario_file"])
    scenarios.write_scenario(file, "healthy")
    cfg = wl["infra"]
    scraped, pushed = Infra(wl, scenarios.ScenarioFile(file)).history(1000.0, 1100.0, 10)
    assert [s["name"] for s in scraped] == [cfg["replication_lag_metric"]]
    assert [(s["name"], s["labels"]) for s in pushed] == [(cfg["backup_metric"], {"job": cfg["backup_job"]})]
    backup = pushed[0]["samples"]
    assert [t for t, _ in backup] == [1000.0 + 10 * i for i in range(11)]
    assert all(t - v == pytest.approx(cfg["fresh_backup_age_seconds"]) for t, v in backup)
    assert all(0 < v < cfg["replication_lag_threshold_seconds"] for _, v in scraped[0]["samples"])
    target = {"job": "kubernetes-pods", "instance": f"127.0.0.1:{cfg['port']}", "app": "postgres-exporter"}
    doc = {"end": 1100.0, "pods": [{"port": cfg["port"], "series": scraped}], "pushed": pushed}
    fams = {f.name: f for f in history.families([doc], {target["instance"]: target})}
    assert [labels for _, labels, _ in fams[cfg["replication_lag_metric"]].series] == [target]
    assert [labels for _, labels, _ in fams[cfg["backup_metric"]].series] == [{"job": cfg["backup_job"]}]
    with pytest.raises(ZarishError, match="no scrape target"):
        history.families([doc], {})


def test_scenario_file_is_reread_and_survives_garbage(tmp_path):
    file = tmp_path / "scenario.json"
    watched = scenarios.ScenarioFile(file)
    assert watched.get().name == "healthy"
    scenarios.write_scenario(file, "error-storm")
    assert watched.get().name == "error-storm"
    file.write_text("{not json")
    assert watched.get().name == "error-storm"
    scenarios.write_scenario(file, "slow")
    assert watched.get().name == "slow"
    with pytest.raises(ValueError, match="unknown scenario"):
        scenarios.get("meteor-strike")
    assert scenarios.names() == ["healthy", "error-storm", "replication-lag", "region-down", "slow",
                                 "backup-stale", "maintenance"]


def test_time_compressed_catalog_is_labelled(default_catalog):
    same = configs.local_catalog(default_catalog, 1.0)
    assert same.prometheus == default_catalog.prometheus and configs.compression_note(same) is None
    fast = configs.local_catalog(default_catalog, 0.02)
    assert fast.time_scale == 0.02
    assert (fast.prometheus.scrape_interval, fast.prometheus.evaluation_interval) == ("1s", "1s")
    assert conventions.timings(fast).error_ratio_for == "6s"
    note = configs.compression_note(fast) or ""
    assert note.startswith("TIME-COMPRESSED") and "5m -> 6s" in note and "30m -> 36s" in note
    with pytest.raises(ValueError):
        configs.local_catalog(default_catalog, 0)


def test_local_prometheus_config_passes_promtool_with_the_plans_relabelling(default_catalog, other_catalogs,
                                                                             tmp_path):
    for cat in _all_catalogs(default_catalog, other_catalogs):
        local = configs.local_catalog(cat, 0.02)
        wl = _workload(local, tmp_path)
        rules = tmp_path / "rules.yml"
        rules.write_text("groups: []\n")
        prom = configs.prometheus_config(local, wl, alertmanager="127.0.0.1:1", blackbox="127.0.0.1:2",
                                         pushgateway="127.0.0.1:3", rule_files=[str(rules)])
        path = tmp_path / f"{cat.name}.yml"
        path.write_text(to_yaml(prom))
        result = promtool.check_config(path)
        assert result.ok, result.output
        assert result.note == ""  # no Kubernetes SD left: the real, unmodified file was checked
        jobs = {j["job_name"]: j for j in prom["scrape_configs"]}
        pods = jobs["kubernetes-pods"]
        assert pods["relabel_configs"] == pod_relabel_configs()
        assert len(pods["static_configs"]) == len(cat.services) * len(cat.environments) + 1
        probed = {t for g in jobs["region-probes"]["static_configs"] for t in g["targets"]}
        assert probed == {u for urls in probe_urls(wl).values() for u in urls}
        assert prom["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["127.0.0.1:1"]
        assert prom["global"]["scrape_interval"] == "1s"
        assert all("127.0.0.1" in t for j in prom["scrape_configs"] for g in j.get("static_configs", [])
                   for t in g["targets"])


def test_blackbox_config_is_accepted_by_the_blackbox_exporter(default_catalog, tmp_path):
    path = tmp_path / "blackbox.yml"
    path.write_text(to_yaml(configs.blackbox_config(default_catalog)))
    proc = subprocess.run([procs.binary("blackbox"), f"--config.file={path}", "--config.check"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    path.write_text("modules: {http_2xx: {prober: http, htttp: {}}}\n")  # a typo must be caught
    bad = subprocess.run([procs.binary("blackbox"), f"--config.file={path}", "--config.check"],
                         capture_output=True, text=True, timeout=30)
    assert bad.returncode != 0


def test_receiver_records_every_notification(tmp_path):
    port = procs.free_port()
    file = tmp_path / "received.jsonl"
    proc = procs.start("receiver", procs.python_module("zarish_obs.stack.receiver", str(file), str(port)),
                       tmp_path / "receiver.log", f"http://127.0.0.1:{port}", "/-/ready")
    with procs.running(proc):
        payload = {"version": "4", "status": "firing", "alerts": [
            {"status": "firing", "labels": {"alertname": "DRErrorRatioHigh", "dr_trigger": "error_ratio"},
             "annotations": {"summary": "s"}, "startsAt": "2030-01-01T00:00:00.123456789Z"},
            {"status": "resolved", "labels": {"alertname": "Other"}, "startsAt": "2020-01-01T00:00:00Z"}]}
        r = requests.post(f"http://127.0.0.1:{port}/alerts", json=payload, timeout=5)
        assert r.status_code == 200
        requests.post(f"http://127.0.0.1:{port}/alerts", data=b"not json", timeout=5)
        got = received(file, "DRErrorRatioHigh")
        assert [a["labels"]["dr_trigger"] for a in got] == ["error_ratio"]
        assert received(file, "DRErrorRatioHigh", since=time.time()) == got  # startsAt is in 2030
        assert received(file, "Other") == []  # resolved, not firing
        assert received(file, "Other", status="resolved")[0]["labels"]["alertname"] == "Other"
        listed = requests.get(f"http://127.0.0.1:{port}/alerts", timeout=5).json()
        assert len(listed) == 2 and listed[1]["payload"] == "not json"


def test_state_round_trip_and_pid_reuse_guard(tmp_path):
    layout = Layout(tmp_path / "s")
    me = Component("self", "receiver", 1, "http://127.0.0.1:1", "/", pid=os.getpid(),
                   starttime=proc_starttime(os.getpid()))
    state = StackState(dir=str(layout.root), catalog="c.yaml", catalog_name="n", time_scale=0.5, started_at=1.0)
    layout.record(state, me)
    back = layout.read_state()
    assert back is not None and back.to_json() == state.to_json()
    assert layout.pid_files() == {"self": os.getpid()}
    assert back.components["self"].alive()
    reused = Component("x", "receiver", 1, "", "/", pid=os.getpid(), starttime="1")
    assert not reused.alive()  # same PID, different process start time: not ours
    assert cmdline_mentions(os.getpid(), ["pytest", "python"])
    assert not cmdline_mentions(os.getpid(), ["prometheus-alertmanager"])
    layout.state_file.write_text("{broken")
    with pytest.raises(Exception, match="unreadable stack state"):
        layout.read_state()
    layout.forget()
    assert layout.read_state() is None and layout.pid_files() == {}


def test_exporter_processes_serve_the_workload(tmp_path):
    """The scenario file is named relative to the workload file, as in the plan, and the processes run
    elsewhere: they must find it beside the workload file, not in their working directory."""
    cat = load_catalog(catalog_file("minimal.yaml"))
    ports = {key: procs.free_port() for key in pod_keys(cat)}
    infra_port = procs.free_port()
    stack, elsewhere = tmp_path / "stack", tmp_path / "elsewhere"
    stack.mkdir()
    elsewhere.mkdir()
    file = stack / "scenario.json"
    scenarios.write_scenario(file, "healthy")
    wl = workload_config(cat, ports, infra_port, file.name, "http://127.0.0.1:9")
    (stack / "workload.json").write_text(json.dumps(wl))
    svc = cat.services[0].name
    base = procs.python_module("zarish_obs.stack.exporter", str(stack / "workload.json"))
    port = next(iter(ports.values()))
    exporter = procs.start("exporter", [*base, "--service", svc], tmp_path / "e.log", f"http://127.0.0.1:{port}",
                           "/-/ready", cwd=elsewhere)
    infra = procs.start("infra", [*base, "--infra"], tmp_path / "i.log", f"http://127.0.0.1:{infra_port}", "/metrics",
                        cwd=elsewhere)
    with procs.running(exporter), procs.running(infra):
        first = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        assert promtool.check_metrics(first).ok
        time.sleep(1.1)
        scenarios.write_scenario(file, "error-storm")
        time.sleep(1.1)
        second = _parse(requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text)
        assert sum(v for k, v in second.items() if 'status="5' in k) >= 10  # ~20 req/s, half failing
        health = f"http://127.0.0.1:{infra_port}/health/{cat.primary_region.name}/0"
        assert requests.get(health, timeout=5).status_code == 200
        scenarios.write_scenario(file, "region-down")
        assert requests.get(health, timeout=5).status_code == 503
        lag = requests.get(f"http://127.0.0.1:{infra_port}/metrics", timeout=5).text
        assert promtool.check_metrics(lag).ok and cat.dr.replication_lag.metric in lag


NOW = 1_800_000_123.0


def _plan(cat: Catalog, first_port: int = 20000, time_scale: float = 0.02, now: float = NOW) -> StackPlan:
    return build_plan(cat, time_scale, "healthy", ports=itertools.count(first_port).__next__, now=now)


def test_plan_is_pure_and_fixed_ports_give_the_same_plan(default_catalog, monkeypatch):
    def no_io(*args: object, **kwargs: object) -> None:
        raise AssertionError("build_plan did I/O")

    monkeypatch.setattr(procs, "free_port", no_io)
    monkeypatch.setattr(subprocess, "Popen", no_io)
    first, second = _plan(default_catalog), _plan(default_catalog)
    assert first == second
    assert _plan(default_catalog, first_port=21000).files != first.files
    later = _plan(default_catalog, now=NOW + 3600)
    assert later.history["start"] > first.history["start"]
    assert later.components == first.components and later.files[layout.PROMETHEUS_YML] == first.files[
        layout.PROMETHEUS_YML]


def test_plan_puts_every_component_on_its_own_loopback_port(default_catalog, other_catalogs):
    for cat in _all_catalogs(default_catalog, other_catalogs):
        plan = _plan(cat)
        comps = [*plan.components, plan.history_helper]
        for c in comps:
            assert c.url == f"http://127.0.0.1:{c.port}", c
        assert [c.kind for c in plan.components] == sorted((c.kind for c in plan.components), key=START_ORDER.index)
        assert {c.kind for c in plan.components} == set(START_ORDER)
        exporters = plan.of_kind("exporter")
        assert [c.extra["service"] for c in exporters] == [s.name for s in cat.services]
        ports = [c.port for c in comps if c.kind != "exporter"] + [p for c in exporters for p in c.extra["ports"]]
        assert len(ports) == len(set(ports)) == len(comps) - len(exporters) + len(plan.workload["pods"])
        for c in exporters:
            assert c.extra["ports"] == [p["port"] for p in plan.workload["pods"] if p["service"] == c.extra["service"]]
        assert plan.workload["infra"]["port"] == plan.component("infra").port
        assert plan.workload["infra"]["pushgateway"] == plan.component("pushgateway").url
        prom = yaml.safe_load(plan.files[layout.PROMETHEUS_YML])
        targets = [t for j in prom["scrape_configs"] for g in j.get("static_configs", []) for t in g["targets"]]
        targets += prom["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
        assert targets and all(t.startswith("127.0.0.1:") or t.startswith("http://127.0.0.1:") for t in targets)
        am = yaml.safe_load(plan.files[layout.ALERTMANAGER_YML])
        hooks = [w["url"] for r in am["receivers"] for w in r.get("webhook_configs", [])]
        assert hooks and set(hooks) == {f"{plan.component('receiver').url}/alerts"}
        flags = plan.component("prometheus").extra["flags"]
        assert flags == configs.prometheus_flags(True) and _plan(cat, time_scale=1).component(
            "prometheus").extra["flags"] == []


def test_plan_files_pass_promtool_and_amtool(default_catalog, other_catalogs, tmp_path):
    """Written as the stack writes them: prometheus.yml names its rule files relative to itself, and
    promtool (without --syntax-only) finds and checks every one of them there."""
    for cat in _all_catalogs(default_catalog, other_catalogs):
        plan = _plan(cat)
        root = tmp_path / cat.name
        for relative, text in plan.files.items():
            (root / relative).parent.mkdir(parents=True, exist_ok=True)
            (root / relative).write_text(text)
        config = promtool.run_tool("promtool", "check", "config", str(root / layout.PROMETHEUS_YML))
        assert config.ok, config.output
        assert f"SUCCESS: {len(plan.rule_files)} rule files found" in config.output
        rules = promtool.check_rules(*(root / p for p in plan.rule_files))
        assert rules.ok, rules.output
        am = promtool.check_alertmanager(root / layout.ALERTMANAGER_YML)
        assert am.ok, am.output
        prom = yaml.safe_load(plan.files[layout.PROMETHEUS_YML])
        config_dir = PurePosixPath(layout.PROMETHEUS_YML).parent
        assert sorted(str(config_dir / r) for r in prom["rule_files"]) == sorted(plan.rule_files)


def test_plan_catalog_copy_workload_and_scenario(default_catalog):
    plan = _plan(default_catalog)
    text = plan.files[layout.CATALOG]
    assert parse_catalog(text, layout.CATALOG) == plan.catalog
    assert plan.catalog.time_scale == 0.02 and plan.note and plan.note in text
    assert json.loads(plan.files[layout.WORKLOAD]) == plan.workload
    assert plan.workload["history"] == plan.history and plan.history["start"] <= NOW
    assert plan.workload["scenario_file"] == layout.SCENARIO
    doc = json.loads(plan.files[layout.SCENARIO])
    assert (doc["name"], doc["since"]) == ("healthy", NOW)
    with pytest.raises(ValueError, match="unknown scenario"):
        build_plan(default_catalog, 1.0, "meteor-strike", ports=itertools.count(20000).__next__, now=NOW)


def test_plan_never_hands_out_a_port_twice(default_catalog):
    repeating = iter(n // 3 + 20000 for n in itertools.count())  # every port offered three times
    plan = build_plan(default_catalog, 1.0, "healthy", ports=lambda: next(repeating), now=NOW)
    ports = [c.port for c in plan.components if c.kind != "exporter"] + [p["port"] for p in plan.workload["pods"]]
    assert len(ports) == len(set(ports))
    with pytest.raises(ZarishError, match="no free loopback port"):
        build_plan(default_catalog, 1.0, "healthy", ports=lambda: 20000, now=NOW)


def test_drill_window_covers_one_service_for_the_stacks_life_and_its_rules_pass_promtool(default_catalog, tmp_path):
    plan = build_plan(default_catalog, 0.02, "maintenance", ports=itertools.count(20000).__next__, now=NOW,
                      drill=True)
    window = next(w for w in plan.catalog.maintenance if w.name == DRILL_WINDOW)
    drill = configs.drill_service(default_catalog)
    assert drill.tier == "standard"
    assert (window.services, window.environments, window.exclude_from_slo, window.suppress_dr) == (
        [drill.name], [default_catalog.dr.error_ratio.environment], True, False)
    opens = [(o.start, o.end) for o in maintenance.openings(plan.catalog, window, NOW - 7200, NOW + 30 * 86400)]
    assert len(opens) == 1 and opens[0][0] <= plan.history["start"] and opens[0][1] >= NOW + 6 * 86400
    assert parse_catalog(plan.files[layout.CATALOG], layout.CATALOG) == plan.catalog
    assert {f"{p['service']}/{p['environment']}" for p in plan.workload["pods"] if p["drill"]} == {
        f"{drill.name}/{default_catalog.dr.error_ratio.environment}"}
    rules = "".join(plan.files[p] for p in plan.rule_files)
    assert conventions.MAINTENANCE_ACTIVE in rules
    for relative, text in plan.files.items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(text)
    checked = promtool.check_rules(*(tmp_path / p for p in plan.rule_files))
    assert checked.ok, checked.output
    # Without --maintenance-drill there is nothing for the scenario to storm, and the catalog keeps its windows.
    assert not _plan(default_catalog).catalog.maintenance
    with pytest.raises(ZarishError, match="start it with `zarish-obs stack up --maintenance-drill`") as refused:
        build_plan(default_catalog, 0.02, "maintenance", ports=itertools.count(20000).__next__, now=NOW)
    assert refused.value.exit_code == ExitCode.USAGE
    clash = default_catalog.model_copy(update={"maintenance": [window]})
    with pytest.raises(ZarishError, match=f"already has a maintenance window named '{DRILL_WINDOW}'"):
        build_plan(clash, 0.02, "healthy", ports=itertools.count(20000).__next__, now=NOW, drill=True)


def test_maintenance_scenario_storms_only_the_pod_inside_the_drill_window(default_catalog):
    plan = build_plan(default_catalog, 0.02, "healthy", ports=itertools.count(20000).__next__, now=NOW, drill=True)
    wl = json.loads(plan.files[layout.WORKLOAD])
    m = default_catalog.metrics
    drill = configs.drill_service(default_catalog).name
    env = default_catalog.dr.error_ratio.environment
    other = next(s.name for s in default_catalog.services if s.name != drill)

    def error_share(pod: dict[str, object], scenario: str) -> float:
        traffic = PodTraffic(pod, wl)
        traffic.last = NOW
        _run(traffic, scenario, 600, NOW)
        values = _parse(traffic.render())
        total = sum(v for k, v in values.items() if k.startswith(m.requests_total + "{"))
        return sum(v for k, v in values.items() if k.startswith(m.requests_total + "{") and 'status="5' in k) / total

    inside, outside = _pod(wl, drill, env), _pod(wl, other, env)
    expected = scenarios.get("maintenance").error_fraction
    assert error_share(inside, "maintenance") == pytest.approx(expected, abs=0.02)
    assert error_share(outside, "maintenance") < outside["error_budget"]
    assert error_share(inside, "error-storm") == pytest.approx(0.5, abs=0.02)  # the storm spares no window
