"""The sharded topology's plan (`stack up --topology sharded`): which processes, on which ports with which flags,
and which files, each compared with the builder users run (`scrape generate --shards`, `alerts generate --target
vmalert`); the files checked by promtool, amtool and vmalert, and the shard split read back from promtool. Fast: no
server is started."""

from __future__ import annotations

import itertools
import json
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import DATA
from zarish_obs import procs, promtool
from zarish_obs.alerts import engines
from zarish_obs.catalog import Catalog, load_catalog, parse_catalog
from zarish_obs.errors import ExitCode, ZarishError
from zarish_obs.scrape.shards import (
    PODS_JOB,
    REPLICA_LABEL,
    SHARD_LABEL,
    Member,
    build_member_config,
    shard_relabel_configs,
    victoria_metrics_dedup_flag,
    victoria_metrics_relabel_config,
)
from zarish_obs.stack import configs, layout, scenarios, topology, victoria
from zarish_obs.stack.cli import _next_steps
from zarish_obs.stack.exporter import PodTraffic
from zarish_obs.stack.layout import SHARDED, SINGLE, STORE_KIND, Component, Layout, StackState, loopback
from zarish_obs.stack.main import main
from zarish_obs.stack.plan import StackPlan, build_plan

NOW = 1_800_000_123.0
SHARDS_CATALOG = DATA / "shards" / "catalog.yaml"
SHARD_NAMES = ["prometheus-shard-0-replica-a", "prometheus-shard-0-replica-b", "prometheus-shard-1-replica-a"]


def _plan(cat: Catalog, topology_name: str = SHARDED, first_port: int = 20000, **kw: object) -> StackPlan:
    return build_plan(cat, 0.02, "healthy", ports=itertools.count(first_port).__next__, now=NOW,
                      topology_name=topology_name, **kw)  # type: ignore[arg-type]


def _catalogs(default_catalog: Catalog, other_catalogs: dict[str, Catalog]) -> list[Catalog]:
    return [default_catalog, *other_catalogs.values(), load_catalog(SHARDS_CATALOG)]


def _write(plan: StackPlan, root: Path) -> Path:
    for relative, text in plan.files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)
    return root


def test_plan_is_pure_and_fixed_ports_give_the_same_plan(default_catalog, monkeypatch):
    def no_io(*args: object, **kwargs: object) -> None:
        raise AssertionError("build_plan did I/O")

    monkeypatch.setattr(procs, "free_port", no_io)
    monkeypatch.setattr(subprocess, "Popen", no_io)
    first = _plan(default_catalog)
    assert first == _plan(default_catalog) and first.topology == SHARDED
    assert _plan(default_catalog, first_port=21000).files != first.files


def test_processes_ports_and_start_order(default_catalog, other_catalogs):
    """The single topology's components (same names, ports and order), then the store, three shard servers (shard 0
    an HA pair) and vmalert; no single Prometheus; every port its own, on loopback."""
    for cat in _catalogs(default_catalog, other_catalogs):
        plan, single = _plan(cat), _plan(cat, SINGLE)
        shared = [c for c in single.components if c.kind != "prometheus"]
        assert list(plan.components[:len(shared)]) == shared
        assert [c.kind for c in plan.components[len(shared):]] == [STORE_KIND, *[topology.SHARD_KIND] * 3,
                                                                     topology.RULER_KIND]
        shards = plan.of_kind(topology.SHARD_KIND)
        assert [c.name for c in shards] == SHARD_NAMES == [m.name for m in topology.running_members()]
        assert [(c.extra["shard"], c.extra["replica"]) for c in shards] == [(0, "a"), (0, "b"), (1, "a")]
        assert plan.history_helper.kind == topology.REPLAY_KIND
        comps = [*plan.components, plan.history_helper]
        ports = [c.port for c in comps if c.kind != "exporter"] + [p["port"] for p in plan.workload["pods"]]
        assert len(ports) == len(set(ports))
        assert all(c.url == f"http://{loopback(c.port)}" for c in comps)


