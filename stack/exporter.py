"""One process of the synthetic workload: `python -m zarish_obs.stack.exporter CONFIG --service NAME|--infra`.

Stdlib only, so a dozen of them cost little. Traffic is a flow, not a dice roll: at every scrape the
counters advance by rate x elapsed time, split over statuses and latency buckets by the current
scenario's expected shares (a log-normal latency distribution), with a little rate jitter. The
exposed counters are whole numbers and only ever grow, as a real client library's would.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from zarish_obs.stack import httpd
from zarish_obs.stack.scenarios import MAINTENANCE_DRILL, SCENARIOS, Scenario, ScenarioFile

OK_WEIGHTS = {"200": 0.90, "201": 0.05, "204": 0.02, "304": 0.01, "404": 0.02}
ERROR_WEIGHTS = {"500": 0.6, "503": 0.3, "502": 0.05, "504": 0.05}
HEALTHY_ERROR_SHARE = 0.1  # healthy traffic fails a tenth of what the error budget allows
SIGMA = 0.5  # log-normal shape of the latency distribution
NOTIONAL_THRESHOLD = 0.4  # seconds: stands in for the latency threshold of a service without a latency SLO
TEXT_FORMAT = "text/plain; version=0.0.4; charset=utf-8"


def _shares(codes: list[str], weights: dict[str, float]) -> dict[str, float]:
    total = sum(weights.get(c, 0.01) for c in codes)
    return {c: weights.get(c, 0.01) / total for c in codes}


def _le(bound: float) -> str:
    return repr(float(bound))


def _labels(labels: dict[str, str]) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


Sample = tuple[str, dict[str, str], float]  # sample name, labels, value


class PodTraffic:
    """The cumulative counters of one (service, environment) pod, counted from `started`."""

    def __init__(self, pod: dict[str, Any], config: dict[str, Any], started: float | None = None):
        self.pod = pod
        self.metrics = config["metrics"]
        self.ok = _shares(config["ok_codes"], OK_WEIGHTS)
        self.errors = _shares(config["error_codes"], ERROR_WEIGHTS)
        self.buckets: list[float] = config["buckets"]
        self.by_status = dict.fromkeys([*self.ok, *self.errors], 0.0)
        self.cumulative = [0.0] * len(self.buckets)
        self.total = 0.0
        self.seconds = 0.0
        self.last = time.time() if started is None else started
        self.lock = threading.Lock()

    def _affected(self, scenario: Scenario) -> bool:
        if scenario.target == MAINTENANCE_DRILL:
            return bool(self.pod.get("drill"))
        return bool(self.pod["affected"])

    def _error_fraction(self, scenario: Scenario) -> float:
        if scenario.error_fraction is None:
            return HEALTHY_ERROR_SHARE * self.pod["error_budget"]
        return scenario.error_fraction

    def _median(self, scenario: Scenario) -> float:
        return (self.pod["latency_threshold"] or NOTIONAL_THRESHOLD) * scenario.latency_median_factor

    def advance(self, now: float, scenario: Scenario) -> None:
        with self.lock:
            elapsed = now - self.last
            if elapsed <= 0:
                return
            self.last = now
            n = self.pod["rate"] * elapsed * random.uniform(0.9, 1.1)
            if not self._affected(scenario):
                scenario = SCENARIOS["healthy"]
            bad = self._error_fraction(scenario)
            for code, share in self.ok.items():
                self.by_status[code] += n * (1 - bad) * share
            for code, share in self.errors.items():
                self.by_status[code] += n * bad * share
            median = self._median(scenario)
            for i, bound in enumerate(self.buckets):
                z = (math.log(bound) - math.log(median)) / SIGMA
                self.cumulative[i] += n * 0.5 * (1 + math.erf(z / math.sqrt(2)))
            self.total += n
            self.seconds += n * median * math.exp(SIGMA**2 / 2)

    def samples(self) -> list[Sample]:
        """Every exposed sample, counters as whole numbers like a client library's."""
        m = self.metrics
        base = {m["service_label"]: self.pod["service"]}
        env = {m["environment_label"]: self.pod["environment"]}
        req, hist = m["requests_total"], m["latency_histogram"]
        with self.lock:
            out: list[Sample] = [(req, {**base, m["status_label"]: code, **env}, math.floor(value))
                                 for code, value in self.by_status.items()]
            for bound, value in zip(self.buckets, self.cumulative, strict=True):
                out.append((f"{hist}_bucket", {**base, **env, "le": _le(bound)}, math.floor(value)))
            count = math.floor(self.total)
            out.append((f"{hist}_bucket", {**base, **env, "le": "+Inf"}, count))
            out.append((f"{hist}_sum", {**base, **env}, round(self.seconds, 3)))
            out.append((f"{hist}_count", {**base, **env}, count))
        return out

    def render(self) -> str:
        req, hist = self.metrics["requests_total"], self.metrics["latency_histogram"]
        heads = {req: "# HELP {0} HTTP requests served, by status.\n# TYPE {0} counter",
                 hist: "# HELP {0} Time to serve a request.\n# TYPE {0} histogram"}
        lines: list[str] = []
        family = None
        for name, labels, value in self.samples():
            if (req if name == req else hist) != family:
                family = req if name == req else hist
                lines.append(heads[family].format(family))
            lines.append(f"{name}{_labels(labels)} {value}")
        return "\n".join(lines) + "\n"

    def history(self, start: float, end: float, step: float, scenario: Scenario) -> list[dict[str, Any]]:
        """Samples every `step` seconds from `start` (counters at zero) to `end`: the pod's recent past,
        which the stack backfills into Prometheus. This object then carries on from `end`."""
        series: dict[tuple[str, tuple[tuple[str, str], ...]], list[list[float]]] = {}
        self.last = start
        t = start
        while t <= end:
            self.advance(t, scenario)
            for name, labels, value in self.samples():
                series.setdefault((name, tuple(labels.items())), []).append([t, value])
            t += step
        return [{"name": n, "labels": dict(lab), "samples": s} for (n, lab), s in series.items()]


