"""Grafana file provisioning: a dashboard provider and the Prometheus datasource with the fixed uid.

For teams that run Grafana from files instead of the API: put `provisioning/` under Grafana's
`paths.provisioning` and the dashboards JSON where the provider's `path` points.
"""

from __future__ import annotations

from typing import Any

from zarish_obs.catalog import Catalog
from zarish_obs.durations import parse_duration


def default_prometheus_url(catalog: Catalog) -> str:
    return f"http://prometheus.{catalog.monitoring_namespace}.svc:9090"


def dashboard_provider(catalog: Catalog, dashboards_path: str, folder: str | None = None) -> dict[str, Any]:
    return {
        "apiVersion": 1,
        "providers": [{
            "name": f"{catalog.name}-dashboards",
            "orgId": 1,
            "folder": folder or catalog.grafana.folder,
            "type": "file",
            "disableDeletion": False,
            "allowUiUpdates": False,
            "updateIntervalSeconds": 60,
            "options": {"path": dashboards_path, "foldersFromFilesStructure": False},
        }],
    }


def datasource(catalog: Catalog, prometheus_url: str | None = None) -> dict[str, Any]:
    """The datasource every dashboard's `${datasource}` variable defaults to (uid from the catalog)."""
    g = catalog.grafana
    scrape = int(parse_duration(catalog.prometheus.scrape_interval))
    return {
        "apiVersion": 1,
        "datasources": [{
            "name": g.datasource_name,
            "type": "prometheus",
            "uid": g.datasource_uid,
            "access": "proxy",
            "url": prometheus_url or default_prometheus_url(catalog),
            "isDefault": True,
            "editable": False,
            "jsonData": {"httpMethod": "POST", "timeInterval": f"{scrape}s"},
        }],
    }


def datasource_api_body(catalog: Catalog, prometheus_url: str) -> dict[str, Any]:
    """The same datasource as a `POST /api/datasources` body."""
    ds = datasource(catalog, prometheus_url)["datasources"][0]
    return {k: v for k, v in ds.items() if k != "editable"}