def test_shard_configs_are_the_builders_with_the_stacks_pods_and_store(default_catalog, other_catalogs):
    for cat in _catalogs(default_catalog, other_catalogs):
        plan = _plan(cat)
        store = plan.component(STORE_KIND)
        peers = {c.kind: c for c in plan.components}
        topo = configs.local_topology(plan.workload, alertmanager=loopback(peers["alertmanager"].port),
                                      blackbox=loopback(peers["blackbox"].port),
                                      pushgateway=loopback(peers["pushgateway"].port), rule_files=[])
        # the catalog's own remote_write (production's store) is replaced by the stack's
        assert [str(rw.url) for rw in plan.catalog.prometheus.remote_write] == [f"{store.url}/api/v1/write"]
        assert parse_catalog(plan.files[layout.CATALOG], layout.CATALOG) == plan.catalog
        for comp in plan.of_kind(topology.SHARD_KIND):
            member = Member(comp.extra["shard"], comp.extra["replica"])
            config = yaml.safe_load(plan.files[comp.extra["config"]])
            assert comp.extra["config"] == f"{layout.CONFIG}/{member.file_name}"
            assert config == build_member_config(plan.catalog, topology.SHARDS, topology.REPLICAS, member, topo)
            pods = next(j for j in config["scrape_configs"] if j["job_name"] == PODS_JOB)
            assert pods["relabel_configs"][-2:] == shard_relabel_configs(2, member.shard)
            assert "rule_files" not in config and "alerting" not in config
            assert config["remote_write"] == [{"url": f"{store.url}/api/v1/write", "name": STORE_KIND}]
            labels = config["global"]["external_labels"]
            assert (labels[SHARD_LABEL], labels[REPLICA_LABEL]) == (str(member.shard), member.replica)
            assert comp.extra["store_labels"] == {k: v for k, v in labels.items() if k != REPLICA_LABEL}
            assert comp.extra["scrapes_pushgateway"] is (member.shard == 0)
            assert comp.extra["flags"] == list(topology.SHARD_FLAGS)


def test_store_is_set_up_as_the_readme_says(default_catalog):
    plan = _plan(default_catalog)
    store = plan.component(STORE_KIND)
    assert store.extra["flags"] == [victoria_metrics_dedup_flag(plan.catalog.prometheus.scrape_interval),
                                    *topology.STORE_FLAGS]
    assert plan.catalog.prometheus.scrape_interval == "1s"  # compressed: deduplicated at the compressed interval
    assert yaml.safe_load(plan.files[store.extra["relabel_config"]]) == victoria_metrics_relabel_config()
    assert store.extra["data"] == topology.STORE_DATA and store.ready == "/health"


def test_vmalert_runs_the_generated_rules_and_flags(default_catalog, other_catalogs):
    for cat in _catalogs(default_catalog, other_catalogs):
        plan = _plan(cat)
        store, ruler = plan.component(STORE_KIND), plan.component(topology.RULER_KIND)
        am = plan.component("alertmanager")
        settings = engines.VmalertSettings(rule_dir=layout.RULES, datasource_url=store.url, notifier_urls=(am.url,),
                                           latency_offset=procs.VICTORIA_METRICS_LATENCY_OFFSET)
        expected = engines.render_target(plan.catalog, "vmalert", vmalert=settings)
        rules = [f"{layout.RULES}/{name}" for name in engines.vmalert_groups(plan.catalog)]
        assert list(plan.rule_files) == rules
        assert {p: plan.files[p] for p in rules} == {p: expected[p.rsplit("/", 1)[1]] for p in rules}
        assert plan.files[topology.VMALERT_FLAGS] == expected[engines.VMALERT_FLAGS_FILE]
        flags = ruler.extra["flags"]
        assert flags == expected[engines.VMALERT_FLAGS_FILE].splitlines()
        for flag in ("-datasource.url", "-remoteWrite.url", "-remoteRead.url"):
            assert f"{flag}={store.url}" in flags
        assert [f for f in flags if f.startswith("-notifier.url=")] == [f"-notifier.url={am.url}"]
        assert not [f for f in flags if f.startswith("-datasource.lookback")]  # the store hides nothing (0s offset)
        assert [f for f in flags if f.startswith("-rule=")] == [f"-rule={p}" for p in rules]
        # The replay: the recording files only, the generated store and label flags, none that notifies.
        replay = plan.history_helper.extra["flags"]
        recording = topology.recording_files(engines.vmalert_groups(plan.catalog))
        assert recording and [f for f in replay if f.startswith("-rule=")] == [
            f"-rule={layout.RULES}/{n}" for n in recording]
        assert set(replay) - set(flags) == set(topology.REPLAY_FLAGS)
        assert not [f for f in replay if f.startswith(("-notifier", "-remoteRead"))]


