"""The RPO, the backups and the targets-down alert: the schedule's interval, bad schedules, the expressions,
and a simulated week of a healthy system on which none of the new alerts fires (real promtool)."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from zarish_obs import conventions, promql, promtool
from zarish_obs.alerts import recovery, targets
from zarish_obs.alerts.render import RECOVERY_FILE, TARGETS_FILE, rule_files, rule_groups
from zarish_obs.catalog import Catalog, default_catalog_text
from zarish_obs.errors import ZarishError
from zarish_obs.stack.main import main
from zarish_obs.writers import to_yaml

HOUR, DAY = 3600, 86400


def with_backup(catalog: Catalog, **backup: str) -> Catalog:
    dr = catalog.dr.model_copy(update={"backup": catalog.dr.backup.model_copy(update=backup)})
    return catalog.model_copy(update={"dr": dr})


@pytest.mark.parametrize(("schedule", "timezone", "interval"), [
    ("0 2 * * *", "Asia/Dhaka", 24 * HOUR),
    ("30 1 * * 1-5", "Asia/Dhaka", 72 * HOUR),  # Friday night to Monday night
    ("0 2 * * 0", "Asia/Dhaka", 7 * DAY),
    ("0 */6 * * *", "Asia/Dhaka", 6 * HOUR),
    ("0 3 1 * *", "UTC", 31 * DAY),
    ("0 2 * * *", "Europe/Berlin", 24 * HOUR),  # the DST nights do not make it longer than a day
    ("30 2 * * *", "America/New_York", 25 * HOUR),  # 02:30 does not exist on the spring-forward day
])
def test_backup_interval_is_the_longest_gap_of_the_schedule(default_catalog: Catalog, schedule: str, timezone: str,
                                                            interval: int) -> None:
    cat = with_backup(default_catalog.model_copy(update={"timezone": timezone}), schedule=schedule)
    assert conventions.backup_interval_seconds(cat) == interval
    assert conventions.backup_missed_after_seconds(cat) == interval + 2 * HOUR


def test_grace_is_added_and_never_time_compressed(default_catalog: Catalog) -> None:
    cat = with_backup(default_catalog, grace="45m").model_copy(update={"time_scale": 0.01})
    assert conventions.backup_missed_after_seconds(cat) == 24 * HOUR + 45 * 60
    rules = {r["alert"]: r for r in recovery.recovery_rules(cat)}
    assert f"> {24 * HOUR + 45 * 60} or absent(" in rules[conventions.BACKUP_MISSED]["expr"]
    assert rules[conventions.RPO_BREACHED]["expr"].endswith(") > 3600")  # the RPO is what is measured
    assert {r["for"] for r in rules.values()} == {"6s"}  # 10m x 0.01
    assert targets.targets_down_rule(cat)["for"] == "3s"  # 5m x 0.01


@pytest.mark.parametrize("schedule", ["61 2 * * *", "0 2 * * mon-xyz", "0 2 30 2 *"])
def test_bad_schedule_is_one_line_not_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  default_catalog: Catalog, schedule: str) -> None:
    path = tmp_path / "catalog.yaml"
    path.write_text(default_catalog_text().replace('schedule: "0 2 * * *"', f'schedule: "{schedule}"'))
    assert main(["alerts", "generate", "--catalog", str(path), "--out", str(tmp_path / "out")]) == 65
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert err.startswith(f"{path}:") and "dr.backup.schedule" in err
    # A catalog built in code skips the loader's checks; reading the schedule still fails in one line.
    with pytest.raises(ZarishError) as exc:
        rule_groups(with_backup(default_catalog, schedule=schedule))
    assert exc.value.exit_code == 65 and exc.value.message.startswith(f"dr.backup.schedule: {schedule!r} ")


def test_recoverable_point_is_built_once_from_both_sources(default_catalog: Catalog) -> None:
    sources = promql.recoverable_point_sources(default_catalog)
    assert sources == ('label_replace(max(pg_replication_lag_seconds), "source", "replication", "", "") or '
                       'label_replace(time() - max(zarish_backup_last_success_timestamp_seconds), "source", '
                       '"backup", "", "")')
    rules = {r["alert"]: r for r in recovery.recovery_rules(default_catalog)}
    assert rules[conventions.RPO_BREACHED]["expr"] == f"(min({sources})) > 3600"
    assert rules[conventions.RPO_BREACHED]["labels"] == {"severity": "page"}
    assert rules[conventions.BACKUP_MISSED]["labels"] == {"severity": "ticket"}
    assert promql.recovery_held(default_catalog) == f"min_over_time(({sources})[10m:15s])"


def test_targets_down_renames_pod_labels_to_the_catalog_labels(default_catalog: Catalog,
                                                              other_catalogs: dict[str, Catalog]) -> None:
    expr = targets.targets_down_rule(default_catalog)["expr"]
    assert expr.startswith('count by (environment, service) (label_replace(up{app=~"appointment-scheduling|')
    assert 'environment=~"development|production|staging"} == 0, "service", "$1", "app", "(.*)"))' in expr
    custom = targets.targets_down_rule(other_catalogs["custom-labels"])["expr"]  # service_label app, env label env
    assert custom == ('count by (env, app) (label_replace(up{app=~"imaging-gateway|notification-worker|referral-api", '
                      'environment=~"prod|qa"} == 0, "env", "$1", "environment", "(.*)"))')


# -- a simulated week of the built-in catalog ------------------------------------------------------------------
WEEK_MINUTES = 7 * 24 * 60
BACKUP_RUN_MINUTES = (38, 41, 52, 35, 47, 44, 29, 55, 40)  # one per night, the night before the week first


def _nightly_backups(catalog: Catalog, runs: tuple[int, ...]) -> list[float]:
    """Finish times of backups started at 02:00 local time each night, the night before the week first
    (promtool's clock starts at 1970-01-01 00:00 UTC); a run of 0 minutes is a failed night."""
    first = datetime(1970, 1, 1, 2, 0, tzinfo=ZoneInfo(catalog.timezone))
    return [(first + timedelta(days=i, minutes=m)).timestamp() for i, m in enumerate(runs) if m]


def _week_series(catalog: Catalog, runs: tuple[int, ...] = BACKUP_RUN_MINUTES,
                 pod_down: tuple[int, int] | None = None) -> list[dict[str, str]]:
    """A healthy week at 1-minute samples: replication a few seconds behind, the nightly backups, and every
    pod of every service up in every environment."""
    finished = sorted(_nightly_backups(catalog, runs))

    def last_backup(minute: int) -> float:
        return max(f for f in finished if f <= minute * 60)

    def values(fn: Callable[[int], float]) -> str:
        return " ".join(f"{fn(m):g}" for m in range(WEEK_MINUTES + 1))

    d = catalog.dr
    series = [
        {"series": f'{d.replication_lag.metric}{{instance="postgres-chittagong-0"}}',
         "values": values(lambda t: 1 + (t * 7) % 9)},  # 1..9 s
        {"series": f'{d.backup.metric}{{job="pushgateway"}}', "values": values(last_backup)},
    ]
    broken = (catalog.services[0].name, d.error_ratio.environment, 0)
    for svc in catalog.services:
        for env in catalog.environments:
            for pod in range(2):
                labels = (f'{conventions.TARGET_SERVICE_LABEL}="{svc.name}", '
                          f'{conventions.TARGET_ENVIRONMENT_LABEL}="{env.name}", instance="{svc.name}-{pod}"')
                up = f"1x{WEEK_MINUTES}"
                if pod_down and (svc.name, env.name, pod) == broken:
                    up = values(lambda t: 0 if pod_down[0] <= t < pod_down[1] else 1)
                series.append({"series": f"{conventions.TARGET_UP}{{{labels}}}", "values": up})
    return series


def _week(tmp_path: Path, catalog: Catalog, **kw: Any) -> promtool.CheckResult:
    """promtool over the week: no alert of the recovery and targets files, firing or even pending, at any
    minute (promtool stores ALERTS like Prometheus does)."""
    files = rule_files(catalog)
    for name in (RECOVERY_FILE, TARGETS_FILE):
        (tmp_path / name).write_text(files[name])
    test = {"rule_files": [RECOVERY_FILE, TARGETS_FILE], "evaluation_interval": "1m", "tests": [{
        "name": "a healthy week", "interval": "1m", "input_series": _week_series(catalog, **kw),
        "promql_expr_test": [{"expr": "count by (alertname) (count_over_time(ALERTS[8d]))", "eval_time": "7d",
                              "exp_samples": []}]}]}
    (tmp_path / "week.test.yml").write_text(to_yaml(test))
    return promtool.test_rules(tmp_path / "week.test.yml", cwd=tmp_path)


def test_the_simulated_backups_are_nightly_at_two_in_dhaka(default_catalog: Catalog) -> None:
    finished = _nightly_backups(default_catalog, BACKUP_RUN_MINUTES)
    assert len(finished) == 9 and finished[1] == 20 * HOUR + 41 * 60  # 02:41 Dhaka = 20:41 UTC on 1 January
    gaps = [b - a for a, b in itertools.pairwise(finished)]
    assert max(gaps) == DAY + 26 * 60 and max(gaps) < conventions.backup_missed_after_seconds(default_catalog)


@pytest.mark.real
def test_a_healthy_week_fires_nothing(tmp_path: Path, default_catalog: Catalog) -> None:
    result = _week(tmp_path, default_catalog)
    assert result.ok, result.output


@pytest.mark.real
def test_the_week_check_sees_real_problems(tmp_path: Path, default_catalog: Catalog) -> None:
    """The same check on the same week with the fourth night's backup failing and one pod down for an hour."""
    result = _week(tmp_path, default_catalog, runs=(38, 41, 52, 0, 47, 44, 29, 55, 40), pod_down=(3000, 3060))
    assert not result.ok
    got = set(re.findall(r'alertname="(\w+)"', result.output.split("got:", 1)[1]))
    assert got == {conventions.BACKUP_MISSED, conventions.TARGETS_DOWN}, result.output
