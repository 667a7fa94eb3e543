"""`stack up / status / down / scenario / restart`: the local stack's processes, started and stopped by PID.

`up` builds the plan (plan.py) from the catalog once, writes its files, validates them with promtool and
amtool, starts the components in order and backfills their history; nothing here reads the catalog.
Every server listens on 127.0.0.1 on a free port. Each start is recorded (PID file, then
`state.json`) the moment it succeeds, so `down` stops exactly what `up` started, also after `up`
itself crashed half-way; a PID is only signalled while its kernel start time still matches the one
recorded, so a PID reused by an unrelated process is never touched. The sharded topology (topology.py)
starts VictoriaMetrics, the Prometheus shards and vmalert instead of one Prometheus, validates with
promtool, amtool and `vmalert -dryRun`, and loads its history into VictoriaMetrics (victoria.py).
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import requests

from zarish_obs import procs, promtool
from zarish_obs.catalog import BUILT_IN_SOURCE, Catalog
from zarish_obs.errors import ExitCode, ZarishError
from zarish_obs.stack import history, scenarios, victoria
from zarish_obs.stack.layout import (
    SHARDED,
    SINGLE,
    STORE_KIND,
    Component,
    Layout,
    StackState,
    cmdline_mentions,
    proc_starttime,
)
from zarish_obs.stack.plan import HISTORY_KIND, StackPlan, build_plan
from zarish_obs.stack.topology import RULER_KIND, SHARD_KIND
from zarish_obs.writers import ensure_dir, write_atomic

Progress = Callable[[str], None]
# What a stray PID file's process must mention before `down` signals it without state to confirm it.
OUR_PROGRAMS = (*procs.BINARIES.values(), "zarish_obs.stack.")
HISTORY_WRITERS = ("exporter", "infra")  # the workload processes, which write their recent past when first started
PROMETHEUS_KINDS = ("prometheus", SHARD_KIND)  # started, then waited for until every target was scraped once
REPLAY_TIMEOUT = 300.0
LIVE_TIMEOUT = 30.0


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


def _check_vmalert(layout: Layout, flags: list[str]) -> promtool.CheckResult:
    """vmalert's own check of its rule files, run with every flag it will run with (it exits after the check)."""
    proc = subprocess.run([procs.binary("vmalert"), "-dryRun", *flags], capture_output=True, text=True, timeout=60,
                          cwd=layout.root, stdin=subprocess.DEVNULL)
    return promtool.CheckResult(proc.returncode == 0, proc.stderr + proc.stdout)


def _validate(layout: Layout, plan: StackPlan) -> None:
    """The written files, checked by the tools that will read them."""
    if plan.topology == SHARDED:
        _check(_check_vmalert(layout, plan.component(RULER_KIND).extra["flags"]), "vmalert rules")
        _check(promtool.check_alertmanager(layout.alertmanager_yml), "Alertmanager configuration")
        for shard in plan.of_kind(SHARD_KIND):
            _check(promtool.check_config(layout.path(shard.extra["config"])), f"{shard.name} configuration")
        return
    _check(promtool.check_rules(*(layout.path(p) for p in plan.rule_files)), "alert and recording rules")
    _check(promtool.check_alertmanager(layout.alertmanager_yml), "Alertmanager configuration")
    _check(promtool.check_config(layout.prometheus_yml), "Prometheus configuration")


def _history_file(layout: Layout, comp: Component) -> Path:
    return layout.history / f"{comp.name}.json"


def _start(layout: Layout, state: StackState, comp: Component, first: bool = False, settle: bool = True) -> None:
    """Start one component on its recorded port and record its PID at once. On the first start the
    workload processes also write their recent past for the history backfill. A Prometheus is waited for
    until it has scraped every target once, unless `settle` is off (the caller then waits, see _settle)."""
    py = procs.python_module
    log = layout.logs / f"{comp.name}.log"
    if comp.kind == HISTORY_KIND:
        proc = procs.start_prometheus(layout.history_prometheus_yml, layout.prometheus_data, comp.port)
    elif comp.kind == "prometheus":
        proc = procs.start_prometheus(layout.prometheus_yml, layout.prometheus_data, comp.port,
                                      extra=comp.extra.get("flags", []))
    elif comp.kind == SHARD_KIND:
        proc = procs.start_prometheus(layout.path(comp.extra["config"]), layout.path(comp.extra["data"]), comp.port,
                                      extra=comp.extra["flags"])
    elif comp.kind == STORE_KIND:
        relabel = f"-relabelConfig={layout.path(comp.extra['relabel_config'])}"
        proc = procs.start_victoria_metrics(layout.path(comp.extra["data"]), comp.port,
                                            extra=[*comp.extra["flags"], relabel])
    elif comp.kind == RULER_KIND:
        proc = procs.start_vmalert(comp.extra["flags"], layout.logs, comp.port, cwd=layout.root)
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
    if settle:
        _settle(comp)


def _settle(comp: Component) -> int:
    """Wait for a Prometheus to have scraped every target once; returns how many it scrapes (0 for the rest)."""
    if comp.kind not in PROMETHEUS_KINDS:
        return 0
    return _wait_scraped(comp.url, timeout=15 + 2 * comp.extra.get("scrape_interval_seconds", 15),
                         empty_ok=comp.kind == SHARD_KIND)