class Infra:
    """Database exporter, backup job and the regions' health endpoints."""

    def __init__(self, config: dict[str, Any], scenarios: ScenarioFile):
        self.cfg = config["infra"]
        self.scenarios = scenarios

    def lag_seconds(self) -> float:
        factor = self.scenarios.get().replication_lag_factor
        return round(self.cfg["replication_lag_threshold_seconds"] * factor * random.uniform(0.8, 1.2), 3)

    def metrics(self) -> str:
        name = self.cfg["replication_lag_metric"]
        return (f"# HELP {name} Seconds the replica is behind the primary.\n# TYPE {name} gauge\n"
                f"{name} {self.lag_seconds()}\n")

    def health(self, path: str) -> int | None:
        for h in self.cfg["health"]:
            if h["path"] == path:
                down = h["region"] == self.cfg["primary_region"] and not self.scenarios.get().primary_region_up
                return 503 if down else 200
        return None

    def backup_age(self) -> float:
        stale = self.scenarios.get().backup_stale
        return self.cfg["stale_backup_age_seconds" if stale else "fresh_backup_age_seconds"]

    def history(self, start: float, end: float, step: float) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The recent past of the replication lag (scraped from this process) and of the backup timestamp
        (pushed, then scraped from the Pushgateway with its own labels), sampled every `step` seconds."""
        times = [start + i * step for i in range(math.floor((end - start) / step) + 1)]
        lag = {"name": self.cfg["replication_lag_metric"], "labels": {},
               "samples": [[t, self.lag_seconds()] for t in times]}
        backup = {"name": self.cfg["backup_metric"], "labels": {"job": self.cfg["backup_job"]},
                  "samples": [[t, round(t - self.backup_age(), 3)] for t in times]}
        return [lag], [backup]

    def push_backup_forever(self, stop: threading.Event) -> None:
        """What the backup job does after each successful run: push its timestamp to the Pushgateway."""
        name = self.cfg["backup_metric"]
        url = f"{self.cfg['pushgateway']}/metrics/job/{self.cfg['backup_job']}"
        while not stop.is_set():
            body = f"# TYPE {name} gauge\n{name} {time.time() - self.backup_age():.3f}\n".encode()
            req = urllib.request.Request(url, data=body, method="PUT")
            try:
                with urllib.request.urlopen(req, timeout=2):
                    pass
            except OSError as exc:
                print(f"push to {url} failed: {exc}", file=sys.stderr, flush=True)
            stop.wait(1.0)


def _handler(pod: PodTraffic | None, infra: Infra | None, scenarios: ScenarioFile) -> type[BaseHTTPRequestHandler]:
    class Handler(httpd.Handler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                if pod is not None:
                    pod.advance(time.time(), scenarios.get())
                    self._send(200, pod.render(), TEXT_FORMAT)
                elif infra is not None:
                    self._send(200, infra.metrics(), TEXT_FORMAT)
                return
            if path in ("/-/ready", "/health") and pod is not None:
                self._send(200, "ok\n")
                return
            status = infra.health(path) if infra is not None else None
            if status is None:
                self._send(404, "not found\n")
            else:
                self._send(status, "ok\n" if status == 200 else "region unavailable\n")

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


def write_history(path: Path, config: dict[str, Any], traffic: list[PodTraffic], scenario: Scenario) -> None:
    """The pods' recent past (config["history"]: start and step), written atomically for the backfill."""
    spec = config["history"]
    end = time.time()
    _write_json(path, {"end": end, "pods": [
        {"port": t.pod["port"], "series": t.history(spec["start"], end, spec["step"], scenario)} for t in traffic]})


