"""Shared fixtures. Real servers are started on 127.0.0.1 with free ports and always stopped by PID."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.webhook import hook  # noqa: F401 (a fixture: webhook receiver for real Alertmanager tests)
from tests.wheel import WheelVenv, build_installed
from zarish_obs import procs
from zarish_obs.catalog import Catalog, load_catalog, parse_catalog

REPO = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
# `monitor check` keeps catalog snapshots between runs (zarish_obs/catalog_cache.py); the suite's go here, not
# into the user's cache, and are removed at the end.
SNAPSHOTS = tempfile.mkdtemp(prefix="zarish-test-snapshots-")
os.environ["ZARISH_CACHE_DIR"] = SNAPSHOTS


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    left = procs.started_pids()
    procs.stop_all()
    shutil.rmtree(SNAPSHOTS, ignore_errors=True)
    if left:
        print(f"\nstopped {len(left)} server(s) a test left running: {sorted(left.values())}")


@pytest.fixture(autouse=True)
def _no_leftover_servers() -> Iterator[None]:
    """Whatever a test started and did not stop is stopped here, even when the test failed."""
    before = set(procs.started_pids())
    yield
    for pid in set(procs.started_pids()) - before:
        procs.stop_pid(pid, timeout=5)


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> WheelVenv:
    """The wheel built from this checkout in a fresh venv, built once for every test that runs it."""
    return build_installed(tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="session")
def default_catalog() -> Catalog:
    return load_catalog()


def catalog_file(name: str) -> Path:
    return DATA / "catalogs" / name


@pytest.fixture(scope="session")
def other_catalogs() -> dict[str, Catalog]:
    """The extra catalogs every generator is checked with besides the built-in one."""
    return {p.stem: parse_catalog(p.read_text(), str(p)) for p in sorted((DATA / "catalogs").glob("*.yaml"))}


def have(tool: str) -> bool:
    try:
        procs.binary(tool)
        return True
    except Exception:
        return False


@pytest.fixture(scope="session", autouse=True)
def _real_binaries_present() -> None:
    """The suite depends on the Debian packages; say so clearly instead of failing obscurely."""
    missing = [t for t in ("promtool", "prometheus", "alertmanager", "amtool", "pushgateway", "blackbox",
                           "victoria-metrics") if not have(t)]
    if missing and not os.environ.get("ZARISH_ALLOW_MISSING_BINARIES"):
        pytest.exit(f"missing Debian binaries {missing}: run the README's test command (it installs them)", 3)


@pytest.fixture
def started() -> Iterator[list[procs.Proc]]:
    """Every server the test starts, stopped by PID however the test ends."""
    out: list[procs.Proc] = []
    try:
        yield out
    finally:
        for p in reversed(out):
            p.stop()
        assert not any(p.alive() for p in out)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst
