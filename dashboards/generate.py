"""The dashboard pipeline: catalog -> grafanalib builders -> normalise -> fingerprint -> schema gate.

`build_all` is pure and returns plain dicts keyed by uid; `render_json` and `render_configmaps`
turn them into file contents for `writers.write_files`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from grafanalib import core as g

from zarish_obs import conventions
from zarish_obs.catalog import Catalog
from zarish_obs.dashboards import dr, fingerprint, overview, schema_gate, slo
from zarish_obs.dashboards.normalise import normalise, to_plain
from zarish_obs.errors import ExitCode, ZarishError
from zarish_obs.writers import configmap, to_json, to_yaml

BUILDERS: dict[str, Callable[[Catalog], g.Dashboard]] = {
    "overview": overview.build,
    "slo": slo.build,
    "dr": dr.build,
}
assert tuple(BUILDERS) == conventions.DASHBOARD_KINDS

CONFIGMAP_LIMIT = 1024 * 1024  # Kubernetes rejects a ConfigMap whose data exceeds 1 MiB
CLIENT_APPLY_LIMIT = 256 * 1024  # client-side `kubectl apply` copies it into a 256 KiB annotation
SIDECAR_LABEL = {"grafana_dashboard": "1"}
FOLDER_ANNOTATION = "grafana_folder"


def build_one(catalog: Catalog, kind: str) -> dict[str, Any]:
    return fingerprint.stamp(normalise(to_plain(BUILDERS[kind](catalog))))


def build_all(catalog: Catalog) -> dict[str, dict[str, Any]]:
    """Every dashboard of the catalog, modern and schema-valid, keyed by uid (in DASHBOARD_KINDS order)."""
    out = {}
    for kind in conventions.DASHBOARD_KINDS:
        dash = build_one(catalog, kind)
        out[dash["uid"]] = dash
    schema_gate.check(out)
    return out


def render_json(dashboards: dict[str, dict[str, Any]]) -> dict[str, str]:
    """One `<uid>.json` per dashboard: the raw dashboard model Grafana provisioning and the sidecar read."""
    return {f"{uid}.json": to_json(d) for uid, d in dashboards.items()}


def _k8s_name(uid: str) -> str:
    name = re.sub(r"[^a-z0-9-]+", "-", uid.lower()).strip("-")
    return f"grafana-dashboard-{name}"[:253]


def configmaps(catalog: Catalog, dashboards: dict[str, dict[str, Any]],
               folder: str | None = None) -> dict[str, dict[str, Any]]:
    """One ConfigMap per dashboard for Grafana's dashboard sidecar, refusing any over 1 MiB."""
    out = {}
    too_big = []
    for uid, dash in dashboards.items():
        body = to_json(dash)
        cm = configmap(_k8s_name(uid), catalog.monitoring_namespace, {f"{uid}.json": body}, labels=SIDECAR_LABEL,
                       annotations={FOLDER_ANNOTATION: folder or catalog.grafana.folder})
        size = len(to_yaml(cm).encode("utf-8"))
        if len(body.encode("utf-8")) > CONFIGMAP_LIMIT or size > CONFIGMAP_LIMIT:
            too_big.append(f"dashboard {uid}: ConfigMap would be {size:,} bytes, over the Kubernetes limit of "
                           f"{CONFIGMAP_LIMIT:,} (1 MiB); split the catalog or use --format json with file "
                           "provisioning")
        out[uid] = cm
    if too_big:
        raise ZarishError(too_big[0], ExitCode.DATAERR, too_big)
    return out


def oversize_for_client_apply(cms: dict[str, dict[str, Any]]) -> list[str]:
    return [uid for uid, cm in cms.items() if len(to_yaml(cm).encode("utf-8")) > CLIENT_APPLY_LIMIT]


def render_configmaps(cms: dict[str, dict[str, Any]]) -> dict[str, str]:
    return {f"{uid}.configmap.yaml": to_yaml(cm) for uid, cm in cms.items()}
