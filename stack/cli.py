"""`zarish-obs stack up|status|down|scenario|restart` and `zarish-obs demo`."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from zarish_obs.catalog import BUILT_IN_SOURCE
from zarish_obs.cliutil import CatalogOpt, FormatOpt, TableOrJson, catalog, err, new_app
from zarish_obs.errors import ExitCode
from zarish_obs.stack import configs, manager, scenarios
from zarish_obs.stack.layout import DEFAULT_DIR, SHARDED, SINGLE, TOPOLOGIES, StackState

ScenarioName = Enum("ScenarioName", {n: n for n in scenarios.names()}, type=str)  # type: ignore[misc]
TopologyName = Enum("TopologyName", {n: n for n in TOPOLOGIES}, type=str)  # type: ignore[misc]

DirOpt = Annotated[Path, typer.Option("--dir", "-d", help="State directory of the stack (configs, data, logs, "
                                      "PID files).", envvar="ZARISH_STACK_DIR")]
TimeScaleOpt = Annotated[float, typer.Option(
    "--time-scale", min=0.001, max=1.0,
    help="Compress alert `for:` durations and DR windows by this factor (0.02: 5m -> 6s) and scrape every "
         "second: see 5- and 30-minute triggers in seconds. Demos and tests only; 1 = real time.")]

STACK_HELP = ("Run the whole observability loop on this machine: Prometheus, Alertmanager, Pushgateway and the "
              "blackbox exporter (Debian packages) with the generated configuration, a synthetic workload and "
              "a webhook receiver, all on 127.0.0.1 (`up --topology sharded`: Prometheus shards, VictoriaMetrics and "
              "vmalert instead of one Prometheus). Exit codes: status gives 1 when a component crashed, "
              "69 when no stack runs; up gives 64 when one already runs.")
stack_app = new_app("stack", STACK_HELP)


def _listing(state: StackState) -> list[str]:
    rows = []
    for c in state.components.values():
        where = c.url
        if c.kind == "exporter":
            where = ", ".join(f"127.0.0.1:{p}" for p in c.extra.get("ports", [c.port]))
        rows.append(f"  {c.name:<34} {where:<40} pid {c.pid}")
    return rows


def _next_steps(state: StackState, root: Path) -> list[str]:
    url = state.query_url()
    report = ([f"report: zarish-obs report --catalog {state.catalog} --prometheus-url {url} --last 1h"]
              if state.topology == SHARDED else [])
    return [
        f"received alerts: {Path(state.dir) / 'received-alerts.jsonl'}",
        f"check:  zarish-obs monitor check --catalog {state.catalog} --prometheus-url {url}",
        *report,
        f"switch: zarish-obs stack scenario error-storm --dir {root}   "
        f"(scenarios: {', '.join(scenarios.names())})",
        f"stop:   zarish-obs stack down --dir {root}",
    ]


@stack_app.command("up")
def up_cmd(
    path: CatalogOpt = None,
    scenario: Annotated[ScenarioName, typer.Option("--scenario", "-s", help="Scenario to start with.")
                        ] = ScenarioName("healthy"),
    root: DirOpt = DEFAULT_DIR,
    time_scale: TimeScaleOpt = 1.0,
    drill: Annotated[bool, typer.Option(
        "--maintenance-drill", help="Add a one-off maintenance window over one service of the DR environment, "
        "open for the stack's life (the `maintenance` scenario storms that service inside it). With a window, "
        "the page tiers' long windows are summed from 5-minute tiles, so pages come at 5-minute boundaries.")
    ] = False,
    topology: Annotated[TopologyName, typer.Option(
        "--topology", help="single: one Prometheus evaluating the rules. sharded: two Prometheus shards from `scrape "
        "generate --shards 2 --replicas 2` (shard 0 an HA pair) remote-writing into a deduplicating VictoriaMetrics, "
        "vmalert running `alerts generate --target vmalert` against it; monitor check and report then read "
        "VictoriaMetrics.")] = TopologyName(SINGLE),
    scenario_service: Annotated[str | None, typer.Option(
        "--scenario-service", metavar="SERVICE", help="Confine the DR environment's scenarios (error-storm, slow) "
        "to this service's pod; the other services stay healthy.", show_default=False)] = None,
    fmt: FormatOpt = TableOrJson.table,
) -> None:
    """Start the stack in the background and print where everything listens."""
    cat = catalog(path)
    local = configs.local_catalog(cat, time_scale)
    note = configs.compression_note(local)
    if note:
        err(note)
    state = manager.up(cat, root, scenario.value, time_scale, str(path) if path else BUILT_IN_SOURCE,
                       progress=lambda m: err(f"stack: {m}"), drill=drill, topology=topology.value,
                       scenario_service=scenario_service)
    if fmt is TableOrJson.json:
        print(json.dumps({**state.to_json(), "scenario": scenario.value, "time_compressed": note is not None}))
        return
    print(f"stack up in {state.dir}: catalog {state.catalog_name!r}, scenario {scenario.value}"
          + (f", topology {state.topology}" if state.topology != SINGLE else "")
          + (f", TIME-COMPRESSED x{state.time_scale:g}" if note else ""))
    print("\n".join(_listing(state)))
    print("\n".join(_next_steps(state, root)))


@stack_app.command("status")
def status_cmd(root: DirOpt = DEFAULT_DIR, fmt: FormatOpt = TableOrJson.table) -> None:
    """Each component's state (running, crashed, not responding); exit 1 if any is not running."""
    state, rows = manager.status(root)
    bad = [r for r in rows if r.state != "running"]
    scenario = manager.current_scenario(root)
    if fmt is TableOrJson.json:
        sharded = {"topology": state.topology} if state.topology != SINGLE else {}
        print(json.dumps({"dir": state.dir, "scenario": scenario, "time_scale": state.time_scale,
                          "catalog": state.catalog, "ok": not bad, **sharded,
                          "components": [r.__dict__ for r in rows]}))
    else:
        compressed = f", TIME-COMPRESSED x{state.time_scale:g}" if state.time_scale != 1 else ""
        shape = f", topology {state.topology}" if state.topology != SINGLE else ""
        print(f"stack in {state.dir}: scenario {scenario}{shape}{compressed}")
        for r in rows:
            print(f"  {r.name:<34} {r.state:<15} {r.url:<24} pid {r.pid}"
                  + (f"  (log: {r.log})" if r.state != "running" else ""))
        print("all components running" if not bad else f"{len(bad)} component(s) not running: "
              + ", ".join(r.name for r in bad))
    if bad:
        raise typer.Exit(ExitCode.FAILED)


