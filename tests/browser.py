"""Headless Debian Chromium through selenium, for the browser tests and the screenshots in docs/.

The driver path is always given, so selenium-manager never runs (it would try to download a driver). Each
session gets a fresh profile directory; when it ends, chromedriver and every browser process started on that
profile are stopped by PID, whatever happened inside the block.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from zarish_obs import procs

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
         "--disable-quic", "--disable-default-apps", "--disable-extensions", "--hide-scrollbars",
         "--force-color-profile=srgb", "--font-render-hinting=none")


def available() -> bool:
    return Path(CHROMIUM).is_file() and Path(CHROMEDRIVER).is_file()


def _options(profile: str, width: int, height: int) -> Any:
    from selenium.webdriver.chrome.options import Options

    options = Options()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--window-size={width},{height}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    return options


def _profile_pids(profile: str) -> list[int]:
    """Processes whose command line names this session's own profile directory (the browser and its children)."""
    marker = f"--user-data-dir={profile}".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if marker in (entry / "cmdline").read_bytes().split(b"\0"):
                    pids.append(int(entry.name))
    return pids


@contextlib.contextmanager
def chromium(width: int = 1280, height: int = 900) -> Iterator[Any]:
    """A selenium Chrome driver on headless Chromium, with browser and performance logs enabled."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="zarish-chromium-")
    service = Service(CHROMEDRIVER, port=procs.free_port(), log_output=subprocess.DEVNULL)
    driver = None
    try:
        driver = webdriver.Chrome(service=service, options=_options(profile, width, height))
        yield driver
    finally:
        if driver is not None:
            with contextlib.suppress(Exception):
                driver.quit()
        with contextlib.suppress(Exception):
            service.stop()
        process = getattr(service, "process", None)
        if process is not None:
            procs.stop_pid(process.pid, timeout=5)
        for pid in _profile_pids(profile):
            procs.stop_pid(pid, timeout=5)
        shutil.rmtree(profile, ignore_errors=True)


def leftover_processes() -> list[int]:
    """PIDs of chromedriver processes that are children of this interpreter (a test asserts there are none)."""
    me = str(os.getpid())
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                stat = (entry / "stat").read_text()
                fields = stat.rsplit(")", 1)[1].split()
                if fields[1] == me and fields[0] != "Z" and "chromedriver" in stat.split(")", 1)[0]:
                    out.append(int(entry.name))
    return out


def open_file(driver: Any, path: Path) -> str:
    url = path.resolve().as_uri()
    driver.get(url)
    return url


def requests_sent(driver: Any) -> list[tuple[str, str]]:
    """(document URL, requested URL) of every request since the last call (the performance log's
    Network.requestWillBeSent). Chromium's own pages (the new-tab page at start-up) show up here too, under
    their chrome:// document."""
    sent = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            params = message["params"]
            sent.append((params.get("documentURL", ""), params["request"]["url"]))
    return sent


def foreign_requests(sent: list[tuple[str, str]], page_url: str) -> list[str]:
    """Requests that are not the page itself: anything the page asked for, and anything off this machine
    whoever asked (an internal chrome:// page loading its own chrome:// resources is not the report's doing)."""
    out = []
    for document, url in sent:
        if url == page_url:
            continue
        if document == page_url or not url.startswith(("chrome://", "chrome-untrusted://", "data:")):
            out.append(url)
    return out


def console_errors(driver: Any) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry.get("level") == "SEVERE"]


def pdf(driver: Any) -> bytes:
    """The page printed the way a person would: A4, backgrounds on."""
    from selenium.webdriver.common.print_page_options import PrintOptions

    options = PrintOptions()
    options.page_width, options.page_height = 21.0, 29.7
    options.background = True
    return base64.b64decode(driver.print_page(options))


def full_page_png(driver: Any, width: int) -> bytes:
    height = int(driver.execute_script("return Math.ceil(document.documentElement.scrollHeight)"))
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
    try:
        shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    return base64.b64decode(shot["data"])


def screenshot(html_path: Path, png_path: Path, width: int = 1200) -> Path:
    """A full-page PNG of a local HTML file at `width` CSS pixels (for docs/)."""
    with chromium(width=width) as driver:
        open_file(driver, html_path)
        png_path.write_bytes(full_page_png(driver, width))
    return png_path
