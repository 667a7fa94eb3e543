"""Sharded and HA scraping (`scrape generate --shards N --replicas R`): config shape, promtool, goldens, the
CLI, and the real thing: Prometheus shards (one an HA pair) remote-writing into one deduplicating
VictoriaMetrics that `monitor check` then reads."""

from __future__ import annotations

import hashlib
import json
import random
import time
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import DATA
from tests.golden import assert_golden
from zarish_obs import procs
from zarish_obs.catalog import Catalog, RemoteWrite, load_catalog
from zarish_obs.promql import Matcher, signals
from zarish_obs.promtool import check_config_offline
from zarish_obs.scrape.config import Topology, build_prometheus_config
from zarish_obs.scrape.kubernetes import PodTarget
from zarish_obs.scrape.probes import JOB_NAME as PROBES_JOB
from zarish_obs.scrape.render import render
from zarish_obs.scrape.shards import (
    HASH_LABEL,
    PODS_JOB,
    REPLICA_LABEL,
    SHARD_LABEL,
    Member,
    build_member_config,
    build_shard_configs,
    members,
    render_shards,
    victoria_metrics_dedup_flag,
    victoria_metrics_relabel_config,
)
from zarish_obs.stack.main import main
from zarish_obs.stack.workload import pod_key, workload_config
from zarish_obs.writers import to_yaml

SHARDS_CATALOG = DATA / "shards" / "catalog.yaml"


@pytest.fixture(scope="module")
def shards_catalog() -> Catalog:
    return load_catalog(SHARDS_CATALOG)


def jobs(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {j["job_name"]: j for j in config["scrape_configs"]}


# -- shape -------------------------------------------------------------------------------------------------------
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shards=st.integers(1, 9), replicas=st.integers(1, 4))
def test_config_shape_for_any_counts(shards_catalog: Catalog, shards: int, replicas: int) -> None:
    configs = build_shard_configs(shards_catalog, shards, replicas)
    assert len(configs) == shards * replicas
    single = build_prometheus_config(shards_catalog)
    seen = set()
    for name, cfg in configs.items():
        ext = cfg["global"]["external_labels"]
        shard, replica = int(ext[SHARD_LABEL]), ext[REPLICA_LABEL]
        assert name == f"prometheus-shard-{shard}-replica-{replica}.yml"
        seen.add((shard, replica))
        assert {k: v for k, v in ext.items() if k not in (SHARD_LABEL, REPLICA_LABEL)} == \
            single["global"]["external_labels"]
        assert cfg["remote_write"] == single["remote_write"]
        by_name = jobs(cfg)
        pods = by_name[PODS_JOB]
        added = pods["relabel_configs"][len(jobs(single)[PODS_JOB]["relabel_configs"]):]
        assert pods["relabel_configs"][:-len(added) or None] == jobs(single)[PODS_JOB]["relabel_configs"]
        if shards == 1:
            assert added == []
        else:
            assert added == [
                {"source_labels": ["__address__"], "modulus": shards, "target_label": HASH_LABEL,
                 "action": "hashmod"},
                {"source_labels": [HASH_LABEL], "regex": str(shard), "action": "keep"}]
        # jobs that must run once: every one on shard 0, none elsewhere
        assert set(by_name) == (set(jobs(single)) if shard == 0 else {PODS_JOB})
        if shards > 1:
            assert "rule_files" not in cfg and "alerting" not in cfg
        else:
            assert cfg["rule_files"] == single["rule_files"]
            relabel = cfg["alerting"].get("alert_relabel_configs")
            assert relabel == ([{"action": "labeldrop", "regex": REPLICA_LABEL}] if replicas > 1 else None)
    assert seen == {(s, "abcdefghijklmnopqrstuvwxyz"[r]) for s in range(shards) for r in range(replicas)}
    # replicas of one shard are identical but for the replica label
    for m in members(shards, replicas):
        twin = dict(configs[m.file_name], **{"global": dict(configs[m.file_name]["global"], external_labels={
            **configs[m.file_name]["global"]["external_labels"], REPLICA_LABEL: "a"})})
        assert twin == configs[Member(m.shard, "a").file_name]


