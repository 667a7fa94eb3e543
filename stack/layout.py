"""Where the local stack keeps its state: one directory holding configs, data, logs, PID files and
`state.json`, so `stack down` can stop exactly what `stack up` started, even after a crash."""

from __future__ import annotations

import contextlib
import fcntl
import json
import shutil
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from zarish_obs.errors import ExitCode, ZarishError
from zarish_obs.procs import pid_alive
from zarish_obs.writers import ensure_dir, write_atomic

DEFAULT_DIR = Path(".zarish-stack")
STATE_VERSION = 1

# What `stack up` writes, relative to the state directory: the plan names its files by these.
CONFIG = "config"
RULES = f"{CONFIG}/rules"
PROMETHEUS_YML = f"{CONFIG}/prometheus.yml"
HISTORY_PROMETHEUS_YML = f"{CONFIG}/history-prometheus.yml"
ALERTMANAGER_YML = f"{CONFIG}/alertmanager.yml"
BLACKBOX_YML = f"{CONFIG}/blackbox.yml"
CATALOG = "catalog.yaml"
SCENARIO = "scenario.json"
WORKLOAD = "workload.json"
RECEIVED = "received-alerts.jsonl"
STATE = "state.json"
PIDS = "pids"
DATA = "data"
LOGS = "logs"
HISTORY = "history"  # the exporters' recent past and the backfill's working files

# The stack's topologies (`stack up --topology`): one Prometheus, or Prometheus shards writing into one store.
SINGLE = "single"
SHARDED = "sharded"
TOPOLOGIES = (SINGLE, SHARDED)
# The sharded topology's store: where `monitor check` and `report` read, since no shard holds everything.
STORE_KIND = "victoria-metrics"


def loopback(port: int) -> str:
    return f"127.0.0.1:{port}"


def proc_starttime(pid: int) -> str | None:
    """The kernel's start time of `pid` (clock ticks since boot): tells a PID apart from a later reuse."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


@dataclass
class Component:
    name: str
    # prometheus | alertmanager | pushgateway | blackbox | receiver | exporter | infra; sharded: prometheus-shard |
    # victoria-metrics | vmalert
    kind: str
    port: int
    url: str
    ready: str  # path that answers < 500 when the component is up
    pid: int = 0
    starttime: str | None = None
    log: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def alive(self) -> bool:
        """Running, and still the very process we started (not a reused PID)."""
        if not self.pid or not pid_alive(self.pid):
            return False
        return self.starttime is None or proc_starttime(self.pid) == self.starttime


def loopback_component(name: str, kind: str, port: int, ready: str, **extra: Any) -> Component:
    """A component listening on 127.0.0.1:`port`, not started yet."""
    return Component(name, kind, port, f"http://{loopback(port)}", ready, extra=extra)


@dataclass
class StackState:
    dir: str
    catalog: str  # the catalog file the stack runs (time-compressed copy)
    catalog_name: str
    time_scale: float
    started_at: float
    components: dict[str, Component] = field(default_factory=dict)
    topology: str = SINGLE

    def to_json(self) -> dict[str, Any]:
        """The single topology's state reads as it always did: `topology` is written only when it is another."""
        data = asdict(self)
        if self.topology == SINGLE:
            del data["topology"]
        return {"version": STATE_VERSION, **data}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StackState:
        comps = {n: Component(**c) for n, c in (data.get("components") or {}).items()}
        topology = data.get("topology", SINGLE)
        if topology not in TOPOLOGIES:
            raise ValueError(f"unknown topology {topology!r}")
        return cls(dir=data["dir"], catalog=data["catalog"], catalog_name=data["catalog_name"],
                   time_scale=data["time_scale"], started_at=data["started_at"], components=comps,
                   topology=topology)

    def url(self, kind: str) -> str:
        return next(c.url for c in self.components.values() if c.kind == kind)

    def query_url(self) -> str:
        """The Prometheus-compatible API `monitor check` and `report` read: the store when shards write into one."""
        return self.url(STORE_KIND if self.topology == SHARDED else "prometheus")


