"""The report renderers: CSV and JSON give the report's numbers back, Markdown says every verdict and reason,
the HTML page is self-contained, escapes every string, has one chart pair per SLO and is deterministic."""

from __future__ import annotations

import copy
import csv
import io
import json
import math
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from zarish_obs.errors import ExitCode, ZarishError
from zarish_obs.monitor.compliance import charts, formats, html

SAMPLE = Path(__file__).resolve().parent / "data" / "report" / "sample.json"
_URL = re.compile(r"[a-z][a-z0-9+.-]*://|^//|@import|url\((?!#)", re.I)
_TEXT = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=40)


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    return json.loads(SAMPLE.read_text())


@pytest.fixture(scope="module")
def page(report: dict[str, Any]) -> str:
    return html.to_html(report)


def pairs(report: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [(svc, slo) for svc in report["services"] for slo in svc["slos"]]


def small_report(report: dict[str, Any], name: str = "svc", reason: str = "why", days: int = 3) -> dict[str, Any]:
    """One service with one SLO over a few days, cut from the sample (the hypothesis tests draw charts)."""
    r = copy.deepcopy(report)
    svc = r["services"][0]
    svc["service"] = name
    svc["slos"] = svc["slos"][:1]
    svc["slos"][0]["daily"] = svc["slos"][0]["daily"][:days]
    svc["incidents"] = svc["incidents"][:1]
    svc["alerts"] = svc["alerts"][:1]
    svc["policy"]["reasons"] = svc["policy"]["reasons"][:1]
    svc["policy"]["reasons"][0]["reason"] = reason
    r["services"] = [svc]
    return r


class Page(HTMLParser):
    """Every tag, attribute, id and text node of a page, and the text of marked summary cells."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str]] = []
        self.texts: list[str] = []
        self.style = ""
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += [(k, v or "") for k, v in attrs]
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.style += data
        else:
            self.texts.append(data)


def parse(text: str) -> Page:
    p = Page()
    p.feed(text)
    p.close()
    return p


# --- JSON and CSV ------------------------------------------------------------------------------------------------

def test_json_round_trips_and_refuses_nan(report: dict[str, Any]) -> None:
    text = formats.to_json(report)
    assert json.loads(text) == report
    assert text == formats.render(copy.deepcopy(report), "json")
    broken = copy.deepcopy(report)
    broken["services"][0]["slos"][0]["sli"] = math.nan
    with pytest.raises(ZarishError) as err:
        formats.to_json(broken)
    assert "null" in err.value.message


def test_csv_rows_carry_the_json_numbers(report: dict[str, Any]) -> None:
    text = formats.to_csv(report)
    assert text.endswith("\r\n")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert list(rows[0]) == list(formats.CSV_COLUMNS)
    expected = pairs(report)
    assert len(rows) == len(expected)
    for row, (svc, slo) in zip(rows, expected, strict=True):
        assert (row["service"], row["slo"]) == (svc["service"], slo["slo"])
        assert (row["period_start"], row["period_end"]) == (report["period"]["start"], report["period"]["end"])
        assert row["timezone"] == report["period"]["timezone"]
        assert float(row["objective"]) == slo["objective"]
        assert float(row["sli"]) == slo["sli"]
        for key in ("good", "bad", "total"):
            assert int(row[key]) == slo["events"][key]
        assert float(row["allowed_bad_events"]) == slo["budget"]["allowed_bad_events"]
        assert float(row["budget_consumed"]) == slo["budget"]["consumed"]
        assert float(row["budget_remaining"]) == slo["budget"]["remaining"]
        assert row["verdict"] == slo["verdict"]
        assert row["worst_day"] == slo["worst_day"]["date"]
        assert float(row["worst_day_sli"]) == slo["worst_day"]["sli"]
        assert float(row["coverage"]) == svc["coverage"]
        assert int(row["request_count"]) == svc["request_count"]
        assert float(row["p50_seconds"]) == svc["latency_p50_seconds"]
        assert float(row["p95_seconds"]) == svc["latency_p95_seconds"]
        assert int(row["incidents"]) == sum(1 for i in svc["incidents"] if i["slo"] == slo["slo"])
        assert row["policy_verdict"] == svc["policy"]["verdict"]
        assert float(row["maintenance_minutes"]) == svc["maintenance"]["minutes"]


def test_csv_unmeasured_figures_are_empty_and_odd_names_survive(report: dict[str, Any]) -> None:
    r = small_report(report, name='a,"b"\nc')
    slo = r["services"][0]["slos"][0]
    slo["sli"], slo["worst_day"] = None, None
    r["services"][0]["latency_p95_seconds"] = None
    [row] = list(csv.DictReader(io.StringIO(formats.to_csv(r), newline="")))
    assert row["service"] == 'a,"b"\nc'
    assert row["sli"] == row["worst_day"] == row["worst_day_sli"] == row["p95_seconds"] == ""


def test_unknown_format_is_a_usage_error(report: dict[str, Any]) -> None:
    with pytest.raises(ZarishError) as err:
        formats.render(report, "pdf")
    assert err.value.exit_code == ExitCode.USAGE


# --- Markdown ----------------------------------------------------------------------------------------------------

def _unescape_md(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def test_markdown_says_every_verdict_reason_and_trigger(report: dict[str, Any]) -> None:
    text = formats.to_markdown(report)
    plain = _unescape_md(text)
    summary = text.split("## Summary", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in summary.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert len(rows) == len(pairs(report))
    for row, (svc, slo) in zip(rows, pairs(report), strict=True):
        cells = [_unescape_md(c.strip()).strip("*") for c in re.split(r"(?<!\\)\|", row)[1:-1]]
        assert cells[0] == svc["service"] and cells[1] == slo["slo"]
        assert cells[5] == formats.VERDICT_WORDS[slo["verdict"]]
        assert cells[6] == formats.POLICY_WORDS[svc["policy"]["verdict"]]
    for svc in report["services"]:
        for reason in svc["policy"]["reasons"]:
            assert reason["reason"] in plain
    for trigger in report["dr_triggers"]:
        assert trigger["alert"] in plain
    assert "Asia/Dhaka" in plain and "UTC" in plain


@settings(max_examples=60, deadline=None)
@given(name=_TEXT)
@example(name="a | b \\| c")
@example(name="<b>*x*</b> `y` [z](w)")
def test_markdown_table_cells_hold_any_name(report: dict[str, Any], name: str) -> None:
    text = formats.to_markdown(small_report(report, name=name))
    row = next(line for line in text.split("## Summary", 1)[1].splitlines() if line.startswith("| ")
               and "Service" not in line and "---" not in line)
    cells = re.split(r"(?<!\\)\|", row)[1:-1]
    assert len(cells) == 7
    assert _unescape_md(cells[0].strip()) == " ".join(name.split())


def _section(text: str, service: str) -> str:
    return text.split(f"\n## {service}\n", 1)[1].split("\n## ", 1)[0]


def test_maintenance_minutes_and_windows_are_shown_per_service(report: dict[str, Any], page: str) -> None:
    """Markdown and HTML say each service's maintenance minutes; the windows are named with their local times."""
    assert any(svc["maintenance"]["windows"] for svc in report["services"])
    text = _unescape_md(formats.to_markdown(report))
    p = parse(page)
    tz = formats.report_tz(report)
    for svc in report["services"]:
        minutes = formats.count_text(svc["maintenance"]["minutes"])
        line = next(x for x in _section(text, svc["service"]).splitlines() if x.startswith("- Maintenance:"))
        assert line.startswith(f"- Maintenance: {minutes} min")
        section = page.split(f'data-service="{svc["service"]}"><h2>', 1)[1].split("</section>", 1)[0]
        assert f"<b>{minutes} min</b>" in section
        for w in svc["maintenance"]["windows"][:5]:
            opening = f"{w['name']}: {formats.local_time(w['start'], tz)} to {formats.local_time(w['end'], tz)}"
            assert opening in line and opening in section
        if not svc["maintenance"]["windows"]:
            assert "(" not in line and 'class="maintenance"' not in section
    assert any("Maintenance windows (local)" in t for t in p.texts)


def test_reports_without_the_maintenance_field_still_render(report: dict[str, Any]) -> None:
    old = copy.deepcopy(report)
    for svc in old["services"]:
        del svc["maintenance"]
    assert "Maintenance: 0 min" in formats.to_markdown(old)
    assert all(r["maintenance_minutes"] == 0 for r in formats.csv_rows(old))
    assert "0 min" in html.to_html(old)


# --- HTML --------------------------------------------------------------------------------------------------------

def test_html_has_no_url_of_any_kind(page: str) -> None:
    p = parse(page)
    assert p.tags[:1] == ["html"] and "script" not in p.tags and "link" not in p.tags
    for tag in ("img", "iframe", "object", "embed", "image", "foreignobject"):
        assert tag not in p.tags
    for key, value in p.attrs:
        assert not _URL.search(value), (key, value)
        if key in ("href", "src", "xlink:href", "action", "srcset", "poster"):
            assert value.startswith("#"), (key, value)
    for text in p.texts:
        assert not _URL.search(text), text
    assert not _URL.search(p.style)
    assert "http" not in page.lower()


def test_html_ids_are_unique_and_references_resolve(page: str) -> None:
    p = parse(page)
    ids = [v for k, v in p.attrs if k == "id"]
    assert len(ids) == len(set(ids))
    refs = {v[1:] for k, v in p.attrs if k in ("href", "xlink:href")} | set(re.findall(r"url\(#([^)]+)\)", page))
    assert refs and refs <= set(ids)


def test_html_has_one_chart_pair_per_slo(report: dict[str, Any], page: str) -> None:
    blocks = re.findall(r'<div class="slo" data-service="([^"]*)" data-slo="([^"]*)">(.*?)</div></div>', page, re.S)
    assert [(s, o) for s, o, _ in blocks] == [(svc["service"], slo["slo"]) for svc, slo in pairs(report)]
    for _, _, block in blocks:
        assert block.count('<figure class="sli">') == block.count('<figure class="burn">') == 1
        assert block.count("<svg") == 2
    assert page.count("<svg") == 2 * len(pairs(report))


def test_html_summary_cells_carry_the_json_values(report: dict[str, Any], page: str) -> None:
    rows = re.findall(r'<tr data-service="([^"]*)" data-slo="([^"]*)">(.*?)</tr>', page, re.S)
    assert len(rows) == len(pairs(report))
    for (service, name, cells), (svc, slo) in zip(rows, pairs(report), strict=True):
        assert (service, name) == (svc["service"], slo["slo"])
        values = dict(re.findall(r'data-field="([^"]+)" data-value="([^"]*)"', cells))
        assert float(values["objective"]) == slo["objective"]
        assert float(values["sli"]) == slo["sli"]
        assert float(values["budget_consumed"]) == slo["budget"]["consumed"]
        assert values["verdict"] == slo["verdict"]
        assert html.VERDICT_BADGES[slo["verdict"]] in cells


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=_TEXT, reason=_TEXT)
@example(name='<b x="1">&amp;</td></tr></table>', reason="--><!-- </style><script>x</script>")
@example(name="\"' onmouseover=x a='", reason="]]> <svg><a href='//evil'>")
def test_html_strings_never_break_out(report: dict[str, Any], name: str, reason: str) -> None:
    baseline = parse(html.to_html(small_report(report)))
    p = parse(html.to_html(small_report(report, name=name, reason=reason)))
    assert p.tags == baseline.tags
    assert [k for k, _ in p.attrs] == [k for k, _ in baseline.attrs]
    assert ("data-service", name) in p.attrs
    assert name in p.texts and reason in p.texts
    assert p.style.count("@page") == 1 and p.style.count("{") == baseline.style.count("{")


