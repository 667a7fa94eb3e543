"""The local stack's plan: everything `stack up` decides, derived from the catalog once, before anything
is written or started.

`build_plan` is pure: the time-compressed catalog, every component with its loopback port and URL, the
workload the exporters serve, the text of every file the stack reads (keyed by its path relative to
the state directory) and the history window. The manager then only writes, validates and starts what
the plan says; nothing downstream derives anything from the catalog again. Paths inside the files are
relative (Prometheus resolves rule files against the directory of prometheus.yml, the exporters the
scenario file against the workload file's), so the plan does not depend on where the stack lives.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from zarish_obs import conventions
from zarish_obs.alerts.alertmanager import build_alertmanager_config
from zarish_obs.alerts.render import rule_files
from zarish_obs.catalog import BUILT_IN_SOURCE, Catalog, parse_catalog
from zarish_obs.durations import parse_duration
from zarish_obs.errors import ExitCode, ZarishError
from zarish_obs.stack import configs, history, layout, scenarios, topology
from zarish_obs.stack.layout import SHARDED, SINGLE, TOPOLOGIES, Component, loopback, loopback_component
from zarish_obs.stack.workload import INFRA, exporter_name, pod_key, pod_keys, workload_config
from zarish_obs.writers import to_yaml

START_ORDER = ("receiver", "exporter", "infra", "pushgateway", "blackbox", "alertmanager", "prometheus")
# The Debian-packaged servers started before Prometheus, with their readiness paths.
SERVERS = (("pushgateway", "/-/ready"), ("blackbox", "/-/healthy"), ("alertmanager", "/-/ready"))
HISTORY_KIND = "history-prometheus"  # a short-lived Prometheus that only serves the history to promtool
# The history helper only answers promtool's queries over the backfilled blocks: it scrapes nothing.
HISTORY_PROMETHEUS_CONFIG = {"global": {"scrape_interval": "1m"}}
MAX_PORT_DRAWS = 1000


@dataclass(frozen=True)
class StackPlan:
    catalog: Catalog  # the local (possibly time-compressed) catalog the stack runs
    scenario: str
    note: str | None  # the time-compression note, None in real time
    components: tuple[Component, ...]  # in start order; pid 0 until started
    history_helper: Component
    workload: Mapping[str, Any]  # what workload.json holds
    files: Mapping[str, str]  # path relative to the state directory -> text
    rule_files: tuple[str, ...]  # the keys of `files` that are rule files
    history: Mapping[str, int]  # backfilled window: start (unix seconds) and step (seconds)
    topology: str = SINGLE

    def component(self, kind: str) -> Component:
        return next(c for c in self.components if c.kind == kind)

    def of_kind(self, kind: str) -> list[Component]:
        return [c for c in self.components if c.kind == kind]


def _port_source(ports: Callable[[], int]) -> Callable[[], int]:
    """Draws from `ports`, never handing out the same port twice within one plan."""
    taken: set[int] = set()

    def draw() -> int:
        for _ in range(MAX_PORT_DRAWS):
            port = ports()
            if port not in taken:
                taken.add(port)
                return port
        raise ZarishError(f"no free loopback port after {MAX_PORT_DRAWS} tries", ExitCode.UNAVAILABLE)

    return draw


def _components(catalog: Catalog, pod_ports: dict[str, int], port: Callable[[], int]) -> list[Component]:
    """The components every topology runs, with their ports. An exporter listens on one port per
    environment and is reached (for readiness) on its first environment's."""
    comps = [loopback_component("receiver", "receiver", port(), "/-/ready")]
    for svc in catalog.services:
        ports = [pod_ports[pod_key(svc.name, e.name)] for e in catalog.environments]
        comps.append(loopback_component(exporter_name(svc.name), "exporter", ports[0], "/-/ready", service=svc.name,
                                        ports=ports))
    comps.append(loopback_component(INFRA, "infra", port(), "/metrics"))
    comps.extend(loopback_component(kind, kind, port(), ready) for kind, ready in SERVERS)
    return comps


def _prometheus(catalog: Catalog, port: Callable[[], int]) -> Component:
    """The single topology's Prometheus."""
    return loopback_component("prometheus", "prometheus", port(), "/-/ready",
                              flags=configs.prometheus_flags(conventions.timings(catalog).compressed),
                              scrape_interval_seconds=parse_duration(catalog.prometheus.scrape_interval))


def _catalog_copy(catalog: Catalog, source: str, note: str | None) -> str:
    """The catalog the stack runs, as a file `monitor check` can read; it must read back as the same."""
    header = (f"# The catalog this local stack runs, written by `zarish-obs stack up` from {source}.\n"
              + (f"# {note}\n" if note else ""))
    text = header + to_yaml(catalog.model_dump(mode="json", by_alias=True))
    if parse_catalog(text, layout.CATALOG) != catalog:
        raise ZarishError("the stack's catalog copy does not read back as the same catalog", ExitCode.SOFTWARE)
    return text