class Layout:
    """Paths inside the state directory."""

    # Everything `stack up` creates; a new `up` clears these and nothing else in the directory.
    OWNED = (STATE, PIDS, CONFIG, DATA, LOGS, CATALOG, SCENARIO, WORKLOAD, RECEIVED, HISTORY)

    def __init__(self, root: Path):
        self.root = root.absolute()

    def path(self, relative: str) -> Path:
        """A path the plan names relative to the state directory."""
        return self.root / relative

    @property
    def state_file(self) -> Path:
        return self.path(STATE)

    @property
    def pids(self) -> Path:
        return self.path(PIDS)

    @property
    def config(self) -> Path:
        return self.path(CONFIG)

    @property
    def rules(self) -> Path:
        return self.path(RULES)

    @property
    def prometheus_yml(self) -> Path:
        return self.path(PROMETHEUS_YML)

    @property
    def history_prometheus_yml(self) -> Path:
        return self.path(HISTORY_PROMETHEUS_YML)

    @property
    def alertmanager_yml(self) -> Path:
        return self.path(ALERTMANAGER_YML)

    @property
    def blackbox_yml(self) -> Path:
        return self.path(BLACKBOX_YML)

    @property
    def data(self) -> Path:
        return self.path(DATA)

    @property
    def prometheus_data(self) -> Path:
        return self.data / "prometheus"

    @property
    def logs(self) -> Path:
        return self.path(LOGS)

    @property
    def catalog(self) -> Path:
        return self.path(CATALOG)

    @property
    def scenario(self) -> Path:
        return self.path(SCENARIO)

    @property
    def workload(self) -> Path:
        return self.path(WORKLOAD)

    @property
    def history(self) -> Path:
        return self.path(HISTORY)

    @property
    def received(self) -> Path:
        return self.path(RECEIVED)

    def pid_file(self, name: str) -> Path:
        return self.pids / f"{name}.pid"

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """One `up`/`down`/`restart` at a time per directory."""
        ensure_dir(self.root)
        with open(self.root / ".lock", "w") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise ZarishError(f"{self.root}: another `zarish-obs stack` command is working on this "
                                  "directory; wait for it to finish", ExitCode.USAGE) from None
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def read_state(self) -> StackState | None:
        try:
            return StackState.from_json(json.loads(self.state_file.read_text("utf-8")))
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError) as exc:
            raise ZarishError(f"{self.state_file}: unreadable stack state ({exc}); stop leftover processes "
                              "by the PIDs in its pids/ directory", ExitCode.DATAERR) from None

    def write_state(self, state: StackState) -> None:
        write_atomic(self.state_file, json.dumps(state.to_json(), indent=2) + "\n")

    def record(self, state: StackState, comp: Component) -> None:
        """PID file first, then the state, right after each start: a crash of `up` loses nothing."""
        write_atomic(self.pid_file(comp.name), f"{comp.pid}\n")
        state.components[comp.name] = comp
        self.write_state(state)

    def pid_files(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for f in sorted(self.pids.glob("*.pid")) if self.pids.is_dir() else []:
            with contextlib.suppress(ValueError, OSError):
                out[f.stem] = int(f.read_text().strip())
        return out

    def clear(self) -> None:
        """Remove what a previous run left (never anything `up` does not create)."""
        for name in self.OWNED:
            p = self.root / name
            if p.is_dir():
                shutil.rmtree(p)
            elif p.exists():
                p.unlink()

    def forget(self) -> None:
        """After `down`: no PID files, no state; configs, data and logs stay for inspection."""
        for f in self.pids.glob("*.pid") if self.pids.is_dir() else []:
            f.unlink(missing_ok=True)
        self.state_file.unlink(missing_ok=True)


def cmdline_mentions(pid: int, hints: list[str]) -> bool:
    """For a PID file without state: does the live process's command line name one of our programs?"""
    if not pid_alive(pid):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    return any(h in cmdline for h in hints)
