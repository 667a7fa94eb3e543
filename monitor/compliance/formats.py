"""The report dict (docs/report.md, version 1) as JSON, CSV, Markdown or HTML text. Pure: no I/O.

CSV columns, one row per service and SLO, in this order (RFC 4180: comma, CRLF, quotes doubled; an unmeasured
figure is an empty cell; numbers as in the JSON, ratios 0..1, objectives in percent):

- ``period_start``, ``period_end``: RFC 3339 UTC; ``timezone``: the catalog's time zone
- ``service``, ``slo`` (availability | latency | a ratio SLI's name), ``objective`` (percent)
- ``sli``: good / total over the period; ``good``, ``bad``, ``total``: events
- ``allowed_bad_events``, ``budget_consumed``, ``budget_remaining`` (shares of the period's budget)
- ``verdict``: met | breached | incomplete
- ``worst_day`` (local date), ``worst_day_sli``
- ``coverage``, ``request_count``, ``p50_seconds``, ``p95_seconds``: the service's, repeated on each of its rows
- ``maintenance_minutes``: the service's minutes in maintenance windows, left out of the SLO figures
- ``incidents``: how many incidents of this SLO in the period
- ``policy_verdict``: the service's error-budget policy verdict (ok | postmortem | escalate | release_freeze)
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping
from datetime import datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from zarish_obs.errors import ExitCode, ZarishError

Report = Mapping[str, Any]
FORMATS = ("json", "csv", "markdown", "html")

CSV_COLUMNS = (
    "period_start", "period_end", "timezone", "service", "slo", "objective", "sli", "good", "bad", "total",
    "allowed_bad_events", "budget_consumed", "budget_remaining", "verdict", "worst_day", "worst_day_sli",
    "coverage", "request_count", "p50_seconds", "p95_seconds", "incidents", "policy_verdict", "maintenance_minutes",
)

VERDICT_WORDS = {"met": "met", "breached": "breached", "incomplete": "incomplete (data missing)"}
POLICY_WORDS = {
    "ok": "no action required",
    "postmortem": "postmortem required",
    "escalate": "escalate",
    "release_freeze": "release freeze",
}


def render(report: Report, fmt: str) -> str:
    """The report in one of FORMATS; html draws its charts with matplotlib (imported only then)."""
    if fmt == "json":
        return to_json(report)
    if fmt == "csv":
        return to_csv(report)
    if fmt in ("markdown", "md"):
        return to_markdown(report)
    if fmt == "html":
        from zarish_obs.monitor.compliance.html import to_html

        return to_html(report)
    raise ZarishError(f"--format {fmt!r}: not a report format; expected one of {', '.join(FORMATS)}",
                      ExitCode.USAGE)


def to_json(report: Report) -> str:
    """One object, keys in the order the engine built them, NaN refused (the contract says null)."""
    try:
        return json.dumps(report, allow_nan=False, indent=2, ensure_ascii=False) + "\n"
    except ValueError as exc:
        raise ZarishError(f"report JSON: {exc} (a figure that could not be measured must be null)",
                          ExitCode.SOFTWARE) from None


def csv_cell(value: Any) -> str:
    """None -> empty; floats in their shortest exact form so a reader gets the JSON's number back."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def csv_rows(report: Report) -> list[dict[str, Any]]:
    """The CSV's rows as dicts keyed by CSV_COLUMNS, before formatting."""
    period = report["period"]
    rows = []
    for svc in report["services"]:
        for slo in svc["slos"]:
            events, budget, worst = slo["events"], slo["budget"], slo.get("worst_day") or {}
            rows.append({
                "period_start": period["start"], "period_end": period["end"], "timezone": period["timezone"],
                "service": svc["service"], "slo": slo["slo"], "objective": slo["objective"], "sli": slo["sli"],
                "good": events["good"], "bad": events["bad"], "total": events["total"],
                "allowed_bad_events": budget["allowed_bad_events"], "budget_consumed": budget["consumed"],
                "budget_remaining": budget["remaining"], "verdict": slo["verdict"],
                "worst_day": worst.get("date"), "worst_day_sli": worst.get("sli"),
                "coverage": svc["coverage"], "request_count": svc["request_count"],
                "p50_seconds": svc["latency_p50_seconds"], "p95_seconds": svc["latency_p95_seconds"],
                "incidents": sum(1 for i in svc["incidents"] if i["slo"] == slo["slo"]),
                "policy_verdict": svc["policy"]["verdict"],
                "maintenance_minutes": maintenance_minutes(svc),
            })
    return rows


def to_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in csv_rows(report):
        writer.writerow(csv_cell(row[c]) for c in CSV_COLUMNS)
    return out.getvalue()


# --- shared wording (Markdown and HTML say the same things) ---------------------------------------------------

def report_tz(report: Report) -> tzinfo:
    name = report["period"]["timezone"]
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ZarishError(f"report period.timezone {name!r}: not a known time zone", ExitCode.DATAERR) from None