def test_probes_and_cluster_jobs_only_on_shard_zero(shards_catalog: Catalog) -> None:
    configs = build_shard_configs(shards_catalog, 3, 2)
    with_probes = sorted(n for n, c in configs.items() if PROBES_JOB in jobs(c))
    assert with_probes == ["prometheus-shard-0-replica-a.yml", "prometheus-shard-0-replica-b.yml"]
    for n, c in configs.items():
        assert ("kubernetes-apiservers" in jobs(c)) == n.startswith("prometheus-shard-0-"), n


def test_builder_refuses_what_it_cannot_build(default_catalog: Catalog, shards_catalog: Catalog) -> None:
    with pytest.raises(ValueError, match="remote_write"):
        build_shard_configs(default_catalog, 2, 1)
    build_shard_configs(default_catalog, 1, 2)  # an HA pair alone needs no store
    for shards, replicas in ((0, 1), (1, 0), (257, 1), (1, 27)):
        with pytest.raises(ValueError):
            build_shard_configs(shards_catalog, shards, replicas)


def test_one_shard_one_replica_is_the_single_config(default_catalog: Catalog, shards_catalog: Catalog) -> None:
    for cat in (default_catalog, shards_catalog):
        for fmt in ("files", "configmap"):
            assert render_shards(cat, 1, 1, fmt) == render(cat, fmt)


# -- promtool and goldens ----------------------------------------------------------------------------------------
def test_every_generated_config_passes_promtool(tmp_path: Path, shards_catalog: Catalog,
                                                 other_catalogs: dict[str, Catalog],
                                                 default_catalog: Catalog) -> None:
    cases = [(shards_catalog, 2, 2), (shards_catalog, 3, 1), (other_catalogs["custom-labels"], 4, 2),
             (default_catalog, 1, 3)]
    checked = 0
    for cat, shards, replicas in cases:
        for name, text in render_shards(cat, shards, replicas).items():
            path = tmp_path / f"{cat.name}-{shards}-{replicas}" / name
            path.parent.mkdir(exist_ok=True)
            path.write_text(text)
            result = check_config_offline(path, [])
            assert result.ok, f"{path}: {result.output}"
            checked += 1
    assert checked == 4 + 3 + 8 + 3


def test_golden_shards(shards_catalog: Catalog) -> None:
    for name, text in render_shards(shards_catalog, 2, 2).items():
        assert_golden(f"scrape-shards/files/{name}", text)
    for name, text in render_shards(shards_catalog, 2, 1, "configmap").items():
        assert_golden(f"scrape-shards/configmap/{name}", text)
    for name, text in render_shards(load_catalog(), 1, 2).items():
        assert_golden(f"scrape-shards/ha-pair/{name}", text)


def test_configmaps_hold_the_files(shards_catalog: Catalog) -> None:
    files = render_shards(shards_catalog, 2, 2)
    maps = render_shards(shards_catalog, 2, 2, "configmap")["prometheus-shards-configmap.yaml"]
    docs = list(yaml.safe_load_all(maps))
    assert [d["metadata"]["name"] for d in docs] == [n.removesuffix(".yml") + "-config" for n in sorted(files)]
    for d in docs:
        assert d["metadata"]["namespace"] == shards_catalog.monitoring_namespace
        assert d["data"]["prometheus.yml"] == files[d["metadata"]["name"].removesuffix("-config") + ".yml"]


