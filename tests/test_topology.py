"""`stack up --topology sharded` end to end (issue 14): two Prometheus shards from the generated configs (shard 0 an
HA pair) scrape disjoint halves of the stack's exporters and remote-write into a deduplicating VictoriaMetrics,
vmalert evaluates the generated `--target vmalert` rules against it and notifies the stack's Alertmanager.

One test, one stack, everything through the CLI in subprocesses as a user runs it, time-compressed (0.02). Every wait
polls against a deadline. What it proves:
- each exporter target is scraped by exactly one shard (as both servers of the HA pair list it), by the generated
  hashmod relabelling;
- the HA pair's copies are stored once: one series per status of a shard-0 target, without `replica`, one sample per
  scrape interval although both replicas scrape and send every second;
- `monitor check` against VictoriaMetrics: exit 0, every service once, at the request rate the workload drives, and
  nothing at the webhook receiver; `report` against it lists every service once;
- an error storm on one service (`--scenario-service`) ends in that service's page at the receiver, sent by vmalert
  through Alertmanager, and no page for any other service;
- `stack down` leaves no process (by PID), also when the test fails; an `up` that fails at its last start stops
  everything it had started.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import catalog_file
from zarish_obs import procs
from zarish_obs.catalog import Catalog, load_catalog
from zarish_obs.conventions import REPLICA_LABEL, SHARD_LABEL
from zarish_obs.errors import ZarishError
from zarish_obs.stack import manager, victoria
from zarish_obs.stack.layout import SHARDED, STORE_KIND, Layout, StackState
from zarish_obs.stack.observe import MonitorRun, monitor_check, received, wait_until
from zarish_obs.stack.topology import RULER_KIND, SHARD_KIND

pytestmark = [pytest.mark.real, pytest.mark.slow]

TIME_SCALE = 0.02
PODS_JOB = "kubernetes-pods"
# The exporters scale their rate by a uniform 0.9-1.1 draw at every scrape: over the monitor's 5-minute window the
# mean is within about 1% of the nominal rate (measured: at most 2.3% off); an HA pair counted twice is 100% off.
RATE_TOLERANCE = 0.05
DEDUP_WINDOW = 10  # seconds: one sample per 1 s scrape interval in the store, although two replicas send each
REMOTE_WRITE_LAG = 8  # seconds: Prometheus sends a batch at least every 5 s; VictoriaMetrics shows it within ~1 s


def zarish(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(procs.python_module("zarish_obs.stack.main", *args), capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def query(url: str, expr: str, at: float | None = None) -> list[dict[str, Any]]:
    params = {"query": expr, **({"time": f"{at:.3f}"} if at is not None else {})}
    r = requests.get(f"{url}/api/v1/query", params=params, timeout=10)
    assert r.status_code == 200, (url, expr, r.text[:300])
    return r.json()["data"]["result"]


def series(url: str, match: str) -> list[dict[str, str]]:
    r = requests.get(f"{url}/api/v1/series", params={"match[]": match}, timeout=10)
    assert r.status_code == 200, (url, match, r.text[:300])
    return r.json()["data"]


def pod_targets(url: str) -> dict[str, dict[str, str]]:
    """The server's active targets of the pod job: scrape address -> labels."""
    data = requests.get(f"{url}/api/v1/targets", params={"state": "active"}, timeout=5).json()["data"]
    return {t["discoveredLabels"]["__address__"]: t["labels"] for t in data["activeTargets"]
            if t["labels"].get("job") == PODS_JOB}


@dataclass
class Sharded:
    root: Path
    state: StackState
    catalog: Catalog  # the time-compressed catalog the stack runs
    workload: dict[str, Any]

    @property
    def store(self) -> str:
        return self.state.url(STORE_KIND)

    @property
    def shards(self) -> dict[str, str]:
        return {c.name: c.url for c in self.state.components.values() if c.kind == SHARD_KIND}

    def monitor(self) -> MonitorRun:
        return monitor_check(self.state.catalog, self.store)

    def wait_monitor(self, ok: Any, what: str, timeout: float = 45) -> MonitorRun:
        last: list[MonitorRun] = []

        def probe() -> MonitorRun | None:
            last[:] = [self.monitor()]
            return last[0] if ok(last[0]) else None

        try:
            return wait_until(probe, timeout, what, interval=1)
        except TimeoutError:
            run = last[0] if last else None
            pytest.fail(f"{what}: last monitor run exit {run.exit_code if run else '?'}, "
                        f"report {(run.report or {}) if run else {}}, stderr {run.stderr[-500:] if run else ''}")

    def pages(self, service: str | None = None) -> list[dict[str, Any]]:
        return [a for a in received(Layout(self.root).received, status=None)
                if a["labels"].get("severity") == "page" and service in (None, a["labels"].get("service"))]