def parse_time(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        raise ZarishError(f"report time {text!r}: not RFC 3339", ExitCode.DATAERR) from None


def local_time(text: str, tz: tzinfo) -> str:
    return parse_time(text).astimezone(tz).strftime("%Y-%m-%d %H:%M")


def utc_time(text: str) -> str:
    return parse_time(text).strftime("%Y-%m-%d %H:%M UTC")


def utc_offset(report: Report) -> str:
    """The zone's offset at the period's start, e.g. UTC+06:00 (shown next to the zone's name)."""
    offset = parse_time(report["period"]["start_local"]).strftime("%z")
    return f"UTC{offset[:3]}:{offset[3:]}" if offset else "UTC"


def percent(ratio: float | None, digits: int = 1) -> str:
    return "n/a" if ratio is None else f"{ratio * 100:.{digits}f}%"


def sli_percent(sli: float | None, objective: float) -> str:
    """Enough decimals to tell the SLI from its objective (99.95% needs three, 99% one)."""
    if sli is None:
        return "n/a"
    digits = max(2, len(f"{objective:g}".partition(".")[2]) + 1)
    return f"{sli * 100:.{digits}f}%"


def objective_text(objective: float) -> str:
    return f"{objective:g}%"


def seconds_text(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def burn_text(rate: float | None) -> str:
    return "n/a" if rate is None else f"{rate:g}×"


def duration_text(seconds: float) -> str:
    minutes = round(seconds / 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


def count_text(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.0f}" if float(value).is_integer() or abs(value) >= 100 else f"{value:,.1f}"


def maintenance_minutes(svc: Mapping[str, Any]) -> float | int:
    """The service's maintenance minutes; 0 in a report written before the field existed."""
    return (svc.get("maintenance") or {}).get("minutes", 0)


def maintenance_windows(svc: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return (svc.get("maintenance") or {}).get("windows", [])


def maintenance_lines(svc: Mapping[str, Any], tz: tzinfo, shown: int = 5) -> list[str]:
    """The first `shown` window openings as "name: local start to end", then how many more there are."""
    windows = maintenance_windows(svc)
    lines = [f"{w['name']}: {local_time(w['start'], tz)} to {local_time(w['end'], tz)}" for w in windows[:shown]]
    return lines + ([f"and {len(windows) - shown} more"] if len(windows) > shown else [])


def period_lines(report: Report) -> tuple[str, str]:
    """(local, UTC) one-line descriptions of the period."""
    period = report["period"]
    tz = report_tz(report)
    local = (f"{local_time(period['start'], tz)} to {local_time(period['end'], tz)} {period['timezone']} "
             f"({utc_offset(report)})")
    return local, f"{utc_time(period['start'])} to {utc_time(period['end'])}"


def held(report: Report) -> list[Mapping[str, Any]]:
    """The DR triggers whose condition held at some minute of the period (the report lists all of them)."""
    return [t for t in report["dr_triggers"] if t["held_minutes"]]


def verdict_counts(report: Report) -> dict[str, int]:
    counts = {"met": 0, "breached": 0, "incomplete": 0}
    for svc in report["services"]:
        for slo in svc["slos"]:
            counts[slo["verdict"]] = counts.get(slo["verdict"], 0) + 1
    return counts


# --- Markdown --------------------------------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~&$])")


def md(text: Any) -> str:
    """Report text as literal Markdown: punctuation backslash-escaped, one line (tables break on newlines)."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return [*lines, ""]


def _md_verdict(verdict: str) -> str:
    word = VERDICT_WORDS.get(verdict, verdict)
    return f"**{md(word)}**" if verdict == "breached" else md(word)


def to_markdown(report: Report) -> str:
    tz = report_tz(report)
    period, data = report["period"], report["data"]
    local, utc = period_lines(report)
    counts = verdict_counts(report)
    out = [
        f"# SLO compliance report: {md(report['catalog'])} ({md(report['environment'])}), {md(period['label'])}",
        "",
        f"- Period (local): {md(local)}" + (" (cut at the time of the report)" if period["truncated"] else ""),
        f"- Period (UTC): {md(utc)}",
        f"- Generated: {md(utc_time(report['generated_at']))}",
        f"- Objectives: {counts['met']} met, {counts['breached']} breached, {counts['incomplete']} incomplete",
        "- Data: " + ("complete" if report["complete"] else "**incomplete**: data is missing for part of the period"),
        "",
        "## Summary",
        "",
    ]
    rows = []
    for svc in report["services"]:
        for slo in svc["slos"]:
            rows.append([md(svc["service"]), md(slo["slo"]), md(objective_text(slo["objective"])),
                         md(sli_percent(slo["sli"], slo["objective"])), md(percent(slo["budget"]["consumed"])),
                         _md_verdict(slo["verdict"]), md(POLICY_WORDS.get(svc["policy"]["verdict"],
                                                                          svc["policy"]["verdict"]))])
    out += _md_table(["Service", "SLO", "Objective", "SLI", "Budget consumed", "Verdict", "Policy"], rows)

    out += ["## Error-budget policy", ""]
    for svc in report["services"]:
        verdict = svc["policy"]["verdict"]
        out.append(f"- **{md(svc['service'])}**: {md(POLICY_WORDS.get(verdict, verdict))}")
        for reason in svc["policy"]["reasons"]:
            line = f"  - {md(POLICY_WORDS.get(reason['rule'], reason['rule']))} ({md(reason['slo'])}): " \
                   f"{md(reason['reason'])}"
            if reason.get("incident"):
                line += f" (incident {md(local_time(reason['incident']['start'], tz))})"
            out.append(line)
    out.append("")

    out += ["## DR triggers", ""]
    if held(report):
        rows = [[md(t["trigger"]), md(t["alert"]), md(t["held_minutes"]),
                 md("; ".join(f"{local_time(e['start'], tz)} to {local_time(e['end'], tz)}" for e in t["episodes"]))]
                for t in report["dr_triggers"]]
        out += _md_table(["Trigger", "Alert", "Held (min)", "Episodes (local)"], rows)
    else:
        out += ["No disaster-recovery trigger condition held during the period.", ""]

    for svc in report["services"]:
        out += [f"## {md(svc['service'])}", "",
                f"- Requests: {md(count_text(svc['request_count']))}; peak "
                f"{md(count_text(svc['peak_request_rate']))}/s"
                + (f" at {md(local_time(svc['peak_at'], tz))}" if svc.get("peak_at") else ""),
                f"- Latency: p50 {md(seconds_text(svc['latency_p50_seconds']))}, "
                f"p95 {md(seconds_text(svc['latency_p95_seconds']))}",
                f"- Coverage: {md(percent(svc['coverage'], 2))}",
                f"- Maintenance: {md(count_text(maintenance_minutes(svc)))} min left out of the SLOs"
                + (f" ({md('; '.join(maintenance_lines(svc, tz)))})" if maintenance_windows(svc) else ""), ""]
        for slo in svc["slos"]:
            worst = slo.get("worst_day")
            out.append(f"- {md(slo['slo'])}: SLI {md(sli_percent(slo['sli'], slo['objective']))} against "
                       f"{md(objective_text(slo['objective']))}, {_md_verdict(slo['verdict'])}; budget "
                       f"{md(percent(slo['budget']['consumed']))} consumed "
                       f"({md(count_text(slo['events']['bad']))} of "
                       f"{md(count_text(slo['budget']['allowed_bad_events']))} allowed bad events)"
                       + (f"; worst day {md(worst['date'])} at {md(sli_percent(worst['sli'], slo['objective']))}"
                          if worst else ""))
        out.append("")
        out += ["### Incidents", ""]
        if svc["incidents"]:
            rows = [[md(local_time(i["start"], tz)), md(duration_text(i["duration_seconds"])), md(i["slo"]),
                     md(count_text(i["bad_events"])), md(percent(i["budget_consumed"])),
                     md(burn_text(i['peak_burn_rate']))] for i in svc["incidents"]]
            out += _md_table(["Start (local)", "Duration", "SLO", "Bad events", "Budget", "Peak burn"], rows)
        else:
            out += ["No incidents.", ""]
        out += ["### Alerts", ""]
        if svc["alerts"]:
            rows = [[md(a["alert"]), md(a["severity"]), md(a["slo"] or "-"), md(len(a["episodes"])),
                     md(a["firing_minutes"])] for a in svc["alerts"]]
            out += _md_table(["Alert", "Severity", "SLO", "Episodes", "Firing (min)"], rows)
        else:
            out += ["No alerts fired.", ""]

    out += ["## Data completeness", "",
            f"- Oldest sample in Prometheus: "
            f"{md(utc_time(data['oldest_sample'])) if data.get('oldest_sample') else 'unknown'}; retention "
            f"{md(data.get('retention') or 'unknown')}"
            + ("; **the period starts before the oldest sample**" if data.get("starts_before_data") else ""),
            f"- Minimum coverage for a verdict: {md(percent(data['minimum_coverage'], 2))}",
            "- Sources: " + ", ".join(f"{md(k)}: {md(v)}" for k, v in report["sources"].items()),
            f"- Queries: {md(report['queries'])}", ""]
    rows = [[md(s["service"]), md(percent(s["coverage"], 2)),
             md("; ".join(f"{local_time(g['start'], tz)} ({g['minutes']} min)" for g in s["gaps"]) or "none")]
            for s in report["services"]]
    out += _md_table(["Service", "Coverage", "Gaps (local start)"], rows)
    return "\n".join(out).rstrip("\n") + "\n"