# -- CLI ---------------------------------------------------------------------------------------------------------
def test_cli_writes_one_file_per_server_atomically(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep-me.txt").write_text("mine")
    args = ["scrape", "generate", "--catalog", str(SHARDS_CATALOG), "--out", str(out), "--shards", "2",
            "--replicas", "2"]
    assert main(args) == 0
    names = ["prometheus-shard-0-replica-a.yml", "prometheus-shard-0-replica-b.yml",
             "prometheus-shard-1-replica-a.yml", "prometheus-shard-1-replica-b.yml"]
    assert capsys.readouterr().out.split() == [str(out / n) for n in names]
    first = {n: (out / n).read_bytes() for n in names}
    assert main(args) == 0
    assert {n: (out / n).read_bytes() for n in names} == first
    assert sorted(p.name for p in out.iterdir()) == sorted([*names, "keep-me.txt"])


def test_cli_defaults_unchanged(tmp_path: Path) -> None:
    """No --shards/--replicas, or 1 and 1: today's single prometheus.yml, byte for byte."""
    plain, explicit = tmp_path / "plain", tmp_path / "explicit"
    assert main(["scrape", "generate", "--out", str(plain)]) == 0
    assert main(["scrape", "generate", "--out", str(explicit), "--shards", "1", "--replicas", "1"]) == 0
    assert [p.name for p in explicit.iterdir()] == ["prometheus.yml"]
    assert (plain / "prometheus.yml").read_bytes() == (explicit / "prometheus.yml").read_bytes()
    golden = Path(__file__).parent / "golden" / "scrape" / "files" / "prometheus.yml"
    assert (plain / "prometheus.yml").read_text() == golden.read_text()


@pytest.mark.parametrize("args", [["--shards", "0"], ["--replicas", "0"], ["--shards", "257"],
                                  ["--replicas", "27"], ["--shards", "two"], ["--shards", "-1"]])
def test_cli_bad_counts_exit_64_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    capsys.readouterr()
    assert main(["scrape", "generate", "--catalog", str(SHARDS_CATALOG), "--out", str(tmp_path / "o"), *args]) == 64
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0] and args[0] in err[0], err
    assert not (tmp_path / "o").exists()


def test_cli_shards_without_remote_write_exit_65_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    minimal = DATA / "catalogs" / "minimal.yaml"
    capsys.readouterr()
    assert main(["scrape", "generate", "--catalog", str(minimal), "--out", str(tmp_path / "o"), "--shards", "2"]) == 65
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"{minimal}:") and "prometheus.remote_write" in err[0], err
    assert not (tmp_path / "o").exists()
    # the built-in catalog has no remote_write either; one shard with replicas needs none
    assert main(["scrape", "generate", "--out", str(tmp_path / "ha"), "--replicas", "2"]) == 0
    assert sorted(p.name for p in (tmp_path / "ha").iterdir()) == ["prometheus-shard-0-replica-a.yml",
                                                                  "prometheus-shard-0-replica-b.yml"]


# -- real servers ------------------------------------------------------------------------------------------------
def predicted_shard(address: str, shards: int) -> int:
    """Prometheus's hashmod (md5 of the value, low 8 bytes big-endian, modulo): used only to pick ports that split
    evenly; which shard keeps which target is always read back from the real servers."""
    return int.from_bytes(hashlib.md5(address.encode()).digest()[8:], "big") % shards


def pod(address_port: int, name: str, namespace: str, environment: str, host: str = "127.0.0.1") -> PodTarget:
    return PodTarget(address=f"{host}:1", namespace=namespace, pod=f"{name}-0",
                     labels={"app": name, "version": "local", "environment": environment},
                     annotations={"prometheus.io/scrape": "true", "prometheus.io/port": str(address_port),
                                  "prometheus.io/path": "/metrics"})


def local_topology(pods: list[PodTarget]) -> Topology:
    return Topology(alertmanagers=[], rule_files=[], blackbox="127.0.0.1:9", pushgateway=None, pods=pods, probes={},
                    cluster_jobs=False)


def start_shard(work: Path, config: dict[str, Any], name: str) -> procs.Proc:
    path = work / f"{name}.yml"
    path.write_text(to_yaml(config))
    return procs.start_prometheus(path, work / f"{name}-data")


def active_targets(prom: procs.Proc, job: str = PODS_JOB, want: int | None = None,
                   timeout: float = 15.0) -> set[str]:
    """Scrape URLs of the server's active targets of `job` (waits until `want` are listed, SD is asynchronous)."""
    deadline = time.monotonic() + timeout
    while True:
        data = requests.get(f"{prom.url}/api/v1/targets", params={"state": "active"}, timeout=5).json()["data"]
        found = {t["scrapeUrl"] for t in data["activeTargets"] if t["labels"].get("job") == job}
        dropped = requests.get(f"{prom.url}/api/v1/targets", params={"state": "dropped"}, timeout=5).json()["data"]
        if (want is None or len(found) + len(dropped["droppedTargets"]) >= want) or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


