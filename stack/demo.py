"""`zarish-obs demo`: the whole loop on this machine, healthy, planned maintenance and then failing over.

Run `zarish-obs check --out OUT` in-process (generate everything for the catalog, then promtool,
amtool and the dashboard schema), bring up the local stack time-compressed with a maintenance drill
window over one service, show the monitor's verdict on healthy traffic, storm that service inside
its window (no SLO alert, no page, monitor OK), switch to an error storm, show the DR trigger firing in the monitor and
`DRErrorRatioHigh` reaching the webhook receiver, and stop the stack whatever happens (failure,
Ctrl-C, SIGTERM). Progress goes to stderr; the monitor tables, the storm's figures and the received
alert go to stdout. Every figure says which window it is over: rate windows are not time-compressed,
so right after the switch they still hold the healthy traffic from before it.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer

from zarish_obs import conventions, procs, promql
from zarish_obs.catalog import BUILT_IN_SOURCE, Catalog
from zarish_obs.cliutil import CatalogOpt, catalog, err
from zarish_obs.conventions import DR_ERROR_RATIO_HIGH, DR_TRIGGERS, timings
from zarish_obs.durations import format_duration, parse_duration
from zarish_obs.errors import ExitCode, ZarishError
from zarish_obs.monitor.queries import golden_signals
from zarish_obs.monitor.report import render_table
from zarish_obs.stack import check, configs, manager, scenarios
from zarish_obs.stack.layout import DEFAULT_DIR
from zarish_obs.stack.observe import MonitorRun, instant, monitor_check, prometheus_alerts, received, wait_until
from zarish_obs.stack.workload import DRILL_WINDOW

DEMO_DIR = DEFAULT_DIR / "demo"
DEMO_TIME_SCALE = 0.02
DR_ALERT = DR_ERROR_RATIO_HIGH
DR_TRIGGER = next(name for name, alert in DR_TRIGGERS.items() if alert == DR_ALERT)  # the monitor's name
HEALTHY, STORM, MAINTENANCE = "healthy", "error-storm", "maintenance"


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
    try:
        return subprocess.run(procs.python_module("zarish_obs.stack.main", *args), capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise ZarishError(f"demo: `zarish-obs {args[0]}` did not finish within {timeout:.0f}s (the demo's --budget "
                          "left no more)", ExitCode.FAILED) from None


def _one_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def validate(cat: Catalog, out: Path, clock: Clock) -> None:
    """`zarish-obs check --out OUT`: generate every file for the catalog and run every validator on it."""
    checks = check.run_checks(cat, out)
    for line in check.table_lines(checks):
        clock.say(f"check: {line}")
    if not all(c.ok for c in checks):
        raise ZarishError(f"demo: {check.summary(checks)}", ExitCode.FAILED)


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


def _verdict(run: MonitorRun) -> str:
    report = run.report or {}
    return f"{report.get('status', '?')} (exit {run.exit_code})"


def _pct(value: float | None) -> str:
    return "no data" if value is None else f"{100 * value:.2f}%"


def _ratio(prometheus_url: str, expr: str, at: float) -> float | None:
    result = instant(prometheus_url, expr, at)
    try:
        value = float(result[0]["value"][1])
    except (IndexError, KeyError, TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


def _signal_window(local: Catalog) -> str:
    """The rate window of the monitor table's per-service columns, read from the queries the monitor sends."""
    expr = next(q.expr for q in golden_signals(promql.signals(local), []) if q.name == "error_ratio")
    found = re.search(r"\[([0-9a-z]+)\]", expr)
    return found.group(1) if found else "its rate window"


def table_legend(local: Catalog, report: dict[str, Any]) -> str:
    slo_windows = sorted({s["window"] for svc in report.get("services", []) for s in svc.get("slos", [])},
                         key=parse_duration)
    return (f"(REQ/S, ERRORS, P50 and P95: each service over the last {_signal_window(local)} in "
            f"{report.get('environment', '?')}; SLI%: over each SLO's window ({', '.join(slo_windows) or '-'}); "
            "burn1h: over the last hour; DR triggers: as each line says)")


def _show(local: Catalog, run: MonitorRun) -> None:
    """The monitor's table for the very report the progress line just summed up, and what its figures span."""
    report = run.report or {}
    print(render_table(report) + table_legend(local, report), flush=True)


