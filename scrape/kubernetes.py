"""The DR plan's Kubernetes scrape jobs, with the `prometheus.io/*` annotation relabelling.

`pods_job(static_targets=...)` swaps service discovery for static targets that carry the same
`__meta_kubernetes_*` labels, so the relabelling can be exercised by a real Prometheus with no cluster.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


@dataclass(frozen=True)
class PodTarget:
    """A stand-in for a discovered pod: its address, namespace, name, labels and annotations."""

    address: str
    namespace: str
    pod: str
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)

    def meta_labels(self) -> dict[str, str]:
        out = {"__meta_kubernetes_namespace": self.namespace, "__meta_kubernetes_pod_name": self.pod}
        for k, v in sorted(self.labels.items()):
            out[f"__meta_kubernetes_pod_label_{_sanitise(k)}"] = v
        for k, v in sorted(self.annotations.items()):
            out[f"__meta_kubernetes_pod_annotation_{_sanitise(k)}"] = v
        return out


def _sanitise(name: str) -> str:
    """Kubernetes SD turns every character outside [a-zA-Z0-9_] of a label/annotation key into `_`."""
    return "".join(c if c.isalnum() or c == "_" else "_" for c in name)


def apiservers_job() -> dict[str, Any]:
    return {
        "job_name": "kubernetes-apiservers",
        "kubernetes_sd_configs": [{"role": "endpoints"}],
        "scheme": "https",
        "tls_config": {"ca_file": f"{SA_DIR}/ca.crt"},
        "authorization": {"credentials_file": f"{SA_DIR}/token"},
        "relabel_configs": [
            {
                "source_labels": [
                    "__meta_kubernetes_namespace",
                    "__meta_kubernetes_service_name",
                    "__meta_kubernetes_endpoint_port_name",
                ],
                "action": "keep",
                "regex": "default;kubernetes;https",
            }
        ],
    }


def nodes_job() -> dict[str, Any]:
    return {
        "job_name": "kubernetes-nodes",
        "kubernetes_sd_configs": [{"role": "node"}],
        "scheme": "https",
        "tls_config": {"ca_file": f"{SA_DIR}/ca.crt"},
        "authorization": {"credentials_file": f"{SA_DIR}/token"},
        "relabel_configs": [
            {"action": "labelmap", "regex": "__meta_kubernetes_node_label_(.+)"},
            {"target_label": "__address__", "replacement": "kubernetes.default.svc:443"},
            {
                "source_labels": ["__meta_kubernetes_node_name"],
                "regex": "(.+)",
                "target_label": "__metrics_path__",
                "replacement": "/api/v1/nodes/${1}/proxy/metrics",
            },
        ],
    }


def pod_relabel_configs() -> list[dict[str, Any]]:
    return [
        {
            "source_labels": ["__meta_kubernetes_pod_annotation_prometheus_io_scrape"],
            "action": "keep",
            "regex": "true",
        },
        {
            "source_labels": ["__meta_kubernetes_pod_annotation_prometheus_io_scheme"],
            "action": "replace",
            "target_label": "__scheme__",
            "regex": "(https?)",
        },
        {
            "source_labels": ["__meta_kubernetes_pod_annotation_prometheus_io_path"],
            "action": "replace",
            "target_label": "__metrics_path__",
            "regex": "(.+)",
        },
        {
            "source_labels": ["__address__", "__meta_kubernetes_pod_annotation_prometheus_io_port"],
            "action": "replace",
            "regex": "([^:]+)(?::\\d+)?;(\\d+)",
            "replacement": "$1:$2",
            "target_label": "__address__",
        },
        {"action": "labelmap", "regex": "__meta_kubernetes_pod_label_(.+)"},
        {"source_labels": ["__meta_kubernetes_namespace"], "action": "replace", "target_label": "kubernetes_namespace"},
        {"source_labels": ["__meta_kubernetes_pod_name"], "action": "replace", "target_label": "kubernetes_pod_name"},
    ]


def pods_job(namespaces: list[str], static_targets: list[PodTarget] | None = None) -> dict[str, Any]:
    job: dict[str, Any] = {"job_name": "kubernetes-pods"}
    if static_targets is None:
        job["kubernetes_sd_configs"] = [{"role": "pod", "namespaces": {"names": namespaces}}]
    else:
        job["static_configs"] = [{"targets": [t.address], "labels": t.meta_labels()} for t in static_targets]
    job["relabel_configs"] = pod_relabel_configs()
    return job
