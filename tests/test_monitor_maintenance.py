"""`monitor check` during maintenance windows: services in a window are shown but do not count, DR triggers
still do unless a `suppress_dr` window is open. Unit tests on hand-made answers, then one real Prometheus."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from tests.conftest import REPO
from zarish_obs.catalog import Catalog, parse_catalog
from zarish_obs.maintenance_promql import open_at
from zarish_obs.monitor.client import Sample
from zarish_obs.monitor.evaluate import build_report
from zarish_obs.monitor.export import render_metrics
from zarish_obs.monitor.queries import plan
from zarish_obs.monitor.report import render_table, to_json
from zarish_obs.promtool import check_metrics

DHAKA = ZoneInfo("Asia/Dhaka")
BURNING = 0.5  # far above every page tier's threshold for every SLO of the test catalogs
MIN = 60


def local(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=DHAKA).timestamp()


def utc(text: str) -> str:
    return datetime.fromtimestamp(local(text), ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
def cat() -> Catalog:
    return parse_catalog((REPO / "tests/data/catalogs/maintenance.yaml").read_text())


def answers(cat: Catalog, environment: str = "production", burning: tuple[str, ...] = (),
            dr_error_ratio: float | None = 0.0, silent: tuple[str, ...] = ()) -> dict[str, Any]:
    """Every query answered: 1 req/s per service, SLO windows at BURNING for `burning` services and 0 for the
    others, no series at all for `silent` services, the DR error ratio as given (None: no series)."""
    out: dict[str, Any] = {}
    for q in plan(cat, environment, "raw"):
        svcs = [s for s in cat.services if s.name not in silent]
        if q.name.startswith("slo_"):
            out[q.name] = [Sample({"environment": environment, "service": s.name, "slo": k},
                                  (BURNING if s.name in burning else 0.0) if q.name.startswith("slo_ratio") else 1e6)
                           for s in svcs for k, _ in s.slo_items()]
        elif q.name in ("request_rate", "error_ratio", "latency_p50", "latency_p95"):
            value = {"request_rate": 1.0, "error_ratio": 0.0}.get(q.name, 0.1)
            out[q.name] = [Sample({"environment": environment, "service": s.name}, value) for s in svcs]
        elif q.name.startswith("rpo:"):
            out[q.name] = [Sample({"source": "replication"}, 1.0), Sample({"source": "backup"}, 60.0)]
        elif q.name == "dr:error_ratio":
            out[q.name] = [] if dr_error_ratio is None else [Sample({}, dr_error_ratio)]
        else:
            out[q.name] = [Sample({}, {"dr:replication_lag": 1.0, "dr:primary_region_unavailable": 1.0,
                                       "dr:manual": 0.0}[q.name])]
    return out


def check(cat: Catalog, at: float, environment: str = "production", **kw: Any) -> dict[str, Any]:
    manual = kw.pop("manual_reason", None)
    report = build_report(cat, environment, answers(cat, environment, **kw), source="raw", at=at,
                          prometheus_url="http://p", manual_reason=manual)
    json.loads(to_json(report))
    return report


def svc(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in report["services"] if s["service"] == name)


def trigger(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(t for t in report["dr_triggers"] if t["name"] == name)


# -- services ------------------------------------------------------------------------------------------------
THURSDAY_NIGHT = "2026-12-03T23:45"  # nightly-patch: records, Thursdays and Fridays 23:30 to 01:00, production


def test_storm_inside_a_window_is_shown_but_not_counted(cat: Catalog) -> None:
    at = local(THURSDAY_NIGHT)
    inside = check(cat, at, burning=("records",))
    records = svc(inside, "records")
    assert inside["exit_code"] == 0 and inside["status"] == "ok"
    assert records["status"] == "critical" and records["counts"] is False
    assert records["slos"][0]["alerts"] == ["page", "ticket"]  # still computed and shown
    assert records["maintenance"] == {
        "name": "nightly-patch", "reason": "OS patches on the records nodes", "until": utc("2026-12-04T01:00"),
        "until_local": "2026-12-04T01:00+06:00", "exclude_from_slo": True, "windows": ["nightly-patch"]}
    assert svc(inside, "billing")["maintenance"] is None and svc(inside, "billing")["counts"] is True
    assert [w["name"] for w in inside["maintenance_windows"]] == ["nightly-patch"]
    outside = check(cat, at, burning=("billing",))
    assert outside["exit_code"] == 2 and svc(outside, "billing")["status"] == "critical"


@pytest.mark.parametrize(("when", "inside"), [
    ("2026-12-03T23:29:59", False), ("2026-12-03T23:30", True), ("2026-12-04T00:59:59", True),
    ("2026-12-04T01:00", False),  # the end is exclusive
    ("2026-12-04T23:30", True),  # Friday night too
    ("2026-12-05T23:30", False),  # not on Saturday
    ("2026-12-02T23:45", False),  # nor on Wednesday
])
def test_window_edges(cat: Catalog, when: str, inside: bool) -> None:
    report = check(cat, local(when), burning=("records",))
    assert (svc(report, "records")["maintenance"] is not None, report["exit_code"]) == (inside, 0 if inside else 2)


def test_no_data_during_maintenance_is_not_unknown(cat: Catalog) -> None:
    report = check(cat, local(THURSDAY_NIGHT), silent=("records",))
    assert svc(report, "records")["status"] == "unknown" and report["exit_code"] == 0
    assert check(cat, local("2026-12-03T12:00"), silent=("records",))["exit_code"] == 3


def test_windows_cover_only_their_environments(cat: Catalog) -> None:
    staging = check(cat, local(THURSDAY_NIGHT), "staging", burning=("records",))
    assert svc(staging, "records")["maintenance"] is None and staging["exit_code"] == 2
    vacuum = "2027-01-03T09:30"  # db-vacuum: billing, production and staging, 09:00 for 1h on 3 January
    report = check(cat, local(vacuum), "staging", burning=("billing",))
    assert report["exit_code"] == 0 and svc(report, "billing")["maintenance"]["name"] == "db-vacuum"
    assert svc(report, "billing")["maintenance"]["until"] == utc("2027-01-03T10:00")


def test_a_window_that_keeps_its_minutes_in_the_slos_still_counts(cat: Catalog) -> None:
    report = check(cat, local("2026-12-07T10:30"), burning=("billing",))  # vendor-check, Monday 10 to 11
    billing = svc(report, "billing")
    assert billing["maintenance"]["name"] == "vendor-check" and billing["maintenance"]["exclude_from_slo"] is False
    assert billing["counts"] is True and report["exit_code"] == 2


def test_counts_agree_with_the_promql_side_of_the_windows(cat: Catalog) -> None:
    """Every 10 minutes over eight days: a service is not counted exactly when a window excluding its minutes
    is open by maintenance_promql's own evaluation of the windows (the one the recording rules use)."""
    start = local("2026-12-01T00:05")
    seen = set()
    for i in range(8 * 144):
        at = start + i * 600
        report = check(cat, at)
        for s in report["services"]:
            expected = any(open_at(cat, w, at) for w in cat.maintenance if w.exclude_from_slo
                           and (w.services is None or s["service"] in w.services)
                           and "production" in (w.environments or ["production"]))
            assert s["counts"] is not expected, (s["service"], at)
            seen.add((s["service"], expected))
    assert ("records", True) in seen and ("records", False) in seen and ("billing", False) in seen