def _wait_scraped(url: str, timeout: float, empty_ok: bool = False) -> int:
    """Until every target has been scraped once. Prometheus applies discovered targets on a 5-second
    tick, and a target that dies before its first scrape leaves its old series unmarked (visible for
    the whole lookback window): `up` and `restart` return only once data flows. The hashmod split may
    leave a shard no target at all (`empty_ok`): the targets it dropped then show that discovery ran."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(requests.RequestException, ValueError, KeyError):
            data = requests.get(f"{url}/api/v1/targets", timeout=2).json()["data"]
            targets = data["activeTargets"]
            applied = bool(targets) or (empty_ok and bool(data.get("droppedTargets")))
            if applied and all(t.get("health") != "unknown" for t in targets):
                return len(targets)
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
       catalog_source: str = BUILT_IN_SOURCE, progress: Progress = _quiet, drill: bool = False,
       topology: str = SINGLE, scenario_service: str | None = None) -> StackState:
    """Plan the stack from the catalog, write and validate its files, start its components in order and
    backfill their history; refuses (exit 64) when a stack already runs in `root`. `drill` adds the
    maintenance drill window the `maintenance` scenario needs; `topology` is `single` (one Prometheus) or
    `sharded` (topology.py); `scenario_service` confines the DR environment's scenarios to one service."""
    scenarios.get(scenario)
    layout = Layout(root)
    with layout.locked():
        state = layout.read_state()
        live = _running(layout, state)
        if live:
            store = next((c.url for c in live if c.kind == STORE_KIND), None)
            where = (f"VictoriaMetrics {store}" if store else
                     f"Prometheus {next((c.url for c in live if c.kind == 'prometheus'), live[0].url)}")
            raise ZarishError(f"a stack is already running in {layout.root} ({where}); "
                              f"stop it first with `zarish-obs stack down --dir {root}`", ExitCode.USAGE)
        leftovers = _stop(layout, state)
        if leftovers:
            progress(f"stopped {len(leftovers)} leftover process(es) of a crashed run: {', '.join(leftovers)}")
        plan = build_plan(catalog, time_scale, scenario, ports=procs.free_port, now=time.time(),
                          catalog_source=catalog_source, drill=drill, topology_name=topology,
                          scenario_service=scenario_service)
        layout.clear()
        _write(layout, plan)
        _validate(layout, plan)
        state = StackState(dir=str(layout.root), catalog=str(layout.catalog), catalog_name=plan.catalog.name,
                           time_scale=plan.catalog.time_scale, started_at=time.time(), topology=plan.topology)
        layout.write_state(state)
        try:
            shards: list[Component] = []  # started together: each waits for Prometheus's 5-second target tick
            shards_started = 0.0
            for planned in plan.components:
                if planned.kind == "prometheus":
                    _load_history(layout, state, plan, progress)
                elif planned.kind == SHARD_KIND and not shards:
                    _load_store_history(layout, state, plan, progress)
                    shards_started = time.time()
                elif planned.kind == RULER_KIND:
                    scraping = [shard for shard in shards if _settle(shard)]
                    victoria.wait_live(state.url(STORE_KIND), scraping, shards_started, LIVE_TIMEOUT)
                    progress(f"every shard has scraped its targets and written to VictoriaMetrics "
                             f"{time.time() - shards_started:.1f}s after they started")
                comp = copy.deepcopy(planned)
                _start(layout, state, comp, first=True, settle=comp.kind != SHARD_KIND)
                if comp.kind == SHARD_KIND:
                    shards.append(comp)
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


def _first_replicas(plan: StackPlan) -> list[Component]:
    """One server per shard (a shard's replicas scrape the same targets)."""
    seen: dict[int, Component] = {}
    for c in plan.of_kind(SHARD_KIND):
        seen.setdefault(c.extra["shard"], c)
    return list(seen.values())


def _load_store_history(layout: Layout, state: StackState, plan: StackPlan, progress: Progress) -> None:
    """The sharded topology's history: imported into VictoriaMetrics as the shards would have written it, then the
    recording rules replayed over it by vmalert (see victoria.py)."""
    shards = _first_replicas(plan)
    owners = victoria.shard_targets(layout, shards)
    writers = [c for c in plan.components if c.kind in HISTORY_WRITERS]
    series, end = victoria.import_history(state.url(STORE_KIND), [_history_file(layout, c) for c in writers], shards,
                                          owners)
    started = time.monotonic()
    _run_recorded(layout, state, copy.deepcopy(plan.history_helper),
                  victoria.replay_argv(plan.history_helper, plan.history["start"], end), REPLAY_TIMEOUT)
    progress(f"imported {end - plan.history['start']}s of workload history ({series} series) into VictoriaMetrics "
             f"and replayed the recording rules over it in {time.monotonic() - started:.1f}s")


def _run_recorded(layout: Layout, state: StackState, comp: Component, argv: list[str], timeout: float) -> None:
    """Run a helper to completion, recorded in the state while it runs (so `down` stops it if `up` dies)."""
    log = layout.logs / f"{comp.name}.log"
    with open(log, "ab") as fh:
        popen = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 start_new_session=True, cwd=layout.root)
    comp.pid, comp.starttime, comp.log = popen.pid, proc_starttime(popen.pid), str(log)
    layout.record(state, comp)
    try:
        code = popen.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        code = None
    finally:
        procs.stop_pid(popen.pid, timeout=10)
        del state.components[comp.name]
        layout.write_state(state)
        layout.pid_file(comp.name).unlink(missing_ok=True)
    if code != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-1:] if log.exists() else []
        raise ZarishError(f"{comp.name} {'timed out' if code is None else f'exited with {code}'}: "
                          f"{tail[0] if tail else 'no output'} (log: {log})", ExitCode.SOFTWARE)


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
