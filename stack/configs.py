"""The local stack's configuration files, built by the same builders production uses (pure functions).

Only three things differ from the cluster: addresses are loopback ports, the Kubernetes pods are
static targets carrying the same `__meta_kubernetes_*` labels (so the DR plan's relabelling runs
unchanged), and a time-compressed catalog makes Prometheus re-send firing alerts every few seconds.
Alertmanager's config is used exactly as generated (its builder already compresses the grouping
timers of a time-compressed catalog).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from zarish_obs import conventions
from zarish_obs.catalog import Catalog, MaintenanceWindow, Service
from zarish_obs.durations import parse_duration
from zarish_obs.scrape.config import Topology, build_prometheus_config
from zarish_obs.stack.workload import DRILL_WINDOW, pod_targets, probe_urls

# How often Prometheus re-sends firing alerts (default 1m): short, so an Alertmanager that was down
# hears about every firing alert within seconds of coming back.
LOCAL_RESEND_DELAY = "2s"


def local_catalog(catalog: Catalog, time_scale: float) -> Catalog:
    """The catalog the stack runs: `time_scale` set and, when compressed, scrape/evaluation intervals too."""
    if not 0 < time_scale <= 1:
        raise ValueError("time scale must be in (0, 1]")
    cat = catalog.model_copy(update={"time_scale": time_scale})
    if time_scale == 1:
        return cat
    p = cat.prometheus
    scaled = conventions.timings(cat)
    prom = p.model_copy(update={"scrape_interval": scaled(p.scrape_interval),
                                "evaluation_interval": scaled(p.evaluation_interval),
                                "scrape_timeout": scaled(p.scrape_timeout)})
    return cat.model_copy(update={"prometheus": prom})


# The drill window opens before the stack's backfilled history begins and stays open for a week of running.
DRILL_OPENS_BEFORE = 3600
DRILL_LASTS = 7 * 86400


def drill_service(catalog: Catalog) -> Service:
    """The service the drill covers: the first standard-tier one with an availability SLO (a critical service's
    page is the other scenarios' story; without an availability SLO a storm has nothing to burn), else the
    first with one, else the first."""
    with_slo = [s for s in catalog.services if s.slos.availability]
    return next((s for s in with_slo if s.tier == "standard"), (with_slo or catalog.services)[0])


def with_drill_window(catalog: Catalog, now: float) -> Catalog:
    """The catalog plus a one-off maintenance window over one service of the DR environment, open for the
    stack's life: the `maintenance` scenario storms that service inside a planned window."""
    if any(w.name == DRILL_WINDOW for w in catalog.maintenance):
        raise ValueError(f"the catalog already has a maintenance window named {DRILL_WINDOW!r}, the name the "
                         "stack's drill window takes")
    zone = ZoneInfo(catalog.timezone)

    def local(t: float) -> str:
        return datetime.fromtimestamp(t, zone).strftime("%Y-%m-%dT%H:%M")

    svc = drill_service(catalog)
    window = MaintenanceWindow(
        name=DRILL_WINDOW, reason=f"local stack maintenance drill: planned work on {svc.name}",
        services=[svc.name], environments=[catalog.dr.error_ratio.environment],
        start=local(now - DRILL_OPENS_BEFORE), end=local(now + DRILL_LASTS))
    return catalog.model_copy(update={"maintenance": [*catalog.maintenance, window]})


def compression_note(catalog: Catalog) -> str | None:
    """The one line every compressed run prints, so nobody mistakes it for real-time behaviour."""
    if catalog.time_scale == 1:
        return None
    dr = catalog.dr
    examples = [dr.error_ratio.for_, dr.primary_region_unavailable.for_, catalog.alerting.metrics_absent_for]
    scaled = conventions.timings(catalog)
    shown = ", ".join(f"{d} -> {scaled(d)}" for d in dict.fromkeys(examples))
    speed = round(1 / catalog.time_scale, 1)
    return (f"TIME-COMPRESSED RUN (time scale {catalog.time_scale:g}, {speed:g}x): alert `for:` durations and "
            f"DR trigger windows are shortened ({shown}); scrape and evaluation every "
            f"{catalog.prometheus.scrape_interval}. Rate windows are not compressed. For demos and tests only.")


def local_topology(workload: dict[str, Any], *, alertmanager: str, blackbox: str, pushgateway: str,
                   rule_files: list[str]) -> Topology:
    """Where the stack's Prometheus servers find their peers: loopback addresses and the workload as static pods."""
    return Topology(alertmanagers=[alertmanager], rule_files=rule_files, blackbox=blackbox,
                    pushgateway=pushgateway, pods=pod_targets(workload), probes=probe_urls(workload),
                    cluster_jobs=False)


def prometheus_config(catalog: Catalog, workload: dict[str, Any], *, alertmanager: str, blackbox: str,
                      pushgateway: str, rule_files: list[str]) -> dict[str, Any]:
    """prometheus.yml for the stack: the production builder with a loopback topology."""
    topo = local_topology(workload, alertmanager=alertmanager, blackbox=blackbox, pushgateway=pushgateway,
                          rule_files=rule_files)
    return build_prometheus_config(catalog, topo)


def prometheus_flags(compressed: bool) -> list[str]:
    """Extra command-line flags of the stack's Prometheus (a compressed run re-sends firing alerts sooner)."""
    return [f"--rules.alert.resend-delay={LOCAL_RESEND_DELAY}"] if compressed else []


def blackbox_config(catalog: Catalog) -> dict[str, Any]:
    """The one module the region probes use: HTTP GET, any 2xx is success."""
    timeout = min(parse_duration(catalog.prometheus.scrape_timeout), 5.0)
    return {"modules": {catalog.prometheus.blackbox_module: {
        "prober": "http", "timeout": f"{max(timeout, 1.0):g}s",
        "http": {"preferred_ip_protocol": "ip4", "valid_status_codes": [], "method": "GET"}}}}