# -- DR triggers ---------------------------------------------------------------------------------------------
MIGRATION = "1970-01-02T09:30"  # migration: every service, suppress_dr, 09:00 to 10:30
DC_MOVE = "2031-03-15T23:00"  # datacentre-move: every service, DR triggers NOT suppressed


def test_suppress_dr_window_hides_the_automatic_triggers(cat: Catalog) -> None:
    report = check(cat, local(MIGRATION), dr_error_ratio=0.5)
    er = trigger(report, "error_ratio")
    assert er["fired"] is True and er["counts"] is False and er["suppressed_by"] == "migration"
    assert "not counted" in er["detail"] and "migration" in er["detail"]
    assert report["exit_code"] == 0 and report["failover_recommended"] is False
    assert report["failover_procedure"] == []
    # an automatic trigger that cannot tell is hidden too; the manual trigger never is
    assert check(cat, local(MIGRATION), dr_error_ratio=None)["exit_code"] == 0
    manual = check(cat, local(MIGRATION), manual_reason="ops: move to the DR region now")
    assert manual["exit_code"] == 2 and trigger(manual, "manual")["counts"] is True
    assert manual["failover_recommended"] is True
    after = check(cat, local("1970-01-02T10:30"), dr_error_ratio=0.5)
    assert after["exit_code"] == 2 and trigger(after, "error_ratio")["suppressed_by"] is None


def test_a_window_without_suppress_dr_never_hides_a_failover(cat: Catalog) -> None:
    burning = tuple(s.name for s in cat.services)
    quiet = check(cat, local(DC_MOVE), burning=burning)
    assert quiet["exit_code"] == 0 and not any(s["counts"] for s in quiet["services"])
    report = check(cat, local(DC_MOVE), burning=burning, dr_error_ratio=0.5)
    er = trigger(report, "error_ratio")
    assert report["exit_code"] == 2 and report["failover_recommended"] is True
    assert er["counts"] is True and er["suppressed_by"] is None and "datacentre-move" in er["detail"]
    assert "moving racks to the new hall" in er["detail"]
    assert "maintenance" not in trigger(report, "replication_lag")["detail"]  # only fired triggers mention it


# -- output --------------------------------------------------------------------------------------------------
def test_table_names_the_window(cat: Catalog, default_catalog: Catalog) -> None:
    text = render_table(check(cat, local(THURSDAY_NIGHT), burning=("records",)))
    header = next(line for line in text.splitlines() if line.startswith("SERVICE"))
    row = next(line for line in text.splitlines() if line.startswith("records "))
    assert "MAINTENANCE" in header and "nightly-patch until 2026-12-04 01:00+06:00, not counted" in row
    assert "VERDICT: OK (exit 0)" in text and "records (CRITICAL, nightly-patch)" in text
    dr = render_table(check(cat, local(MIGRATION), dr_error_ratio=0.5))
    assert next(line for line in dr.splitlines() if line.strip().startswith("error_ratio")).split()[1] == "SUPPRESSED"
    plain = render_table(build_report(default_catalog, "production", answers(default_catalog), source="raw",
                                      at=local(THURSDAY_NIGHT), prometheus_url="http://p"))
    assert "MAINTENANCE" not in plain and "Not counted" not in plain


