"""Scrape configuration: promtool-valid, deterministic, atomic, and the relabelling works in a real Prometheus."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import yaml

from tests.golden import assert_golden
from zarish_obs import procs
from zarish_obs.catalog import Catalog
from zarish_obs.promtool import check_config, run_tool
from zarish_obs.scrape.config import Topology, build_prometheus_config
from zarish_obs.scrape.kubernetes import PodTarget
from zarish_obs.scrape.networkpolicy import metrics_policies
from zarish_obs.scrape.render import render
from zarish_obs.stack.main import main
from zarish_obs.writers import to_yaml

HERE = Path(__file__).resolve().parent


def _all_catalogs(default_catalog: Catalog, other_catalogs: dict[str, Catalog]) -> dict[str, Catalog]:
    return {"default": default_catalog, **other_catalogs}


def test_every_generated_config_passes_promtool(tmp_path: Path, default_catalog: Catalog,
                                                 other_catalogs: dict[str, Catalog]) -> None:
    cats = _all_catalogs(default_catalog, other_catalogs)
    assert len(cats) >= 3
    for name, cat in cats.items():
        for fmt in ("files", "configmap"):
            files = render(cat, fmt)
            if fmt == "configmap":
                cm = yaml.safe_load(files["prometheus-configmap.yaml"])
                assert cm["kind"] == "ConfigMap" and cm["metadata"]["name"] == "prometheus-config"
                assert cm["metadata"]["namespace"] == cat.monitoring_namespace
                text = cm["data"]["prometheus.yml"]
            else:
                text = files["prometheus.yml"]
            path = tmp_path / f"{name}-{fmt}.yml"
            path.write_text(text)
            result = check_config(path)
            assert result.ok, f"{name}/{fmt}: {result.output}"


def test_dr_plan_design_is_reproduced(default_catalog: Catalog) -> None:
    cfg = build_prometheus_config(default_catalog)
    assert cfg["global"]["scrape_interval"] == "15s" and cfg["global"]["evaluation_interval"] == "15s"
    assert cfg["global"]["external_labels"] == {"cluster": "zarish-his-prod", "region": "dhaka"}
    assert cfg["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["alertmanager:9093"]
    jobs = {j["job_name"]: j for j in cfg["scrape_configs"]}
    assert {"kubernetes-apiservers", "kubernetes-nodes", "kubernetes-pods", "region-probes"} <= set(jobs)
    assert jobs["kubernetes-apiservers"]["relabel_configs"][0]["regex"] == "default;kubernetes;https"
    pods = jobs["kubernetes-pods"]
    assert pods["kubernetes_sd_configs"][0]["role"] == "pod"
    assert "zarish-his-prod" in pods["kubernetes_sd_configs"][0]["namespaces"]["names"]
    targets = {r.get("target_label") for r in pods["relabel_configs"]}
    assert {"__metrics_path__", "__address__", "kubernetes_namespace", "kubernetes_pod_name"} <= targets
    probes = jobs["region-probes"]
    regions = {g["labels"]["region"] for g in probes["static_configs"]}
    assert regions == {"dhaka", "chittagong"}
    assert "remote_write" not in cfg


def test_remote_write_uses_files_not_secrets(other_catalogs: dict[str, Catalog]) -> None:
    cfg = build_prometheus_config(other_catalogs["custom-labels"])
    rw = cfg["remote_write"][0]
    assert rw["url"] == "https://mimir.example.org/api/v1/push"
    assert rw["basic_auth"] == {"username": "referral", "password_file": "/etc/prometheus/secrets/mimir-password"}
    assert "pushgateway" not in {j["job_name"] for j in cfg["scrape_configs"]}


def test_network_policies_admit_monitoring_to_metrics_ports(default_catalog: Catalog,
                                                            other_catalogs: dict[str, Catalog]) -> None:
    pols = metrics_policies(default_catalog)
    assert [p["metadata"]["namespace"] for p in pols] == ["zarish-his-prod", "zarish-his-staging", "zarish-his-dev"]
    rule = pols[0]["spec"]["ingress"][0]
    assert rule["from"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "zarish-his-monitoring"}
    assert rule["ports"] == [{"protocol": "TCP", "port": 9090}]
    custom = metrics_policies(other_catalogs["custom-labels"])
    assert custom[0]["spec"]["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 8001},
                                                       {"protocol": "TCP", "port": 9102}]


def test_golden_scrape_default(default_catalog: Catalog) -> None:
    for fmt in ("files", "configmap"):
        for name, text in render(default_catalog, fmt).items():
            assert_golden(f"scrape/{fmt}/{name}", text)


def test_cli_generate_is_deterministic_atomic_and_leaves_other_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep-me.txt").write_text("mine")
    assert main(["scrape", "generate", "--out", str(out)]) == 0
    first = (out / "prometheus.yml").read_bytes()
    assert main(["scrape", "generate", "--out", str(out)]) == 0
    assert (out / "prometheus.yml").read_bytes() == first
    assert (out / "keep-me.txt").read_text() == "mine"
    assert sorted(p.name for p in out.iterdir()) == ["keep-me.txt", "prometheus.yml"]
    assert main(["scrape", "generate", "--out", str(out), "--format", "configmap"]) == 0
    assert {"networkpolicies.yaml", "prometheus-configmap.yaml"} <= {p.name for p in out.iterdir()}


def test_cli_unwritable_out_is_one_line_exit_73(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["scrape", "generate", "--out", str(blocker / "sub")]) == 73
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(blocker) in err[0] and "Traceback" not in err[0]


def test_cli_bad_catalog_exit_65(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nname: x\nregions: []\nenvironments: []\nservices: []\n")
    assert main(["scrape", "generate", "--catalog", str(bad), "--out", str(tmp_path / "o")]) == 65
    assert not (tmp_path / "o").exists()
    err = capsys.readouterr().err
    assert f"{bad}:3: regions: at least one entry is required" in err


def _exporter(port: int, path: str, service: str, env: str, log: Path) -> procs.Proc:
    argv = [sys.executable, str(HERE / "exporter.py"), str(port), path, service, env]
    return procs.start("exporter", argv, log, f"http://127.0.0.1:{port}", path)


def test_real_prometheus_applies_annotation_relabelling(tmp_path: Path, default_catalog: Catalog) -> None:
    """Same relabelling as the Kubernetes job, on static targets carrying the __meta labels a pod would."""
    cat = default_catalog.model_copy(update={"prometheus": default_catalog.prometheus.model_copy(
        update={"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"})})
    port = procs.free_port()
    exporter = _exporter(port, "/custom-metrics", "patient-registry", "production", tmp_path / "exporter.log")
    annotated = PodTarget(
        address="127.0.0.1:1",  # the container port; prometheus.io/port must replace it
        namespace="zarish-his-prod", pod="patient-registry-7d9f-abcde",
        labels={"app": "patient-registry", "version": "1.0.0", "app.kubernetes.io/part-of": "zarish-his"},
        annotations={"prometheus.io/scrape": "true", "prometheus.io/port": str(port),
                     "prometheus.io/path": "/custom-metrics"},
    )
    opted_out = PodTarget(address=f"127.0.0.1:{port}", namespace="zarish-his-prod", pod="no-scrape",
                          annotations={"prometheus.io/scrape": "false"})
    topo = Topology(alertmanagers=[], rule_files=[], blackbox="127.0.0.1:9", pushgateway=None,
                    pods=[annotated, opted_out], probes={}, cluster_jobs=False)
    config = tmp_path / "prometheus.yml"
    config.write_text(to_yaml(build_prometheus_config(cat, topo)))
    checked = run_tool("promtool", "check", "config", str(config))
    assert checked.ok, checked.output
    prom = procs.start_prometheus(config, tmp_path / "data")
    try:
        deadline = time.monotonic() + 30
        series: list[dict] = []
        while time.monotonic() < deadline and not series:
            r = requests.get(f"{prom.url}/api/v1/query", params={"query": 'http_requests_total{status="500"}'},
                             timeout=5)
            series = r.json()["data"]["result"]
            time.sleep(0.3)
        assert len(series) == 1, series
        labels = series[0]["metric"]
        assert labels["kubernetes_namespace"] == "zarish-his-prod"
        assert labels["kubernetes_pod_name"] == "patient-registry-7d9f-abcde"
        assert labels["app"] == "patient-registry" and labels["version"] == "1.0.0"
        assert labels["app_kubernetes_io_part_of"] == "zarish-his"
        assert labels["instance"] == f"127.0.0.1:{port}"
        assert labels["job"] == "kubernetes-pods"
        assert labels["service"] == "patient-registry" and labels["environment"] == "production"
        up = requests.get(f"{prom.url}/api/v1/targets", timeout=5).json()["data"]
        active = up["activeTargets"]
        assert len(active) == 1 and active[0]["scrapeUrl"] == f"http://127.0.0.1:{port}/custom-metrics"
        assert any(t["discoveredLabels"].get("__meta_kubernetes_pod_name") == "no-scrape"
                   for t in up["droppedTargets"])
    finally:
        prom.stop()
        exporter.stop()
    assert not prom.alive() and not exporter.alive()


def test_generated_prometheus_yml_starts_a_real_server_shape(tmp_path: Path) -> None:
    """The cluster config's Kubernetes-free parts load in `promtool check config` without --syntax-only."""
    out = tmp_path / "o"
    proc = subprocess.run([sys.executable, "-m", "zarish_obs.stack.main", "scrape", "generate", "--out", str(out)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(out / "prometheus.yml")
    result = check_config(out / "prometheus.yml")
    assert result.ok and "Kubernetes" in result.note
