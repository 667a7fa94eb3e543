"""The HTML report in real headless Chromium: it fetches nothing, logs no error, shows the JSON's numbers,
draws every chart, prints to a multi-page PDF, and leaves no chromedriver or browser process behind."""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path
from typing import Any

import pytest

from tests import browser
from zarish_obs import procs
from zarish_obs.monitor.compliance import html

pytestmark = [pytest.mark.real, pytest.mark.skipif(not browser.available(), reason="needs Debian chromium and "
                                                                                    "chromium-driver")]

SAMPLE = Path(__file__).resolve().parent / "data" / "report" / "sample.json"


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    return json.loads(SAMPLE.read_text())


@pytest.fixture
def page(report: dict[str, Any], tmp_path: Path) -> Path:
    path = tmp_path / "report.html"
    path.write_text(html.to_html(report), encoding="utf-8")
    return path


def _number(text: str) -> float | None:
    return None if text == "" else float(text)


def test_report_in_chromium(report: dict[str, Any], page: Path) -> None:
    pairs = [(svc, slo) for svc in report["services"] for slo in svc["slos"]]
    with browser.chromium() as driver:
        browser.requests_sent(driver)
        browser.console_errors(driver)
        url = browser.open_file(driver, page)

        sent = browser.requests_sent(driver)
        assert (url, url) in sent
        assert browser.foreign_requests(sent, url) == []
        assert browser.console_errors(driver) == []

        rows = driver.find_elements("css selector", "table.summary tbody tr")
        assert len(rows) == len(pairs)
        for row, (svc, slo) in zip(rows, pairs, strict=True):
            assert row.get_attribute("data-service") == svc["service"]
            assert row.get_attribute("data-slo") == slo["slo"]
            cells = {c.get_attribute("data-field"): c for c in row.find_elements("css selector", "td[data-field]")}
            assert _number(cells["objective"].get_attribute("data-value")) == slo["objective"]
            assert _number(cells["sli"].get_attribute("data-value")) == slo["sli"]
            assert _number(cells["budget_consumed"].get_attribute("data-value")) == slo["budget"]["consumed"]
            assert cells["verdict"].text == html.VERDICT_BADGES[slo["verdict"]]
            assert cells["objective"].is_displayed()

        svgs = driver.find_elements("css selector", "figure svg.chart")
        assert len(svgs) == 2 * len(pairs)
        for svg in svgs:
            size = svg.size
            assert size["width"] > 0 and size["height"] > 0

        pdf = browser.pdf(driver)
        assert pdf.startswith(b"%PDF")
        assert len(re.findall(rb"/Type\s*/Page\b(?!s)", pdf)) > 1
        assert browser.foreign_requests(browser.requests_sent(driver), url) == []
    assert browser.leftover_processes() == []


def test_the_network_check_would_see_a_fetch(tmp_path: Path) -> None:
    """The no-request assertion above is only worth something if an external reference shows up in the log."""
    port = procs.free_port()
    path = tmp_path / "leaky.html"
    path.write_text(f'<!DOCTYPE html><html><body><img src="http://127.0.0.1:{port}/x.png" alt=""></body></html>')
    with browser.chromium() as driver:
        browser.requests_sent(driver)
        url = browser.open_file(driver, path)
        sent = browser.requests_sent(driver)
    assert browser.foreign_requests(sent, url) == [f"http://127.0.0.1:{port}/x.png"]
    assert browser.leftover_processes() == []


def test_screenshot_is_a_png_of_the_asked_width(page: Path, tmp_path: Path) -> None:
    png = browser.screenshot(page, tmp_path / "report.png", width=900)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert width == 900 and height > 2000
    assert browser.leftover_processes() == []