def test_metrics_say_which_services_are_in_maintenance(cat: Catalog) -> None:
    text = render_metrics(check(cat, local(THURSDAY_NIGHT)), 1.8e9, 1.8e9)
    assert 'zarish_monitor_service_in_maintenance{environment="production",service="records"} 1' in text
    assert 'zarish_monitor_service_in_maintenance{environment="production",service="billing"} 0' in text
    result = check_metrics(text)
    assert result.ok, result.output


# -- real Prometheus: an error storm and a DR burst on one backfilled timeline -----------------------------------
def one_off(name: str, at: float, services: list[str] | None, suppress_dr: bool = False) -> dict[str, Any]:
    """A one-off window from an hour before `at` to an hour after, in the catalog's zone."""
    t = datetime.fromtimestamp(at, DHAKA).replace(second=0, microsecond=0)
    w: dict[str, Any] = {"name": name, "reason": f"planned work ({name})",
                         "start": (t - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
                         "end": (t + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"), "suppress_dr": suppress_dr}
    if services is not None:
        w["services"] = services
    return w


@pytest.fixture(scope="module")
def storm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    from zarish_obs.catalog import load_catalog
    from zarish_obs.stack.synthetic import History, Traffic, aligned_end, between, const, dr_gauges, served

    cat = load_catalog()
    end = aligned_end(10)
    others = [s.name for s in cat.services if s.name not in ("billing", "patient-registry")]
    burst = end - 135 * MIN
    billing_errors = (0.15 * (60 + 5 * (len(others) + 1)) - 0.0002 * 5 * (len(others) + 1)) / 60
    traffic = [Traffic(n, rate=const(5.0)) for n in others]
    traffic.append(Traffic("patient-registry", rate=const(5.0), errors=between(end - 30 * MIN, end, 0.05, 0.0002)))
    traffic.append(Traffic("billing", rate=const(60.0), errors=between(burst, burst + 8 * MIN, billing_errors, 0.0002)))
    h = History(cat, end, raw_seconds=4 * 3600, traffic=traffic, gauges=dr_gauges(cat))
    with served(h, tmp_path_factory.mktemp("maintenance-prometheus"), "prometheus") as proc:
        yield proc.url, end


@pytest.mark.real
def test_real_prometheus_storm_and_dr_during_windows(storm: tuple[str, int], tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from zarish_obs.stack.main import main

    url, end = storm
    base = yaml.safe_load((REPO / "zarish_obs/data/default_catalog.yaml").read_text())

    def run(at: float, window: dict[str, Any], fmt: str = "json") -> tuple[int, Any]:
        path = tmp_path / f"{window['name']}.yaml"
        path.write_text(yaml.safe_dump({**base, "maintenance": [window]}))
        capsys.readouterr()
        rc = main(["monitor", "check", "--catalog", str(path), "--prometheus-url", url, "--at", str(at),
                   "--format", fmt])
        out = capsys.readouterr().out
        return rc, json.loads(out) if fmt == "json" else out

    rc, inside = run(end, one_off("registry-patch", end, ["patient-registry"]))
    registry = svc(inside, "patient-registry")
    assert rc == 0 and inside["errors"] == [], inside["errors"]
    assert registry["status"] == "critical" and "page" in registry["slos"][0]["alerts"]
    assert registry["counts"] is False and registry["maintenance"]["name"] == "registry-patch"
    assert all(s["status"] == "ok" for s in inside["services"] if s["service"] != "patient-registry")
    rc, table = run(end, one_off("registry-patch", end, ["patient-registry"]), "table")
    assert rc == 0 and "registry-patch until" in table and "VERDICT: OK (exit 0)" in table

    rc, outside = run(end, one_off("billing-patch", end, ["billing"]))
    assert rc == 2 and svc(outside, "patient-registry")["counts"] is True
    assert svc(outside, "billing")["maintenance"]["name"] == "billing-patch"

    dr_at = end - 127 * MIN  # 15% of production's requests failing for the last 8 minutes
    rc, counted = run(dr_at, one_off("storage-migration", dr_at, None))
    er = trigger(counted, "error_ratio")
    assert rc == 2 and er["fired"] is True and er["counts"] is True and "storage-migration" in er["detail"]
    assert counted["failover_recommended"] is True and not any(s["counts"] for s in counted["services"])

    rc, hidden = run(dr_at, one_off("region-move", dr_at, None, suppress_dr=True))
    er = trigger(hidden, "error_ratio")
    assert rc == 0 and er["fired"] is True and er["suppressed_by"] == "region-move"
    assert hidden["failover_recommended"] is False
