"""The built wheel holds one import package, and its console script works from a fresh venv, from any directory:
every child process the stack starts runs the installed code, never a source tree in the cwd. (The installed
demo runs from a repository look-alike in test_demo.)"""

from __future__ import annotations

import json
import os
import subprocess
import zipfile
from pathlib import Path

import pytest
import yaml

from tests.wheel import REPO, WheelVenv
from zarish_obs.stack.layout import Layout


def test_wheel_installs_one_package_and_runs(installed: WheelVenv, tmp_path: Path) -> None:
    names = zipfile.ZipFile(installed.wheel).namelist()
    tops = {n.split("/", 1)[0] for n in names}
    assert tops == {"zarish_obs", next(t for t in tops if t.endswith(".dist-info"))}, tops
    for sub in ("scrape", "alerts", "dashboards", "monitor", "stack"):
        assert f"zarish_obs/{sub}/__init__.py" in names
    assert "zarish_obs/data/default_catalog.yaml" in names
    assert not any(n.startswith(("tests/", "bench/")) for n in names)

    where = subprocess.run([installed.python, "-c", "import zarish_obs; print(zarish_obs.__file__)"],
                           capture_output=True, text=True, check=True, cwd=tmp_path).stdout.strip()
    assert where.startswith(str(installed.venv)), where
    for generic in ("monitor", "alerts", "scrape", "dashboards"):
        assert not (installed.site / generic).exists()
    helped = subprocess.run([installed.exe, "--help"], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert helped.returncode == 0 and "scrape" in helped.stdout and "Exit codes" in helped.stdout
    out = tmp_path / "out"
    gen = subprocess.run([installed.exe, "scrape", "generate", "--out", str(out)], capture_output=True, text=True,
                         timeout=60, cwd=tmp_path)
    assert gen.returncode == 0, gen.stderr
    assert yaml.safe_load((out / "prometheus.yml").read_text())["global"]["scrape_interval"] == "15s"


def _env() -> dict[str, str]:
    drop = {"GRAFANA_URL", "ZARISH_STACK_DIR", "ZARISH_CATALOG", "PYTHONPATH"}
    return {k: v for k, v in os.environ.items() if k not in drop}


def _cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]


@pytest.mark.real
@pytest.mark.slow
@pytest.mark.parametrize("where", ["repo-root", "empty-dir"])
def test_installed_stack_runs_from_any_directory(where: str, installed: WheelVenv, tmp_path: Path) -> None:
    """From the repository root a source tree's partial `zarish_obs/` sits in the cwd: a child process that
    put the cwd on sys.path would import it instead of the installed package and fail to start."""
    cwd = REPO if where == "repo-root" else tmp_path / "empty"
    cwd.mkdir(exist_ok=True)
    stack_dir = tmp_path / "stack"

    def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(installed.exe), *args], capture_output=True, text=True, timeout=timeout,
                              cwd=cwd, env=_env(), stdin=subprocess.DEVNULL)

    try:
        up = run("stack", "up", "--dir", str(stack_dir), "--time-scale", "0.02")
        assert up.returncode == 0, up.stderr[-2000:]
        status = run("stack", "status", "--dir", str(stack_dir), "--format", "json")
        assert status.returncode == 0, status.stdout + status.stderr[-2000:]
        report = json.loads(status.stdout)
        assert report["ok"] and all(c["state"] == "running" for c in report["components"])
        ours = [c for c in report["components"] if c["kind"] in ("receiver", "exporter", "infra")]
        assert ours
        for c in ours:
            argv = _cmdline(c["pid"])
            assert argv[:2] == [str(installed.python), "-P"], argv
    finally:
        down = run("stack", "down", "--dir", str(stack_dir))
    assert down.returncode == 0 and "stopped" in down.stdout, down.stdout + down.stderr
    assert Layout(stack_dir).pid_files() == {}
