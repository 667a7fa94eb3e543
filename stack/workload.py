"""The synthetic workload's description: which exporters exist, where they listen, what they serve.

Pure builders from the catalog to a plain JSON-able dict. The exporter processes
(`zarish_obs.stack.exporter`) read that dict and never import the catalog model, so each of them
starts in a few tens of milliseconds and stays small.

One exporter process per catalog service, serving one port per environment (a stand-in for that
service's pod in each namespace), plus one `infra` process: the database exporter
(replication lag), the backup job (pushes its last-success timestamp to the Pushgateway) and each
region's health endpoints (probed by the blackbox exporter).
"""

from __future__ import annotations

import re
from typing import Any

from zarish_obs import conventions, maintenance
from zarish_obs.catalog import Catalog
from zarish_obs.durations import parse_duration
from zarish_obs.errors import CatalogError
from zarish_obs.scrape.kubernetes import PodTarget

# The Prometheus client libraries' default buckets; each latency-SLO threshold is added as a boundary.
DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
DR_ENV_RATE = 20.0  # requests per second per service in the DR (production) environment
OTHER_ENV_RATE = 2.0
DEFAULT_ERROR_BUDGET = 0.01  # for a service without an availability SLO: healthy traffic then fails 0.1%
CANDIDATE_OK = ("200", "201", "204", "304", "404")
CANDIDATE_ERRORS = ("500", "503", "502", "504")
INFRA = "infra"
BACKUP_JOB = "zarish-backup"  # the job the backup pushes its success timestamp under
# A fresh backup is a tenth of the RPO old, of the compressed RPO in a time-compressed run, so it is fresh
# whichever RPO is checked; a stale one is twice as old as the schedule's interval plus grace allows
# (never compressed), so the backup counts as missed.
FRESH_BACKUP_RPO_SHARE = 0.1
STALE_BACKUP_FACTOR = 2.0
# The one-off maintenance window `stack up --maintenance-drill` adds; the `maintenance` scenario storms its pods.
DRILL_WINDOW = "stack-drill"


def exporter_name(service: str) -> str:
    return f"exporter-{service}"


def pod_key(service: str, environment: str) -> str:
    return f"{service}/{environment}"


def pod_keys(catalog: Catalog) -> list[str]:
    """Every (service, environment) pod of the workload, in catalog order."""
    return [pod_key(s.name, e.name) for s in catalog.services for e in catalog.environments]


def drill_pods(catalog: Catalog) -> set[str]:
    """The pods inside the maintenance drill window (none when the stack runs without one)."""
    window = next((w for w in catalog.maintenance if w.name == DRILL_WINDOW), None)
    if window is None:
        return set()
    return {pod_key(s.name, e.name) for s in catalog.services for e in catalog.environments
            if maintenance.covers(catalog, window, s.name, e.name)}


def status_codes(error_regex: str) -> tuple[list[str], list[str]]:
    """HTTP statuses the workload answers with: ones the catalog counts as errors and ones it does not."""
    pattern = re.compile(error_regex)
    ok = [c for c in CANDIDATE_OK if not pattern.fullmatch(c)]
    errors = [c for c in CANDIDATE_ERRORS if pattern.fullmatch(c)] or [
        c for c in conventions.SERVER_ERROR_STATUSES if pattern.fullmatch(c)][:1]
    if not ok or not errors:
        raise CatalogError([f"metrics.error_status_regex: {error_regex!r} must match some 5xx statuses "
                            "and not 200 for the local stack to synthesise traffic"])
    return ok, errors


def buckets(catalog: Catalog) -> list[float]:
    bounds = set(DEFAULT_BUCKETS)
    bounds.update(s.slos.latency.threshold_seconds for s in catalog.services if s.slos.latency)
    return sorted(bounds)


def health_paths(catalog: Catalog) -> list[dict[str, str]]:
    """One local health endpoint per probe the catalog lists, or one for a region that lists none."""
    out = []
    for region in catalog.regions:
        sources = region.probes or [f"(no probe listed for {region.name})"]
        for i, source in enumerate(sources):
            out.append({"region": region.name, "path": f"/health/{region.name}/{i}", "stands_for": source})
    return out