@pytest.mark.real
@pytest.mark.slow
def test_real_prometheus_shards_partition_many_targets(tmp_path: Path, shards_catalog: Catalog) -> None:
    """Three real Prometheus shards given the same 300 pods (addresses across hosts and ports) keep disjoint sets
    whose union is all of them; nothing needs to answer, the target lists are what is checked."""
    rng = random.Random(14)
    addresses = sorted({(f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
                         rng.randrange(1024, 65535)) for _ in range(300)})
    pods = [pod(port, f"svc-{i}", "clinic-prod", "production", host=host) for i, (host, port) in enumerate(addresses)]
    cat = shards_catalog.model_copy(update={"prometheus": shards_catalog.prometheus.model_copy(
        update={"scrape_interval": "4m", "scrape_timeout": "1s"})})
    servers = []
    try:
        for s in range(3):
            servers.append(start_shard(tmp_path, build_member_config(cat, 3, 1, Member(s, "a"), local_topology(pods)),
                                       f"shard-{s}"))
        kept = [active_targets(prom, want=len(pods)) for prom in servers]
    finally:
        for prom in servers:
            prom.stop()
    every = {f"http://{h}:{p}/metrics" for h, p in addresses}
    assert set().union(*kept) == every
    assert sum(len(k) for k in kept) == len(every)
    assert all(len(k) > len(every) / 6 for k in kept), [len(k) for k in kept]
    for s, k in enumerate(kept):  # and it is the hash we think it is
        assert {u for u in every if predicted_shard(u.removeprefix("http://").removesuffix("/metrics"), 3) == s} == k


RATES = (100.0, 200.0, 300.0, 400.0)  # requests per second of the four services, distinct so no two can be mixed up
SHARD_WINDOW = 20  # seconds: the direct query on a shard reads only data it has had for this long
# The store's 5m rate of a series younger than 5m is its mean rate since the first sample; the shard's is over the last
# SHARD_WINDOW seconds. Each exporter scales its rate by a uniform 0.9-1.1 draw at every scrape (sd 5.8%), so a 20 s
# mean varies by about 1.3%, and integer counters over 9 statuses move a 20 s window of >= 2,000 requests by under 1%.
# Both read the same counters, so they agree more closely still: over 6 runs (36 comparisons) the largest gap was
# 1.0%, and the largest gap to the exporter's nominal rate 2.9%. 5% (10% to the nominal rate) leaves room for a
# loaded machine; a store that kept both replicas of the HA pair is off by 100%.
TOLERANCE = 0.05


def start_victoria_metrics(work: Path, name: str, dedup: str | None,
                           relabel: list[dict[str, Any]] | None) -> procs.Proc:
    """VictoriaMetrics single node on loopback; `dedup` (-dedup.minScrapeInterval) and `relabel` (-relabelConfig)
    are what the shards' HA pair needs, None leaves them out (a store set up naively)."""
    port = procs.free_port()
    argv = [procs.binary("victoria-metrics"), f"-storageDataPath={work / name}", f"-httpListenAddr=127.0.0.1:{port}",
            "-search.latencyOffset=0s", "-retentionPeriod=100y"]
    if dedup:
        argv.append(victoria_metrics_dedup_flag(dedup))
    if relabel:
        path = work / f"{name}-relabel.yml"
        path.write_text(to_yaml(relabel))
        argv.append(f"-relabelConfig={path}")
    return procs.start(name, argv, work / f"{name}.log", f"http://127.0.0.1:{port}", "/health")


def query(url: str, expr: str, at: float) -> list[dict[str, Any]]:
    r = requests.get(f"{url}/api/v1/query", params={"query": expr, "time": f"{at:.3f}"}, timeout=10)
    assert r.status_code == 200, (url, expr, r.text[:300])
    return r.json()["data"]["result"]


