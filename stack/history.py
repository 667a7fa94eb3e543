"""A fresh stack's recent past, so every query has the data it needs from the first second.

Long SLO windows are sums of the recorded 5-minute increases sampled on the 5-minute grid
(`sum_over_time(...[30d:5m])`), and so is the alerts' minimum-event guard: a Prometheus that
started after the latest grid point has nothing there, and the monitor would say UNKNOWN (and no
SLO alert could fire) for up to five minutes. So before Prometheus starts, each exporter writes
its pods' traffic since a minute before the latest grid point (the same counters it then keeps
serving, so the live series continue them exactly), the infra process its replication lag and
backup timestamp (else the backup alert, which treats a missing backup as missed, would see nothing
until the Pushgateway's first scrape), the stack backfills it with promtool, and has
Prometheus's own rule engine (`promtool tsdb create-blocks-from rules`) record the recording rules
over that past. Nothing is computed here that Prometheus would compute: only raw samples are made.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path
from typing import Any

from zarish_obs.durations import parse_duration
from zarish_obs.errors import ExitCode, ZarishError
from zarish_obs.openmetrics import Family, backfill, write
from zarish_obs.procs import binary

GRID_SECONDS = 300  # the [w:5m] subqueries' step
LEAD_SECONDS = 60  # history before the latest grid point: enough samples for its 5m increase
MIN_STEP_SECONDS = 10
POD_JOB = "kubernetes-pods"


def window(now: float, scrape_interval: str) -> dict[str, int]:
    """Start (a minute before the latest 5-minute grid point) and sample step of the history."""
    start = math.floor(now / GRID_SECONDS) * GRID_SECONDS - LEAD_SECONDS
    return {"start": start, "step": max(MIN_STEP_SECONDS, math.ceil(parse_duration(scrape_interval)))}


def target_labels(prometheus_yml: Path, job: str = POD_JOB) -> dict[str, dict[str, str]]:
    """address -> the labels Prometheus gives each target of `job` after relabelling, from promtool itself."""
    proc = subprocess.run([binary("promtool"), "check", "service-discovery", "--timeout=500ms", str(prometheus_yml),
                           job], capture_output=True, text=True, timeout=60)
    try:
        found = json.loads(proc.stdout)
    except ValueError:
        found = None
    if proc.returncode != 0 or not isinstance(found, list):
        raise ZarishError(f"promtool check service-discovery failed: {(proc.stderr or proc.stdout).strip()[-300:]}",
                          ExitCode.SOFTWARE)
    out = {}
    for target in found:
        labels = target.get("labels") or {}
        if labels.get("__address__"):
            out[labels["__address__"]] = {k: v for k, v in labels.items() if not k.startswith("__")}
    return out


def scraped_labels(target: dict[str, str], metric: dict[str, str]) -> dict[str, str]:
    """A sample's labels once scraped without honor_labels: a clash keeps the target's value and moves the
    exposed one to `exported_<name>` (e.g. the pods' `environment` label and the metric's own)."""
    out = dict(metric)
    for name, value in target.items():
        if name in out:
            exported = f"exported_{name}"
            while exported in out:
                exported = f"exported_{exported}"
            out[exported] = out[name]
        out[name] = value
    return out


def families(docs: list[dict[str, Any]], targets: dict[str, dict[str, str]]) -> list[Family]:
    """OpenMetrics families (one per sample name, type unknown) from the exporters' history files: each
    pod's series as scraped from its target, each pushed series (the Pushgateway's job honours the
    pushed labels) as it is."""
    by_name: dict[str, Family] = {}

    def add(series: dict[str, Any], labels: dict[str, str]) -> None:
        fam = by_name.setdefault(series["name"], Family(series["name"], "unknown"))
        fam.add(series["name"], labels, [(int(t), v) for t, v in series["samples"]])

    for doc in docs:
        for pod in doc["pods"]:
            target = targets.get(f"127.0.0.1:{pod['port']}")
            if target is None:
                raise ZarishError(f"no scrape target for workload port {pod['port']}", ExitCode.SOFTWARE)
            for series in pod["series"]:
                add(series, scraped_labels(target, series["labels"]))
        for series in doc.get("pushed", []):
            add(series, series["labels"])
    return list(by_name.values())


def load_raw(history_files: list[Path], targets: dict[str, dict[str, str]], work: Path, data_dir: Path) -> int:
    """Backfill the exporters' history into Prometheus's data directory; returns the history's end."""
    docs = [json.loads(p.read_text("utf-8")) for p in history_files]
    om = write(work / "history.om", families(docs, targets))
    try:
        backfill(om, data_dir)
    except RuntimeError as exc:
        raise ZarishError(str(exc), ExitCode.SOFTWARE) from None
    return math.floor(min(d["end"] for d in docs))


def record_rules(rule_files: list[Path], prometheus_url: str, start: int, end: int, step: int, work: Path,
                 data_dir: Path) -> int:
    """Prometheus's rule engine evaluates the recording rules over the history (promtool skips alerting
    rules); the blocks it writes are moved into the data directory. Returns how many were added."""
    out = work / "rule-blocks"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    proc = subprocess.run([binary("promtool"), "tsdb", "create-blocks-from", "rules", f"--start={start}",
                           f"--end={end}", f"--url={prometheus_url}", f"--output-dir={out}",
                           f"--eval-interval={step}s", "--quiet", *map(str, rule_files)],
                          capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise ZarishError(f"promtool create-blocks-from rules failed: {proc.stderr.strip()[-300:]}",
                          ExitCode.SOFTWARE)
    blocks = [b for b in out.iterdir() if b.is_dir() and (b / "meta.json").exists()]
    for block in blocks:
        shutil.move(str(block), str(data_dir / block.name))
    shutil.rmtree(out, ignore_errors=True)
    return len(blocks)