def build_plan(catalog: Catalog, time_scale: float, scenario: str, *, ports: Callable[[], int], now: float,
               catalog_source: str = BUILT_IN_SOURCE, drill: bool = False, topology_name: str = SINGLE,
               scenario_service: str | None = None) -> StackPlan:
    """The whole stack for `catalog`, decided once. `ports` hands out free loopback ports (tests pass fixed
    ones); `now` anchors the history window, the scenario file and the maintenance drill window (`drill`).
    `topology_name` picks one Prometheus or the sharded set (topology.py); `scenario_service` confines the DR
    environment's scenarios to one service."""
    if topology_name not in TOPOLOGIES:
        raise ZarishError(f"unknown topology {topology_name!r}; choose one of: {', '.join(TOPOLOGIES)}",
                          ExitCode.USAGE)
    cat = configs.local_catalog(catalog, time_scale)
    if drill:
        try:
            cat = configs.with_drill_window(cat, now)
        except ValueError as exc:
            raise ZarishError(f"stack up --maintenance-drill: {exc}", ExitCode.USAGE) from None
    names = [s.name for s in cat.services]
    if scenario_service is not None and scenario_service not in names:
        raise ZarishError(f"stack up --scenario-service: no service {scenario_service!r} in the catalog; its services: "
                          f"{', '.join(names)}", ExitCode.USAGE)
    note = configs.compression_note(cat)
    port = _port_source(ports)
    pod_ports = {key: port() for key in pod_keys(cat)}
    comps = _components(cat, pod_ports, port)
    kinds = {c.kind: c for c in comps}

    window = history.window(now, cat.prometheus.scrape_interval)
    workload = workload_config(cat, pod_ports, kinds[INFRA].port, layout.SCENARIO, kinds["pushgateway"].url,
                               only_service=scenario_service)
    workload["history"] = window
    scenarios.get(scenario)  # an unknown name stays a ValueError, as for every other caller
    try:
        scenarios.require_targets(scenario, workload)
    except ValueError as exc:
        raise ZarishError(str(exc), ExitCode.USAGE) from None

    alertmanager = build_alertmanager_config(cat, webhook_url=f"{kinds['receiver'].url}/alerts")

    def files_with(running: Catalog, rules: Mapping[str, str], rest: Mapping[str, str]) -> dict[str, str]:
        return {
            layout.CATALOG: _catalog_copy(running, catalog_source, note),
            layout.SCENARIO: scenarios.scenario_text(scenario, now),
            layout.WORKLOAD: json.dumps(workload, indent=2) + "\n",
            **rules,
            layout.ALERTMANAGER_YML: to_yaml(alertmanager),
            layout.BLACKBOX_YML: to_yaml(configs.blackbox_config(cat)),
            **rest,
        }

    if topology_name == SHARDED:
        parts = topology.build(cat, workload, kinds, port)
        files = files_with(parts.catalog, {}, parts.files)
        ordered = sorted([*comps, *parts.components], key=lambda c: topology.START_ORDER.index(c.kind))
        return StackPlan(catalog=parts.catalog, scenario=scenario, note=note, components=tuple(ordered),
                         history_helper=parts.replay, workload=workload, files=files, rule_files=parts.rule_files,
                         history=window, topology=SHARDED)

    comps.append(_prometheus(cat, port))
    helper = loopback_component(HISTORY_KIND, HISTORY_KIND, port(), "/-/ready")
    rules = {f"{layout.RULES}/{name}": text for name, text in sorted(rule_files(cat).items())}
    config_dir = PurePosixPath(layout.PROMETHEUS_YML).parent
    prometheus = configs.prometheus_config(
        cat, workload, alertmanager=loopback(kinds["alertmanager"].port), blackbox=loopback(kinds["blackbox"].port),
        pushgateway=loopback(kinds["pushgateway"].port),
        rule_files=[str(PurePosixPath(path).relative_to(config_dir)) for path in rules])
    files = files_with(cat, rules, {layout.PROMETHEUS_YML: to_yaml(prometheus),
                                    layout.HISTORY_PROMETHEUS_YML: to_yaml(HISTORY_PROMETHEUS_CONFIG)})
    ordered = sorted(comps, key=lambda c: START_ORDER.index(c.kind))
    return StackPlan(catalog=cat, scenario=scenario, note=note, components=tuple(ordered), history_helper=helper,
                     workload=workload, files=files, rule_files=tuple(rules), history=window)