def storm_story(local: Catalog) -> str:
    """What the error storm does, in the terms of the figures that follow."""
    storm = scenarios.get(STORM)
    er = local.dr.error_ratio
    others = [e.name for e in local.environments if e.name != er.environment]
    healthy = f"; {', '.join(others)} stay{'s' if len(others) == 1 else ''} healthy" if others else ""
    fraction = f"{storm.error_fraction:.0%}" if storm.error_fraction is not None else "a share"
    return (f"scenario {STORM}: from now on {fraction} of the requests of every service in {er.environment} fail "
            f"with 5xx{healthy}. Rate windows are not time-compressed, so each ratio climbs from the healthy "
            f"level towards {fraction} only as the storm fills its window. Waiting for the DR trigger: the "
            f"{promql.dr_error_ratio_window(local)} error ratio of {er.environment} above {er.threshold:.0%} "
            f"throughout {timings(local).error_ratio_for} ...")


def storm_figures(local: Catalog, prometheus_url: str, at: float, switched: float) -> str:
    """The error ratio of all services of the DR environment at the monitor's instant, over the storm alone
    and over the DR trigger's rate window: why the trigger's figure is below the storm's share."""
    env = local.dr.error_ratio.environment
    s = promql.signals(local)
    scrape = parse_duration(local.prometheus.scrape_interval)
    storm_only = math.floor(at - switched - 2 * scrape)  # samples scraped after the switch only
    figures = []
    if storm_only >= 2 * scrape:
        window = format_duration(storm_only)
        figures.append((s.error_ratio([s.env(env)], window, group=()), window, "since the switch: storm traffic only"))
    figures.append((promql.dr_error_ratio(local), promql.dr_error_ratio_window(local),
                    "the DR trigger's rate window: it still holds healthy traffic from before the switch"))
    parts = [f"{_pct(_ratio(prometheus_url, expr, at))} over the last {window} ({why})"
             for expr, window, why in figures]
    return f"error ratio of all services in {env} at the monitor's instant: " + "; ".join(parts)


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


def run_demo(catalog_path: Path | None, out: Path, root: Path, time_scale: float, budget: float) -> None:
    clock = Clock(budget)
    cat = catalog(catalog_path)
    clock.say(f"zarish-obs demo: catalog {cat.name!r}, {len(cat.services)} services; output in {out}")
    validate(cat, out, clock)
    upload_dashboards(catalog_path, clock)
    note = configs.compression_note(configs.local_catalog(cat, time_scale))
    if note:
        clock.say(note)
    clock.say(f"starting the local stack in {root} ...")
    with sigterm_as_interrupt():
        try:
            state = manager.up(cat, root, HEALTHY, time_scale,
                               str(catalog_path) if catalog_path else BUILT_IN_SOURCE, drill=True)
            prom = state.url("prometheus")
            clock.say(f"stack up: Prometheus {prom}, Alertmanager {state.url('alertmanager')}, "
                      f"webhook receiver {state.url('receiver')}, {len(cat.services)} service exporters")
            _play(state.catalog, prom, Path(state.dir) / "received-alerts.jsonl", root, clock)
            write_report(state.catalog, prom, state.started_at, out / "report", clock)
        finally:
            stopped = manager.down(root)
            clock.say(f"stack down: stopped {len(stopped)} process(es)")
    clock.say(f"demo complete: healthy -> OK, storm inside a maintenance window -> no page, error storm -> DR "
              f"trigger fired, failover recommended, {DR_ALERT} delivered by Alertmanager, the storm in the "
              f"compliance report with the window's minutes excluded ({out / 'report'})")