def workload_config(catalog: Catalog, ports: dict[str, int], infra_port: int, scenario_file: str,
                    pushgateway_url: str, only_service: str | None = None) -> dict[str, Any]:
    """Everything the exporter processes need, as plain data. A relative `scenario_file` is relative to
    the directory of the file this config is written to. `only_service` confines the DR environment's
    scenarios to that service's pod (the others stay healthy), so one service's page can be told apart."""
    ok, errors = status_codes(catalog.metrics.error_status_regex)
    dr_env = catalog.dr.error_ratio.environment
    drill = drill_pods(catalog)
    pods = []
    for svc in catalog.services:
        availability = svc.slos.availability
        for env in catalog.environments:
            pods.append({
                "service": svc.name, "environment": env.name, "namespace": env.namespace,
                "port": ports[pod_key(svc.name, env.name)],
                "rate": DR_ENV_RATE if env.name == dr_env else OTHER_ENV_RATE,
                "error_budget": availability.error_budget if availability else DEFAULT_ERROR_BUDGET,
                "latency_threshold": svc.slos.latency.threshold_seconds if svc.slos.latency else None,
                "affected": env.name == dr_env and only_service in (None, svc.name),
                "drill": pod_key(svc.name, env.name) in drill,
            })
    m = catalog.metrics
    return {
        "metrics": {"requests_total": m.requests_total, "latency_histogram": m.latency_histogram,
                    "service_label": m.service_label, "status_label": m.status_label,
                    "environment_label": m.environment_label},
        "ok_codes": ok, "error_codes": errors, "buckets": buckets(catalog),
        "scenario_file": scenario_file,
        "pods": pods,
        "infra": {
            "port": infra_port, "namespace": catalog.environment(dr_env).namespace, "environment": dr_env,
            "replication_lag_metric": catalog.dr.replication_lag.metric,
            "replication_lag_threshold_seconds": parse_duration(catalog.dr.replication_lag.threshold),
            "backup_metric": catalog.dr.backup.metric,
            "backup_job": BACKUP_JOB,
            "fresh_backup_age_seconds": FRESH_BACKUP_RPO_SHARE * conventions.timings(catalog).seconds(catalog.dr.rpo),
            "stale_backup_age_seconds": STALE_BACKUP_FACTOR * conventions.backup_missed_after_seconds(catalog),
            "pushgateway": pushgateway_url,
            "primary_region": catalog.primary_region.name,
            "health": health_paths(catalog),
        },
    }


def _annotations(port: int) -> dict[str, str]:
    return {"prometheus.io/scrape": "true", "prometheus.io/port": str(port), "prometheus.io/path": "/metrics"}


def pod_targets(config: dict[str, Any]) -> list[PodTarget]:
    """The workload as the pods Kubernetes service discovery would report, labelled as in the DR plan."""
    out = [
        PodTarget(address=f"127.0.0.1:{p['port']}", namespace=p["namespace"], pod=f"{p['service']}-0",
                  labels={"app": p["service"], "version": "local", "environment": p["environment"]},
                  annotations=_annotations(p["port"]))
        for p in config["pods"]
    ]
    infra = config["infra"]
    out.append(PodTarget(address=f"127.0.0.1:{infra['port']}", namespace=infra["namespace"],
                         pod="postgres-exporter-0",
                         labels={"app": "postgres-exporter", "version": "local",
                                 "environment": infra["environment"]},
                         annotations=_annotations(infra["port"])))
    return out


def probe_urls(config: dict[str, Any]) -> dict[str, list[str]]:
    """region -> the local health URLs the blackbox exporter probes."""
    infra = config["infra"]
    out: dict[str, list[str]] = {}
    for h in infra["health"]:
        out.setdefault(h["region"], []).append(f"http://127.0.0.1:{infra['port']}{h['path']}")
    return out
