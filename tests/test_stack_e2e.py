"""End to end on one running local stack (time-compressed): every scenario and the fault cases.

One stack for the whole module (starting one per test would cost more than the tests), switched
between scenarios. Order matters and is the file's order: error-storm and slow come last because
their 5-minute windows keep the monitor CRITICAL for minutes afterwards. Every wait polls with a
deadline; no assertion is about how long something took.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from zarish_obs import conventions, procs, promql
from zarish_obs.catalog import Catalog, load_catalog
from zarish_obs.stack import manager
from zarish_obs.stack.layout import Layout, StackState
from zarish_obs.stack.observe import MonitorRun, instant, monitor_check, prometheus_alerts, received, wait_until

pytestmark = [pytest.mark.real, pytest.mark.slow]

TIME_SCALE = 0.02
CRITICAL_SERVICES = ("patient-registry", "clinical-records", "auth-gateway")


@dataclass
class Stack:
    root: Path
    state: StackState
    catalog: Catalog  # the time-compressed catalog the stack runs

    @property
    def prom(self) -> str:
        return self.state.url("prometheus")

    @property
    def received_file(self) -> Path:
        return Layout(self.root).received

    def monitor(self, fmt: str = "json") -> MonitorRun:
        return monitor_check(self.state.catalog, self.prom, fmt=fmt)

    def wait_monitor(self, ok: Callable[[MonitorRun], bool], what: str, timeout: float = 90) -> MonitorRun:
        last: list[MonitorRun] = []

        def probe() -> MonitorRun | None:
            run = self.monitor()
            last[:] = [run]
            return run if ok(run) else None

        try:
            return wait_until(probe, timeout, what, interval=2)
        except TimeoutError:
            run = last[0] if last else None
            detail = (run.report or {}) if run else {}
            pytest.fail(f"{what}: last monitor run exit {run.exit_code if run else '?'}, "
                        f"status {detail.get('status')}, errors {detail.get('errors')}, "
                        f"triggers {detail.get('dr_triggers')}, stderr {run.stderr[-500:] if run else ''}")

    def switch(self, name: str) -> float:
        at = time.time()
        manager.set_scenario(self.root, name)
        return at

    def wait_received(self, alertname: str, since: float, timeout: float = 90,
                      where: Callable[[dict[str, Any]], bool] = lambda a: True) -> list[dict[str, Any]]:
        def probe() -> list[dict[str, Any]]:
            return [a for a in received(self.received_file, alertname, since=since - 1) if where(a)]

        try:
            return wait_until(probe, timeout, f"{alertname} at the webhook receiver")
        except TimeoutError:
            got = sorted({a["labels"].get("alertname", "?") for a in received(self.received_file)})
            held = [(a["labels"], a["state"]) for a in prometheus_alerts(self.prom, state=None)]
            rules = requests.get(f"{self.prom}/api/v1/rules", timeout=5).json()["data"]["groups"]
            health = [(g["name"], r.get("health"), r.get("lastError"), r.get("state"), g.get("evaluationTime"))
                      for g in rules for r in g["rules"] if r.get("name") == alertname]
            down = [r["metric"].get("instance") for r in instant(self.prom, "up == 0")]
            pytest.fail(f"{alertname} never reached the receiver; it got: {got}; Prometheus holds: {held}; "
                        f"its rules: {health}; targets down: {down}")

    def back_to_healthy(self) -> MonitorRun:
        self.switch("healthy")
        return self.wait_monitor(lambda r: r.exit_code == 0, "monitor back to OK on healthy traffic")

    def dr_labels(self, alertname: str, trigger: str, **extra: str) -> dict[str, str]:
        """Every label a DR alert arrives with: the rule's, plus Prometheus's external labels."""
        return {"alertname": alertname, "dr_trigger": trigger, "severity": "critical", "time_compressed": "true",
                "cluster": self.catalog.cluster, "region": self.catalog.primary_region.name, **extra}


def zarish(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(procs.python_module("zarish_obs.stack.main", *args), capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("stack")
    state = manager.up(load_catalog(), root, "healthy", TIME_SCALE)
    try:
        yield Stack(root, state, load_catalog(state.catalog))
    finally:
        pids = manager.all_pids(root)
        manager.down(root)
        alive = {name: pid for name, pid in pids.items() if procs.pid_alive(pid)}
        for pid in alive.values():
            procs.stop_pid(pid)
        assert not alive, f"`stack down` left processes running: {alive}"


def _trigger(run: MonitorRun, name: str) -> dict[str, Any]:
    t = run.trigger(name)
    assert t is not None, f"no DR trigger {name!r} in {run.stdout[:300]}"
    return t


def test_healthy_monitor_ok_and_no_alert_at_all(stack):
    run = stack.wait_monitor(lambda r: r.exit_code == 0, "monitor OK on healthy traffic")
    report = run.report
    assert report["status"] == "ok" and report["exit_code"] == 0
    assert report["failover_recommended"] is False
    assert {t["name"]: t["fired"] for t in report["dr_triggers"]} == {
        "error_ratio": False, "replication_lag": False, "primary_region_unavailable": False, "manual": False}
    assert {s["service"] for s in report["services"]} == {s.name for s in stack.catalog.services}
    assert all(s["status"] == "ok" and s["request_rate"] > 0 for s in report["services"])
    assert report["rpo"]["breached"] is False
    # Give every `for:` but the 36s region one time to run out, then: nothing pending or firing, ever.
    time.sleep(max(0.0, stack.state.started_at + 15 - time.time()))
    assert instant(stack.prom, "up == 0") == []
    assert instant(stack.prom, f"count(count_over_time(ALERTS[{int(time.time() - stack.state.started_at) + 60}s]))"
                   ) == []
    assert received(stack.received_file, status=None) == []
    table = stack.monitor("table")
    assert table.exit_code == 0 and "VERDICT: OK" in table.stdout


def test_history_continues_into_live_series(stack):
    """The backfilled past and the live scrapes are the same series: no duplicates, no counter resets."""
    live = instant(stack.prom, "count(http_requests_total)")
    assert live and int(live[0]["value"][1]) > 0
    span = f"{int(time.time() - stack.state.started_at) + 300}s"
    ever = instant(stack.prom, f"count(count_over_time(http_requests_total[{span}]))")
    assert ever[0]["value"][1] == live[0]["value"][1]
    assert instant(stack.prom, f"sum(resets(http_requests_total[{span}]))")[0]["value"][1] == "0"
    dr = stack.catalog.dr
    for metric in (dr.backup.metric, dr.replication_lag.metric):  # the infra process's past, continued too
        assert instant(stack.prom, f"count(count_over_time({metric}[{span}]))")[0]["value"][1] == "1"
        before = requests.get(f"{stack.prom}/api/v1/query", params={"query": metric, "time": stack.state.started_at},
                              timeout=5).json()["data"]["result"]
        assert len(before) == 1, f"no backfilled {metric} before the stack started"


def test_backup_stale_warns(stack):
    """A missed backup opens a ticket; replication still keeps the RPO, so it is not breached."""
    since = stack.switch("backup-stale")
    run = stack.wait_monitor(lambda r: r.exit_code == 1, "monitor WARNING on a stale backup")
    rpo = run.report["rpo"]
    assert run.report["status"] == "warning" and rpo["backup_missed"] is True and rpo["breached"] is False
    assert rpo["source"] == "replication" and run.report["failover_recommended"] is False
    alert = stack.wait_received(conventions.BACKUP_MISSED, since)[0]
    assert alert["labels"] == {"alertname": conventions.BACKUP_MISSED, "severity": "ticket",
                               "time_compressed": "true", "cluster": stack.catalog.cluster,
                               "region": stack.catalog.primary_region.name}
    assert received(stack.received_file, conventions.RPO_BREACHED, since=since - 1) == []
    stack.back_to_healthy()


def test_replication_lag_triggers_failover(stack):
    since = stack.switch("replication-lag")
    run = stack.wait_monitor(lambda r: r.exit_code == 2, "monitor CRITICAL on replication lag")
    lag = _trigger(run, "replication_lag")
    assert lag["fired"] is True and lag["value"] > 300
    assert run.report["failover_recommended"] is True
    assert run.report["failover_procedure"] == stack.catalog.dr.failover_procedure
    alert = stack.wait_received("DRReplicationLagHigh", since)[0]
    assert alert["labels"] == stack.dr_labels("DRReplicationLagHigh", "replication_lag")
    assert "failover_procedure" in alert["annotations"]
    stack.back_to_healthy()


def test_region_down_triggers_failover(stack):
    since = stack.switch("region-down")
    region = stack.catalog.primary_region.name
    run = stack.wait_monitor(lambda r: (r.trigger("primary_region_unavailable") or {}).get("fired") is True,
                             "DR trigger primary_region_unavailable in the monitor")
    assert run.exit_code == 2 and run.report["failover_recommended"] is True
    assert instant(stack.prom, f'max(probe_success{{region="{region}"}})')[0]["value"][1] == "0"
    assert instant(stack.prom, 'min(probe_success{region_role="dr"})')[0]["value"][1] == "1"
    alert = stack.wait_received("DRPrimaryRegionUnavailable", since)[0]
    assert alert["labels"] == stack.dr_labels("DRPrimaryRegionUnavailable", "primary_region_unavailable")
    stack.back_to_healthy()


def test_alertmanager_down_prometheus_keeps_evaluating(stack):
    manager.stop_component(stack.root, "alertmanager", hard=True)
    status = zarish("stack", "status", "--dir", str(stack.root))
    assert status.returncode == 1 and "crashed" in status.stdout
    since = stack.switch("replication-lag")
    firing = wait_until(lambda: [a for a in prometheus_alerts(stack.prom) if
                                 a["labels"]["alertname"] == "DRReplicationLagHigh"], 60,
                        "DRReplicationLagHigh firing in Prometheus while Alertmanager is down")
    assert firing[0]["state"] == "firing"
    run = stack.monitor()
    assert run.exit_code == 2 and _trigger(run, "replication_lag")["fired"] is True
    assert received(stack.received_file, "DRReplicationLagHigh", since=since - 1) == []
    restarted = zarish("stack", "restart", "alertmanager", "--dir", str(stack.root))
    assert restarted.returncode == 0, restarted.stderr
    alert = stack.wait_received("DRReplicationLagHigh", since)[0]  # Prometheus re-sends to the new one
    assert alert["labels"] == stack.dr_labels("DRReplicationLagHigh", "replication_lag")
    stack.back_to_healthy()


def test_prometheus_killed_gives_unknown_then_ok_after_restart(stack):
    manager.stop_component(stack.root, "prometheus", hard=True)
    run = stack.monitor()
    assert run.exit_code == 3
    assert run.report["status"] == "unknown" and run.report["errors"]
    assert run.report["failover_recommended"] is False
    status = zarish("stack", "status", "--dir", str(stack.root), "--format", "json")
    assert status.returncode == 1
    assert '"name": "prometheus", "kind": "prometheus"' in status.stdout and '"crashed"' in status.stdout
    restarted = zarish("stack", "restart", "prometheus", "--dir", str(stack.root))
    assert restarted.returncode == 0, restarted.stderr
    stack.wait_monitor(lambda r: r.exit_code == 0, "monitor OK again after Prometheus restarted")
    assert zarish("stack", "status", "--dir", str(stack.root)).returncode == 0


def test_exporter_down_fires_metrics_absent(stack):
    victim = "billing"
    env = stack.catalog.dr.error_ratio.environment
    manager.stop_component(stack.root, f"exporter-{victim}", hard=True)
    since = time.time()
    pods = len(stack.catalog.environments)
    wait_until(lambda: len(instant(stack.prom, f'up{{app="{victim}"}} == 0')) == pods, 30,
               f"all {pods} {victim} targets down in Prometheus")
    absent = promql.metric_absent(stack.catalog, victim, env)
    wait_until(lambda: instant(stack.prom, absent), 30, f"{absent} true in Prometheus")
    alert = stack.wait_received("SLOMetricsAbsent", since, where=lambda a: a["labels"].get("service") == victim)[0]
    assert alert["labels"]["environment"] == env
    assert alert["labels"]["severity"] == "ticket"  # billing is a standard-tier service
    assert [a for a in prometheus_alerts(stack.prom) if a["labels"]["alertname"] == "SLOMetricsAbsent"
            and a["labels"]["service"] == victim]
    restarted = zarish("stack", "restart", f"exporter-{victim}", "--dir", str(stack.root))
    assert restarted.returncode == 0, restarted.stderr
    wait_until(lambda: not instant(stack.prom, absent), 30, f"{victim} metrics back in Prometheus")
    stack.wait_monitor(lambda r: r.exit_code == 0, "monitor OK with the exporter back")


def _page(slo: str, service: str) -> Callable[[dict[str, Any]], bool]:
    return lambda a: (a["labels"].get("severity"), a["labels"].get("slo"), a["labels"].get("service")) == (
        "page", slo, service)


def test_slow_burns_the_latency_budget(stack):
    since = stack.switch("slow")
    env = stack.catalog.dr.error_ratio.environment
    run = stack.wait_monitor(
        lambda r: r.exit_code == 2 and all("page" in slo["alerts"] for s in r.report["services"]
                                           if s["service"] in CRITICAL_SERVICES for slo in s["slos"]
                                           if slo["slo"] == "latency"),
        "page-tier latency burn of the critical services in the monitor", timeout=120)
    assert run.report["failover_recommended"] is False
    assert not any(t["fired"] for t in run.report["dr_triggers"])
    for service in CRITICAL_SERVICES:
        alert = stack.wait_received("SLOLatencyBudgetBurn", since, timeout=120, where=_page("latency", service))
        labels = alert[0]["labels"]
        assert labels["environment"] == env and labels["long_window"] in ("1h", "6h")
    assert not [a for a in received(stack.received_file, since=since - 1)
                if a["labels"].get("environment", env) != env]


def test_error_storm_triggers_failover_and_reaches_the_receiver(stack):
    since = stack.switch("error-storm")
    env = stack.catalog.dr.error_ratio.environment
    run = stack.wait_monitor(lambda r: (r.trigger("error_ratio") or {}).get("fired") is True,
                             "DR trigger error_ratio in the monitor")
    assert run.exit_code == 2 and run.report["status"] == "critical"
    assert run.report["failover_recommended"] is True
    assert _trigger(run, "error_ratio")["value"] > stack.catalog.dr.error_ratio.threshold
    alert = stack.wait_received("DRErrorRatioHigh", since)[0]
    assert alert["labels"] == stack.dr_labels("DRErrorRatioHigh", "error_ratio")
    assert alert["annotations"]["summary"]
    for service in CRITICAL_SERVICES:
        got = stack.wait_received("SLOErrorBudgetBurn", since, timeout=120, where=_page("availability", service))
        assert got[0]["labels"]["environment"] == env
    assert not [a for a in received(stack.received_file, since=since - 1)
                if a["labels"].get("environment", env) != env]
    table = stack.monitor("table")
    assert table.exit_code == 2 and "CRITICAL" in table.stdout