def test_html_is_deterministic_across_processes(report: dict[str, Any], tmp_path: Path) -> None:
    r = small_report(report, days=10)
    source = tmp_path / "r.json"
    source.write_text(json.dumps(r))
    code = ("import json,sys; from zarish_obs.monitor.compliance import html; "
            "sys.stdout.write(html.to_html(json.load(open(sys.argv[1]))))")
    other = subprocess.run([sys.executable, "-c", code, str(source)], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": "12345", "PATH": "/usr/bin:/bin"}).stdout
    assert html.to_html(r) == html.to_html(copy.deepcopy(r)) == other


def test_matplotlib_is_imported_lazily_and_left_as_found() -> None:
    code = ("import sys; from zarish_obs.monitor.compliance import formats, html, charts; "
            "assert 'matplotlib' not in sys.modules, 'imported at start-up'")
    subprocess.run([sys.executable, "-c", code], check=True)
    import matplotlib

    before = {k: copy.deepcopy(v) for k, v in matplotlib.rcParams.items() if k != "backend"}
    charts.daily_sli_svg([{"date": "2026-11-01", "sli": 0.999}], 99.9, "t")
    after = {k: v for k, v in matplotlib.rcParams.items() if k != "backend"}
    assert before == after


@pytest.mark.parametrize("days", [1, 45, 92])
def test_charts_cope_with_missing_days_and_long_periods(days: int) -> None:
    daily = [{"date": f"2026-{1 + i // 28:02d}-{1 + i % 28:02d}", "sli": None if i % 7 == 3 else 0.999 - i * 1e-5,
              "budget_remaining": None if i % 7 == 3 else 1 - i / 40} for i in range(days)]
    for svg in (charts.daily_sli_svg(daily, 99.9, "a"), charts.burn_down_svg(daily, "b")):
        p = parse(svg)
        assert p.tags[0] == "svg" and "metadata" not in p.tags and "http" not in svg
        assert all(v.startswith(("a-", "b-")) for k, v in p.attrs if k == "id")


def test_bad_dates_are_one_line_errors(report: dict[str, Any]) -> None:
    r = small_report(report)
    r["services"][0]["slos"][0]["daily"][0]["date"] = "1 Nov"
    with pytest.raises(ZarishError) as err:
        html.to_html(r)
    assert "1 Nov" in err.value.message and "\n" not in err.value.message


def test_triggers_that_never_held_are_not_counted_as_held(report: dict[str, Any]) -> None:
    """The engine lists every DR trigger, held or not; only those with held minutes count and warn."""
    quiet = {"trigger": "manual", "alert": "DRManualTrigger", "held_minutes": 0, "episodes": []}
    calm = {**report, "dr_triggers": [quiet]}
    text = html.to_html(calm)
    assert '<span class="n">0</span><span class="t">DR triggers held</span>' in text and 'class="alert-box"' not in text
    assert "No disaster-recovery trigger condition held" in formats.to_markdown(calm)
    busy = {**report, "dr_triggers": [*report["dr_triggers"], quiet]}
    held = sum(1 for t in busy["dr_triggers"] if t["held_minutes"])
    assert held >= 1 and f'<span class="n">{held}</span><span class="t">DR triggers held</span>' in html.to_html(busy)
