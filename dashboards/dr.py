"""DR status dashboard: the DR plan's four failover triggers, the recoverable point against the RPO, the
backup age against its schedule, and the RTO/RPO and procedures written out, so the on-call engineer sees
the whole decision on one screen."""

from __future__ import annotations

from grafanalib import core as g

from zarish_obs import conventions, promql
from zarish_obs.catalog import Catalog
from zarish_obs.dashboards import common as c
from zarish_obs.durations import parse_duration


def _mapping(*items: tuple[str, str, str]) -> g.StatValueMappings:
    return g.StatValueMappings(*[g.StatValueMappingItem(text, value, colour, i) for i, (value, text, colour)
                                 in enumerate(items)])


def queries(catalog: Catalog) -> dict[str, str]:
    """The trigger panels read the very expressions the DR alerts and `monitor check` evaluate."""
    return {
        "error_ratio": promql.dr_error_ratio(catalog),
        "error_ratio_sustained": promql.dr_error_ratio_sustained(catalog).value,
        "replication_lag": promql.dr_replication_lag(catalog),
        "primary_up_recently": promql.dr_primary_region_unavailable(catalog).value,
        "region_probe_success": promql.region_probe_success(catalog),
        "recoverable_point": promql.recoverable_point_age(catalog),
        "backup_age": promql.backup_age_seconds(catalog),
        "manual_trigger": promql.dr_manual_trigger(catalog),
    }


def _plan_text(catalog: Catalog) -> str:
    d = catalog.dr
    dr_regions = ", ".join(r.name for r in catalog.dr_regions) or "none declared"
    return "\n".join([
        f"**RTO** (recovery time objective): **{d.rto}**  ",
        f"**RPO** (recovery point objective): **{d.rpo}**  ",
        f"Primary region: **{catalog.primary_region.name}**, DR region(s): **{dr_regions}**  ",
        f"Backups: `{d.backup.schedule}` ({catalog.timezone}), kept {d.backup.retention}",
        "",
        "**Failover when any of these holds:**",
        "",
        f"- primary region unavailable for more than {d.primary_region_unavailable.for_}",
        f"- database replication lag above {d.replication_lag.threshold}",
        f"- error ratio above {d.error_ratio.threshold:.0%} for {d.error_ratio.for_} ({d.error_ratio.environment})",
        "- manual trigger by the operations team",
    ])


def _steps_text(steps: list[str]) -> str:
    return "\n".join(f"{i}. {s}" for i, s in enumerate(steps, 1)) or "_No procedure in the catalog._"


