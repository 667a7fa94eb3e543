"""`zarish-obs demo`: the whole loop on this machine, healthy and then failing over, in under 3 minutes.

Generate everything for the catalog into --out, validate it with promtool, amtool and the dashboard
schema, bring up the local stack time-compressed, show the monitor's verdict on healthy traffic,
switch to an error storm, show the DR trigger firing in the monitor and `DRErrorRatioHigh` reaching
the webhook receiver, and stop the stack whatever happens (failure, Ctrl-C, SIGTERM).
Progress goes to stderr; the monitor tables and the received alert go to stdout.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer

from zarish_obs import procs, promtool
from zarish_obs.cliutil import CatalogOpt, catalog, err
from zarish_obs.errors import ExitCode, ZarishError
from zarish_obs.stack import configs, manager
from zarish_obs.stack.layout import DEFAULT_DIR
from zarish_obs.stack.observe import MonitorRun, monitor_check, received, wait_until

DEMO_DIR = DEFAULT_DIR / "demo"
DEMO_TIME_SCALE = 0.02
DR_ALERT = "DRErrorRatioHigh"


@dataclass
class Clock:
    """Progress lines with the elapsed time, and deadlines bounded by the demo's total budget."""

    budget: float
    started: float = field(default_factory=time.monotonic)

    def say(self, message: str) -> None:
        err(f"[{time.monotonic() - self.started:6.1f}s] {message}")

    def allow(self, seconds: float) -> float:
        left = self.budget - (time.monotonic() - self.started)
        if left <= 1:
            raise ZarishError(f"demo: out of time (budget {self.budget:.0f}s)", ExitCode.FAILED)
        return min(seconds, left)


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(procs.python_module("zarish_obs.stack.main", *args), capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def _one_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def generate_all(catalog_path: Path | None, out: Path, clock: Clock) -> dict[str, list[Path]]:
    """`scrape|alerts|dashboards generate --out OUT/<part>`: the stable CLI interface of each part."""
    cat_args = ["--catalog", str(catalog_path)] if catalog_path else []
    written: dict[str, list[Path]] = {}
    for part in ("scrape", "alerts", "dashboards"):
        proc = _cli(part, "generate", *cat_args, "--out", str(out / part))
        if proc.returncode != 0:
            raise ZarishError(f"demo: `zarish-obs {part} generate` failed (exit {proc.returncode}): "
                              f"{_one_line(proc.stderr)}", ExitCode.FAILED)
        written[part] = [Path(p) for p in proc.stdout.split() if p.strip()]
        clock.say(f"generated {len(written[part])} {part} file(s) into {out / part}")
    return written


def validate_all(out: Path, clock: Clock) -> None:
    """promtool on the Prometheus config and rules, amtool on alertmanager.yml, and the dashboard files as
    written through the same schema gate `dashboards generate` and `upload` use."""
    checks: list[tuple[str, promtool.CheckResult]] = [
        ("promtool check config", promtool.check_config(out / "scrape" / "prometheus.yml"))]
    rule_files = sorted(p for p in (out / "alerts").glob("*.yml") if p.name != "alertmanager.yml")
    if not rule_files:
        raise ZarishError(f"demo: no rule files in {out / 'alerts'}", ExitCode.FAILED)
    checks.append(("promtool check rules", promtool.check_rules(*rule_files)))
    checks.append(("amtool check-config", promtool.check_alertmanager(out / "alerts" / "alertmanager.yml")))
    for what, result in checks:
        if not result.ok:
            raise ZarishError(f"demo: {what} failed: {_one_line(result.output)}", ExitCode.FAILED)
        clock.say(f"{what}: ok" + (f" ({result.note})" if result.note else ""))
    from zarish_obs.dashboards import schema_gate

    dashboards = {p.name: json.loads(p.read_text("utf-8")) for p in sorted((out / "dashboards").glob("*.json"))}
    if not dashboards:
        raise ZarishError(f"demo: no dashboards in {out / 'dashboards'}", ExitCode.FAILED)
    schema_gate.check(dashboards)
    clock.say(f"dashboard schema (Grafana's published JSON schema): ok for {len(dashboards)} dashboard(s)")


def upload_dashboards(catalog_path: Path | None, clock: Clock) -> None:
    if not os.environ.get("GRAFANA_URL"):
        clock.say("GRAFANA_URL not set: skipping the dashboard upload")
        return
    cat_args = ["--catalog", str(catalog_path)] if catalog_path else []
    proc = _cli("dashboards", "upload", *cat_args)
    if proc.returncode != 0:
        raise ZarishError(f"demo: `zarish-obs dashboards upload` failed (exit {proc.returncode}): "
                          f"{_one_line(proc.stderr)}", ExitCode.FAILED)
    clock.say("uploaded the dashboards to Grafana (GRAFANA_URL)")


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM stops the demo the way Ctrl-C does, so the stack is always stopped."""
    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    try:
        previous: Any = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _verdict(run: MonitorRun) -> str:
    report = run.report or {}
    return f"{report.get('status', '?')} (exit {run.exit_code})"


def run_demo(catalog_path: Path | None, out: Path, root: Path, time_scale: float, budget: float) -> None:
    clock = Clock(budget)
    cat = catalog(catalog_path)
    clock.say(f"zarish-obs demo: catalog {cat.name!r}, {len(cat.services)} services; output in {out}")
    generate_all(catalog_path, out, clock)
    validate_all(out, clock)
    upload_dashboards(catalog_path, clock)
    note = configs.compression_note(configs.local_catalog(cat, time_scale))
    if note:
        clock.say(note)
    clock.say(f"starting the local stack in {root} ...")
    with sigterm_as_interrupt():
        try:
            state = manager.up(cat, root, "healthy", time_scale,
                               str(catalog_path) if catalog_path else "<built-in catalog>")
            prom = state.url("prometheus")
            clock.say(f"stack up: Prometheus {prom}, Alertmanager {state.url('alertmanager')}, "
                      f"webhook receiver {state.url('receiver')}, {len(cat.services)} service exporters")
            _play(state.catalog, prom, Path(state.dir) / "received-alerts.jsonl", root, clock)
        finally:
            stopped = manager.down(root)
            clock.say(f"stack down: stopped {len(stopped)} process(es)")
    clock.say("demo complete: healthy -> OK, error storm -> DR trigger fired, failover recommended, "
              f"{DR_ALERT} delivered by Alertmanager")


def _play(catalog_file: str, prom: str, received_file: Path, root: Path, clock: Clock) -> None:
    clock.say("scenario healthy: waiting for the monitor to say OK ...")
    healthy = wait_until(lambda: _when(monitor_check(catalog_file, prom), lambda r: r.exit_code == 0),
                         clock.allow(75), "monitor verdict OK on healthy traffic", interval=2)
    clock.say(f"monitor check: {_verdict(healthy)}")
    print(monitor_check(catalog_file, prom, fmt="table").stdout, flush=True)
    if received(received_file):
        names = sorted({a["labels"].get("alertname", "?") for a in received(received_file)})
        raise ZarishError(f"demo: alerts fired on healthy traffic: {', '.join(names)}", ExitCode.FAILED)

    switched = time.time()
    manager.set_scenario(root, "error-storm")
    clock.say("scenario error-storm: half of the production requests now fail; waiting for the DR trigger ...")
    storm = wait_until(lambda: _when(monitor_check(catalog_file, prom),
                                     lambda r: (r.trigger("error_ratio") or {}).get("fired") is True),
                       clock.allow(90), "DR trigger error_ratio fired in the monitor", interval=2)
    report = storm.report or {}
    clock.say(f"monitor check: {_verdict(storm)}, DR trigger error_ratio fired, failover recommended: "
              f"{report.get('failover_recommended')}")
    print(monitor_check(catalog_file, prom, fmt="table").stdout, flush=True)

    clock.say(f"waiting for {DR_ALERT} at the webhook receiver ...")
    alerts = wait_until(lambda: received(received_file, DR_ALERT, since=switched - 1), clock.allow(60),
                        f"{DR_ALERT} at the webhook receiver", interval=1)
    labels = alerts[0].get("labels") or {}
    summary = (alerts[0].get("annotations") or {}).get("summary", "")
    shown = ", ".join(f"{k}={v}" for k, v in sorted(labels.items()))
    print(f"webhook receiver got: {DR_ALERT} {{{shown}}}\n  {summary}", flush=True)
    clock.say(f"{DR_ALERT} arrived at the webhook receiver ({received_file})")


def _when(run: MonitorRun, ok: Callable[[MonitorRun], bool]) -> MonitorRun | None:
    return run if ok(run) else None


def demo_cmd(
    path: CatalogOpt = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory for the generated files.")] = Path("out"),
    root: Annotated[Path, typer.Option("--dir", "-d", help="State directory of the demo's stack.")] = DEMO_DIR,
    time_scale: Annotated[float, typer.Option("--time-scale", min=0.001, max=1.0,
                                              help="Time compression of the demo's stack.")] = DEMO_TIME_SCALE,
    budget: Annotated[float, typer.Option("--budget", min=30, help="Give up after this many seconds.")] = 170,
) -> None:
    """Show the whole loop: generate and validate everything, run the local stack, healthy then an error
    storm that ends in "fail over". Exit 0 when every step was seen, 1 when one was not (the stack is
    stopped either way); needs the Debian prometheus, alertmanager, pushgateway and blackbox packages."""
    try:
        run_demo(path, out, root, time_scale, budget)
    except TimeoutError as exc:
        raise ZarishError(f"demo: {exc}", ExitCode.FAILED) from None
