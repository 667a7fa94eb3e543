"""The built wheel holds one import package, and its console script works from a fresh venv."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent


def test_wheel_installs_one_package_and_runs(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    build = subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist),
                            str(REPO)], capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stdout[-2000:] + build.stderr[-2000:]
    wheel = next(dist.glob("zarish_obs-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/", 1)[0] for n in names}
    assert tops == {"zarish_obs", next(t for t in tops if t.endswith(".dist-info"))}, tops
    for sub in ("scrape", "alerts", "dashboards", "monitor", "stack"):
        assert f"zarish_obs/{sub}/__init__.py" in names
    assert "zarish_obs/data/default_catalog.yaml" in names
    assert not any(n.startswith(("tests/", "bench/")) for n in names)

    # A fresh venv that sees this venv's third-party packages only through a .pth path entry: .pth files
    # inside that path (such as our editable-install finder) are not executed, so zarish_obs can only come
    # from the wheel installed here.
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    site = subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "outer-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    pip = subprocess.run([py, "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)],
                         capture_output=True, text=True, timeout=300)
    assert pip.returncode == 0, pip.stderr[-2000:]
    where = subprocess.run([py, "-c", "import zarish_obs; print(zarish_obs.__file__)"], capture_output=True,
                           text=True, check=True, cwd=tmp_path).stdout.strip()
    assert where.startswith(str(venv)), where
    for generic in ("monitor", "alerts", "scrape", "dashboards"):
        assert not Path(site, generic).exists()
    exe = venv / "bin" / "zarish-obs"
    helped = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert helped.returncode == 0 and "scrape" in helped.stdout and "Exit codes" in helped.stdout
    out = tmp_path / "out"
    gen = subprocess.run([exe, "scrape", "generate", "--out", str(out)], capture_output=True, text=True,
                         timeout=60, cwd=tmp_path)
    assert gen.returncode == 0, gen.stderr
    assert yaml.safe_load((out / "prometheus.yml").read_text())["global"]["scrape_interval"] == "15s"