def build(catalog: Catalog) -> g.Dashboard:
    d = catalog.dr
    q = queries(catalog)
    lag_limit = parse_duration(d.replication_lag.threshold)
    rpo = parse_duration(d.rpo)
    late = conventions.backup_missed_after_seconds(catalog)
    primary = catalog.primary_region.name
    t = conventions.timings(catalog)
    error_for, down_for = t.error_ratio_for, t.region_unavailable_for
    window, step = promql.dr_error_ratio_window(catalog), catalog.prometheus.evaluation_interval
    grid = c.Grid()
    panels: list[g.Panel] = [
        c.stat(f"Error ratio ({window} rate), lowest over {error_for}",
               [c.target(q["error_ratio_sustained"], "", instant=True)],
               grid.place(6, 5), "percentunit", c.steps(c.GREEN, (d.error_ratio.threshold, c.RED)), decimals=1,
               text_mode="value",
               description=(f"DR trigger: all-service error ratio in {d.error_ratio.environment} ({window} rate) "
                            f"above {d.error_ratio.threshold:.0%} for {error_for}. Shows its lowest value at "
                            f"every {step} of the last {error_for}: red = the trigger holds "
                            f"({conventions.DR_ERROR_RATIO_HIGH} fires).")),
        c.stat("Replication lag", [c.target(q["replication_lag"], "", instant=True)], grid.place(6, 5), "s",
               c.steps(c.GREEN, (lag_limit, c.RED)), text_mode="value",
               description=f"DR trigger: database replication lag above {d.replication_lag.threshold}."),
        c.stat(f"Primary region ({primary}) up within {down_for}",
               [c.target(q["primary_up_recently"], "", instant=True)], grid.place(6, 5), "none",
               c.steps(c.RED, (1, c.GREEN)), text_mode="value",
               mappings=[_mapping(("0", "DOWN: failover trigger", c.RED), ("1", "up", c.GREEN))],
               description=(f"DR trigger: every probe of {primary} failing for {down_for}. 1 if a probe "
                            f"succeeded at any {step} step of the last {down_for}; 0 = the trigger holds "
                            f"({conventions.DR_PRIMARY_REGION_UNAVAILABLE} fires).")),
        c.stat("Manual DR trigger", [c.target(q["manual_trigger"], "", instant=True)], grid.place(6, 5), "none",
               c.steps(c.GREEN, (1, c.RED)), text_mode="value",
               mappings=[_mapping(("0", "not triggered", c.GREEN), ("1", "TRIGGERED", c.RED))],
               description=f"DR trigger: set by the operations team ({d.manual_trigger.metric} = 1)."),
        c.timeseries(f"{d.error_ratio.environment} error ratio ({window} rate) vs DR trigger",
                     c.targets([(q["error_ratio"], d.error_ratio.environment)]), grid.place(12, 8), "percentunit",
                     description=(f"All services together, {window} rate, the trigger's own. Trigger: above "
                                  f"{d.error_ratio.threshold:.0%} for {error_for}."),
                     min_value=0, thresholds=c.steps(c.GREEN, (d.error_ratio.threshold, c.RED)),
                     threshold_style="line"),
        c.timeseries("Replication lag vs DR trigger", c.targets([(q["replication_lag"], "lag")]),
                     grid.place(12, 8), "s", description=f"Trigger: above {d.replication_lag.threshold}.",
                     min_value=0, thresholds=c.steps(c.GREEN, (lag_limit, c.RED)), threshold_style="line"),
        c.timeseries("Region probe success", c.targets([(q["region_probe_success"], "{{region}}")]),
                     grid.place(12, 8), "none", min_value=0, max_value=1,
                     description=(f"1 while at least one blackbox probe of the region succeeds. Trigger: {primary} "
                                  f"at 0 for {down_for}.")),
        c.stat("Recoverable point age", [c.target(q["recoverable_point"], "", instant=True)], grid.place(3, 8),
               "s", c.steps(c.GREEN, (rpo, c.RED)), text_mode="value",
               description=(f"Age of the newest recoverable point: the smaller of the replication lag and the "
                            f"last successful backup's age. Red beyond the RPO ({d.rpo}); "
                            f"{conventions.RPO_BREACHED} fires when it stays there for {t.recovery_for}.")),
        c.stat("Last successful backup age", [c.target(q["backup_age"], "", instant=True)], grid.place(3, 8),
               "s", c.steps(c.GREEN, (late, c.RED)), text_mode="value",
               description=(f"Time since the last successful backup. Red beyond the longest gap of the schedule "
                            f"`{d.backup.schedule}` ({catalog.timezone}) plus a grace of {d.backup.grace}; "
                            f"{conventions.BACKUP_MISSED} fires when it stays there for {t.recovery_for}, or "
                            "when no backup is recorded at all.")),
        c.text("RTO / RPO", _plan_text(catalog), grid.place(6, 8)),
        c.text("Failover procedure", _steps_text(d.failover_procedure), grid.place(12, 7)),
        c.text("Failback procedure", _steps_text(d.failback_procedure), grid.place(12, 7)),
    ]
    return c.dashboard(catalog, "dr", panels, [c.datasource_variable(catalog)], ["dr"],
                       description=(f"{c.display_name(catalog)}: DR triggers, backups, RTO {d.rto} / RPO {d.rpo} "
                                    "and the failover/failback procedures."))
