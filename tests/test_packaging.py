"""The built wheel holds one import package, and its console script works from a fresh venv, from any directory:
every child process the stack and the demo start runs the installed code, never a source tree in the cwd."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from zarish_obs.stack.layout import Layout

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class WheelVenv:
    wheel: Path
    venv: Path
    site: Path

    @property
    def exe(self) -> Path:
        return self.venv / "bin" / "zarish-obs"

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> WheelVenv:
    """The wheel built from this checkout, installed (not editable) into a fresh venv.

    The venv sees this venv's third-party packages only through a .pth path entry: .pth files inside that
    path (such as our editable-install finder) are not executed, so zarish_obs can only come from the wheel.
    """
    tmp = tmp_path_factory.mktemp("wheel")
    dist = tmp / "dist"
    # Built from a copy of the sources: setuptools never cleans its build/ folder, so a module deleted since
    # the last build in the checkout would otherwise ship in the wheel.
    source = shutil.copytree(REPO, tmp / "source", ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".hypothesis", ".zarish-stack", "out"))
    build = subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist),
                            str(source)], capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stdout[-2000:] + build.stderr[-2000:]
    wheel = next(dist.glob("zarish_obs-*.whl"))
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    site = subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "outer-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    pip = subprocess.run([py, "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)],
                         capture_output=True, text=True, timeout=300)
    assert pip.returncode == 0, pip.stderr[-2000:]
    return WheelVenv(wheel, venv, Path(site))


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
def test_installed_stack_and_demo_run_from_any_directory(where: str, installed: WheelVenv, tmp_path: Path) -> None:
    """From the repository root a source tree's partial `zarish_obs/` sits in the cwd: a child process that
    put the cwd on sys.path would import it instead of the installed package and fail to start."""
    cwd = REPO if where == "repo-root" else tmp_path / "empty"
    cwd.mkdir(exist_ok=True)
    stack_dir, demo_dir = tmp_path / "stack", tmp_path / "demo-stack"

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

    if where == "empty-dir":
        return  # test_demo runs the demo from an empty directory, with the default (relative) --out and --dir
    # From the repository root, where the demo's own `zarish-obs` subcommands could pick up the source tree.
    try:
        demo = run("demo", "--out", str(tmp_path / "out"), "--dir", str(demo_dir), "--budget", "260", timeout=300)
    finally:
        run("stack", "down", "--dir", str(demo_dir))  # a demo killed by the timeout leaves its stack behind
    assert demo.returncode == 0, demo.stderr[-3000:]
    assert "demo complete" in demo.stderr and "VERDICT: CRITICAL" in demo.stdout
    assert Layout(demo_dir).pid_files() == {}
