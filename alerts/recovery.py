"""The recovery point objective and the backups, each judged by what keeps it.

The RPO is kept by replication to the DR region; the backups are kept by their schedule. A nightly backup
alone can never meet a 1-hour RPO, so an alert on "last backup older than the RPO" would be on 23 hours a
day and get silenced. Instead:
- `RPOBreached` (page): the newest recoverable point, the smaller of the replication lag and the last
  backup's age, is older than the RPO. A failover now would lose more than the RPO allows.
- `BackupMissed` (ticket): the last successful backup is older than the longest gap of its cron schedule
  plus `dr.backup.grace`, or no backup is recorded at all.
Both hold for `timings.recovery_for` first, so an exporter or Pushgateway restart does not alert.
"""

from __future__ import annotations

from typing import Any

from zarish_obs import conventions, promql
from zarish_obs.alerts import common
from zarish_obs.catalog import Catalog
from zarish_obs.durations import format_duration, parse_duration

RECOVERY_FILE = "zarish-recovery-alerts.yml"
GROUP = "zarish-recovery"


def _annotations(catalog: Catalog, alertname: str, summary: str, description: str) -> dict[str, str]:
    dr = catalog.dr
    return common.annotations(catalog, alertname, "dr", summary, description,
                              {"rpo": dr.rpo, "backup_schedule": common.literal(dr.backup.schedule)})


def rpo_rule(catalog: Catalog) -> dict[str, Any]:
    dr = catalog.dr
    rpo = common.number(parse_duration(dr.rpo))
    return common.alert_rule(
        conventions.RPO_BREACHED, promql.rpo_breached(catalog).expr, conventions.timings(catalog).recovery_for,
        {conventions.SEVERITY_LABEL: "page", **common.common_labels(catalog)},
        _annotations(
            catalog, conventions.RPO_BREACHED,
            f"Newest recoverable point is older than the RPO of {dr.rpo}",
            f"The newest recoverable point has been more than {rpo} s ({dr.rpo}) old for "
            f"{conventions.RECOVERY_FOR}: the database replication lag ({dr.replication_lag.metric}) and the "
            f"age of the last successful backup ({dr.backup.metric}) both exceed it, or the one of them with "
            "data does. A failover now would lose more data than the recovery point objective allows. Restore "
            "replication to the DR region, or take a backup now."))


def backup_rule(catalog: Catalog) -> dict[str, Any]:
    dr = catalog.dr
    interval = format_duration(conventions.backup_interval_seconds(catalog))
    after = conventions.backup_missed_after_seconds(catalog)
    schedule = common.literal(dr.backup.schedule)
    return common.alert_rule(
        conventions.BACKUP_MISSED, promql.backup_missed(catalog), conventions.timings(catalog).recovery_for,
        {conventions.SEVERITY_LABEL: "ticket", **common.common_labels(catalog)},
        _annotations(
            catalog, conventions.BACKUP_MISSED,
            f"No successful backup within {format_duration(after)} (schedule {schedule}, grace {dr.backup.grace})",
            f"The newest {dr.backup.metric} has been more than {after} s old for {conventions.RECOVERY_FOR}, or "
            f"no backup is recorded at all: the schedule {schedule} ({catalog.timezone}) runs at most "
            f"{interval} apart, plus a grace of {dr.backup.grace}. At least one scheduled backup failed or "
            "did not report its success."))


def recovery_rules(catalog: Catalog) -> list[dict[str, Any]]:
    return [rpo_rule(catalog), backup_rule(catalog)]


def recovery_alert_groups(catalog: Catalog) -> list[dict[str, Any]]:
    return [{"name": GROUP, "rules": recovery_rules(catalog)}]
