"""The report as ONE self-contained HTML page: inline CSS and SVG charts, no script, no URL of any kind.

It must open from a file or an e-mail attachment on a machine without network, print on A4 with the period
on every page, and say every verdict in words as well as colour. Every string from the report is escaped;
the summary table's figures carry their JSON values in `data-value` so a test can read them back.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

from zarish_obs.monitor.compliance import charts
from zarish_obs.monitor.compliance.formats import (
    POLICY_WORDS,
    Report,
    burn_text,
    count_text,
    csv_cell,
    duration_text,
    held,
    local_time,
    maintenance_lines,
    maintenance_minutes,
    maintenance_windows,
    objective_text,
    percent,
    period_lines,
    report_tz,
    seconds_text,
    sli_percent,
    utc_time,
    verdict_counts,
)

VERDICT_BADGES = {"met": "✔ met", "breached": "✘ breached", "incomplete": "? incomplete"}
POLICY_BADGES = {
    "ok": "✔ no action required",
    "postmortem": "! postmortem required",
    "escalate": "▲ escalate",
    "release_freeze": "■ release freeze",
}
POLICY_CLASS = {"ok": "met", "postmortem": "warn", "escalate": "warn", "release_freeze": "breached"}

CSS = """
:root { --ink: #1d2733; --muted: #5b6672; --line: #d9dee4; --soft: #f4f6f8; --accent: #1f5f99;
  --met: #1e6b35; --met-bg: #e5f3e8; --breached: #a3231b; --breached-bg: #fbe8e6;
  --warn: #8a4b00; --warn-bg: #fdf0dc; --incomplete: #55606c; --incomplete-bg: #eceff2; }
* { box-sizing: border-box; }
html { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
body { margin: 0; color: var(--ink); background: #fff;
  font: 14px/1.45 "DejaVu Sans", "Segoe UI", "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1040px; margin: 0 auto; padding: 8px 32px 48px; }
.running { display: flex; justify-content: space-between; gap: 16px; padding: 6px 32px; font-size: 12px;
  color: var(--muted); border-bottom: 1px solid var(--line); background: var(--soft); }
h1 { font-size: 26px; margin: 22px 0 2px; letter-spacing: -0.01em; }
h2 { font-size: 19px; margin: 34px 0 10px; padding-bottom: 4px; border-bottom: 2px solid var(--ink); }
h3 { font-size: 15px; margin: 20px 0 8px; }
h4 { font-size: 14px; margin: 0 0 6px; }
.subtitle { color: var(--muted); margin: 0 0 16px; font-size: 15px; }
.meta { display: grid; grid-template-columns: max-content 1fr; gap: 3px 18px; margin: 0 0 18px; font-size: 13px; }
.meta dt { color: var(--muted); }
.meta dd { margin: 0; }
.cards { display: grid; grid-template-columns: repeat(5, 1fr); gap: 10px; margin: 16px 0 8px; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px; background: #fff; }
.card .n { font-size: 24px; font-weight: 700; display: block; }
.card .t { font-size: 12px; color: var(--muted); }
.card.met { border-left: 4px solid var(--met); } .card.breached { border-left: 4px solid var(--breached); }
.card.incomplete { border-left: 4px solid var(--incomplete); } .card.warn { border-left: 4px solid var(--warn); }
table { border-collapse: collapse; width: 100%; font-size: 13px; margin: 6px 0 14px; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-size: 11px; text-transform: uppercase; letter-spacing: 0.04em; color: var(--muted);
  border-bottom: 1.5px solid var(--ink); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr { break-inside: avoid; }
div.table { overflow-x: auto; }
thead { display: table-header-group; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600;
  white-space: nowrap; border: 1px solid transparent; }
.badge.met { color: var(--met); background: var(--met-bg); border-color: #b9dcc2; }
.badge.breached { color: var(--breached); background: var(--breached-bg); border-color: #f0bcb6; }
.badge.incomplete { color: var(--incomplete); background: var(--incomplete-bg); border-color: #cdd3d9; }
.badge.warn { color: var(--warn); background: var(--warn-bg); border-color: #f0d3a6; }
.bar { display: inline-block; width: 56px; height: 7px; background: var(--soft); border: 1px solid var(--line);
  border-radius: 4px; margin-right: 6px; vertical-align: middle; overflow: hidden; }
.bar i { display: block; height: 100%; background: var(--accent); }
.bar.over i { background: var(--breached); }
.service { break-before: auto; }
.figures { display: grid; grid-template-columns: repeat(5, 1fr); gap: 8px; margin: 4px 0 10px; font-size: 13px; }
.figures div { background: var(--soft); border-radius: 6px; padding: 6px 10px; }
.figures b { display: block; font-size: 15px; }
.figures span { color: var(--muted); font-size: 12px; }
.slo { border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px; margin: 10px 0 14px;
  break-inside: avoid; page-break-inside: avoid; }
.slo p { margin: 0 0 6px; font-size: 13px; color: var(--muted); }
.charts { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; }
figure { margin: 0; break-inside: avoid; page-break-inside: avoid; }
figcaption { font-size: 12px; color: var(--muted); margin-bottom: 2px; }
svg.chart { display: block; width: 100%; height: auto; }
ul.reasons { margin: 4px 0 12px; padding-left: 20px; font-size: 13px; }
ul.reasons li { margin: 2px 0; }
.policy-row { margin: 10px 0 4px; }
.none { color: var(--muted); font-size: 13px; margin: 4px 0 12px; }
.maintenance { color: var(--muted); font-size: 12px; margin: 0 0 10px; }
.note { color: var(--muted); font-size: 12px; }
.alert-box { border-left: 4px solid var(--breached); background: var(--breached-bg); padding: 8px 12px;
  border-radius: 4px; margin: 10px 0; font-size: 13px; }
@media screen and (max-width: 820px) {
  main { padding: 8px 16px 32px; } .running { padding: 6px 16px; flex-direction: column; gap: 0; }
  .cards { grid-template-columns: repeat(2, 1fr); } .figures { grid-template-columns: repeat(2, 1fr); }
  .charts { grid-template-columns: 1fr; }
}
@media print {
  body { font-size: 10.5pt; }
  main { max-width: none; padding: 0; }
  .running { display: none; }
  div.table { overflow: visible; }
  h1 { margin-top: 0; }
  h2 { break-after: avoid; page-break-after: avoid; }
  h3, h4 { break-after: avoid; page-break-after: avoid; }
  .service { break-before: page; page-break-before: always; }
  .cards { grid-template-columns: repeat(5, 1fr); }
}
"""


PAGE_CSS = """
@page { size: A4; margin: 17mm 12mm 14mm;
  @top-left { content: "%(left)s"; font-size: 8pt; color: #5b6672; vertical-align: bottom; padding-bottom: 3mm; }
  @top-right { content: "%(right)s"; font-size: 8pt; color: #5b6672; vertical-align: bottom; padding-bottom: 3mm; }
  @bottom-right { content: "Page " counter(page) " of " counter(pages); font-size: 8pt; color: #5b6672; } }
"""


def css_string(text: str) -> str:
    """Text for inside a CSS string: anything but plain letters, digits and a few marks as a hex escape."""
    return "".join(c if c.isascii() and (c.isalnum() or c in " .,:_()+-") else f"\\{ord(c):x} " for c in text)


def e(value: Any) -> str:
    return escape(str(value), quote=True)


def _value(value: Any) -> str:
    """A JSON figure as an attribute: the number's shortest exact form, empty for null."""
    return e(csv_cell(value))


def _badge(verdict: str) -> str:
    return f'<span class="badge {e(verdict)}">{e(VERDICT_BADGES.get(verdict, verdict))}</span>'


def _policy_badge(verdict: str) -> str:
    return (f'<span class="badge {POLICY_CLASS.get(verdict, "incomplete")}">'
            f"{e(POLICY_BADGES.get(verdict, verdict))}</span>")


def _bar(consumed: float | None) -> str:
    if consumed is None:
        return ""
    width = max(0.0, min(consumed, 1.0)) * 100
    return f'<span class="bar{" over" if consumed > 1 else ""}"><i style="width:{width:.0f}%"></i></span>'


def _num(field: str, value: Any, text: str) -> str:
    return f'<td class="num" data-field="{field}" data-value="{_value(value)}">{e(text)}</td>'


def _table(header: list[tuple[str, bool]], rows: list[str], cls: str = "") -> str:
    head = "".join(f'<th{" class=num" if numeric else ""}>{e(h)}</th>' for h, numeric in header)
    return (f'<div class="table"><table{f" class={cls}" if cls else ""}><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table></div>")


def _summary(report: Report) -> str:
    rows = []
    for svc in report["services"]:
        for slo in svc["slos"]:
            consumed = slo["budget"]["consumed"]
            rows.append(
                f'<tr data-service="{e(svc["service"])}" data-slo="{e(slo["slo"])}">'
                f'<td class="service-name">{e(svc["service"])}</td><td>{e(slo["slo"])}</td>'
                + _num("objective", slo["objective"], objective_text(slo["objective"]))
                + _num("sli", slo["sli"], sli_percent(slo["sli"], slo["objective"]))
                + f'<td class="num" data-field="budget_consumed" data-value="{_value(consumed)}">'
                  f"{_bar(consumed)}{e(percent(consumed))}</td>"
                + f'<td data-field="verdict" data-value="{e(slo["verdict"])}">{_badge(slo["verdict"])}</td>'
                + f'<td data-field="policy" data-value="{e(svc["policy"]["verdict"])}">'
                  f'{_policy_badge(svc["policy"]["verdict"])}</td></tr>')
    return _table([("Service", False), ("SLO", False), ("Objective", True), ("SLI", True),
                   ("Budget consumed", True), ("Verdict", False), ("Policy", False)], rows, "summary")


def _cards(report: Report) -> str:
    counts = verdict_counts(report)
    actions = sum(1 for s in report["services"] if s["policy"]["verdict"] != "ok")
    cards = [("met", counts["met"], "objectives met"), ("breached", counts["breached"], "objectives breached"),
             ("incomplete", counts["incomplete"], "incomplete (data missing)"),
             ("warn" if actions else "met", actions, "services needing policy action"),
             ("breached" if held(report) else "met", len(held(report)), "DR triggers held")]
    return '<div class="cards">' + "".join(
        f'<div class="card {cls}"><span class="n">{n}</span><span class="t">{e(t)}</span></div>'
        for cls, n, t in cards) + "</div>"


def _policy(report: Report, tz: Any) -> str:
    out = []
    for svc in report["services"]:
        policy = svc["policy"]
        out.append(f'<div class="policy-row" data-service="{e(svc["service"])}"><b>{e(svc["service"])}</b> '
                   f"{_policy_badge(policy['verdict'])}</div>")
        if policy["reasons"]:
            items = []
            for r in policy["reasons"]:
                when = ""
                if r.get("incident"):
                    when = (f' <span class="note">(incident {e(local_time(r["incident"]["start"], tz))} to '
                            f'{e(local_time(r["incident"]["end"], tz))})</span>')
                items.append(f'<li data-rule="{e(r["rule"])}"><b>{e(POLICY_WORDS.get(r["rule"], r["rule"]))}</b> '
                             f'({e(r["slo"])}): <span class="reason">{e(r["reason"])}</span>{when}</li>')
            out.append(f'<ul class="reasons">{"".join(items)}</ul>')
    return "".join(out)


def _episodes(episodes: list[Mapping[str, Any]], tz: Any) -> str:
    return "<br>".join(f"{e(local_time(x['start'], tz))} to {e(local_time(x['end'], tz))}" for x in episodes)


def _dr(report: Report, tz: Any) -> str:
    if not held(report):
        return '<p class="none">No disaster-recovery trigger condition held during the period.</p>'
    rows = [f'<tr><td>{e(t["trigger"])}</td><td>{e(t["alert"])}</td><td class="num">{e(t["held_minutes"])}</td>'
            f'<td>{_episodes(t["episodes"], tz)}</td></tr>' for t in report["dr_triggers"]]
    return ('<div class="alert-box">A disaster-recovery trigger condition held during the period: review it '
            "against the DR runbook.</div>"
            + _table([("Trigger", False), ("Alert", False), ("Held (min)", True), ("Episodes (local)", False)],
                     rows))


def _slo_block(svc: Mapping[str, Any], slo: Mapping[str, Any], index: int) -> str:
    worst = slo.get("worst_day")
    budget = slo["budget"]
    facts = [f"objective {objective_text(slo['objective'])} over {slo['window']}",
             f"SLI {sli_percent(slo['sli'], slo['objective'])}",
             f"{count_text(slo['events']['bad'])} bad of {count_text(slo['events']['total'])} events",
             f"budget {percent(budget['consumed'])} consumed ({count_text(budget['consumed_minutes'])} of "
             f"{count_text(budget['allowed_minutes'])} min)",
             f"{percent(slo.get('window_budget_consumed'))} over the {slo['window']} window"]
    if worst:
        facts.append(f"worst day {worst['date']} at {sli_percent(worst['sli'], slo['objective'])}")
    blips = slo.get("blips") or {}
    if blips.get("count"):
        facts.append(f"{blips['count']} short blips ({percent(blips.get('budget_consumed'), 2)} of budget)")
    sli_chart = charts.daily_sli_svg(slo["daily"], slo["objective"], f"c{index}s")
    burn_chart = charts.burn_down_svg(slo["daily"], f"c{index}b")
    return (f'<div class="slo" data-service="{e(svc["service"])}" data-slo="{e(slo["slo"])}">'
            f'<h4>{e(slo["slo"])} {_badge(slo["verdict"])}</h4><p>{" · ".join(e(f) for f in facts)}</p>'
            f'<div class="charts"><figure class="sli"><figcaption>Daily SLI (line) against the objective '
            f'{e(objective_text(slo["objective"]))} (dashed); days below it in red</figcaption>'
            f'{sli_chart}</figure><figure class="burn"><figcaption>Error budget remaining, share of the '
            f"period's budget (dotted: even spend)</figcaption>{burn_chart}</figure></div></div>")


def _service(svc: Mapping[str, Any], tz: Any, first_index: int) -> str:
    peak = f"{count_text(svc['peak_request_rate'])}/s"
    figures = [("requests", count_text(svc["request_count"])),
               ("peak" + (f" at {local_time(svc['peak_at'], tz)}" if svc.get("peak_at") else ""), peak),
               ("latency p50 / p95", f"{seconds_text(svc['latency_p50_seconds'])} / "
                                     f"{seconds_text(svc['latency_p95_seconds'])}"),
               ("scrape coverage", percent(svc["coverage"], 2)),
               ("maintenance, left out of the SLOs", f"{count_text(maintenance_minutes(svc))} min")]
    parts = [f'<section class="service" data-service="{e(svc["service"])}"><h2>{e(svc["service"])}</h2>',
             '<div class="figures">' + "".join(f"<div><b>{e(v)}</b><span>{e(k)}</span></div>" for k, v in figures)
             + "</div>"]
    if maintenance_windows(svc):
        parts.append('<p class="maintenance">Maintenance windows (local): '
                     + "; ".join(e(line) for line in maintenance_lines(svc, tz)) + "</p>")
    parts += [_slo_block(svc, slo, first_index + i) for i, slo in enumerate(svc["slos"])]
    parts.append("<h3>Incidents</h3>")
    if svc["incidents"]:
        rows = [f'<tr><td>{e(local_time(i["start"], tz))}</td><td class="num">'
                f'{e(duration_text(i["duration_seconds"]))}</td><td>{e(i["slo"])}</td>'
                f'<td class="num">{e(count_text(i["bad_events"]))}</td>'
                f'<td class="num">{e(percent(i["budget_consumed"]))}</td>'
                f'<td class="num">{e(burn_text(i["peak_burn_rate"]))}</td></tr>' for i in svc["incidents"]]
        parts.append(_table([("Start (local)", False), ("Duration", True), ("SLO", False), ("Bad events", True),
                             ("Budget consumed", True), ("Peak burn rate", True)], rows))
    else:
        parts.append('<p class="none">No incidents.</p>')
    parts.append("<h3>Alerts</h3>")
    if svc["alerts"]:
        rows = [f'<tr><td>{e(a["alert"])}</td><td>{e(a["severity"])}</td><td>{e(a["slo"] or "–")}</td>'
                f'<td class="num">{len(a["episodes"])}</td><td class="num">{e(a["firing_minutes"])}</td>'
                f'<td>{_episodes(a["episodes"][:3], tz)}{"<br>…" if len(a["episodes"]) > 3 else ""}</td></tr>'
                for a in svc["alerts"]]
        parts.append(_table([("Alert", False), ("Severity", False), ("SLO", False), ("Episodes", True),
                             ("Firing (min)", True), ("First episodes (local)", False)], rows))
    else:
        parts.append('<p class="none">No alerts fired.</p>')
    parts.append("</section>")
    return "".join(parts)


def _data(report: Report, tz: Any) -> str:
    data = report["data"]
    facts = [("Oldest sample", utc_time(data["oldest_sample"]) if data.get("oldest_sample") else "unknown"),
             ("Retention", data.get("retention") or "unknown"),
             ("Period starts before the data", "yes" if data.get("starts_before_data") else "no"),
             ("Coverage needed for a verdict", percent(data["minimum_coverage"], 2)),
             *((f"Source of {k.replace('_', ' ')}", v) for k, v in report["sources"].items()),
             ("Queries", report["queries"])]
    rows = []
    for svc in report["services"]:
        gaps = "<br>".join(f"{e(local_time(g['start'], tz))} to {e(local_time(g['end'], tz))} "
                           f"({e(g['minutes'])} min)" for g in svc["gaps"]) or "none"
        low = svc["coverage"] is not None and svc["coverage"] < data["minimum_coverage"]
        rows.append(f'<tr data-service="{e(svc["service"])}"><td>{e(svc["service"])}</td>'
                    f'<td class="num">{e(percent(svc["coverage"], 2))}'
                    f'{" " + _badge("incomplete") if low else ""}</td><td>{gaps}</td></tr>')
    return ('<dl class="meta">' + "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in facts) + "</dl>"
            + _table([("Service", False), ("Coverage", True), ("Gaps (local)", False)], rows))


def to_html(report: Report) -> str:
    """The whole page; the same report gives the same bytes."""
    tz = report_tz(report)
    period = report["period"]
    local, utc = period_lines(report)
    title = f"SLO compliance report: {report['catalog']} ({report['environment']}), {period['label']}"
    left = f"{report['catalog']} · {report['environment']} · SLO compliance {period['label']}"
    running = f"<span>{e(left)}</span><span>{e(local)}</span>"
    page_css = PAGE_CSS % {"left": css_string(left), "right": css_string(local)}
    status = ("complete" if report["complete"] else
              "incomplete: data is missing for part of the period, so some verdicts cannot be given")
    meta = [("Period (local)", local + (" (cut at the time of the report)" if period["truncated"] else "")),
            ("Period (UTC)", utc), ("Time zone", f"{period['timezone']}"),
            ("Generated", utc_time(report["generated_at"])), ("Data", status)]
    index, services = 0, []
    for svc in report["services"]:
        services.append(_service(svc, tz, index))
        index += len(svc["slos"])
    body = [
        f'<header class="running">{running}</header><main>',
        "<h1>SLO compliance report</h1>",
        f'<p class="subtitle">{e(report["catalog"])} · {e(report["environment"])} · {e(period["label"])}</p>',
        '<dl class="meta">' + "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in meta) + "</dl>",
        _cards(report),
        '<section id="summary"><h2>Summary</h2>', _summary(report), "</section>",
        '<section id="policy"><h2>Error-budget policy</h2>', _policy(report, tz), "</section>",
        '<section id="dr"><h2>DR triggers</h2>', _dr(report, tz), "</section>",
        *services,
        '<section id="data"><h2>Data completeness</h2>', _data(report, tz), "</section>",
        "</main>",
    ]
    return ("<!DOCTYPE html>\n"
            f'<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, '
            f'initial-scale=1"><title>{e(title)}</title><style>{CSS}{page_css}</style></head>\n<body>\n'
            + "\n".join(body) + "\n</body></html>\n")