def _play(catalog_file: str, prom: str, received_file: Path, root: Path, clock: Clock) -> None:
    local = catalog(Path(catalog_file))  # the time-compressed copy the stack runs
    clock.say(f"scenario {HEALTHY}: {scenarios.get(HEALTHY).summary}; waiting for the monitor to say OK ...")
    healthy = wait_until(lambda: _when(monitor_check(catalog_file, prom), lambda r: r.exit_code == 0),
                         clock.allow(75), "monitor verdict OK on healthy traffic", interval=2)
    clock.say(f"monitor check: {_verdict(healthy)}")
    _show(local, healthy)
    if received(received_file):
        names = sorted({a["labels"].get("alertname", "?") for a in received(received_file)})
        raise ZarishError(f"demo: alerts fired on healthy traffic: {', '.join(names)}", ExitCode.FAILED)

    maintenance_step(local, catalog_file, prom, received_file, root, clock)

    switched = time.time()
    manager.set_scenario(root, STORM)
    clock.say(storm_story(local))
    storm = wait_until(lambda: _when(monitor_check(catalog_file, prom),
                                     lambda r: (r.trigger(DR_TRIGGER) or {}).get("fired") is True),
                       clock.allow(90), f"DR trigger {DR_TRIGGER} fired in the monitor", interval=2)
    report = storm.report or {}
    clock.say(f"monitor check: {_verdict(storm)}, DR trigger {DR_TRIGGER} fired "
              f"({(storm.trigger(DR_TRIGGER) or {}).get('detail')}), failover recommended: "
              f"{report.get('failover_recommended')}")
    _show(local, storm)
    print(storm_figures(local, prom, float(report.get("evaluated_at_unix") or time.time()), switched), flush=True)

    clock.say(f"waiting for {DR_ALERT} at the webhook receiver ...")
    alerts = wait_until(lambda: received(received_file, DR_ALERT, since=switched - 1), clock.allow(60),
                        f"{DR_ALERT} at the webhook receiver", interval=1)
    labels = alerts[0].get("labels") or {}
    summary = (alerts[0].get("annotations") or {}).get("summary", "")
    shown = ", ".join(f"{k}={v}" for k, v in sorted(labels.items()))
    print(f"webhook receiver got: {DR_ALERT} {{{shown}}}\n  {summary}", flush=True)
    clock.say(f"{DR_ALERT} arrived at the webhook receiver ({received_file})")


def _page_tier(local: Catalog) -> conventions.BurnTier | None:
    """The first page tier: the one a storm trips first, through its short window."""
    return next((t for t in conventions.enabled_tiers(local) if t.severity == "page"), None)


def maintenance_step(local: Catalog, catalog_file: str, prom: str, received_file: Path, root: Path,
                     clock: Clock) -> None:
    """A storm on the service inside the drill window: its raw error ratio passes the page tier's short-window
    threshold and stays there past the tier's `for:`, yet no SLO alert is pending or firing for it, nothing
    reaches the receiver and the monitor does not count it (the report later lists the window's minutes).
    The DR triggers still see its errors: in a catalog of few services they may fire, as they should."""
    window = next(w for w in local.maintenance if w.name == DRILL_WINDOW)
    env, name = (window.environments or [local.dr.error_ratio.environment])[0], (window.services or ["?"])[0]
    objective = next((svc.slos.availability for svc in local.services if svc.name == name), None)
    tier = _page_tier(local)
    since = time.time()
    manager.set_scenario(root, MAINTENANCE)
    clock.say(f"scenario {MAINTENANCE}: {scenarios.get(MAINTENANCE).summary}; window {DRILL_WINDOW} covers "
              f"{env}/{name} until {window.end} ({local.timezone})")
    if objective is None or tier is None:
        clock.say(f"{name} has no availability SLO or the catalog no page tier: nothing a window could mute")
        return
    s = promql.signals(local)
    threshold = tier.factor(objective.window) * objective.error_budget
    raw = s.error_ratio([s.env(env), s.service(name)], tier.short_window, group=())
    clock.say(f"waiting for {name}'s raw error ratio over {tier.short_window} to pass the {tier.name} threshold "
              f"({_pct(threshold)}) ...")
    wait_until(lambda: _above(prom, raw, threshold), clock.allow(150), f"{name}'s raw error ratio above "
               f"{_pct(threshold)}", interval=2)
    held = parse_duration(timings(local).tier_for[tier.name]) + 3 * parse_duration(
        local.prometheus.evaluation_interval)
    clock.say(f"above it; holding {held:.0f}s (the tier's `for:` plus three evaluations) before looking for alerts")
    time.sleep(clock.allow(held))
    burn = set(conventions.slo_burn_alerts(local))
    pending = [a["labels"] for a in prometheus_alerts(prom, state=None)
               if a["labels"].get("alertname") in burn and a["labels"].get(local.metrics.service_label) == name]
    paged = [a for a in received(received_file, since=since - 1) if a["labels"].get("alertname") in burn]
    run = monitor_check(catalog_file, prom)
    entry = next((svc for svc in (run.report or {}).get("services", []) if svc.get("service") == name), {})
    if pending or paged or not entry.get("maintenance") or entry.get("counts") is not False:
        raise ZarishError(f"demo: the storm inside {DRILL_WINDOW} was not muted: SLO alerts {pending}, received "
                          f"{[a['labels'].get('alertname') for a in paged]}, monitor {_verdict(run)}, "
                          f"maintenance {entry.get('maintenance')}", ExitCode.FAILED)
    print(f"maintenance window {DRILL_WINDOW}: {name}'s raw error ratio over {tier.short_window} is "
          f"{_pct(_ratio(prom, raw, time.time()))} (page threshold {_pct(threshold)}), yet no SLO alert is pending "
          f"or firing for it and none reached the receiver; monitor check: {_verdict(run)}, {name} in maintenance "
          f"until {entry['maintenance'].get('until')}", flush=True)
    clock.say(f"storm inside the window: no page, monitor {_verdict(run)}")