def test_files_pass_promtool_amtool_and_vmalert_and_promtool_splits_the_pods(default_catalog, other_catalogs,
                                                                              tmp_path):
    """Written as `stack up` writes them: each shard config passes promtool, Alertmanager's amtool, the rule files
    vmalert's dry run with every generated flag (run where the stack runs it); and promtool's own evaluation of the
    shards' relabelling gives every pod of the workload to exactly one shard, both servers of shard 0 the same.
    Two catalogs (the built-in one and the one with other label names): the rest differ only in what the builders'
    own promtool and vmalert tests cover."""
    for cat in (default_catalog, other_catalogs["custom-labels"]):
        plan = _plan(cat)
        root = _write(plan, tmp_path / cat.name)
        for comp in plan.of_kind(topology.SHARD_KIND):
            checked = promtool.check_config(root / comp.extra["config"])
            assert checked.ok, checked.output
        assert promtool.check_alertmanager(root / layout.ALERTMANAGER_YML).ok
        dry = subprocess.run([procs.binary("vmalert"), "-dryRun", *plan.component(topology.RULER_KIND).extra["flags"]],
                             capture_output=True, text=True, timeout=60, cwd=root)
        assert dry.returncode == 0, dry.stderr[-2000:]
        shards = plan.of_kind(topology.SHARD_KIND)
        owners = victoria.shard_targets(Layout(root), [shards[0], shards[2]])
        pods = {loopback(p["port"]) for p in plan.workload["pods"]} | {loopback(plan.workload["infra"]["port"])}
        assert set(owners) == pods
        assert {owner.extra["shard"] for owner, _ in owners.values()} == {0, 1}
        assert victoria.shard_targets(Layout(root), [shards[1]]) == {
            a: (shards[1], labels) for a, (owner, labels) in owners.items() if owner is shards[0]}
        with pytest.raises(ZarishError, match="is scraped by shards 0 and 0"):
            victoria.shard_targets(Layout(root), shards[:2])


def test_scenario_service_confines_the_dr_scenarios_to_one_service(default_catalog):
    env = default_catalog.dr.error_ratio.environment
    target = default_catalog.services[-1].name
    for topology_name in (SINGLE, SHARDED):
        everyone = _plan(default_catalog, topology_name).workload["pods"]
        assert {p["service"] for p in everyone if p["affected"]} == {s.name for s in default_catalog.services}
        wl = _plan(default_catalog, topology_name, scenario_service=target).workload
        assert [(p["service"], p["environment"]) for p in wl["pods"] if p["affected"]] == [(target, env)]
    storm = {}
    for pod in wl["pods"]:
        if pod["environment"] == env and pod["service"] in (target, default_catalog.services[0].name):
            traffic = PodTraffic(pod, wl, started=NOW)
            traffic.advance(NOW + 600, scenarios.get("error-storm"))
            bad = sum(v for code, v in traffic.by_status.items() if code.startswith("5"))
            storm[pod["service"]] = bad / traffic.total
    assert storm[target] == pytest.approx(0.5, abs=0.01)
    assert storm[default_catalog.services[0].name] < 0.01
    with pytest.raises(ZarishError, match="--scenario-service: no service 'nope'") as refused:
        _plan(default_catalog, scenario_service="nope")
    assert refused.value.exit_code == ExitCode.USAGE
    with pytest.raises(ZarishError, match="unknown topology 'ring'") as bad_topology:
        _plan(default_catalog, "ring")
    assert bad_topology.value.exit_code == ExitCode.USAGE


def test_state_records_the_topology_and_where_to_query(tmp_path):
    store = Component(STORE_KIND, STORE_KIND, 2, "http://127.0.0.1:2", "/health")
    prom = Component("prometheus", "prometheus", 1, "http://127.0.0.1:1", "/-/ready")
    lay = Layout(tmp_path / "s")
    sharded = StackState(dir=str(lay.root), catalog="c.yaml", catalog_name="n", time_scale=0.02, started_at=1.0,
                         components={store.name: store}, topology=SHARDED)
    lay.write_state(sharded)
    back = lay.read_state()
    assert back == sharded and back.to_json()["topology"] == SHARDED and back.query_url() == store.url
    single = StackState(dir=str(lay.root), catalog="c.yaml", catalog_name="n", time_scale=1, started_at=1.0,
                        components={prom.name: prom})
    assert "topology" not in single.to_json()  # the single topology's state.json reads as before
    lay.write_state(single)
    assert lay.read_state() == single and single.query_url() == prom.url
    steps = _next_steps(sharded, Path("d"))
    assert any(s.startswith("check:") and f"--prometheus-url {store.url}" in s for s in steps)
    assert any(s.startswith("report:") and f"--prometheus-url {store.url}" in s for s in steps)
    assert not any(s.startswith("report:") for s in _next_steps(single, Path("d")))
    data = json.loads(lay.state_file.read_text()) | {"topology": "ring"}
    lay.state_file.write_text(json.dumps(data))
    with pytest.raises(ZarishError, match="unreadable stack state") as unreadable:
        lay.read_state()
    assert unreadable.value.exit_code == ExitCode.DATAERR


@pytest.mark.parametrize(("args", "says"), [
    (["--topology", "ring"], "--topology"),
    (["--topology", "sharded", "--scenario-service", "nope"], "--scenario-service"),
])
def test_cli_usage_errors_exit_64_in_one_line_before_anything_starts(tmp_path, capsys, args, says):
    root = tmp_path / "stack"
    capsys.readouterr()
    assert main(["stack", "up", "--dir", str(root), *args]) == 64
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and says in err[0] and "Traceback" not in err[0], err
    assert not Layout(root).state_file.exists() and Layout(root).pid_files() == {}
