"""Run promtool and amtool on generated files, returning their verdict and their own words."""

from __future__ import annotations

import copy
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from zarish_obs.procs import binary

NO_K8S_SD = "field kubernetes_sd_configs not found"


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    output: str
    note: str = ""


def run_tool(tool: str, *args: str, timeout: float = 300, cwd: Path | None = None) -> CheckResult:
    proc = subprocess.run([binary(tool), *args], capture_output=True, text=True, timeout=timeout, cwd=cwd)
    return CheckResult(proc.returncode == 0, (proc.stdout + proc.stderr).strip())


def without_kubernetes_sd(config: dict[str, Any], targets_file: str) -> dict[str, Any]:
    """The same config with each `kubernetes_sd_configs` replaced by an empty file_sd list.

    Debian builds Prometheus without Kubernetes service discovery (its NEWS.Debian: "Kubernetes support
    has been completely removed"), so its promtool rejects the key itself; everything else in the
    config (relabelling, alerting, remote_write, globals) is still checked by promtool this way.
    """
    out = copy.deepcopy(config)
    for job in out.get("scrape_configs", []):
        if "kubernetes_sd_configs" in job:
            del job["kubernetes_sd_configs"]
            job["file_sd_configs"] = [{"files": [targets_file]}]
    return out


def check_config(path: Path) -> CheckResult:
    """`promtool check config`; falls back to the SD-neutral variant only for Debian's missing k8s SD."""
    first = run_tool("promtool", "check", "config", "--syntax-only", str(path))
    if first.ok or NO_K8S_SD not in first.output:
        return first
    config = yaml.safe_load(path.read_text())
    with tempfile.TemporaryDirectory(prefix="zarish-check-") as tmp:
        targets = Path(tmp) / "targets.json"
        targets.write_text("[]")
        variant = Path(tmp) / path.name
        variant.write_text(yaml.safe_dump(without_kubernetes_sd(config, str(targets)), sort_keys=False))
        second = run_tool("promtool", "check", "config", "--syntax-only", str(variant))
    note = ("this promtool has no Kubernetes service discovery (Debian build); kubernetes_sd_configs were "
            "swapped for file_sd_configs and everything else was checked")
    return CheckResult(second.ok, second.output, note)


def check_rules(*paths: Path) -> CheckResult:
    return run_tool("promtool", "check", "rules", *map(str, paths))


def test_rules(*paths: Path, cwd: Path | None = None) -> CheckResult:
    return run_tool("promtool", "test", "rules", *map(str, paths), cwd=cwd)


def check_metrics(text: str) -> CheckResult:
    proc = subprocess.run([binary("promtool"), "check", "metrics"], input=text, capture_output=True, text=True,
                          timeout=60)
    return CheckResult(proc.returncode == 0, (proc.stdout + proc.stderr).strip())


def check_alertmanager(path: Path) -> CheckResult:
    return run_tool("amtool", "check-config", str(path))
