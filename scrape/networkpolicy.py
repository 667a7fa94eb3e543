"""NetworkPolicies that let Prometheus reach the metrics ports.

The DR plan's own policy admits only zarish-his-prod and ingress-nginx (and selects namespaces by a
`name` label its Namespace objects never set), so as written Prometheus in zarish-his-monitoring
could not scrape port 9090. Policies are additive: these only open the metrics ports to monitoring.
"""

from __future__ import annotations

from typing import Any

from zarish_obs.catalog import Catalog


def metrics_policies(catalog: Catalog) -> list[dict[str, Any]]:
    ports = sorted({s.metrics_port for s in catalog.services})
    out = []
    for env in catalog.environments:
        out.append({
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {
                "name": "allow-prometheus-scrape",
                "namespace": env.namespace,
                "labels": {"app.kubernetes.io/managed-by": "zarish-obs"},
            },
            "spec": {
                "podSelector": {},
                "policyTypes": ["Ingress"],
                "ingress": [{
                    "from": [{"namespaceSelector": {
                        "matchLabels": {"kubernetes.io/metadata.name": catalog.monitoring_namespace}}}],
                    "ports": [{"protocol": "TCP", "port": port} for port in ports],
                }],
            },
        })
    return out
