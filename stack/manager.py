"""`stack up / status / down / scenario / restart`: the local stack's processes, started and stopped by PID.

`up` builds the plan (plan.py) from the catalog once, writes its files, validates them with promtool and
amtool, starts the components in order and backfills their history; nothing here reads the catalog.
Every server listens on 127.0.0.1 on a free port. Each start is recorded (PID file, then
`state.json`) the moment it succeeds, so `down` stops exactly what `up` started, also after `up`
itself crashed half-way; a PID is only signalled while its kernel start time still matches the one
recorded, so a PID reused by an unrelated process is never touched.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import requests

from zarish_obs import procs, promtool
from zarish_obs.catalog import BUILT_IN_SOURCE, Catalog
from zarish_obs.errors import ExitCode, ZarishError
from zarish_obs.stack import history, scenarios
from zarish_obs.stack.layout import Component, Layout, StackState, cmdline_mentions, proc_starttime
from zarish_obs.stack.plan import HISTORY_KIND, StackPlan, build_plan
from zarish_obs.writers import ensure_dir, write_atomic

Progress = Callable[[str], None]
# What a stray PID file's process must mention before `down` signals it without state to confirm it.
OUR_PROGRAMS = (*procs.BINARIES.values(), "zarish_obs.stack.")
HISTORY_WRITERS = ("exporter", "infra")  # the workload processes, which write their recent past when first started


def _quiet(_: str) -> None:
    return None


def _write(layout: Layout, plan: StackPlan) -> None:
    """Every file of the plan, each atomically, and the directories the processes write into."""
    for d in (layout.pids, layout.logs, layout.data, layout.rules):
        ensure_dir(d)
    for relative, text in plan.files.items():
        write_atomic(layout.path(relative), text)


def _check(result: promtool.CheckResult, what: str) -> None:
    if not result.ok:
        first = result.output.strip().splitlines()[-1] if result.output.strip() else "no output"
        raise ZarishError(f"generated {what} failed validation: {first}", ExitCode.SOFTWARE)


def _validate(layout: Layout, plan: StackPlan) -> None:
    """The written files, checked by the tools that will read them."""
    _check(promtool.check_rules(*(layout.path(p) for p in plan.rule_files)), "alert and recording rules")
    _check(promtool.check_alertmanager(layout.alertmanager_yml), "Alertmanager configuration")
    _check(promtool.check_config(layout.prometheus_yml), "Prometheus configuration")


def _history_file(layout: Layout, comp: Component) -> Path:
    return layout.history / f"{comp.name}.json"


def _start(layout: Layout, state: StackState, comp: Component, first: bool = False) -> None:
    """Start one component on its recorded port and record its PID at once. On the first start the
    workload processes also write their recent past for the history backfill."""
    py = procs.python_module
    log = layout.logs / f"{comp.name}.log"
    if comp.kind == HISTORY_KIND:
        proc = procs.start_prometheus(layout.history_prometheus_yml, layout.prometheus_data, comp.port)
    elif comp.kind == "prometheus":
        proc = procs.start_prometheus(layout.prometheus_yml, layout.prometheus_data, comp.port,
                                      extra=comp.extra.get("flags", []))
    elif comp.kind == "alertmanager":
        proc = procs.start_alertmanager(layout.alertmanager_yml, layout.data / "alertmanager", comp.port)
    elif comp.kind == "pushgateway":
        proc = procs.start_pushgateway(layout.logs, comp.port)
    elif comp.kind == "blackbox":
        proc = procs.start_blackbox(layout.blackbox_yml, layout.logs, comp.port)
    elif comp.kind == "receiver":
        proc = procs.start(comp.name, py("zarish_obs.stack.receiver", str(layout.received), str(comp.port)),
                           log, comp.url, comp.ready)
    elif comp.kind in HISTORY_WRITERS:
        who = ["--service", comp.extra["service"]] if comp.kind == "exporter" else ["--infra"]
        argv = py("zarish_obs.stack.exporter", str(layout.workload), *who)
        if first:
            ensure_dir(layout.history)
            argv += ["--history-out", str(_history_file(layout, comp))]
        proc = procs.start(comp.name, argv, log, comp.url, comp.ready)
    else:
        raise ZarishError(f"unknown stack component kind {comp.kind!r}", ExitCode.SOFTWARE)
    comp.pid, comp.starttime, comp.log = proc.pid, proc_starttime(proc.pid), str(proc.log)
    layout.record(state, comp)
    if comp.kind == "prometheus":
        _wait_scraped(comp.url, timeout=15 + 2 * comp.extra.get("scrape_interval_seconds", 15))


def _wait_scraped(url: str, timeout: float) -> None:
    """Until every target has been scraped once. Prometheus applies discovered targets on a 5-second
    tick, and a target that dies before its first scrape leaves its old series unmarked (visible for
    the whole lookback window): `up` and `restart` return only once data flows."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(requests.RequestException, ValueError, KeyError):
            targets = requests.get(f"{url}/api/v1/targets", timeout=2).json()["data"]["activeTargets"]
            if targets and all(t.get("health") != "unknown" for t in targets):
                return
        time.sleep(0.2)
    raise ZarishError(f"Prometheus at {url} has not scraped every target within {timeout:.0f}s", ExitCode.UNAVAILABLE)