@stack_app.command("down")
def down_cmd(root: DirOpt = DEFAULT_DIR) -> None:
    """Stop exactly the processes `stack up` started (by PID file), also after a crash. Idempotent."""
    stopped = manager.down(root)
    if stopped:
        print(f"stopped {len(stopped)} process(es) in {root.absolute()}: {', '.join(stopped)}")
    else:
        print(f"no stack running in {root.absolute()}")


@stack_app.command("scenario")
def scenario_cmd(name: Annotated[ScenarioName, typer.Argument(help="Scenario to switch to.")],
                 root: DirOpt = DEFAULT_DIR) -> None:
    """Switch a running stack to another scenario without restarting anything."""
    previous = manager.set_scenario(root, name.value)
    print(f"scenario {previous} -> {name.value}: {scenarios.get(name.value).summary}")


@stack_app.command("restart")
def restart_cmd(component: Annotated[str, typer.Argument(help="Component name, as `stack status` lists it.")],
                root: DirOpt = DEFAULT_DIR) -> None:
    """Restart one component (e.g. after a crash) on the same port, with the same data."""
    comp = manager.restart(root, component)
    print(f"restarted {comp.name} on {comp.url} (pid {comp.pid})")


def register(app: typer.Typer) -> None:
    """Mount `stack` and `demo` on the root app."""
    from zarish_obs.stack.demo import demo_cmd

    app.add_typer(stack_app, name="stack")
    app.command("demo", epilog=None)(demo_cmd)
