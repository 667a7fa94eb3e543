"""Soak benchmark (not a test): consecutive `monitor check` runs against the running local stack, with
Prometheus stopped and restarted twice in the middle.

    .venv/bin/python bench/soak.py [--checks 500] [--restarts 2] [--max-seconds 900]

Each check is what cron runs: a fresh `python -m zarish_obs.stack.main monitor check --format json`, timed
from spawn to exit, its peak RSS read from its own rusage (os.wait4). The stack plays the healthy
scenario, so the right verdict is OK (exit 0) while Prometheus is up and UNKNOWN (exit 3) while it is
down; the first check after a restart may rightly say either. Anything else is a wrong verdict.
Prints the verdict counts, wrong verdicts, p50/p99 check time and peak memory.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from zarish_obs import procs
from zarish_obs.catalog import load_catalog
from zarish_obs.stack import manager
from zarish_obs.stack.observe import monitor_check, wait_until


@dataclass
class Check:
    index: int
    exit_code: int
    status: str
    seconds: float
    max_rss_kib: int
    prometheus: str  # up | down | changing (the first check after a restart)
    right: bool


def run_check(catalog_file: str, url: str) -> tuple[int, str, float, int]:
    argv = procs.python_module("zarish_obs.stack.main", "monitor", "check", "--catalog", catalog_file,
                               "--prometheus-url", url, "--format", "json")
    started = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    out = proc.stdout.read() if proc.stdout else b""
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.monotonic() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    try:
        verdict = json.loads(out)["status"]
    except (ValueError, KeyError, TypeError):
        verdict = "no-json"
    return proc.returncode, verdict, seconds, usage.ru_maxrss


def judge(exit_code: int, status: str, prometheus: str) -> bool:
    ok = exit_code == 0 and status == "ok"
    unknown = exit_code == 3 and status == "unknown"
    return {"up": ok, "down": unknown, "changing": ok or unknown}[prometheus]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checks", type=int, default=500)
    parser.add_argument("--restarts", type=int, default=2)
    parser.add_argument("--down-checks", type=int, default=3, help="checks run while Prometheus is down")
    parser.add_argument("--time-scale", type=float, default=0.02)
    parser.add_argument("--max-seconds", type=float, default=900, help="stop early (and say so) after this")
    args = parser.parse_args()

    restart_at = {round(args.checks * (i + 1) / (args.restarts + 1)) for i in range(args.restarts)}
    checks: list[Check] = []
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="zarish-soak-") as tmp:
        root = Path(tmp) / "stack"
        with manager.running(load_catalog(), root, "healthy", args.time_scale) as state:
            url, catalog_file = state.url("prometheus"), state.catalog
            wait_until(lambda: monitor_check(catalog_file, url).exit_code == 0, 120, "first OK verdict", 2)
            down_left, just_restarted = 0, False
            for i in range(args.checks):
                if time.monotonic() - began > args.max_seconds:
                    print(f"stopped early after {i} checks: --max-seconds {args.max_seconds:g} reached")
                    break
                if i in restart_at:
                    manager.stop_component(root, "prometheus")  # returns once the process has exited
                    down_left = args.down_checks
                phase = "down" if down_left else ("changing" if just_restarted else "up")
                code, status, seconds, rss = run_check(catalog_file, url)
                checks.append(Check(i, code, status, seconds, rss, phase, judge(code, status, phase)))
                just_restarted = False
                if down_left:
                    down_left -= 1
                    if not down_left:
                        manager.restart(root, "prometheus")  # returns once every target was scraped again
                        just_restarted = True
    elapsed = time.monotonic() - began

    wrong = [c for c in checks if not c.right]
    counts: dict[str, int] = {}
    for c in checks:
        counts[c.status] = counts.get(c.status, 0) + 1
    up_times = [c.seconds for c in checks if c.prometheus == "up"]
    print(f"soak: {len(checks)} monitor checks in {elapsed:.0f}s against the local stack "
          f"(time scale {args.time_scale:g}), Prometheus stopped and restarted {len(restart_at)}x")
    print(f"verdicts: {json.dumps(counts, sort_keys=True)}; unknown while Prometheus was down: "
          f"{sum(1 for c in checks if c.prometheus == 'down' and c.status == 'unknown')}"
          f"/{sum(1 for c in checks if c.prometheus == 'down')}")
    after = [c.status for c in checks if c.prometheus == "changing"]
    down_times = [c.seconds for c in checks if c.prometheus == "down"]
    print(f"first check after each restart: {', '.join(after) or 'none'}; checks while down took "
          f"p50 {statistics.median(down_times) * 1000:.0f} ms" if down_times else "no check ran while down")
    print(f"wrong verdicts: {len(wrong)}" + "".join(
        f"\n  check {c.index}: exit {c.exit_code} {c.status} while Prometheus was {c.prometheus}" for c in wrong))
    print(f"check time with Prometheus up: p50 {statistics.median(up_times) * 1000:.0f} ms, "
          f"p99 {percentile(up_times, 0.99) * 1000:.0f} ms, max {max(up_times) * 1000:.0f} ms "
          f"(a fresh interpreter per check, as cron runs it)")
    print(f"peak memory of one check (max RSS): {max(c.max_rss_kib for c in checks) / 1024:.1f} MiB; "
          f"median {statistics.median(c.max_rss_kib for c in checks) / 1024:.1f} MiB")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
