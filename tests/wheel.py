"""The wheel built from this checkout, installed (not editable) into a fresh venv: what a user's `pip install`
gives. Built once per session for the packaging test and the demo test, which both run its console script."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# What a working checkout holds besides the sources: never copied into the build, never linked into a look-alike.
NOT_SOURCES = (".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".hypothesis", ".zarish-stack", "out")


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


def build_installed(tmp: Path) -> WheelVenv:
    """The wheel built from this checkout, installed (not editable) into a fresh venv.

    The venv sees this venv's third-party packages only through a .pth path entry: .pth files inside that
    path (such as our editable-install finder) are not executed, so zarish_obs can only come from the wheel.
    """
    dist = tmp / "dist"
    # Built from a copy of the sources: setuptools never cleans its build/ folder, so a module deleted since
    # the last build in the checkout would otherwise ship in the wheel.
    source = shutil.copytree(REPO, tmp / "source", ignore=shutil.ignore_patterns(*NOT_SOURCES))
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


def repository_look_alike(where: Path) -> Path:
    """A directory laid out like the repository root (each top-level entry a symlink into this checkout), so a
    command run there has a source tree's partial `zarish_obs/` in its cwd, yet writes its files elsewhere."""
    where.mkdir(parents=True)
    skip = {p for pattern in NOT_SOURCES for p in REPO.glob(pattern)}
    for entry in REPO.iterdir():
        if entry not in skip:
            (where / entry.name).symlink_to(entry)
    return where