def _above(prom: str, expr: str, threshold: float) -> bool | None:
    value = _ratio(prom, expr, time.time())
    return True if value is not None and value > threshold else None


def write_report(catalog_file: str, prom: str, started_at: float, out: Path, clock: Clock) -> None:
    """The compliance report of the stack's own history, storm included: from a minute before the stack came
    up (the backfilled history covers it) to the end of the storm's minute, in HTML and JSON."""
    start = int(started_at - 60) // 60 * 60
    wait = 61 - time.time() % 60
    clock.say(f"waiting {wait:.0f}s for the minute to close, so the report's period (whole minutes) holds the storm")
    time.sleep(clock.allow(wait))
    end = int(time.time()) // 60 * 60
    paths = [out / "report.html", out / "report.json"]
    args = ["report", "--catalog", catalog_file, "--prometheus-url", prom, "--from", str(start), "--to", str(end)]
    proc = _cli(*args, *(a for p in paths for a in ("--out", str(p))), timeout=clock.allow(60))
    if proc.returncode not in (0, 1):
        raise ZarishError(f"demo: report failed (exit {proc.returncode}): {_one_line(proc.stderr)}", ExitCode.FAILED)
    report = json.loads(paths[1].read_text("utf-8"))
    verdicts = [f"{svc['service']}/{slo['slo']} {slo['verdict']}" for svc in report["services"] for slo in svc["slos"]]
    breached = [v for v in verdicts if v.endswith("breached")]
    clock.say(f"report of the stack's own history ({report['period']['start_local']} to "
              f"{report['period']['end_local']}, {report['period']['timezone']}): "
              f"{'complete' if report['complete'] else 'incomplete'}; breached: {', '.join(breached) or 'none'}; "
              f"written to {paths[0]} and {paths[1]}")


def _when(run: MonitorRun, ok: Callable[[MonitorRun], bool]) -> MonitorRun | None:
    return run if ok(run) else None


def demo_cmd(
    path: CatalogOpt = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory for the generated files.")] = Path("out"),
    root: Annotated[Path, typer.Option("--dir", "-d", help="State directory of the demo's stack.")] = DEMO_DIR,
    time_scale: Annotated[float, typer.Option("--time-scale", min=0.001, max=1.0,
                                              help="Time compression of the demo's stack.")] = DEMO_TIME_SCALE,
    budget: Annotated[float, typer.Option("--budget", min=30, help="Give up after this many seconds.")] = 260,
) -> None:
    """Show the whole loop: `check` (generate and validate everything), run the local stack, healthy, a storm
    inside a planned maintenance window (no page), then an error storm that ends in "fail over". Exit 0 when
    every step was seen, 1 when one was not (the stack is stopped either way); needs the Debian prometheus,
    alertmanager, pushgateway and blackbox packages."""
    try:
        run_demo(path, out, root, time_scale, budget)
    except TimeoutError as exc:
        raise ZarishError(f"demo: {exc}", ExitCode.FAILED) from None
