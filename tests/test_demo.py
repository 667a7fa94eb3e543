"""`zarish-obs demo`, the README's first command, run for real (with a time budget), and interrupted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from zarish_obs.stack.layout import Layout
from zarish_obs.stack.observe import wait_until

pytestmark = [pytest.mark.real, pytest.mark.slow]


def _processes_writing_under(root: Path) -> dict[int, str]:
    """Every process whose stdout is a log file under `root`: each one the stack starts is."""
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            target = os.readlink(proc / "fd" / "1")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if target.startswith(str(root)) and state != "Z":
            found[int(proc.name)] = target
    return found


def _demo(tmp_path: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "zarish_obs.stack.main", "demo", "--out", str(tmp_path / "out"),
            "--dir", str(tmp_path / "stack"), *extra]


def test_demo_shows_the_whole_loop(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "GRAFANA_URL"}
    proc = subprocess.run(_demo(tmp_path, "--budget", "170"), capture_output=True, text=True, timeout=200, env=env,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    progress = proc.stderr
    for step in ("generated", "promtool check config: ok", "promtool check rules: ok", "amtool check-config: ok",
                 "dashboard schema", "TIME-COMPRESSED", "stack up:", "monitor check: ok (exit 0)",
                 "DR trigger error_ratio fired", "DRErrorRatioHigh arrived", "stack down: stopped 13",
                 "demo complete"):
        assert step in progress, f"no progress line with {step!r}"
    assert progress.index("monitor check: ok") < progress.index("scenario error-storm")
    out = proc.stdout
    assert "VERDICT: OK (exit 0)" in out and "VERDICT: CRITICAL (exit 2)" in out
    assert out.index("VERDICT: OK") < out.index("VERDICT: CRITICAL")
    assert "FAILOVER RECOMMENDED" in out
    assert "webhook receiver got: DRErrorRatioHigh" in out and "dr_trigger=error_ratio" in out
    for part, name in (("scrape", "prometheus.yml"), ("alerts", "alertmanager.yml"),
                       ("dashboards", "zarish-his-overview.json")):
        assert (tmp_path / "out" / part / name).is_file()
    assert _processes_writing_under(tmp_path / "stack") == {}
    assert Layout(tmp_path / "stack").pid_files() == {}


def test_interrupted_demo_still_stops_the_stack(tmp_path):
    demo = subprocess.Popen(_demo(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=tmp_path)
    try:
        layout = Layout(tmp_path / "stack")

        def stack_running() -> bool:
            state = layout.read_state() if layout.state_file.exists() else None
            return bool(state and "prometheus" in state.components and state.components["prometheus"].alive())

        wait_until(stack_running, 120, "the demo's stack up")
        assert _processes_writing_under(tmp_path / "stack")
        demo.send_signal(signal.SIGINT)  # Ctrl-C
        _, stderr = demo.communicate(timeout=60)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    assert demo.returncode == 130, stderr[-2000:]
    assert "stack down: stopped" in stderr
    assert _processes_writing_under(tmp_path / "stack") == {}


def test_demo_uploads_when_grafana_url_is_set_and_fails_cleanly_when_it_cannot(tmp_path):
    """With GRAFANA_URL set the demo uploads through `dashboards upload`; an unreachable Grafana ends the
    demo (exit 1, one line) before any server starts, and the token is never echoed."""
    from zarish_obs.procs import free_port

    token = "zarish-demo-secret-token-8d1f"
    env = {**os.environ, "GRAFANA_URL": f"http://127.0.0.1:{free_port()}", "GRAFANA_TOKEN": token}
    proc = subprocess.run(_demo(tmp_path), capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("demo: `zarish-obs dashboards upload` failed (exit 69)")
    assert token not in proc.stderr + proc.stdout
    assert not (tmp_path / "stack").exists()
