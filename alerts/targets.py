"""`ServiceTargetsDown`: Prometheus cannot scrape some of a service's pods (`up == 0`).

One rule for every service of the catalog, one alert per (environment, service), so a service with many
pods opens one ticket, not one per pod. While the primary region is unavailable the Alertmanager
inhibits it (it carries the service label and Prometheus's external `region` label). A maintenance window
that excludes a service's minutes from its SLOs mutes it too: a patch restarts pods.
"""

from __future__ import annotations

from typing import Any

from zarish_obs import conventions, maintenance_promql, promql
from zarish_obs.alerts import common
from zarish_obs.catalog import Catalog

TARGETS_FILE = "zarish-target-alerts.yml"
GROUP = "zarish-targets"


def targets_down_rule(catalog: Catalog) -> dict[str, Any]:
    svc = common.label_ref(catalog.metrics.service_label)
    env = common.label_ref(catalog.metrics.environment_label)
    wait = catalog.alerting.targets_down_for
    return common.alert_rule(
        conventions.TARGETS_DOWN, maintenance_promql.unless_recorded_active(catalog, promql.targets_down(catalog)),
        conventions.timings(catalog).targets_down_for,
        {conventions.SEVERITY_LABEL: "ticket", **common.common_labels(catalog)},
        common.annotations(
            catalog, conventions.TARGETS_DOWN, "overview",
            f"{svc} ({env}): scrape targets down",
            f"Prometheus has failed to scrape at least one pod of {svc} in {env} (up == 0) for {wait}: the "
            "pod is down or its metrics endpoint does not answer, so the service's signals and SLOs see only "
            "the remaining pods."))


def target_alert_groups(catalog: Catalog) -> list[dict[str, Any]]:
    return [{"name": GROUP, "rules": [targets_down_rule(catalog)]}]
