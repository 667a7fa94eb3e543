"""Looking at a running stack from outside: `monitor check` as a subprocess, Prometheus's alert list,
the webhook receiver's record, and polling with a deadline (never a blind sleep)."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import requests

from zarish_obs import procs
from zarish_obs.stack.receiver import received_alerts

T = TypeVar("T")


@dataclass(frozen=True)
class MonitorRun:
    exit_code: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def report(self) -> dict[str, Any] | None:
        """The JSON object of a `--format json` run (None when stdout is not one)."""
        try:
            data = json.loads(self.stdout)
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    def trigger(self, name: str) -> dict[str, Any] | None:
        for t in (self.report or {}).get("dr_triggers") or []:
            if t.get("name") == name:
                return t
        return None


def monitor_check(catalog_file: Path | str, prometheus_url: str, fmt: str = "json", extra: Sequence[str] = (),
                  timeout: float = 90) -> MonitorRun:
    """Run `zarish-obs monitor check` exactly as cron would: a fresh interpreter, its exit code."""
    argv = [*procs.python_module("zarish_obs.stack.main"), "monitor", "check", "--catalog", str(catalog_file),
            "--prometheus-url", prometheus_url, "--format", fmt, *extra]
    started = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    return MonitorRun(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started)


def wait_until(probe: Callable[[], T | None], timeout: float, what: str, interval: float = 1.0) -> T:
    """Call `probe` until it returns something truthy; TimeoutError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while True:
        last = probe()
        if last:
            return last
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"{what}: not seen within {timeout:.0f}s")
        time.sleep(min(interval, remaining))


def prometheus_alerts(prometheus_url: str, state: str | None = "firing") -> list[dict[str, Any]]:
    """Alerts Prometheus itself holds (pending or firing), from its HTTP API."""
    try:
        r = requests.get(f"{prometheus_url}/api/v1/alerts", timeout=5)
        r.raise_for_status()
        alerts = r.json()["data"]["alerts"]
    except (requests.RequestException, ValueError, KeyError):
        return []
    return [a for a in alerts if state is None or a.get("state") == state]


def instant(prometheus_url: str, expr: str, at: float | None = None) -> list[dict[str, Any]]:
    """An instant query's result vector at `at` (unix seconds; default now), [] when Prometheus cannot answer."""
    params: dict[str, str | float] = {"query": expr}
    if at is not None:
        params["time"] = at
    try:
        r = requests.get(f"{prometheus_url}/api/v1/query", params=params, timeout=5)
        r.raise_for_status()
        return r.json()["data"]["result"]
    except (requests.RequestException, ValueError, KeyError):
        return []


def received(received_file: Path, alertname: str | None = None, status: str | None = "firing",
             since: float = 0.0) -> list[dict[str, Any]]:
    """Alerts the webhook receiver got (optionally one alert name, only those starting after `since`)."""
    out = []
    for alert in received_alerts(received_file, status):
        labels = alert.get("labels") or {}
        if alertname is not None and labels.get("alertname") != alertname:
            continue
        if since and _started(alert) < since:
            continue
        out.append(alert)
    return out


def _started(alert: dict[str, Any]) -> float:
    """An alert's startsAt as unix seconds (0 when absent or unreadable)."""
    try:
        return datetime.fromisoformat(str(alert.get("startsAt") or "")).timestamp()
    except ValueError:
        return 0.0
