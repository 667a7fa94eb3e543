"""The check's verdict as metrics: a node_exporter textfile and a Pushgateway push.

A last-success timestamp is exported so that a cron job that stopped running (or keeps ending
UNKNOWN) is alerted on by Prometheus itself: `time() - zarish_monitor_last_success_timestamp_seconds`.
It only moves when the check reached a verdict; on UNKNOWN the previous value is kept (carried over
from the old textfile; on the Pushgateway by a POST that leaves the metric untouched).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

from zarish_obs.monitor.client import safe_url
from zarish_obs.promql import escape_label_value
from zarish_obs.writers import write_atomic

PREFIX = "zarish_monitor"
JOB = "zarish-monitor"
LAST_SUCCESS = f"{PREFIX}_last_success_timestamp_seconds"

_HELP = {
    "status": "Verdict of the last check: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.",
    "failover_recommended": "1 when a DR trigger fired in the last check.",
    "dr_trigger_fired": "1 when the DR trigger fired, 0 when not (absent when unknown).",
    "dr_trigger_value": "The value the DR trigger was evaluated on.",
    "rpo_breached": "1 when the newest recoverable point (replication or backup) is older than the RPO.",
    "backup_missed": "1 when the last successful backup is older than its schedule's interval plus grace.",
    "recoverable_point_age_seconds": "Age of the newest recoverable point: the smaller of replication lag and "
                                     "backup age.",
    "backup_age_seconds": "Age of the last successful backup.",
    "service_status": "Per-service verdict: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.",
    "service_in_maintenance": "1 while a maintenance window of the catalog covers the service (its status "
                              "does not count towards the verdict when the window excludes its minutes from "
                              "the SLOs), 0 otherwise.",
    "request_rate": "Requests per second over 5m.",
    "error_ratio": "5xx over all requests over 5m.",
    "latency_p50_seconds": "Median request latency over 5m (from the histogram).",
    "latency_p95_seconds": "95th percentile request latency over 5m (from the histogram).",
    "slo_sli_ratio": "Good events over all events in the SLO window (0..1).",
    "slo_error_budget_remaining_ratio": "Share of the error budget left in the SLO window (negative when overspent).",
    "slo_burn_rate": "Error-budget burn rate over a window (1 = spending exactly the budget).",
    "slo_alert": "1 when the SLO's page or ticket burn-rate alert condition holds.",
    "query_errors": "Queries of the last check that failed.",
    "check_duration_seconds": "Wall time of the last check.",
    "last_run_timestamp_seconds": "When the check last ran.",
    "last_success_timestamp_seconds": "When the check last reached a verdict (not UNKNOWN).",
}
_CODES = {"ok": 0, "warning": 1, "critical": 2, "unknown": 3}


def _line(name: str, labels: dict[str, str], value: float) -> str:
    lab = ",".join(f'{k}="{escape_label_value(str(v))}"' for k, v in labels.items())
    text = repr(float(value)) if not float(value).is_integer() else str(int(value))
    return f"{PREFIX}_{name}{{{lab}}} {text}" if lab else f"{PREFIX}_{name} {text}"


def render_metrics(report: dict[str, Any], now: float, last_success: float | None) -> str:
    """Prometheus text exposition (no timestamps: the Pushgateway rejects them)."""
    env = {"environment": report["environment"]}
    fams: dict[str, list[str]] = {k: [] for k in _HELP}

    def add(name: str, labels: dict[str, str], value: float | None) -> None:
        if value is not None:
            fams[name].append(_line(name, {**env, **labels}, value))

    add("status", {}, report["exit_code"])
    add("failover_recommended", {}, int(report["failover_recommended"]))
    for t in report["dr_triggers"]:
        add("dr_trigger_fired", {"trigger": t["name"]}, None if t["fired"] is None else int(t["fired"]))
        add("dr_trigger_value", {"trigger": t["name"]}, t["value"])
    rpo = report["rpo"]
    add("rpo_breached", {}, None if rpo["breached"] is None else int(rpo["breached"]))
    add("backup_missed", {}, None if rpo["backup_missed"] is None else int(rpo["backup_missed"]))
    add("recoverable_point_age_seconds", {}, rpo["recoverable_point_age_seconds"])
    add("backup_age_seconds", {}, rpo["backup_age_seconds"])
    for svc in report["services"]:
        s = {"service": svc["service"]}
        add("service_status", s, _CODES[svc["status"]])
        if "maintenance" in svc:
            add("service_in_maintenance", s, int(svc["maintenance"] is not None))
        add("request_rate", s, svc["request_rate"])
        add("error_ratio", s, svc["error_ratio"])
        add("latency_p50_seconds", s, svc["latency_p50_seconds"])
        add("latency_p95_seconds", s, svc["latency_p95_seconds"])
        for o in svc["slos"]:
            k = {**s, "slo": o["slo"]}
            add("slo_sli_ratio", k, None if o["sli"] is None else o["sli"] / 100)
            add("slo_error_budget_remaining_ratio", k, o["error_budget_remaining"])
            for window, burn in o["burn_rates"].items():
                add("slo_burn_rate", {**k, "window": window}, burn)
            for severity in ("page", "ticket"):
                add("slo_alert", {**k, "severity": severity}, int(severity in o["alerts"]))
    add("query_errors", {}, len(report["errors"]))
    add("check_duration_seconds", {}, report.get("duration_seconds"))
    add("last_run_timestamp_seconds", {}, round(now, 3))
    add("last_success_timestamp_seconds", {}, None if last_success is None else round(last_success, 3))
    out = []
    for name, lines in fams.items():
        if lines:
            out += [f"# HELP {PREFIX}_{name} {_HELP[name]}", f"# TYPE {PREFIX}_{name} gauge", *lines]
    return "\n".join(out) + "\n"


def previous_last_success(path: Path) -> float | None:
    """The last-success value of an earlier textfile, carried over by runs that end UNKNOWN."""
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    m = re.search(rf"^{LAST_SUCCESS}(?:{{[^}}]*}})? (\S+)$", text, re.M)
    try:
        return float(m.group(1)) if m else None
    except ValueError:
        return None


def succeeded(report: dict[str, Any]) -> bool:
    return report["status"] != "unknown"


def write_textfile(path: Path, report: dict[str, Any], now: float) -> Path:
    last = now if succeeded(report) else previous_last_success(path)
    return write_atomic(path, render_metrics(report, now, last))


def push_url(base: str, environment: str) -> str:
    return f"{base.rstrip('/')}/metrics/job/{JOB}/environment/{quote(environment, safe='')}"


def push(base: str, report: dict[str, Any], now: float, timeout: float = 5.0) -> None:
    """PUT (replace the group) after a verdict; POST without the last-success metric after UNKNOWN.

    Raises RuntimeError with a one-line reason (no URL credentials) when the push fails.
    """
    ok = succeeded(report)
    body = render_metrics(report, now, now if ok else None)
    url = push_url(base, report["environment"])
    try:
        r = requests.request("PUT" if ok else "POST", url, data=body.encode("utf-8"), timeout=timeout,
                             headers={"Content-Type": "text/plain; version=0.0.4"})
    except requests.RequestException as exc:
        raise RuntimeError(f"pushgateway {safe_url(base)}: {type(exc).__name__}") from None
    if r.status_code >= 300:
        raise RuntimeError(f"pushgateway {safe_url(base)}: HTTP {r.status_code}: {' '.join(r.text.split())[:200]}")