def _running(layout: Layout, state: StackState | None) -> list[Component]:
    return [c for c in (state.components.values() if state else []) if c.alive()]


def _stop(layout: Layout, state: StackState | None) -> list[str]:
    """Stop every live process of the state, and of stray PID files that name one of our programs."""
    targets: dict[int, str] = {c.pid: c.name for c in _running(layout, state)}
    known = set(state.components) if state else set()
    for name, pid in layout.pid_files().items():
        if name not in known and cmdline_mentions(pid, [str(layout.root), *OUR_PROGRAMS]):
            targets[pid] = name
    for pid in targets:  # signal all first, then wait for each: shutdowns overlap
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)
    for pid in targets:
        procs.stop_pid(pid, timeout=10)
    survivors = [name for pid, name in targets.items() if procs.pid_alive(pid)]
    if survivors:
        raise ZarishError(f"could not stop {', '.join(survivors)} (see {layout.pids})", ExitCode.SOFTWARE)
    return sorted(targets.values())


def up(catalog: Catalog, root: Path, scenario: str = "healthy", time_scale: float = 1.0,
       catalog_source: str = BUILT_IN_SOURCE, progress: Progress = _quiet, drill: bool = False) -> StackState:
    """Plan the stack from the catalog, write and validate its files, start its components in order and
    backfill their history; refuses (exit 64) when a stack already runs in `root`. `drill` adds the
    maintenance drill window the `maintenance` scenario needs."""
    scenarios.get(scenario)
    layout = Layout(root)
    with layout.locked():
        state = layout.read_state()
        live = _running(layout, state)
        if live:
            where = next((c.url for c in live if c.kind == "prometheus"), live[0].url)
            raise ZarishError(f"a stack is already running in {layout.root} (Prometheus {where}); "
                              f"stop it first with `zarish-obs stack down --dir {root}`", ExitCode.USAGE)
        leftovers = _stop(layout, state)
        if leftovers:
            progress(f"stopped {len(leftovers)} leftover process(es) of a crashed run: {', '.join(leftovers)}")
        plan = build_plan(catalog, time_scale, scenario, ports=procs.free_port, now=time.time(),
                          catalog_source=catalog_source, drill=drill)
        layout.clear()
        _write(layout, plan)
        _validate(layout, plan)
        state = StackState(dir=str(layout.root), catalog=str(layout.catalog), catalog_name=plan.catalog.name,
                           time_scale=plan.catalog.time_scale, started_at=time.time())
        layout.write_state(state)
        try:
            for planned in plan.components:
                if planned.kind == "prometheus":
                    _load_history(layout, state, plan, progress)
                comp = copy.deepcopy(planned)
                _start(layout, state, comp, first=True)
                progress(f"started {comp.name} on {comp.url} (pid {comp.pid})")
        except BaseException:
            _stop(layout, state)
            layout.forget()
            raise
    return state


def _load_history(layout: Layout, state: StackState, plan: StackPlan, progress: Progress) -> None:
    """Backfill the workload processes' recent past and record the recording rules over it (see history.py)."""
    targets = history.target_labels(layout.prometheus_yml)
    data = layout.prometheus_data
    start, step = plan.history["start"], plan.history["step"]
    writers = [c for c in plan.components if c.kind in HISTORY_WRITERS]
    end = history.load_raw([_history_file(layout, c) for c in writers], targets, layout.history, data)
    helper = copy.deepcopy(plan.history_helper)
    _start(layout, state, helper)
    try:
        blocks = history.record_rules([layout.path(p) for p in plan.rule_files], helper.url, start, end, step,
                                      layout.history, data)
    finally:
        procs.stop_pid(helper.pid, timeout=10)
        del state.components[helper.name]
        layout.write_state(state)
        layout.pid_file(helper.name).unlink(missing_ok=True)
    progress(f"backfilled {end - start}s of workload history and {blocks} block(s) of recorded rules")


