"""Starting and stopping the real servers (Prometheus, Alertmanager, ...) on loopback, by PID.

Used by the local stack, the tests and the benchmarks. Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import requests

from zarish_obs.errors import ExitCode, ZarishError

BINARIES = {
    "prometheus": "prometheus",
    "promtool": "promtool",
    "alertmanager": "prometheus-alertmanager",
    "amtool": "amtool",
    "pushgateway": "prometheus-pushgateway",
    "blackbox": "prometheus-blackbox-exporter",
    "victoria-metrics": "victoria-metrics",
    "vmalert": "vmalert",
}
# What start_victoria_metrics passes as -search.latencyOffset: the newest samples are answered at once, so a
# vmalert reading that store needs no -datasource.lookback.
VICTORIA_METRICS_LATENCY_OFFSET = "0s"


def python_module(module: str, *args: str) -> list[str]:
    """argv that runs one of our modules in this interpreter, always the installed code: `-P` keeps the
    working directory off sys.path, so a source checkout there cannot shadow the installed package."""
    return [sys.executable, "-P", "-m", module, *args]


def binary(name: str) -> str:
    """Absolute path of a Debian-packaged binary, or a one-line error saying which package to install."""
    exe = BINARIES.get(name, name)
    found = shutil.which(exe) or (f"/usr/bin/{exe}" if Path(f"/usr/bin/{exe}").exists() else None)
    if not found:
        raise ZarishError(f"{exe}: not found on PATH (apt-get install prometheus prometheus-alertmanager "
                          "prometheus-pushgateway prometheus-blackbox-exporter victoria-metrics)",
                          ExitCode.UNAVAILABLE)
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Proc:
    name: str
    pid: int
    url: str
    log: Path
    popen: subprocess.Popen | None = None

    def alive(self) -> bool:
        return pid_alive(self.pid)

    def stop(self, timeout: float = 10.0) -> None:
        stop_pid(self.pid, timeout)
        if self.popen is not None:
            with contextlib.suppress(Exception):
                self.popen.wait(timeout=1)


_STARTED: dict[int, str] = {}


def started_pids() -> dict[int, str]:
    """Every process this interpreter started through `start` and has not stopped yet."""
    return {pid: name for pid, name in _STARTED.items() if pid_alive(pid)}


def stop_all() -> None:
    """Stop whatever this interpreter started (test sessions call it so no server outlives them)."""
    for pid in list(_STARTED):
        stop_pid(pid, timeout=5)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped) counts as dead.
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def stop_pid(pid: int, timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after `timeout`; the process group too when the pid leads one."""
    _STARTED.pop(pid, None)
    if not pid_alive(pid):
        _reap(pid)
        return
    targets = [pid]
    with contextlib.suppress(OSError):
        if os.getpgid(pid) == pid:
            targets = [-pid]
    for t in targets:
        with contextlib.suppress(ProcessLookupError):
            os.kill(t, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(pid)
        if not pid_alive(pid):
            _reap(pid)  # it may have become a zombie after the first reap
            return
        time.sleep(0.05)
    for t in targets:
        with contextlib.suppress(ProcessLookupError):
            os.kill(t, signal.SIGKILL)
    for _ in range(100):
        _reap(pid)
        if not pid_alive(pid):
            _reap(pid)
            return
        time.sleep(0.02)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def start(name: str, argv: Sequence[str], log: Path, url: str, ready_path: str = "/",
          ready_timeout: float = 30.0, env: dict[str, str] | None = None, cwd: Path | None = None) -> Proc:
    """Start `argv` in its own session (so stop() takes its children too) and wait until `url` answers."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as fh:
        popen = subprocess.Popen(list(argv), stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 start_new_session=True, env=env, cwd=cwd)
    proc = Proc(name, popen.pid, url, log, popen)
    _STARTED[popen.pid] = name
    try:
        wait_ready(url + ready_path, ready_timeout, proc)
    except BaseException:
        proc.stop()
        raise
    return proc


def wait_ready(url: str, timeout: float, proc: Proc | None = None) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if proc is not None and proc.popen is not None and proc.popen.poll() is not None:
            tail = proc.log.read_text(errors="replace")[-800:] if proc.log.exists() else ""
            raise ZarishError(f"{proc.name} exited with {proc.popen.returncode} during start-up: {tail}",
                              ExitCode.UNAVAILABLE)
        try:
            r = requests.get(url, timeout=1)
            if r.status_code < 500:
                return
            last = f"HTTP {r.status_code}"
        except requests.RequestException as exc:
            last = type(exc).__name__
        time.sleep(0.1)
    raise ZarishError(f"{url} not ready after {timeout:.0f}s ({last})", ExitCode.UNAVAILABLE)


def start_prometheus(config: Path, data_dir: Path, port: int | None = None, extra: Sequence[str] = (),
                     retention: str = "3650d") -> Proc:
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [binary("prometheus"), f"--config.file={config}", f"--storage.tsdb.path={data_dir}",
            f"--web.listen-address=127.0.0.1:{port}", f"--storage.tsdb.retention.time={retention}",
            "--web.enable-lifecycle", "--web.enable-admin-api", *extra]
    return start("prometheus", argv, data_dir.parent / f"prometheus-{port}.log", url, "/-/ready")


def start_alertmanager(config: Path, data_dir: Path, port: int | None = None) -> Proc:
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [binary("alertmanager"), f"--config.file={config}", f"--storage.path={data_dir}",
            f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="]
    return start("alertmanager", argv, data_dir.parent / f"alertmanager-{port}.log", url, "/-/ready")


def start_pushgateway(work: Path, port: int | None = None) -> Proc:
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [binary("pushgateway"), f"--web.listen-address=127.0.0.1:{port}"]
    return start("pushgateway", argv, work / f"pushgateway-{port}.log", url, "/-/ready")


def start_blackbox(config: Path, work: Path, port: int | None = None) -> Proc:
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [binary("blackbox"), f"--config.file={config}", f"--web.listen-address=127.0.0.1:{port}"]
    return start("blackbox", argv, work / f"blackbox-{port}.log", url, "/-/healthy")


def start_victoria_metrics(data_dir: Path, port: int | None = None, extra: Sequence[str] = ()) -> Proc:
    """Single-node VictoriaMetrics on loopback; `extra` flags such as `-dedup.minScrapeInterval=15s`."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [binary("victoria-metrics"), f"-storageDataPath={data_dir}", f"-httpListenAddr=127.0.0.1:{port}",
            f"-search.latencyOffset={VICTORIA_METRICS_LATENCY_OFFSET}", "-retentionPeriod=100y", *extra]
    return start("victoria-metrics", argv, data_dir.parent / f"victoria-metrics-{port}.log", url, "/health")


def start_vmalert(flags: Sequence[str], work: Path, port: int | None = None, cwd: Path | None = None) -> Proc:
    """vmalert on loopback with `flags` (rule files, datasource, notifier ...); relative paths resolve in `cwd`."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [binary("vmalert"), *flags, f"-httpListenAddr=127.0.0.1:{port}"]
    return start("vmalert", argv, work / f"vmalert-{port}.log", url, "/health", cwd=cwd)


@contextlib.contextmanager
def running(proc: Proc) -> Iterator[Proc]:
    """Stop the process however the block ends."""
    try:
        yield proc
    finally:
        proc.stop()