def by_service(results: list[dict[str, Any]]) -> dict[str, float]:
    return {r["metric"]["service"]: float(r["value"][1]) for r in results}


def series(url: str, match: str) -> list[dict[str, str]]:
    r = requests.get(f"{url}/api/v1/series", params={"match[]": match}, timeout=10)
    assert r.status_code == 200, r.text[:300]
    return r.json()["data"]


def ports_split_evenly(shards: int, per_shard: int) -> list[list[int]]:
    """Free loopback ports, `per_shard` of them hashing to each shard (so each shard really gets a half)."""
    out: list[list[int]] = [[] for _ in range(shards)]
    while min(len(o) for o in out) < per_shard:
        port = procs.free_port()
        s = predicted_shard(f"127.0.0.1:{port}", shards)
        if len(out[s]) < per_shard and all(port not in o for o in out):
            out[s].append(port)
    return out


def wait_until(what: str, ok: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not ok():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def monitor_json(capsys: pytest.CaptureFixture[str], url: str, at: float) -> dict[str, Any]:
    capsys.readouterr()
    main(["monitor", "check", "--catalog", str(SHARDS_CATALOG), "--prometheus-url", url, "--at", f"{at:.3f}",
          "--format", "json", "--environment", "production"])
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    return json.loads(lines[0])


@pytest.mark.real
@pytest.mark.slow
@pytest.mark.timeout(150)
def test_real_shards_and_ha_pair_write_each_service_once_into_victoria_metrics(
        tmp_path: Path, shards_catalog: Catalog, started: list[procs.Proc],
        capsys: pytest.CaptureFixture[str]) -> None:
    """Shard 0 is an HA pair (replicas a and b), shard 1 a single server; four exporters, two per shard. All three
    remote-write to a VictoriaMetrics set up as the shards module says (replica label dropped, deduplication at the
    scrape interval) and, as a control, to one left at its defaults."""
    vm = start_victoria_metrics(tmp_path, "vm-dedup", "1s", victoria_metrics_relabel_config())
    started.append(vm)
    plain = start_victoria_metrics(tmp_path, "vm-plain", None, None)
    started.append(plain)
    prom = shards_catalog.prometheus.model_copy(update={
        "scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s",
        "remote_write": [RemoteWrite(url=f"{vm.url}/api/v1/write", name="victoria-metrics"),
                         RemoteWrite(url=f"{plain.url}/api/v1/write", name="control")]})
    cat = shards_catalog.model_copy(update={"prometheus": prom})
    services = [s.name for s in cat.services]
    halves = ports_split_evenly(2, 2)
    port_of = dict(zip(services, halves[0] + halves[1], strict=True))
    owner = {svc: 0 if port_of[svc] in halves[0] else 1 for svc in services}
    rate_of = dict(zip(services, RATES, strict=True))

    workload = workload_config(cat, {pod_key(s, "production"): p for s, p in port_of.items()}, procs.free_port(),
                               "scenario.json", "http://127.0.0.1:9")
    for p in workload["pods"]:
        p["rate"] = rate_of[p["service"]]
    (tmp_path / "workload.json").write_text(json.dumps(workload))
    for svc, port in port_of.items():
        argv = procs.python_module("zarish_obs.stack.exporter", str(tmp_path / "workload.json"), "--service", svc)
        started.append(procs.start(f"exporter-{svc}", argv, tmp_path / f"exporter-{svc}.log",
                                   f"http://127.0.0.1:{port}", "/-/ready"))

    topology = local_topology([pod(port_of[s], s, "clinic-prod", "production") for s in services])
    servers: dict[Member, procs.Proc] = {}
    for m in (Member(0, "a"), Member(0, "b"), Member(1, "a")):
        cfg = build_member_config(cat, 2, 2, m, topology)
        path = tmp_path / m.file_name
        path.write_text(to_yaml(cfg))
        checked = check_config_offline(path, [])
        assert checked.ok, checked.output
        servers[m] = procs.start_prometheus(path, tmp_path / f"{m.name}-data")
        started.append(servers[m])

    # The targets, as the servers themselves list them: the pair agrees, the shards are disjoint halves.
    url_of = {s: f"http://127.0.0.1:{p}/metrics" for s, p in port_of.items()}
    kept = {m: active_targets(p, want=len(services)) for m, p in servers.items()}
    assert kept[Member(0, "a")] == kept[Member(0, "b")] == {url_of[s] for s in services if owner[s] == 0}
    assert kept[Member(1, "a")] == {url_of[s] for s in services if owner[s] == 1}
    assert len(kept[Member(0, "a")]) == len(kept[Member(1, "a")]) == 2

    # Evaluate once every shard has SHARD_WINDOW seconds of data (scraping starts within an interval of the targets
    # being listed) and both stores have received up to then.
    at = time.time() + SHARD_WINDOW + 3
    time.sleep(max(0.0, at - time.time()))
    for m, p in servers.items():
        assert len(query(p.url, "count by (service) (http_requests_total)", at - SHARD_WINDOW - 1)) == 2, m

    def stores_caught_up() -> bool:
        return all(len(r) == len(services) and all(float(x["value"][1]) >= at for x in r)
                   for r in (query(u, "min by (service) (timestamp(http_requests_total))", time.time())
                             for u in (vm.url, plain.url)))
    wait_until("remote write to reach both stores", stores_caught_up, 30)

    # In the store: each series once, no replica label, the owning shard's label, one sample per scrape interval.
    stored = series(vm.url, 'http_requests_total{status="200"}')
    assert sorted(s["service"] for s in stored) == sorted(services), stored
    assert all(REPLICA_LABEL not in s and s[SHARD_LABEL] == str(owner[s["service"]]) for s in stored), stored
    for svc in services:  # every series of every status, and the same ones the owning shard holds
        on_shard = series(servers[Member(owner[svc], "a")].url, f'http_requests_total{{service="{svc}"}}')
        in_store = series(vm.url, f'http_requests_total{{service="{svc}"}}')
        assert len(in_store) == len(on_shard) > 1
        assert {s["status"] for s in in_store} == {s["status"] for s in on_shard}
    window = 'count_over_time(http_requests_total{status="200"}[10s])'
    assert all(8 <= v <= 11 for v in by_service(query(vm.url, f"sum by (service) ({window})", at)).values())
    sent = by_service(query(plain.url, f"sum by (service) ({window})", at))  # what arrived before deduplication
    assert all((16 if owner[s] == 0 else 8) <= sent[s] <= (22 if owner[s] == 0 else 11) for s in services), sent

    # `monitor check` on the store: every service once, at the rate the owning shard itself measures.
    report = monitor_json(capsys, vm.url, at)
    listed = [s["service"] for s in report["services"]]
    assert sorted(listed) == sorted(services) and len(set(listed)) == len(listed), listed
    sig = signals(cat)
    direct = sig.request_rate([Matcher("environment", "production")], window=f"{SHARD_WINDOW}s")
    shard_rates = {m: by_service(query(p.url, direct, at)) for m, p in servers.items()}
    for svc in report["services"]:
        name, rate = svc["service"], svc["request_rate"]
        owners = [m for m in servers if m.shard == owner[name]]
        assert all(name not in shard_rates[m] for m in servers if m not in owners), (name, shard_rates)
        for m in owners:
            assert rate == pytest.approx(shard_rates[m][name], rel=TOLERANCE), (name, m, rate, shard_rates[m])
        assert rate == pytest.approx(rate_of[name], rel=2 * TOLERANCE), (name, rate)

    # The control: without the label drop, the HA pair's services are stored twice and counted twice.
    doubled = [s for s in series(plain.url, 'http_requests_total{status="200"}') if owner[s["service"]] == 0]
    assert sorted(s[REPLICA_LABEL] for s in doubled) == ["a", "a", "b", "b"], doubled
    naive = {s["service"]: s["request_rate"] for s in monitor_json(capsys, plain.url, at)["services"]}
    for name, rate in naive.items():
        assert rate == pytest.approx(rate_of[name] * (2 if owner[name] == 0 else 1), rel=2 * TOLERANCE), (name, rate)
