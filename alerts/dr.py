"""The DR plan's trigger conditions as alerts (severity critical, label dr_trigger); the RPO and the
backups are judged in recovery.py.

The error-ratio trigger measures the ratio over a short rate window (four scrapes, at least a minute), so
the `for:` duration is what the DR plan's "for 5 minutes" means: 15% errors for 8 minutes pages, 15%
for 3 minutes does not. The conditions come from zarish_obs.promql, whose stateless forms of the same
conditions the DR dashboard and `monitor check` evaluate, so all three agree at every evaluation step.

A maintenance window with `suppress_dr` over the DR environment (only a window over every service may set
it) empties the automatic triggers while it is open; the manual trigger is a person's decision and is
never hidden.
"""

from __future__ import annotations

from typing import Any

from zarish_obs import conventions, maintenance_promql, promql
from zarish_obs.alerts import common
from zarish_obs.catalog import Catalog
from zarish_obs.durations import parse_duration

GROUP = "zarish-dr-triggers"
REPLICATION_LAG_FOR = conventions.REPLICATION_LAG_FOR
error_ratio_window = promql.dr_error_ratio_window


def failover_text(catalog: Catalog) -> str:
    steps = catalog.dr.failover_procedure or ["(the catalog lists no failover procedure)"]
    return "\n".join(f"{i}. {common.literal(step)}" for i, step in enumerate(steps, 1))


def _dr_annotations(catalog: Catalog, alertname: str, summary: str, description: str,
                    failover: bool = True) -> dict[str, str]:
    extra = {"failover_procedure": failover_text(catalog)} if failover else {}
    extra["rto"] = catalog.dr.rto
    extra["rpo"] = catalog.dr.rpo
    return common.annotations(catalog, alertname, "dr", summary, description, extra)


def dr_rules(catalog: Catalog) -> list[dict[str, Any]]:
    dr = catalog.dr
    env = dr.error_ratio.environment
    primary = catalog.primary_region.name
    lag_seconds = parse_duration(dr.replication_lag.threshold)
    critical = {"severity": "critical", **common.common_labels(catalog)}
    threshold = common.percent(dr.error_ratio.threshold)
    window = error_ratio_window(catalog)
    t = conventions.timings(catalog)

    def quiet(expr: str) -> str:
        return maintenance_promql.unless_dr_suppressed(catalog, expr)

    rules = [
        common.alert_rule(
            conventions.DR_ERROR_RATIO_HIGH,
            quiet(promql.dr_error_ratio_high(catalog).expr),
            t.error_ratio_for,
            {conventions.DR_TRIGGER_LABEL: "error_ratio", **critical},
            _dr_annotations(
                catalog, conventions.DR_ERROR_RATIO_HIGH,
                f"DR trigger: more than {threshold} of all requests in {env} fail",
                f"The {env} error ratio of all services together (5xx over all requests, {window} rate) has "
                f"been above {threshold} for {dr.error_ratio.for_}. This is a DR plan trigger condition: "
                "follow the failover procedure if the primary region cannot recover within the RTO.")),
        common.alert_rule(
            "DRReplicationLagHigh",
            quiet(f"{promql.dr_replication_lag(catalog)} > {common.number(lag_seconds)}"),
            t.replication_lag_for,
            {"dr_trigger": "replication_lag", **critical},
            _dr_annotations(
                catalog, "DRReplicationLagHigh",
                f"DR trigger: database replication lag above {dr.replication_lag.threshold}",
                f"The largest {dr.replication_lag.metric} has been above {common.number(lag_seconds)} s "
                f"({dr.replication_lag.threshold}) for {REPLICATION_LAG_FOR}: the DR database is falling "
                f"behind and a failover now would lose more than the RPO of {dr.rpo}.")),
        common.alert_rule(
            conventions.DR_PRIMARY_REGION_UNAVAILABLE,
            quiet(promql.dr_primary_region_down(catalog).expr),
            t.region_unavailable_for,
            {conventions.DR_TRIGGER_LABEL: "primary_region_unavailable", conventions.REGION_LABEL: primary,
             **critical},
            _dr_annotations(
                catalog, conventions.DR_PRIMARY_REGION_UNAVAILABLE,
                f"DR trigger: primary region {primary} unavailable",
                f"Every health probe of the primary region {primary} has failed for "
                f"{dr.primary_region_unavailable.for_}. This is a DR plan trigger condition: start the "
                "failover procedure.")),
        common.alert_rule(
            "DRManualTrigger",
            f"{promql.dr_manual_trigger(catalog)} == 1",
            None,
            {"dr_trigger": "manual", **critical},
            _dr_annotations(
                catalog, "DRManualTrigger",
                "DR trigger: failover requested manually by operations",
                f"{dr.manual_trigger.metric} is 1: the operations team has declared a disaster. Start the "
                "failover procedure.")),
    ]
    return rules


def dr_alert_groups(catalog: Catalog) -> list[dict[str, Any]]:
    return [{"name": GROUP, "rules": dr_rules(catalog)}]
