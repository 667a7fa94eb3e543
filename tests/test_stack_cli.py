"""`zarish-obs stack up|status|scenario|down` as a user runs them, and the guarantee that no process is
left behind: after `down`, after a crashed `up`, after a failed start, after a test that failed midway.
Uses the smallest catalog so each stack is seven processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import requests

from tests.conftest import catalog_file
from zarish_obs import procs
from zarish_obs.catalog import load_catalog
from zarish_obs.errors import ZarishError
from zarish_obs.stack import manager
from zarish_obs.stack.layout import Layout

pytestmark = [pytest.mark.real, pytest.mark.slow]

MINIMAL = catalog_file("minimal.yaml")


def zarish(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(procs.python_module("zarish_obs.stack.main", *args), capture_output=True, text=True,
                          timeout=timeout)


def _listening(pid: int) -> set[tuple[str, int]]:
    """(address, port) of every TCP socket the process listens on, from /proc."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    out = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] != "0A" or fields[9] not in inodes:
                continue
            addr, port = fields[1].split(":")
            if width == 8:
                ip = ".".join(str(int(addr[i:i + 2], 16)) for i in (6, 4, 2, 0))
            else:
                ip = "::" if set(addr) == {"0"} else addr
            out.add((ip, int(port, 16)))
    return out


def _alive(pids: dict[str, int]) -> dict[str, int]:
    return {name: pid for name, pid in pids.items() if procs.pid_alive(pid)}


@pytest.fixture
def stack_dir(tmp_path: Path):
    """A state directory whose stack is always brought down, and checked to be gone, after the test."""
    root = tmp_path / "stack"
    yield root
    pids = manager.all_pids(root)
    manager.down(root)
    left = _alive(pids)
    for pid in left.values():
        procs.stop_pid(pid)
    assert not left, f"processes left running: {left}"


def test_up_status_scenario_down(stack_dir):
    up = zarish("stack", "up", "--catalog", str(MINIMAL), "--dir", str(stack_dir), "--time-scale", "0.05")
    assert up.returncode == 0, up.stderr
    assert "TIME-COMPRESSED" in up.stderr and "TIME-COMPRESSED" in up.stdout
    state = Layout(stack_dir).read_state()
    assert state is not None
    names = set(state.components)
    assert names == {"receiver", "exporter-records", "infra", "pushgateway", "blackbox", "alertmanager", "prometheus"}
    for comp in state.components.values():
        assert comp.url.startswith("http://127.0.0.1:") and f"127.0.0.1:{comp.port}" in up.stdout
        assert procs.pid_alive(comp.pid), f"{comp.name} did not outlive `stack up`"
        listening = _listening(comp.pid)
        assert listening and all(ip == "127.0.0.1" for ip, _ in listening), (comp.name, listening)
    pids = {c.name: c.pid for c in state.components.values()}

    again = zarish("stack", "up", "--catalog", str(MINIMAL), "--dir", str(stack_dir))
    assert again.returncode == 64
    assert len(again.stderr.strip().splitlines()) == 1 and "already running" in again.stderr
    assert Layout(stack_dir).read_state().components["prometheus"].pid == pids["prometheus"]

    status = zarish("stack", "status", "--dir", str(stack_dir), "--format", "json")
    assert status.returncode == 0, status.stdout
    report = json.loads(status.stdout)
    assert report["ok"] is True and report["scenario"] == "healthy" and report["time_scale"] == 0.05
    assert {c["name"]: c["state"] for c in report["components"]} == dict.fromkeys(names, "running")

    infra = state.components["infra"]
    health = f"{infra.url}/health/{load_catalog(MINIMAL).primary_region.name}/0"
    assert requests.get(health, timeout=5).status_code == 200
    switched = zarish("stack", "scenario", "region-down", "--dir", str(stack_dir))
    assert switched.returncode == 0 and "healthy -> region-down" in switched.stdout
    assert requests.get(health, timeout=5).status_code == 503  # same process, no restart
    assert zarish("stack", "scenario", "no-such", "--dir", str(stack_dir)).returncode == 64

    os.kill(infra.pid, signal.SIGKILL)
    crashed = zarish("stack", "status", "--dir", str(stack_dir))
    assert crashed.returncode == 1
    line = next(x for x in crashed.stdout.splitlines() if x.strip().startswith("infra"))
    assert "crashed" in line and "log:" in line

    down = zarish("stack", "down", "--dir", str(stack_dir))
    assert down.returncode == 0 and "stopped 6 process(es)" in down.stdout
    assert _alive(pids) == {}
    assert Layout(stack_dir).pid_files() == {} and not Layout(stack_dir).state_file.exists()
    assert (stack_dir / "config" / "prometheus.yml").exists()  # kept for inspection
    again_down = zarish("stack", "down", "--dir", str(stack_dir))
    assert again_down.returncode == 0 and "no stack running" in again_down.stdout
    assert zarish("stack", "status", "--dir", str(stack_dir)).returncode == 69


