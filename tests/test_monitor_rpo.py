"""`monitor check`'s `rpo` object: the recoverable point (replication or backup), the RPO and missed backups,
on hand-made answers and against a real Prometheus and VictoriaMetrics holding a deterministic history."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.test_monitor_units import answers, report_for
from zarish_obs import conventions
from zarish_obs.catalog import Catalog, load_catalog
from zarish_obs.monitor.check import run_check
from zarish_obs.monitor.client import QueryError, Sample
from zarish_obs.stack.synthetic import History, Traffic, aligned_end, const, dr_gauges, served

MIN, HOUR = 60, 3600


def with_rpo_answers(cat: Catalog, now: dict[str, float], held: dict[str, float] | None = None) -> dict[str, Any]:
    """Every query answered healthy, the two RPO queries with these ages per source (held: the lowest over
    the alerts' `for:`, the same as now unless given)."""
    out = answers(cat, 0.0)
    for name, ages in (("rpo:sources", now), ("rpo:held", now if held is None else held)):
        out[name] = [Sample({conventions.RPO_SOURCE_LABEL: s}, v) for s, v in ages.items()]
    return out


def rpo_of(cat: Catalog, results: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    report = report_for(cat, results)
    return report["status"], report["rpo"]


def test_healthy_replication_keeps_the_rpo_however_old_the_nightly_backup(default_catalog: Catalog) -> None:
    status, rpo = rpo_of(default_catalog, with_rpo_answers(default_catalog, {"replication": 3, "backup": 23 * HOUR}))
    assert status == "ok"
    assert rpo["recoverable_point_age_seconds"] == 3 and rpo["source"] == "replication"
    assert rpo["replication_lag_seconds"] == 3 and rpo["backup_age_seconds"] == 23 * HOUR
    assert rpo["breached"] is False and rpo["backup_missed"] is False
    assert rpo["rpo_seconds"] == HOUR and rpo["backup_missed_after_seconds"] == 26 * HOUR
    assert rpo["for_seconds"] == 600


@pytest.mark.parametrize(("now", "held", "breached", "source"), [
    ({"replication": 4000, "backup": 5000}, None, True, "replication"),
    ({"replication": 4000, "backup": 3000}, None, False, "backup"),
    ({"backup": 5000}, None, True, "backup"),  # without replication data the backup alone decides
    ({"replication": 5000}, None, True, "replication"),  # ... and the other way round
    ({"replication": 3600, "backup": 9000}, None, False, "replication"),  # exactly the RPO is kept
    # above the RPO now, but not throughout the alerts' `for:`: RPOBreached is not firing yet
    ({"replication": 4000, "backup": 5000}, {"replication": 30, "backup": 4400}, False, "replication"),
])
def test_breached_needs_the_smaller_source_above_the_rpo_throughout(
        default_catalog: Catalog, now: dict[str, float], held: dict[str, float] | None, breached: bool,
        source: str) -> None:
    status, rpo = rpo_of(default_catalog, with_rpo_answers(default_catalog, now, held))
    assert rpo["breached"] is breached and rpo["source"] == source
    assert rpo["recoverable_point_age_seconds"] == min(now.values())
    assert status == ("warning" if breached else "ok")
    assert ("BREACHED" in rpo["detail"]) is breached


@pytest.mark.parametrize(("backup", "missed"), [(26 * HOUR, False), (26 * HOUR + 1, True), (None, True)])
def test_backup_missed_after_interval_plus_grace_or_when_absent(default_catalog: Catalog, backup: float | None,
                                                                missed: bool) -> None:
    ages = {"replication": 3.0, **({} if backup is None else {"backup": backup})}
    status, rpo = rpo_of(default_catalog, with_rpo_answers(default_catalog, ages))
    assert rpo["backup_missed"] is missed and rpo["breached"] is False
    assert status == ("warning" if missed else "ok")
    assert ("no successful backup recorded" in rpo["detail"]) is (backup is None)


def test_unknown_only_when_neither_source_has_data(default_catalog: Catalog) -> None:
    status, rpo = rpo_of(default_catalog, with_rpo_answers(default_catalog, {}))
    assert status == "unknown" and rpo["breached"] is None and rpo["source"] is None
    assert rpo["recoverable_point_age_seconds"] is None and "cannot tell" in rpo["detail"]


def test_a_failed_rpo_query_is_unknown_and_named(default_catalog: Catalog) -> None:
    results = with_rpo_answers(default_catalog, {"replication": 3, "backup": HOUR})
    results["rpo:held"] = QueryError("HTTP 422: boom", "query")
    report = report_for(default_catalog, results)
    assert report["status"] == "unknown" and report["errors"] == ["rpo:held: HTTP 422: boom"]
    assert report["rpo"]["breached"] is None and report["rpo"]["backup_missed"] is None
    assert report["rpo"]["detail"] == "rpo:held: HTTP 422: boom"


# -- against real servers ------------------------------------------------------------------------------------
BACKENDS = ["prometheus", "victoria"]


def rpo_history(cat: Catalog, end: int) -> History:
    """Replication 5 s behind until 60 minutes before the end, then stalled 2h behind; the last successful
    backup 27h before the end (the night's run failed) until a manual backup 20 minutes before the end."""
    lag = lambda t: 5.0 if t <= end - 60 * MIN else 7200.0  # noqa: E731
    backup = lambda t: float(end - 27 * HOUR if t < end - 20 * MIN else end - 20 * MIN)  # noqa: E731
    return History(cat, end, raw_seconds=2 * HOUR, recorded_days=None,
                   traffic=[Traffic(cat.services[0].name, rate=const(5.0))],
                   gauges=dr_gauges(cat, lag=lag, backup=backup))


@pytest.fixture(scope="module", params=BACKENDS)
def rpo_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[tuple[str, int]]:
    end = aligned_end(10)
    with served(rpo_history(load_catalog(), end), tmp_path_factory.mktemp(f"rpo-{request.param}"),
                request.param) as proc:
        yield proc.url, end


@pytest.mark.real
@pytest.mark.parametrize(("minutes_before_end", "expected"), [
    (70, {"source": "replication", "recoverable_point_age_seconds": 5, "breached": False, "backup_missed": False}),
    # replication stalled 5 minutes ago and the backup turned 26h old (interval + grace) 5 minutes ago: both
    # above their limits now, but not for the alerts' 10 minutes yet
    (55, {"source": "replication", "recoverable_point_age_seconds": 7200, "breached": False, "backup_missed": False}),
    (40, {"source": "replication", "recoverable_point_age_seconds": 7200, "breached": True, "backup_missed": True}),
    # the manual backup is the newest recoverable point now
    (0, {"source": "backup", "recoverable_point_age_seconds": 20 * MIN, "breached": False, "backup_missed": False}),
])
def test_rpo_on_a_real_server(rpo_server: tuple[str, int], minutes_before_end: int,
                              expected: dict[str, Any]) -> None:
    url, end = rpo_server
    at = end - minutes_before_end * MIN
    rpo = run_check(load_catalog(), url, at=at)["rpo"]
    assert {k: rpo[k] for k in expected} == expected, rpo
    assert rpo["backup_age_seconds"] == (20 * MIN if minutes_before_end < 20 else at - (end - 27 * HOUR))