def write_infra_history(path: Path, config: dict[str, Any], infra: Infra) -> None:
    """The infra process's recent past, in the same form; `pushed` series carry their final labels."""
    spec = config["history"]
    end = time.time()
    scraped, pushed = infra.history(spec["start"], end, spec["step"])
    _write_json(path, {"end": end, "pods": [{"port": infra.cfg["port"], "series": scraped}], "pushed": pushed})


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    """Atomically, so the stack never backfills half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(doc), encoding="utf-8")
    tmp.replace(path)


def serve(config: dict[str, Any], service: str | None, history_out: Path | None = None,
          base: Path = Path()) -> None:
    """Serve until killed; a relative scenario file is looked up under `base` (the config file's directory)."""
    scenarios = ScenarioFile(base / config["scenario_file"])
    servers: list[ThreadingHTTPServer] = []
    stop = threading.Event()
    if service is None:
        infra = Infra(config, scenarios)
        servers.append(ThreadingHTTPServer(("127.0.0.1", infra.cfg["port"]), _handler(None, infra, scenarios)))
        if history_out is not None:
            write_infra_history(history_out, config, infra)
        threading.Thread(target=infra.push_backup_forever, args=(stop,), daemon=True).start()
    else:
        pods = [p for p in config["pods"] if p["service"] == service]
        if not pods:
            raise SystemExit(f"no pods for service {service!r} in the workload config")
        traffic = [PodTraffic(p, config) for p in pods]
        for t in traffic:
            servers.append(ThreadingHTTPServer(("127.0.0.1", t.pod["port"]), _handler(t, None, scenarios)))
        if history_out is not None:
            write_history(history_out, config, traffic, scenarios.get())
    for srv in servers:
        srv.daemon_threads = True
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    # SIGTERM (from `stack down`) ends the process at once: there is nothing to flush.
    try:
        while not stop.wait(3600):
            pass
    except KeyboardInterrupt:
        pass


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m zarish_obs.stack.exporter")
    parser.add_argument("config", type=Path)
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--service")
    who.add_argument("--infra", action="store_true")
    parser.add_argument("--history-out", type=Path, help="first write the recent past of its series here")
    args = parser.parse_args(argv)
    serve(json.loads(args.config.read_text(encoding="utf-8")), None if args.infra else args.service,
          args.history_out, args.config.absolute().parent)


if __name__ == "__main__":
    main()
