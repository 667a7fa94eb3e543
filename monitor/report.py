"""The check's output: the JSON contract (one object, never NaN) and a table for people.

Services in a maintenance window get a MAINTENANCE column (only when some service is in one) naming the
window and its local end; statuses that do not count towards the verdict are marked there and listed
under the verdict, and DR triggers a `suppress_dr` window hides read SUPPRESSED.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, TextIO

from zarish_obs.conventions import SLO_KINDS

_BUILT_IN = SLO_KINDS  # the SLO kinds with a column of their own; ratio SLIs share one
_COLOURS = {"ok": "32", "warning": "33", "critical": "31;1", "unknown": "35"}


def to_json(report: dict[str, Any]) -> str:
    """One line of JSON; raises ValueError rather than emit NaN or Infinity."""
    return json.dumps(report, allow_nan=False, ensure_ascii=False, separators=(",", ":"))


def use_colour(stream: TextIO) -> bool:
    return stream.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def _paint(text: str, status: str, colour: bool) -> str:
    return f"\033[{_COLOURS[status]}m{text}\033[0m" if colour and status in _COLOURS else text


def _pct(v: float | None, digits: int = 2) -> str:
    return "-" if v is None else f"{100 * v:.{digits}f}%"


def _secs(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v * 1000:.0f}ms" if v < 1 else f"{v:.2f}s"


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def _slo_cell(s: dict[str, Any]) -> str:
    if s["sli"] is None:
        return f"{s['objective']:g}: no data"
    burn = s["burn_rates"].get("1h")
    alerts = ",".join(s["alerts"]).upper()
    return (f"{s['sli']:.3f}/{s['objective']:g} budget {_pct(s['error_budget_remaining'], 0)}"
            f" burn1h {_num(burn)}" + (f" {alerts}" if alerts else ""))


def _maint_cell(svc: dict[str, Any]) -> str:
    m = svc.get("maintenance")
    if not m:
        return "-"
    until = m["until_local"].replace("T", " ")
    return f"{m['name']} until {until}" + ("" if svc.get("counts", True) else ", not counted")


_SOURCES = {"recorded": "recorded", "tiles": "recorded 5-minute", "raw": "raw"}


def render_table(report: dict[str, Any], colour: bool = False) -> str:
    lines = [f"zarish-obs monitor: {report['catalog']} / {report['environment']} at {report['evaluated_at']} "
             f"({report['prometheus_url']}, long windows from {_SOURCES.get(report['slo_source'], 'raw')} series, "
             f"{report.get('queries', '?')} queries)", ""]
    header = ["SERVICE", "STATUS", "REQ/S", "ERRORS", "P50", "P95", "AVAILABILITY (SLI%/OBJ%)", "LATENCY (SLI%/OBJ%)"]
    ratios = any(s["slo"] not in _BUILT_IN for svc in report["services"] for s in svc["slos"])
    if ratios:
        header.append("RATIO SLIS (NAME SLI%/OBJ%)")
    maint = any(svc.get("maintenance") for svc in report["services"])
    if maint:
        header.append("MAINTENANCE")
    rows = []
    for svc in report["services"]:
        slos = {s["slo"]: _slo_cell(s) for s in svc["slos"]}
        cells = [svc["service"], svc["status"].upper(), _num(svc["request_rate"]), _pct(svc["error_ratio"]),
                 _secs(svc["latency_p50_seconds"]), _secs(svc["latency_p95_seconds"]),
                 slos.get("availability", "-"), slos.get("latency", "-")]
        if ratios:
            cells.append("; ".join(f"{name} {cell}" for name, cell in slos.items() if name not in _BUILT_IN) or "-")
        rows.append(([*cells, _maint_cell(svc)] if maint else cells, svc["status"]))
    widths = [max(len(r[0][i]) for r in [(header, ""), *rows]) for i in range(len(header))]

    def fmt(cells: list[str], status: str) -> str:
        out = [c.ljust(widths[i]) for i, c in enumerate(cells)]
        out[1] = _paint(out[1], status, colour)
        return "  ".join(out).rstrip()

    lines.append(fmt(header, ""))
    lines += [fmt(cells, status) for cells, status in rows]
    for svc in report["services"]:
        for p in svc.get("problems", []):
            lines.append(f"  {svc['service']}: {p}")
    lines += ["", "DR TRIGGERS"]
    for t in report["dr_triggers"]:
        state = {True: ("FIRED", "critical"), False: ("ok", "ok"), None: ("UNKNOWN", "unknown")}[t["fired"]]
        if t["fired"] is not False and not t.get("counts", True):
            state = ("SUPPRESSED", "warning")
        lines.append(f"  {t['name']:<28} {_paint(state[0].ljust(10), state[1], colour)} {t['detail']}")
    rpo = report["rpo"]
    if rpo["recoverable_point_age_seconds"] is None:
        rstate = ("UNKNOWN", "unknown")
    elif rpo["breached"] or rpo["backup_missed"]:
        rstate = ("BREACHED" if rpo["breached"] else "MISSED", "warning")
    else:
        rstate = ("ok", "ok")
    lines.append(f"  {'rpo':<28} {_paint(rstate[0].ljust(10), rstate[1], colour)} {rpo['detail']}")
    lines.append("")
    verdict = f"VERDICT: {report['status'].upper()} (exit {report['exit_code']})"
    if report["failover_recommended"]:
        verdict += " - FAILOVER RECOMMENDED"
    lines.append(_paint(verdict, report["status"], colour))
    muted = [f"{s['service']} ({s['status'].upper()}, {s['maintenance']['name']})" for s in report["services"]
             if not s.get("counts", True)]
    if muted:
        lines.append(f"Not counted (maintenance windows that exclude their minutes from the SLOs): {', '.join(muted)}")
    if report["failover_procedure"]:
        lines.append("Failover procedure:")
        lines += [f"  {i}. {step}" for i, step in enumerate(report["failover_procedure"], 1)]
    if report["errors"]:
        lines.append("Errors:")
        lines += [f"  - {e}" for e in report["errors"]]
    return "\n".join(lines) + "\n"


def emit(report: dict[str, Any], fmt: str, stream: TextIO | None = None) -> None:
    stream = stream or sys.stdout
    if fmt == "json":
        stream.write(to_json(report) + "\n")
    else:
        stream.write(render_table(report, use_colour(stream)))
    stream.flush()