def require_state(layout: Layout) -> StackState:
    state = layout.read_state()
    if state is None:
        raise ZarishError(f"no stack in {layout.root}; start one with `zarish-obs stack up --dir {layout.root}`",
                          ExitCode.UNAVAILABLE)
    return state


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    kind: str
    url: str
    pid: int
    state: str  # running | crashed | not responding
    log: str


def _responds(comp: Component) -> bool:
    try:
        return requests.get(comp.url + comp.ready, timeout=2).status_code < 500
    except requests.RequestException:
        return False


def status(root: Path) -> tuple[StackState, list[ComponentStatus]]:
    state = require_state(Layout(root))
    out = []
    for c in state.components.values():
        s = "crashed" if not c.alive() else ("running" if _responds(c) else "not responding")
        out.append(ComponentStatus(c.name, c.kind, c.url, c.pid, s, c.log))
    return state, out


def down(root: Path) -> list[str]:
    """Stop what `up` started (nothing else); idempotent. Configs, data and logs stay for inspection."""
    layout = Layout(root)
    if not layout.root.is_dir():
        return []
    with layout.locked():
        try:
            state = layout.read_state()
        except ZarishError:
            state = None  # unreadable state: fall back to the PID files, checked against the command line
        stopped = _stop(layout, state)
        layout.forget()
    return stopped


def set_scenario(root: Path, name: str) -> str:
    """Switch a running stack's scenario; the exporters pick it up at their next scrape."""
    scenarios.get(name)
    layout = Layout(root)
    require_state(layout)
    try:
        scenarios.require_targets(name, json.loads(layout.workload.read_text("utf-8")))
    except OSError as exc:
        raise ZarishError(f"cannot read the stack's workload description {layout.workload}: {exc.strerror}",
                          ExitCode.UNAVAILABLE) from None
    except ValueError as exc:
        raise ZarishError(str(exc), ExitCode.USAGE) from None
    previous = json.loads(layout.scenario.read_text("utf-8"))["name"] if layout.scenario.exists() else "?"
    scenarios.write_scenario(layout.scenario, name)
    return previous


def current_scenario(root: Path) -> str:
    layout = Layout(root)
    try:
        return json.loads(layout.scenario.read_text("utf-8"))["name"]
    except (OSError, ValueError, KeyError):
        return "unknown"


def restart(root: Path, name: str) -> Component:
    """Stop one component (if still running) and start it again on the same port with the same data."""
    layout = Layout(root)
    with layout.locked():
        state = require_state(layout)
        comp = state.components.get(name)
        if comp is None:
            raise ZarishError(f"no component {name!r} in this stack; components: {', '.join(state.components)}",
                              ExitCode.USAGE)
        if comp.alive():
            procs.stop_pid(comp.pid, timeout=10)
        _start(layout, state, comp)
        return comp


def stop_component(root: Path, name: str, hard: bool = False) -> Component:
    """Stop one component and leave it stopped (a crash, for the fault tests and the soak benchmark)."""
    layout = Layout(root)
    state = require_state(layout)
    comp = state.components.get(name)
    if comp is None:
        raise ZarishError(f"no component {name!r} in this stack", ExitCode.USAGE)
    if comp.alive():
        if hard:
            os.kill(comp.pid, signal.SIGKILL)
        procs.stop_pid(comp.pid, timeout=10)
    return comp


def all_pids(root: Path) -> dict[str, int]:
    """Every PID the stack in `root` has recorded (state and PID files), to check that none survives."""
    layout = Layout(root)
    out = dict(layout.pid_files())
    with contextlib.suppress(ZarishError):
        state = layout.read_state()
        out.update({c.name: c.pid for c in (state.components.values() if state else []) if c.pid})
    return out


@contextlib.contextmanager
def running(catalog: Catalog, root: Path, scenario: str = "healthy", time_scale: float = 1.0,
            progress: Progress = _quiet) -> Iterator[StackState]:
    """A stack for the duration of a block (tests, benchmarks): always stopped, however the block ends."""
    state = up(catalog, root, scenario, time_scale, progress=progress)
    try:
        yield state
    finally:
        down(root)
