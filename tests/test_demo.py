"""`zarish-obs demo`, the README's first command, run for real (with a time budget), and interrupted."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from tests.wheel import WheelVenv, repository_look_alike
from zarish_obs import promql
from zarish_obs.catalog import load_catalog
from zarish_obs.conventions import timings
from zarish_obs.stack import configs, scenarios
from zarish_obs.stack.demo import DEMO_DIR, DEMO_TIME_SCALE, DR_TRIGGER, MAINTENANCE, STORM
from zarish_obs.stack.layout import Layout
from zarish_obs.stack.observe import wait_until
from zarish_obs.stack.workload import DRILL_WINDOW

pytestmark = [pytest.mark.real, pytest.mark.slow]


def _utc(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


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


def _storm_table(out: str) -> tuple[dict[str, float], str]:
    """The error-storm monitor table (the second one): each service's ERRORS figure, and its error_ratio line."""
    table = out[out.rindex("zarish-obs monitor:"):]
    lines = table.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("SERVICE"))
    errors = {}
    for line in lines[head + 1:]:
        if not line.strip() or line.startswith(" "):  # the rows end at a blank line or the indented problems
            break
        cells = line.split()
        errors[cells[0]] = float(cells[3].rstrip("%"))
    trigger = next(line for line in lines if line.strip().startswith(f"{DR_TRIGGER} "))
    return errors, trigger


