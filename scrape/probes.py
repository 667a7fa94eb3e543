"""Blackbox-exporter probes of each region's health endpoints, labelled with `region`.

The `region` label is what the primary-region-unavailable DR trigger selects on.
"""

from __future__ import annotations

from typing import Any

from zarish_obs.catalog import Catalog

JOB_NAME = "region-probes"


def probes_job(catalog: Catalog, blackbox: str, probes: dict[str, list[str]] | None = None) -> dict[str, Any] | None:
    """One job, one static group per region with probes; None when no region lists any."""
    groups = []
    for region in catalog.regions:
        urls = probes.get(region.name, []) if probes is not None else region.probes
        if urls:
            groups.append({"targets": list(urls), "labels": {"region": region.name, "region_role": region.role}})
    if not groups:
        return None
    return {
        "job_name": JOB_NAME,
        "metrics_path": "/probe",
        "params": {"module": [catalog.prometheus.blackbox_module]},
        "static_configs": groups,
        "relabel_configs": [
            {"source_labels": ["__address__"], "target_label": "__param_target"},
            {"source_labels": ["__param_target"], "target_label": "instance"},
            {"target_label": "__address__", "replacement": blackbox},
        ],
    }
