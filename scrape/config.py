"""Assemble `prometheus.yml` from the catalog: a pure function returning a plain dict."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from zarish_obs import conventions
from zarish_obs.catalog import Catalog, RemoteWrite
from zarish_obs.scrape.kubernetes import PodTarget, apiservers_job, nodes_job, pods_job
from zarish_obs.scrape.probes import probes_job


@dataclass(frozen=True)
class Topology:
    """Where Prometheus finds its peers. The in-cluster default comes from the catalog; the local
    stack and the tests pass static pods and loopback addresses instead."""

    alertmanagers: list[str]
    rule_files: list[str]
    blackbox: str
    pushgateway: str | None
    pods: list[PodTarget] | None = None
    probes: dict[str, list[str]] | None = None
    cluster_jobs: bool = True
    extra_jobs: list[dict[str, Any]] = field(default_factory=list)


def cluster_topology(catalog: Catalog) -> Topology:
    p = catalog.prometheus
    return Topology(alertmanagers=list(p.alertmanagers), rule_files=list(p.rule_files),
                    blackbox=p.blackbox_exporter, pushgateway=p.pushgateway)


def remote_write_entry(rw: RemoteWrite) -> dict[str, Any]:
    entry: dict[str, Any] = {"url": rw.url}
    if rw.name:
        entry["name"] = rw.name
    if rw.basic_auth_username:
        auth: dict[str, Any] = {"username": rw.basic_auth_username}
        if rw.basic_auth_password_file:
            auth["password_file"] = rw.basic_auth_password_file
        entry["basic_auth"] = auth
    if rw.bearer_token_file:
        entry["authorization"] = {"credentials_file": rw.bearer_token_file}
    return entry


def build_prometheus_config(catalog: Catalog, topology: Topology | None = None) -> dict[str, Any]:
    """The DR plan's monitoring design for this catalog, as the dict that becomes prometheus.yml."""
    topo = topology or cluster_topology(catalog)
    p = catalog.prometheus
    namespaces = sorted({e.namespace for e in catalog.environments} | {catalog.monitoring_namespace})
    jobs: list[dict[str, Any]] = []
    if topo.cluster_jobs:
        jobs += [apiservers_job(), nodes_job()]
    jobs.append(pods_job(namespaces, topo.pods))
    probes = probes_job(catalog, topo.blackbox, topo.probes)
    if probes:
        jobs.append(probes)
    if topo.pushgateway:
        jobs.append({"job_name": "pushgateway", "honor_labels": True,
                     "static_configs": [{"targets": [topo.pushgateway]}]})
    jobs += topo.extra_jobs
    config: dict[str, Any] = {
        "global": {
            "scrape_interval": p.scrape_interval,
            "scrape_timeout": p.scrape_timeout,
            "evaluation_interval": p.evaluation_interval,
            "external_labels": conventions.external_labels(catalog),
        },
        "rule_files": list(topo.rule_files),
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": list(topo.alertmanagers)}]}]},
        "scrape_configs": jobs,
    }
    if p.remote_write:
        config["remote_write"] = [remote_write_entry(rw) for rw in p.remote_write]
    return config