def test_demo_shows_the_whole_loop(tmp_path: Path, installed: WheelVenv) -> None:
    """Run as a user types it after `pip install`: the wheel's console script with the default (relative) --out
    and --dir, from a directory laid out like the repository root, where a source tree's partial `zarish_obs/`
    sits in the cwd and no child process may import it."""
    drop = ("GRAFANA_URL", "ZARISH_STACK_DIR", "ZARISH_CATALOG", "PYTHONPATH")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    cwd = repository_look_alike(tmp_path / "checkout")
    assert (cwd / "zarish_obs" / "__init__.py").is_file() and not (cwd / DEMO_DIR).exists()
    stack = cwd / DEMO_DIR
    try:
        proc = subprocess.run([str(installed.exe), "demo", "--budget", "260"], capture_output=True, text=True,
                              timeout=300, env=env, cwd=cwd, stdin=subprocess.DEVNULL)
    finally:  # a demo killed by the timeout leaves its stack behind
        subprocess.run([str(installed.exe), "stack", "down", "--dir", str(stack)], capture_output=True,
                       timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    progress = proc.stderr
    checks = ("promtool check config", "promtool check rules", "promtool test rules", "amtool check-config",
              "dashboard schema")
    for step in (*(f"check: PASS  {c}" for c in checks), "kubernetes_sd_configs", "check: all", "TIME-COMPRESSED",
                 "stack up:", "monitor check: ok (exit 0)",
                 f"DR trigger {DR_TRIGGER} fired", "DRErrorRatioHigh arrived", "stack down: stopped 13",
                 "demo complete"):
        assert step in progress, f"no progress line with {step!r}"
    assert "FAIL" not in progress
    assert progress.index("monitor check: ok") < progress.index("scenario error-storm")
    out = proc.stdout
    # The storm inside the drill window comes between the healthy verdict and the error storm, and is muted.
    assert progress.index("monitor check: ok") < progress.index(f"scenario {MAINTENANCE}:") < progress.index(
        "scenario error-storm")
    assert "storm inside the window: no page, monitor ok (exit 0)" in progress
    muted = re.search(rf"maintenance window {DRILL_WINDOW}: (\S+)'s raw error ratio over \w+ is ([0-9.]+)% "
                      r"\(page threshold ([0-9.]+)%\), yet no SLO alert", out)
    assert muted, out[:2000]
    assert muted[1] == configs.drill_service(load_catalog()).name and float(muted[2]) > float(muted[3])
    assert "VERDICT: OK (exit 0)" in out and "VERDICT: CRITICAL (exit 2)" in out
    assert out.index("VERDICT: OK") < out.index("VERDICT: CRITICAL")
    assert "FAILOVER RECOMMENDED" in out
    assert "webhook receiver got: DRErrorRatioHigh" in out and f"dr_trigger={DR_TRIGGER}" in out
    for part, name in (("scrape", "prometheus.yml"), ("alerts", "alertmanager.yml"),
                       ("dashboards", "zarish-his-overview.json")):
        assert (cwd / "out" / part / name).is_file()
    _report_holds_the_storm(cwd, Path("out", "report"), progress)
    assert _processes_writing_under(stack) == {}
    assert Layout(stack).pid_files() == {}
    _story_matches_the_numbers(progress, out)


def _report_holds_the_storm(cwd: Path, shown: Path, progress: str) -> None:
    """The demo's last step: the compliance report of the stack's own history names the storm (written under
    the default --out, which the progress line names as given)."""
    assert "report of the stack's own history" in progress and f"written to {shown / 'report.html'}" in progress
    out = cwd / shown
    report = json.loads((out / "report.json").read_text())
    assert report["complete"] is True and report["period"]["timezone"] == "Asia/Dhaka"
    drill = configs.drill_service(load_catalog()).name
    storm = [svc for svc in report["services"]
             if any(s["slo"] == "availability" and s["verdict"] == "breached" for s in svc["slos"])]
    # Every production service took half its requests as 5xx; the one inside the drill window burnt nothing.
    assert sorted(svc["service"] for svc in storm) == sorted(s["service"] for s in report["services"]
                                                             if s["service"] != drill)
    assert all(svc["incidents"] and svc["policy"]["verdict"] != "ok" for svc in storm)
    inside = next(svc for svc in report["services"] if svc["service"] == drill)
    minutes = (_utc(report["period"]["end"]) - _utc(report["period"]["start"])) / 60
    assert inside["maintenance"]["minutes"] == minutes
    assert [w["name"] for w in inside["maintenance"]["windows"]] == [DRILL_WINDOW]
    assert not inside["incidents"] and inside["policy"]["verdict"] == "ok"
    assert all(slo["events"]["total"] == 0 for slo in inside["slos"])
    error_ratio = next(t for t in report["dr_triggers"] if t["trigger"] == DR_TRIGGER)
    assert error_ratio["held_minutes"] >= 1
    html = (out / "report.html").read_text()
    assert "<svg" in html and "http://" not in html and "https://" not in html


def _story_matches_the_numbers(progress: str, out: str) -> None:
    """What the demo says about the error storm agrees with every figure it prints, each over a named window."""
    cat = load_catalog()
    local = configs.local_catalog(cat, DEMO_TIME_SCALE)
    env = cat.dr.error_ratio.environment
    share = scenarios.get(STORM).error_fraction
    assert share is not None
    story = next(line for line in progress.splitlines() if f"scenario {STORM}:" in line)
    assert f"{share:.0%} of the requests of every service in {env}" in story
    others = [e.name for e in cat.environments if e.name != env]
    assert f"{', '.join(others)} stay" in story

    # The storm's share, measured over the storm alone, and the DR trigger's window, at the monitor's instant.
    figures = re.search(rf"error ratio of all services in {env} at the monitor's instant: ([0-9.]+)% over the last "
                        r"(\d+)s \(since the switch[^)]*\); ([0-9.]+)% over the last (\w+) \(", out)
    assert figures, out[-1500:]
    storm_only, rate_window = float(figures[1]) / 100, float(figures[3]) / 100
    assert abs(storm_only - share) < 0.05
    assert figures[4] == promql.dr_error_ratio_window(local) and rate_window < storm_only

    # The fired trigger: the same figure in the progress line and in the table, over the windows it names,
    # above the threshold and at most the rate-window ratio now (it is the lowest of the last few seconds).
    errors, trigger_line = _storm_table(out)
    detail = trigger_line.split("FIRED", 1)[1].strip()
    assert f"DR trigger {DR_TRIGGER} fired ({detail})" in progress
    assert f"over the last {timings(local).error_ratio_for}" in detail
    lowest = float(re.search(r": ([0-9.]+)% \(trigger", detail)[1]) / 100
    assert cat.dr.error_ratio.threshold < lowest <= rate_window + 0.01

    # Each service's ratio in the table reaches further back than the storm, so it is below the storm's share.
    assert set(errors) == {s.name for s in cat.services}
    assert all(0 < v / 100 < storm_only for v in errors.values()), errors
    assert out.count("each service over the last") == 2


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