def stormed_service(cat: Catalog) -> str:
    """The service whose availability page comes soonest in a storm: the smallest error budget."""
    return min((s for s in cat.services if s.slos.availability), key=lambda s: s.slos.availability.error_budget).name


@pytest.fixture
def sharded(tmp_path: Path) -> Iterator[Sharded]:
    root = tmp_path / "stack"
    try:
        up = zarish("stack", "up", "--topology", "sharded", "--time-scale", str(TIME_SCALE), "--dir", str(root),
                    "--scenario-service", stormed_service(load_catalog()), "--format", "json")
        assert up.returncode == 0, up.stderr
        assert json.loads(up.stdout)["topology"] == SHARDED
        state = Layout(root).read_state()
        assert state is not None
        workload = json.loads(Layout(root).workload.read_text())
        yield Sharded(root, state, load_catalog(state.catalog), workload)
    finally:
        pids = manager.all_pids(root)
        down = zarish("stack", "down", "--dir", str(root))
        left = {name: pid for name, pid in pids.items() if procs.pid_alive(pid)}
        for pid in left.values():
            procs.stop_pid(pid)
        assert down.returncode == 0, down.stderr
        assert not left, f"`stack down` left processes running: {left}"


@pytest.mark.timeout(240)
def test_sharded_topology_end_to_end(sharded: Sharded) -> None:
    stack, cat = sharded, sharded.catalog
    settled = time.time()  # every shard had scraped and written to the store before `up` returned
    services = [s.name for s in cat.services]
    stormed = stormed_service(cat)

    # The state: three shard servers (shard 0 an HA pair), the store and vmalert; no single Prometheus.
    assert stack.state.topology == SHARDED
    kinds = sorted(c.kind for c in stack.state.components.values())
    assert kinds.count(SHARD_KIND) == 3 and kinds.count(STORE_KIND) == kinds.count(RULER_KIND) == 1
    assert "prometheus" not in kinds and stack.state.query_url() == stack.store
    assert sorted(stack.shards) == ["prometheus-shard-0-replica-a", "prometheus-shard-0-replica-b",
                                    "prometheus-shard-1-replica-a"]
    status = zarish("stack", "status", "--dir", str(stack.root), "--format", "json")
    assert status.returncode == 0 and json.loads(status.stdout)["ok"] is True, status.stdout

    # Each target is scraped by exactly one shard, and by both servers of the HA pair.
    kept = {name: pod_targets(url) for name, url in stack.shards.items()}
    pair_a, pair_b, other = (kept[f"prometheus-shard-{s}"] for s in ("0-replica-a", "0-replica-b", "1-replica-a"))
    every = {f"127.0.0.1:{p['port']}" for p in stack.workload["pods"]} | {
        f"127.0.0.1:{stack.workload['infra']['port']}"}
    assert set(pair_a) == set(pair_b) and not set(pair_a) & set(other)
    assert set(pair_a) | set(other) == every and pair_a and other

    # `monitor check` on the store while healthy: exit 0, each service once at the workload's rate, nothing received.
    run = stack.wait_monitor(lambda r: r.exit_code == 0, "monitor OK against VictoriaMetrics on healthy traffic")
    listed = [s["service"] for s in run.report["services"]]
    assert sorted(listed) == sorted(services) and len(set(listed)) == len(listed), listed
    env = cat.dr.error_ratio.environment
    rate = {p["service"]: p["rate"] for p in stack.workload["pods"] if p["environment"] == env}
    for svc in run.report["services"]:
        assert svc["request_rate"] == pytest.approx(rate[svc["service"]], rel=RATE_TOLERANCE), svc
    assert received(Layout(stack.root).received, status=None) == []

    # `report` on the store over the stack's whole history: each service once.
    report = zarish("report", "--catalog", stack.state.catalog, "--prometheus-url", stack.store,
                    "--from", str(stack.workload["history"]["start"]), "--to", f"{time.time():.0f}", "--format", "json")
    assert report.returncode == 0, report.stderr
    reported = [s["service"] for s in json.loads(report.stdout)["services"]]
    assert sorted(reported) == sorted(services) and len(set(reported)) == len(reported), reported

    # The HA pair is stored once: a shard-0 target's raw series, one per status, without `replica`, and one sample
    # per scrape interval in a window of live data, although each replica scraped and sent it every second.
    address = next(a for a, labels in sorted(pair_a.items()) if labels.get("app") in services)
    target = f'{{instance="{address}"}}'
    raw = f'{cat.metrics.requests_total}{{instance="{address}"}}'
    own = series(stack.shards["prometheus-shard-0-replica-a"], raw)
    stored = series(stack.store, raw)
    assert len(stored) == len(own) > 1, (stored, own)
    assert all(REPLICA_LABEL not in s and s[SHARD_LABEL] == "0" for s in stored), stored
    assert sorted(s[cat.metrics.status_label] for s in stored) == sorted(s[cat.metrics.status_label] for s in own)
    at = settled + DEDUP_WINDOW
    wait_until(lambda: time.time() > at + REMOTE_WRITE_LAG and query(stack.store, f"timestamp(up{target}) > {at}"),
               30, "the store to hold a dedup window of live samples")
    window = f'count_over_time({cat.metrics.requests_total}{{instance="{address}",{cat.metrics.status_label}="200"}}'
    window += f"[{DEDUP_WINDOW}s])"
    for name in ("prometheus-shard-0-replica-a", "prometheus-shard-0-replica-b"):  # each replica scraped it itself
        got = query(stack.shards[name], window, at)
        assert len(got) == 1 and DEDUP_WINDOW - 2 <= float(got[0]["value"][1]) <= DEDUP_WINDOW + 1, (name, got)
    got = query(stack.store, window, at)
    assert len(got) == 1 and DEDUP_WINDOW - 2 <= float(got[0]["value"][1]) <= DEDUP_WINDOW + 1, got

    # A restarted vmalert carries on; an error storm on one service pages it, through vmalert and Alertmanager.
    restarted = zarish("stack", "restart", RULER_KIND, "--dir", str(stack.root))
    assert restarted.returncode == 0, restarted.stderr
    switched = zarish("stack", "scenario", "error-storm", "--dir", str(stack.root))
    assert switched.returncode == 0, switched.stderr
    page = wait_until(lambda: stack.pages(stormed), 60, f"the page for {stormed} at the webhook receiver")[0]
    assert page["labels"]["alertname"] == "SLOErrorBudgetBurn" and page["labels"]["environment"] == env
    ruler = stack.state.components[RULER_KIND]
    assert f":{ruler.port}/" in page["generatorURL"], page["generatorURL"]  # sent by vmalert, not by a shard
    run = stack.monitor()
    status_of = {s["service"]: s["status"] for s in run.report["services"]}
    assert status_of.pop(stormed) == "critical" and set(status_of.values()) == {"ok"}, run.report["services"]
    assert stack.pages() == stack.pages(stormed), [a["labels"] for a in stack.pages()]


@pytest.mark.timeout(120)
def test_a_sharded_up_that_fails_half_way_stops_everything(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`up` fails once the store and every shard run, before vmalert starts: all of them and everything started
    before them are stopped by PID, and the directory holds neither state nor PID files. The smallest catalog (its
    two pod targets may both hash to one shard, which `up` takes in its stride)."""
    root = tmp_path / "stack"
    running: dict[str, int] = {}

    def broken(*args: object, **kwargs: object) -> None:
        running.update(manager.all_pids(root))
        raise ZarishError("no live samples (injected)")

    monkeypatch.setattr(victoria, "wait_live", broken)
    with pytest.raises(ZarishError, match="injected"):
        manager.up(load_catalog(catalog_file("minimal.yaml")), root, "healthy", TIME_SCALE, topology=SHARDED)
    shards = {f"prometheus-shard-{s}" for s in ("0-replica-a", "0-replica-b", "1-replica-a")}
    assert {STORE_KIND, "receiver", "exporter-records", *shards} <= set(running), running
    assert {name: pid for name, pid in running.items() if procs.pid_alive(pid)} == {}
    assert Layout(root).read_state() is None and Layout(root).pid_files() == {}
