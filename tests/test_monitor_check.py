"""`monitor check` against a real Prometheus and a real VictoriaMetrics holding deterministic history.

Each scenario group is one backfilled server (module-scoped), checked at several instants with
`--at`; every test runs against both backends. Truth comes from the generated model (zarish_obs/stack/synthetic.py).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests.conftest import REPO
from zarish_obs.catalog import Catalog, load_catalog, parse_catalog
from zarish_obs.monitor.check import run_check
from zarish_obs.monitor.report import to_json
from zarish_obs.procs import free_port
from zarish_obs.promtool import check_metrics
from zarish_obs.stack.main import main
from zarish_obs.stack.synthetic import (
    DEFAULT_CDF,
    History,
    Traffic,
    aligned_end,
    between,
    const,
    dr_gauges,
    served,
)

pytestmark = [pytest.mark.real, pytest.mark.slow]
BACKENDS = ["prometheus", "victoria"]
MIN = 60
SLOW_CDF = {0.05: 0.10, 0.1: 0.20, 0.25: 0.50, 0.5: 0.80, 1.0: 0.95, 2.5: 0.99, 5.0: 1.0}


@dataclass
class Served:
    backend: str
    url: str
    history: History

    @property
    def end(self) -> int:
        return self.history.end


def close(actual: float | None, expected: float, rel: float = 0.02) -> bool:
    return actual is not None and math.isfinite(actual) and abs(actual - expected) <= rel * abs(expected) + 1e-9


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    """`zarish-obs monitor check ... --format json` in-process: exit code and the one JSON object."""
    capsys.readouterr()
    rc = main(["monitor", "check", "--format", "json", *args])
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1, out
    return rc, json.loads(lines[0])


def fired(report: dict[str, Any]) -> dict[str, bool | None]:
    return {t["name"]: t["fired"] for t in report["dr_triggers"]}


def service(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in report["services"] if s["service"] == name)


# -- scenario: healthy system (recorded series in production, raw only in staging) ---------------------------
def backups_except(gap_start: int, gap_end: int):  # type: ignore[no-untyped-def]
    """Half-hourly backups, none inside (gap_start, gap_end)."""
    def last(t: int) -> float:
        b = t - t % 1800
        while gap_start < b < gap_end:
            b -= 1800
        return float(b)
    return last


def healthy_history(cat: Catalog, end: int) -> History:
    traffic = []
    for s in cat.services:
        rate = {"pharmacy": 0.0, "billing": 8.0}.get(s.name, 5.0)
        traffic.append(Traffic(s.name, rate=const(rate), errors=const(0.001 if s.name == "laboratory" else 0.0002),
                               cdf=SLOW_CDF if s.name == "billing" else dict(DEFAULT_CDF)))
        traffic.append(Traffic(s.name, environment="staging", rate=const(2.0), errors=const(0.0001)))
    gauges = dr_gauges(cat, backup=backups_except(end - 28 * 60 * MIN, end - 55 * MIN))  # a day without backups
    return History(cat, end, traffic=traffic, gauges=gauges, recorded_environments=("production",))


@pytest.fixture(scope="module", params=BACKENDS)
def healthy(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    h = healthy_history(load_catalog(), aligned_end(10))
    with served(h, tmp_path_factory.mktemp(f"healthy-{request.param}"), request.param) as proc:
        yield Served(request.param, proc.url, h)


def test_healthy_system_ok_and_values_match_truth(healthy: Served, capsys: pytest.CaptureFixture[str]) -> None:
    rc, report = cli(capsys, "--prometheus-url", healthy.url, "--at", str(healthy.end))
    assert rc == 0 and report["status"] == "ok" and report["exit_code"] == 0, report["errors"]
    assert report["slo_source"] == "tiles" and report["errors"] == []
    assert report["failover_recommended"] is False and report["failover_procedure"] == []
    assert all(t["fired"] is False for t in report["dr_triggers"])
    assert report["rpo"]["breached"] is False
    h, end = healthy.history, healthy.end
    checked = 0
    for svc in report["services"]:
        name = svc["service"]
        assert svc["status"] == "ok", (name, svc["problems"])
        if h.find(name).rate(end) == 0:
            continue
        assert close(svc["request_rate"], h.request_rate(name, end)), name
        assert close(svc["error_ratio"], h.error_ratio(name, end)), name
        assert close(svc["latency_p50_seconds"], h.quantile(0.5, name, end)), name
        assert close(svc["latency_p95_seconds"], h.quantile(0.95, name, end)), name
        for o in svc["slos"]:
            budget = o["error_budget"]
            slo_truth = h.slo_ratio_recorded(name, o["slo"], end, 30 * 86400)
            assert close(o["sli"], 100 * (1 - slo_truth)), (name, o)
            assert close(1 - o["error_budget_remaining"], slo_truth / budget), (name, o)
            for window, burn in o["burn_rates"].items():
                seconds = {"5m": 300, "30m": 1800, "1h": 3600, "2h": 7200, "6h": 21600, "1d": 86400,
                           "3d": 259200}[window]
                truth = (h.slo_ratio_recorded if seconds >= 86400 else h.slo_ratio_raw)(name, o["slo"], end, seconds)
                assert close(burn, truth / budget), (name, o["slo"], window, burn, truth / budget)
            assert o["alerts"] == []
            checked += 1
    assert checked == 12
    # the p95 of the slow service lands in a different bucket than the others: really per service
    p95 = {s["service"]: s["latency_p95_seconds"] for s in report["services"]}
    assert p95["billing"] > 0.9 > p95["auth-gateway"]


def test_zero_traffic_is_not_missing_data(healthy: Served) -> None:
    report = run_check(load_catalog(), healthy.url, at=healthy.end)
    pharmacy = service(report, "pharmacy")
    assert pharmacy["status"] == "ok" and pharmacy["problems"] == []
    assert pharmacy["request_rate"] == 0 and pharmacy["error_ratio"] == 0
    assert pharmacy["latency_p50_seconds"] is None and pharmacy["latency_p95_seconds"] is None
    for o in pharmacy["slos"]:
        assert o["sli"] == 100 and o["error_budget_remaining"] == 1 and o["alerts"] == []
        assert all(b == 0 for b in o["burn_rates"].values())
    json.loads(to_json(report))  # allow_nan=False: no NaN or Infinity anywhere


def test_raw_counters_when_nothing_is_recorded(healthy: Served) -> None:
    h, end = healthy.history, healthy.end
    report = run_check(load_catalog(), healthy.url, at=end, environment="staging")
    assert report["slo_source"] == "raw" and report["status"] == "ok", report["errors"]
    for svc in report["services"]:
        name = svc["service"]
        assert close(svc["request_rate"], h.request_rate(name, end, "staging"))
        for o in svc["slos"]:
            assert o["source"] == "raw"
            truth = h.slo_ratio_raw(name, o["slo"], end, 30 * 86400, "staging")
            assert close(o["sli"], 100 * (1 - truth))
            assert close(o["burn_rates"]["1d"], truth / o["error_budget"])


def test_missed_backup_is_a_warning_not_a_trigger(healthy: Served, capsys: pytest.CaptureFixture[str]) -> None:
    at = healthy.end - 60 * MIN
    rc, report = cli(capsys, "--prometheus-url", healthy.url, "--at", str(at))
    assert rc == 1 and report["status"] == "warning"
    rpo = report["rpo"]
    assert rpo["backup_missed"] is True and rpo["backup_age_seconds"] >= 27 * 60 * MIN
    # replication (30 s behind) keeps the RPO however old the backup
    assert rpo["breached"] is False and rpo["source"] == "replication" and rpo["recoverable_point_age_seconds"] == 30
    assert report["failover_recommended"] is False
    assert all(s["status"] == "ok" for s in report["services"])


def test_manual_trigger_flag(healthy: Served, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    rc = main(["monitor", "check", "--prometheus-url", healthy.url, "--at", str(healthy.end),
               "--manual-trigger", "DC power work in Dhaka (ops: rahim)"])
    out = capsys.readouterr().out
    assert rc == 2
    assert "FAILOVER RECOMMENDED" in out and "DC power work in Dhaka" in out
    for i, step in enumerate(load_catalog().dr.failover_procedure, 1):
        assert f"{i}. {step}" in out


def test_environment_without_data_is_unknown(healthy: Served, capsys: pytest.CaptureFixture[str]) -> None:
    rc, report = cli(capsys, "--prometheus-url", healthy.url, "--at", str(healthy.end), "-e", "development")
    assert rc == 3 and report["status"] == "unknown"
    for svc in report["services"]:
        assert svc["status"] == "unknown"
        assert svc["problems"] == [f"no request-rate series for {svc['service']} in development"]
        assert svc["request_rate"] is None


def test_catalog_service_without_series_is_unknown(healthy: Served, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    data = yaml.safe_load((REPO / "zarish_obs/data/default_catalog.yaml").read_text())
    data["services"].append({"name": "radiology", "slos": {"availability": {"objective": 99.5}}})
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump(data))
    parse_catalog(path.read_text())
    rc, report = cli(capsys, "--catalog", str(path), "--prometheus-url", healthy.url, "--at", str(healthy.end))
    assert rc == 3
    statuses = {s["service"]: s["status"] for s in report["services"]}
    assert statuses.pop("radiology") == "unknown"
    assert set(statuses.values()) == {"ok"}


def test_one_failing_query_does_not_stop_the_others(healthy: Served, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.test_monitor_failures import fake_server

    def proxy(req: dict[str, Any]) -> tuple[int, bytes]:
        if "histogram_quantile(0.95" in req["params"]["query"]:
            return 422, b'{"status":"error","errorType":"execution","error":"query timed out in expression evaluation"}'
        r = requests.get(healthy.url + req["path"], params=req["params"], timeout=10)
        return r.status_code, r.content

    with fake_server(proxy) as (url, _):
        rc, report = cli(capsys, "--prometheus-url", url, "--at", str(healthy.end))
    assert rc == 3 and report["status"] == "unknown"
    assert report["errors"] == ["latency_p95: HTTP 422: query timed out in expression evaluation"]
    billing = service(report, "billing")
    assert billing["latency_p95_seconds"] is None and billing["status"] == "unknown"
    assert close(billing["request_rate"], healthy.history.request_rate("billing", healthy.end))
    assert billing["latency_p50_seconds"] is not None and billing["slos"][0]["sli"] is not None
    assert all(t["fired"] is False for t in report["dr_triggers"]) and report["rpo"]["breached"] is False


def test_textfile_passes_promtool_and_keeps_last_success(healthy: Served, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    textfile = tmp_path / "collector" / "zarish_monitor.prom"
    rc, _ = cli(capsys, "--prometheus-url", healthy.url, "--at", str(healthy.end), "--textfile", str(textfile))
    assert rc == 0
    text = textfile.read_text()
    result = check_metrics(text)
    assert result.ok, result.output
    assert 'zarish_monitor_status{environment="production"} 0' in text
    assert 'zarish_monitor_dr_trigger_fired{environment="production",trigger="replication_lag"} 0' in text
    assert 'zarish_monitor_slo_sli_ratio{environment="production",service="billing",slo="availability"}' in text
    assert 'zarish_monitor_slo_burn_rate{environment="production",service="auth-gateway",slo="latency",window="1h"}' \
        in text
    last = [line for line in text.splitlines() if line.startswith("zarish_monitor_last_success_timestamp_seconds")]
    assert len(last) == 1
    # a later run that ends UNKNOWN (Prometheus gone) rewrites the file but keeps the last success
    rc, _ = cli(capsys, "--prometheus-url", f"http://127.0.0.1:{free_port()}", "--at", str(healthy.end),
                "--textfile", str(textfile), "--deadline", "5")
    assert rc == 3
    text2 = textfile.read_text()
    assert check_metrics(text2).ok
    assert 'zarish_monitor_status{environment="production"} 3' in text2
    assert last[0] in text2.splitlines()
    assert [p.name for p in textfile.parent.iterdir()] == ["zarish_monitor.prom"]  # atomic: no temp files left


def test_pushgateway_receives_the_verdict(healthy: Served, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    from zarish_obs import procs

    with procs.running(procs.start_pushgateway(tmp_path)) as pg:
        rc, report = cli(capsys, "--prometheus-url", healthy.url, "--at", str(healthy.end - 60 * MIN),
                         "--pushgateway", pg.url)
        assert rc == 1 and report["errors"] == []
        metrics = requests.get(f"{pg.url}/metrics", timeout=5).text
    assert 'zarish_monitor_status{environment="production",instance="",job="zarish-monitor"} 1' in metrics
    assert 'zarish_monitor_rpo_breached{environment="production",instance="",job="zarish-monitor"} 0' in metrics
    assert "zarish_monitor_last_success_timestamp_seconds{" in metrics
    assert ('zarish_monitor_slo_error_budget_remaining_ratio{environment="production",instance="",'
            'job="zarish-monitor",service="patient-registry",slo="latency"}') in metrics


def test_cron_line_prints_one_json_object(healthy: Served) -> None:
    proc = subprocess.run([sys.executable, "-m", "zarish_obs.stack.main", "monitor", "check", "--format", "json",
                           "--at", str(healthy.end)], capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "PROMETHEUS_URL": healthy.url})
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert proc.stdout.count("\n") == 1 and report["version"] == 1 and report["prometheus_url"] == healthy.url
    assert report["queries"] == 23


# -- scenario: the DR triggers, on one timeline --------------------------------------------------------------
def dr_history(cat: Catalog, end: int) -> History:
    burst = end - 135 * MIN
    others = [s.name for s in cat.services if s.name != "billing"]
    # overall production error ratio of 15% during the burst, all of it from billing
    billing_errors = (0.15 * (60 + 5 * len(others)) - 0.0002 * 5 * len(others)) / 60
    traffic = [Traffic(n, rate=const(5.0)) for n in others]
    traffic.append(Traffic("billing", rate=const(60.0), errors=between(burst, burst + 8 * MIN, billing_errors, 0.0002)))
    gauges = dr_gauges(cat, lag=between(end - 55 * MIN, end - 40 * MIN, 400.0, 200.0),
                       primary_up=between(end - 110 * MIN, end - 70 * MIN, 0.0, 1.0),
                       manual=between(end - 30 * MIN, end - 20 * MIN, 1.0, 0.0))
    return History(cat, end, raw_seconds=4 * 3600, traffic=traffic, gauges=gauges)


@pytest.fixture(scope="module", params=BACKENDS)
def dr(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    h = dr_history(load_catalog(), aligned_end(10))
    with served(h, tmp_path_factory.mktemp(f"dr-{request.param}"), request.param) as proc:
        yield Served(request.param, proc.url, h)


def only_fired(report: dict[str, Any]) -> list[str]:
    return [name for name, f in fired(report).items() if f]


@pytest.mark.parametrize(("minutes_before_end", "expected", "rc"), [
    (0, [], 0),  # lag 200 s, manual 0, probes up, errors 0.02%
    (127, ["error_ratio"], 2),  # 15% errors for the last 8 minutes
    (132, [], 0),  # 15% errors for the last 3 minutes
    (70, ["primary_region_unavailable"], 2),  # every primary probe failing for 40 minutes
    (90, [], 0),  # ... for 20 minutes
    (40, ["replication_lag"], 2),  # lag 400 s
    (20, ["manual"], 2),  # zarish_dr_manual_trigger == 1
])
def test_dr_triggers(dr: Served, capsys: pytest.CaptureFixture[str], minutes_before_end: int,
                     expected: list[str], rc: int) -> None:
    at = dr.end - minutes_before_end * MIN
    code, report = cli(capsys, "--prometheus-url", dr.url, "--at", str(at))
    assert (code, only_fired(report)) == (rc, expected), report["dr_triggers"]
    assert all(f is False for f in fired(report).values() if f is not True)
    assert report["failover_recommended"] is bool(expected)
    assert report["failover_procedure"] == (list(load_catalog().dr.failover_procedure) if expected else [])
    assert all(s["status"] == "ok" for s in report["services"]), [(s["service"], s["slos"]) for s in report["services"]
                                                                   if s["status"] != "ok"]
    values = {t["name"]: t["value"] for t in report["dr_triggers"]}
    assert values["replication_lag"] == (400 if minutes_before_end == 40 else 200)
    if minutes_before_end == 127:
        assert close(values["error_ratio"], 0.15)


def test_dr_window_semantics_are_subqueries_at_the_evaluation_interval() -> None:
    from zarish_obs.monitor.queries import dr_queries

    q = {x.name: x.expr for x in dr_queries(load_catalog())}
    assert q["dr:error_ratio"].startswith("min_over_time((") and q["dr:error_ratio"].endswith(")[5m:15s])")
    assert q["dr:primary_region_unavailable"].endswith(")[30m:15s])")
    assert q["dr:replication_lag"] == "min_over_time((max(pg_replication_lag_seconds))[1m:15s])"
    scaled = load_catalog().model_copy(update={"time_scale": 0.1})
    q2 = {x.name: x.expr for x in dr_queries(scaled)}
    assert q2["dr:error_ratio"].endswith(")[30s:15s])") and q2["dr:primary_region_unavailable"].endswith(")[3m:15s])")


# -- scenario: burn-rate tiers (page in production, ticket in staging) --------------------------------------
def burn_history(cat: Catalog, end: int) -> History:
    traffic = []
    for s in cat.services:
        prod_errors = between(end - 30 * MIN, end, 0.05, 0.0002) if s.name == "patient-registry" else const(0.0002)
        traffic.append(Traffic(s.name, rate=const(5.0), errors=prod_errors))
        stg_errors = between(end - 86400, end, 0.0035, 0.0002) if s.name == "clinical-records" else const(0.0002)
        traffic.append(Traffic(s.name, environment="staging", rate=const(5.0), errors=stg_errors))
    return History(cat, end, recorded_days=8, traffic=traffic, gauges=dr_gauges(cat))


@pytest.fixture(scope="module", params=BACKENDS)
def burn(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    h = burn_history(load_catalog(), aligned_end(10))
    with served(h, tmp_path_factory.mktemp(f"burn-{request.param}"), request.param) as proc:
        yield Served(request.param, proc.url, h)


def test_page_tier_burn(burn: Served, capsys: pytest.CaptureFixture[str]) -> None:
    rc, report = cli(capsys, "--prometheus-url", burn.url, "--at", str(burn.end))
    assert rc == 2 and report["status"] == "critical" and report["failover_recommended"] is False
    statuses = {s["service"]: s["status"] for s in report["services"]}
    assert statuses.pop("patient-registry") == "critical" and set(statuses.values()) == {"ok"}
    avail = service(report, "patient-registry")["slos"][0]
    assert avail["slo"] == "availability" and avail["alerts"] == ["page"]
    assert "page_fast" in avail["alert_tiers"]
    truth_1h = burn.history.slo_ratio_raw("patient-registry", "availability", burn.end, 3600) / 0.001
    assert truth_1h > 14.4 and close(avail["burn_rates"]["1h"], truth_1h)
    assert avail["error_budget_remaining"] > 0.25


def test_ticket_tier_burn(burn: Served, capsys: pytest.CaptureFixture[str]) -> None:
    rc, report = cli(capsys, "--prometheus-url", burn.url, "--at", str(burn.end), "--environment", "staging")
    assert rc == 1 and report["status"] == "warning", report["errors"]
    statuses = {s["service"]: s["status"] for s in report["services"]}
    assert statuses.pop("clinical-records") == "warning" and set(statuses.values()) == {"ok"}
    avail = service(report, "clinical-records")["slos"][0]
    assert avail["alerts"] == ["ticket"] and "ticket_fast" in avail["alert_tiers"]
    assert avail["error_budget_remaining"] > 0.25  # the warning comes from the burn, not the budget
    truth_1d = burn.history.slo_ratio_recorded("clinical-records", "availability", burn.end, 86400,
                                               "staging") / 0.001
    assert 3 < truth_1d < 6 and close(avail["burn_rates"]["1d"], truth_1d)


def test_min_events_guards_the_burn_alerts(burn: Served, tmp_path: Path) -> None:
    data = yaml.safe_load((REPO / "zarish_obs/data/default_catalog.yaml").read_text())
    data["alerting"]["min_events"] = 10**9
    cat = parse_catalog(yaml.safe_dump(data))
    report = run_check(cat, burn.url, at=burn.end)
    assert service(report, "patient-registry")["slos"][0]["alerts"] == []
    assert report["status"] == "ok"


# -- scenario: no data at all ---------------------------------------------------------------------------------
@pytest.fixture(scope="module", params=BACKENDS)
def empty(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with served(None, tmp_path_factory.mktemp(f"empty-{request.param}"), request.param) as proc:
        yield Served(request.param, proc.url, History(load_catalog(), aligned_end(10)))


def test_no_data_at_all_is_unknown(empty: Served, capsys: pytest.CaptureFixture[str]) -> None:
    rc, report = cli(capsys, "--prometheus-url", empty.url, "--at", str(empty.end))
    assert rc == 3 and report["status"] == "unknown" and report["slo_source"] == "raw"
    assert all(s["status"] == "unknown" for s in report["services"])
    assert fired(report) == {"error_ratio": None, "replication_lag": None, "primary_region_unavailable": None,
                             "manual": False}
    assert report["rpo"]["breached"] is None
    assert report["errors"] == []  # the server answered: the verdict is about missing data, said per item
    assert "cannot tell" in report["dr_triggers"][0]["detail"]


# -- another catalog: different metric and label names, a 28d window, 30 s scrapes --------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_custom_labels_catalog(backend: str, other_catalogs: dict[str, Catalog], tmp_path: Path) -> None:
    cat = other_catalogs["custom-labels"]
    end = aligned_end(10)
    traffic = [Traffic(s.name, environment="prod", rate=const(4.0)) for s in cat.services]
    h = History(cat, end, traffic=traffic, gauges=dr_gauges(cat, backup=lambda t: float(t - t % 300)))
    with served(h, tmp_path, backend) as proc:
        report = run_check(cat, proc.url, at=end)
    assert report["environment"] == "prod" and report["slo_source"] == "tiles"
    assert report["status"] == "ok", (report["errors"], [s["problems"] for s in report["services"]])
    for svc in report["services"]:
        assert close(svc["request_rate"], 4.0) and close(svc["latency_p95_seconds"],
                                                           h.quantile(0.95, svc["service"], end, "prod"))
        for o in svc["slos"]:
            assert o["window"] == "28d"
            assert close(o["sli"], 100 * (1 - h.slo_ratio_recorded(svc["service"], o["slo"], end, 28 * 86400, "prod")))
    assert service(report, "notification-worker")["slos"] == []
    assert {t["name"]: t["value"] for t in report["dr_triggers"]}["replication_lag"] == 30