def test_a_catalog_the_stack_cannot_run_is_refused_before_anything_changes(stack_dir, tmp_path):
    """The plan is built before the state directory is touched: a catalog whose error regex leaves the
    workload no error status fails in one line, and the previous run's files stay for inspection."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(MINIMAL.read_text() + "metrics: {error_status_regex: '4..'}\n")
    kept = stack_dir / "config" / "prometheus.yml"
    kept.parent.mkdir(parents=True)
    kept.write_text("# from an earlier run\n")
    proc = zarish("stack", "up", "--catalog", str(bad), "--dir", str(stack_dir))
    assert proc.returncode == 65, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "metrics.error_status_regex" in proc.stderr
    assert kept.read_text() == "# from an earlier run\n"
    assert manager.all_pids(stack_dir) == {}


def test_down_after_up_crashed_before_writing_state(stack_dir, tmp_path):
    """Only PID files left (as when `up` dies between a start and the state write): `down` still stops
    them, and a PID file naming an unrelated process never gets that process killed."""
    manager.up(load_catalog(MINIMAL), stack_dir, "healthy", 0.05)
    layout = Layout(stack_dir)
    ours = layout.pid_files()
    bystander = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        (layout.pids / "stranger.pid").write_text(f"{bystander.pid}\n")
        layout.state_file.unlink()
        stopped = manager.down(stack_dir)
        assert set(stopped) == set(ours)
        assert _alive(ours) == {}
        assert bystander.poll() is None, "down killed a process it did not start"
    finally:
        bystander.kill()
        bystander.wait()


def test_a_start_that_fails_midway_stops_what_it_started(tmp_path, monkeypatch):
    root = tmp_path / "stack"

    def broken(*args: object, **kwargs: object) -> None:
        raise ZarishError("alertmanager would not start (injected)")

    monkeypatch.setattr(procs, "start_alertmanager", broken)
    with pytest.raises(ZarishError, match="injected"):
        manager.up(load_catalog(MINIMAL), root, "healthy", 0.05)
    layout = Layout(root)
    assert layout.read_state() is None and layout.pid_files() == {}
    logs = {p.name for p in layout.logs.iterdir()}
    assert "receiver.log" in logs  # the receiver and exporter had started before the failure
    assert not [p for p, n in procs.started_pids().items() if n in ("receiver", "exporter-records", "infra")]


INNER_TEST = textwrap.dedent('''
    import json
    from pathlib import Path

    import pytest
    from zarish_obs.catalog import load_catalog
    from zarish_obs.stack import manager

    @pytest.fixture
    def stack(tmp_path):
        root = Path({root!r})
        with manager.running(load_catalog({catalog!r}), root, "healthy", 0.05) as state:
            Path({record!r}).write_text(json.dumps(manager.all_pids(root)))
            yield state

    def test_fails_midway(stack):
        assert stack.components["prometheus"].pid > 0
        raise AssertionError("this test fails on purpose, with the stack running")
''')


def test_a_test_that_fails_midway_leaves_no_process(tmp_path):
    root, record = tmp_path / "inner-stack", tmp_path / "pids.txt"
    test_file = tmp_path / "test_inner.py"
    test_file.write_text(INNER_TEST.format(root=str(root), catalog=str(MINIMAL), record=str(record)))
    inner = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test_file)],
                           capture_output=True, text=True, timeout=180, cwd=tmp_path)
    assert inner.returncode == 1 and "fails on purpose" in inner.stdout
    pids = json.loads(record.read_text())
    assert len(pids) == 7
    assert _alive(pids) == {}
