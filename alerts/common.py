"""What every generated alert shares: runbook and dashboard links, template-safe text, common labels."""

from __future__ import annotations

import re

from zarish_obs import conventions, promql
from zarish_obs.catalog import Catalog
from zarish_obs.durations import parse_duration

RECORDING_FILE = "zarish-recording.yml"
SLO_FILE = "zarish-slo-alerts.yml"
DR_FILE = "zarish-dr-alerts.yml"


def slug(alertname: str) -> str:
    """`DRErrorRatioHigh` -> `dr-error-ratio-high`: the runbook page of an alert."""
    words = re.findall(r"[A-Z]+(?=[A-Z][a-z]|\d|\b)|[A-Z]?[a-z]+|[A-Z]+|\d+", alertname)
    return "-".join(w.lower() for w in words)


def runbook_url(catalog: Catalog, alertname: str) -> str:
    return f"{catalog.alerting.runbook_base_url.rstrip('/')}/{slug(alertname)}"


def dashboard_url(catalog: Catalog, kind: str) -> str:
    """Link to one of the generated Grafana dashboards (kind: overview | slo | dr)."""
    return f"{catalog.alerting.grafana_url.rstrip('/')}/d/{conventions.dashboard_uid(catalog.name, kind)}"


def literal(text: str) -> str:
    """Catalog free text made safe for Prometheus's Go templates (annotations are templates)."""
    return text.replace("{{", '{{ "{{" }}')


def label_ref(name: str) -> str:
    """A template reference to one of the alert's labels."""
    return "{{ $labels." + name + " }}"


def expand(template: str, labels: dict[str, str]) -> str:
    """What Prometheus makes of an annotation we generated (only label references and escaped braces)."""
    out = template
    for name, value in labels.items():
        out = out.replace(label_ref(name), value)
    return out.replace('{{ "{{" }}', "{{")


def common_labels(catalog: Catalog) -> dict[str, str]:
    """Labels on every alert; a time-compressed (demo/test) catalog marks its alerts as such."""
    return {conventions.TIME_COMPRESSED_LABEL: "true"} if catalog.time_scale != 1 else {}


def annotations(catalog: Catalog, alertname: str, dashboard: str, summary: str, description: str,
                extra: dict[str, str] | None = None) -> dict[str, str]:
    out = {
        "summary": summary,
        "description": description,
        "runbook_url": runbook_url(catalog, alertname),
        "dashboard_url": dashboard_url(catalog, dashboard),
    }
    out.update(extra or {})
    return out


def alert_rule(alertname: str, expr: str, for_: str | None, labels: dict[str, str],
               annotations_: dict[str, str]) -> dict[str, object]:
    rule: dict[str, object] = {"alert": alertname, "expr": expr}
    if for_ and parse_duration(for_) > 0:
        rule["for"] = for_
    rule["labels"] = labels
    rule["annotations"] = annotations_
    return rule


number = promql.number


def percent(ratio: float) -> str:
    return f"{ratio * 100:.6g}%"
