"""The failure scenarios the local stack can play, as plain data (stdlib only: the exporters import it).

Every number is relative to the catalog (a fraction of an error budget, a multiple of a latency
threshold, of the replication-lag threshold or of the RPO), so a scenario means the same thing for
any catalog. A scenario affects either the DR environment (`dr.error_ratio.environment`, production by
default) or only the pods inside the stack's maintenance drill window (`stack up --maintenance-drill`); every
other pod keeps healthy traffic.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

# Which pods a scenario affects (the workload description marks them).
DR_ENVIRONMENT = "dr-environment"
MAINTENANCE_DRILL = "maintenance-drill"


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    # Share of requests answered 5xx; None: a tenth of each SLO's error budget (healthy traffic).
    error_fraction: float | None = None
    # Median latency as a multiple of the service's latency-SLO threshold (healthy: well under it).
    latency_median_factor: float = 0.125
    # Replication lag as a multiple of the DR replication-lag threshold.
    replication_lag_factor: float = 0.01
    primary_region_up: bool = True
    # A fresh backup is young even for a time-compressed RPO; a stale one is older than the backup
    # schedule's interval plus grace (the workload description holds both ages).
    backup_stale: bool = False
    target: str = DR_ENVIRONMENT


SCENARIOS: dict[str, Scenario] = {s.name: s for s in (
    Scenario("healthy", "normal traffic: errors at a tenth of each error budget, fast responses, "
             "replicas in sync, fresh backup, every region up"),
    Scenario("error-storm", "half of the DR environment's requests fail with 5xx (DR error-ratio trigger "
             "and page-tier error-budget burn)", error_fraction=0.5),
    Scenario("replication-lag", "database replication lags twice the DR threshold (DR replication-lag "
             "trigger)", replication_lag_factor=2.0),
    Scenario("region-down", "every health endpoint of the primary region answers 503 (DR "
             "primary-region-unavailable trigger)", primary_region_up=False),
    Scenario("slow", "median latency twice each service's latency-SLO threshold (page-tier latency "
             "budget burn)", latency_median_factor=2.0),
    Scenario("backup-stale", "the last successful backup is older than its schedule's interval plus grace "
             "(BackupMissed ticket; replication still keeps the RPO)", backup_stale=True),
    Scenario("maintenance", "half of the requests of the service inside the stack's maintenance drill window fail "
             "(planned work): no budget burnt, no SLO page; the DR error-ratio trigger still counts them (a window "
             "never hides a failover decision)", error_fraction=0.5, target=MAINTENANCE_DRILL),
)}


def names() -> list[str]:
    return list(SCENARIOS)


def get(name: str) -> Scenario:
    try:
        return SCENARIOS[name]
    except KeyError:
        raise ValueError(f"unknown scenario {name!r}; choose one of: {', '.join(SCENARIOS)}") from None


def require_targets(name: str, workload: dict[str, Any]) -> None:
    """A drill scenario needs a stack started with its window; without one it would storm nothing."""
    if get(name).target == MAINTENANCE_DRILL and not any(p.get("drill") for p in workload.get("pods", [])):
        raise ValueError(f"scenario {name} storms the service inside the stack's maintenance drill window, and "
                         "this stack has none: start it with `zarish-obs stack up --maintenance-drill`")


def scenario_text(name: str, since: float) -> str:
    """What the scenario file holds: the name, when it was chosen, and the parameters for reference."""
    return json.dumps({"name": name, "since": since, "parameters": asdict(get(name))}) + "\n"


def write_scenario(path: Path, name: str) -> None:
    """Atomic replace, so a running exporter never reads half a file."""
    text = scenario_text(name, time.time())
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


class ScenarioFile:
    """Re-reads the scenario file when it changes, so `stack scenario NAME` needs no restart."""

    def __init__(self, path: Path):
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self.current = SCENARIOS["healthy"]

    def get(self) -> Scenario:
        try:
            st = self.path.stat()
        except OSError:
            return self.current
        stamp = (st.st_mtime_ns, st.st_ino)
        if stamp != self._stamp:
            try:
                self.current = get(json.loads(self.path.read_text(encoding="utf-8"))["name"])
                self._stamp = stamp
            except (OSError, ValueError, KeyError, TypeError):
                pass
        return self.current
