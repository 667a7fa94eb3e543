"""Benchmark (not a test): `monitor check` against a real Prometheus holding 10, 100 and 1,000 services.

Prints, per size: queries per check; wall time and peak memory of the real CLI (`python -m
zarish_obs.stack.main monitor check --format json`); the in-process check time; and the ratios against
(a) the same signals queried one service at a time (same client, same parallelism) and (b) the floor:
the check's own aggregated PromQL sent straight over HTTP with requests (same parallelism), plus the
interpreter start-up measured separately.

    nice .venv/bin/python bench/bench_monitor.py [--sizes 10,100,1000] [--repeat 5] [--hours 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
import yaml

from zarish_obs.catalog import Catalog, default_catalog_text, parse_catalog
from zarish_obs.monitor.check import run_check
from zarish_obs.monitor.client import Client, settings_from_env
from zarish_obs.monitor.queries import per_service_plan, plan, recorded_probe, send_order
from zarish_obs.stack.synthetic import History, Traffic, aligned_end, const, dr_gauges, served

THRESHOLDS = (0.25, 0.5, 1.0, 2.5)
PARALLEL = 4


def bench_catalog(n: int, scrape_interval: str | None = None) -> tuple[Catalog, str]:
    """The built-in catalog with `n` services (objectives and thresholds varied), and its YAML text."""
    data = yaml.safe_load(default_catalog_text())
    if scrape_interval:
        data["prometheus"] = {**(data.get("prometheus") or {}), "scrape_interval": scrape_interval}
    data["services"] = [{"name": f"svc-{i:04d}", "slos": {
        "availability": {"objective": 99.9 if i % 3 else 99.5, "window": "30d"},
        "latency": {"objective": 99.0, "threshold_seconds": THRESHOLDS[i % len(THRESHOLDS)], "window": "30d"}}}
        for i in range(n)]
    text = yaml.safe_dump(data, sort_keys=False)
    return parse_catalog(text, f"<bench {n}>"), text


def median_time(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


# Peak RSS from wait4 counts the pages of the process a child was forked (or vforked) from, so the
# measured command is started by a small launcher interpreter rather than by this big process.
LAUNCHER = """
import os, sys, time
t = time.perf_counter()
pid = os.fork()
if pid == 0:
    fd = os.open(os.devnull, os.O_WRONLY)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
print(time.perf_counter() - t, os.waitstatus_to_exitcode(status), usage.ru_maxrss)
"""


# Everything `monitor check` does before its first query: the command line built, the modules the command
# imports, the built-in catalog loaded as the command loads it, the client and the probe query made.
STARTUP = ("import typer; from zarish_obs.stack.main import build_app; "
           "typer.main.get_command(build_app(['monitor', 'check'])); "
           "from zarish_obs import catalog_cache; from zarish_obs.monitor import export, report; "
           "from zarish_obs.monitor.check import Client, default_environment, recorded_probe, settings_from_env; "
           "cat = catalog_cache.load(None); "
           "Client(settings_from_env('http://127.0.0.1:9090'), 0.0); recorded_probe(cat, default_environment(cat))")


def run_child(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, int, int]:
    """Wall seconds, exit code and peak RSS (KiB) of one run of `argv`."""
    out = subprocess.run([sys.executable, "-c", LAUNCHER, *argv], capture_output=True, text=True, check=True,
                         env=None if env is None else {**os.environ, **env})
    wall, rc, rss = out.stdout.split()
    return float(wall), int(rc), int(rss)


def floor(url: str, exprs: list[str], at: int) -> None:
    """The check's aggregated PromQL, straight over HTTP: the least any client could do."""
    session = requests.Session()

    def one(expr: str) -> None:
        r = session.get(f"{url}/api/v1/query", params={"query": expr, "time": str(at)}, timeout=60)
        r.raise_for_status()
        r.json()

    with ThreadPoolExecutor(PARALLEL) as pool:
        list(pool.map(one, exprs))


def one_at_a_time(cat: Catalog, url: str, at: int, source: str) -> int:
    """The same signals, one service at a time, through the monitor's own client."""
    client = Client(settings_from_env(url, deadline=3600, timeout=60, parallel=PARALLEL), at)
    queries: dict[str, str] = {}
    for svc in cat.services:
        for q in per_service_plan(cat, "production", svc.name, source):
            queries[f"{svc.name}/{q.name}"] = q.expr
    results = client.query_many(queries)
    failed = [k for k, v in results.items() if not isinstance(v, list)]
    if failed:
        raise RuntimeError(f"{len(failed)} per-service queries failed, e.g. {failed[0]}: {results[failed[0]]}")
    return len(queries)


def bench_size(n: int, hours: float, repeat: int, work: Path, python: str) -> dict[str, float]:
    cat, text = bench_catalog(n)
    catalog_path = work / f"catalog-{n}.yaml"
    catalog_path.write_text(text)
    end = aligned_end(10)
    traffic = [Traffic(s.name, rate=const(2.0 + i % 7), instances=1) for i, s in enumerate(cat.services)]
    history = History(cat, end, raw_seconds=int(hours * 3600), recorded_days=1, traffic=traffic,
                      gauges=dr_gauges(cat))
    t = time.perf_counter()
    with served(history, work / f"prom-{n}", "prometheus") as prom:
        load = time.perf_counter() - t
        report = run_check(cat, prom.url, at=end, parallel=PARALLEL)  # warm-up, and a sanity check
        if report["status"] != "ok":
            raise RuntimeError(f"{n} services: expected OK, got {report['status']}: {report['errors'][:3]}")
        source = report["slo_source"]
        queries = report["queries"]
        exprs = [recorded_probe(cat, "production").expr] + [q.expr for q in send_order(plan(cat, "production",
                                                                                            source))]
        in_process = median_time(lambda: run_check(cat, prom.url, at=end, parallel=PARALLEL), repeat)
        http_floor = median_time(lambda: floor(prom.url, exprs, end), repeat)
        cli = [python, "-m", "zarish_obs.stack.main", "monitor", "check", "--format", "json", "--catalog",
               str(catalog_path), "--prometheus-url", prom.url, "--at", str(end), "--deadline", "120",
               "--timeout", "60"]
        runs = [run_child(cli) for _ in range(repeat)]
        if any(rc != 0 for _, rc, _ in runs):
            raise RuntimeError(f"the CLI exited {[rc for _, rc, _ in runs]}")
        cli_wall = statistics.median(r[0] for r in runs)
        cli_rss = max(r[2] for r in runs)
        t = time.perf_counter()
        naive_queries = one_at_a_time(cat, prom.url, end, source)
        naive = time.perf_counter() - t
    return {"services": n, "load": load, "queries": queries, "source": source, "in_process": in_process,
            "floor": http_floor, "cli_wall": cli_wall, "cli_rss_mib": cli_rss / 1024, "naive": naive,
            "naive_queries": naive_queries}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10,100,1000")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--hours", type=float, default=1.0)
    args = ap.parse_args()
    python = sys.executable
    bare = statistics.median(run_child([python, "-c", "pass"])[0] for _ in range(args.repeat))
    imports = statistics.median(run_child([python, "-c", "import zarish_obs.stack.main"])[0]
                                for _ in range(args.repeat))
    print(f"interpreter start-up: bare python {bare * 1000:.0f} ms; python + zarish-obs CLI imports "
          f"({imports * 1000:.0f} ms, import zarish_obs.stack.main)")
    run_child([python, "-c", STARTUP])  # the first run validates the catalog and stores its snapshot
    runs = [(run_child([python, "-c", "import typer, requests"])[0], run_child([python, "-c", STARTUP])[0],
             run_child([python, "-c", STARTUP], {"ZARISH_CACHE_DIR": "off"})[0])
            for _ in range(max(args.repeat, 11))]  # interleaved, so drift in the machine's speed cancels
    floor, warm, cold = (statistics.median(r[i] for r in runs) for i in range(3))
    warm_ratio, cold_ratio = (statistics.median(r[i] / r[0] for r in runs) for i in (1, 2))
    print("monitor check start-up (all it does before its first query: command line, imports, built-in catalog, "
          f"client, probe), against `python -c 'import typer, requests'` ({floor * 1000:.0f} ms):")
    print(f"  catalog snapshot cached (every cron run on an unchanged catalog): {warm * 1000:.0f} ms = "
          f"{warm_ratio:.2f}x (goal at most 1.5x)")
    print(f"  catalog validated (the first run after an edit; cache off): {cold * 1000:.0f} ms = {cold_ratio:.2f}x")
    print(f"parallel queries: {PARALLEL}; median of {args.repeat} runs; history {args.hours:g} h at 15 s plus 1 d "
          "of recorded 5m SLO increases\n")
    header = (f"{'services':>8} {'queries':>7} {'source':>8} {'load s':>7} {'check ms':>9} {'floor ms':>9} "
              f"{'CLI ms':>7} {'CLI MiB':>8} {'1-by-1 q':>9} {'1-by-1 ms':>10} {'vs 1-by-1':>9} "
              f"{'vs floor':>8} {'CLI/(floor+py)':>15} {'CLI/(floor+imports)':>20}")
    print(header)
    with tempfile.TemporaryDirectory(prefix="zarish-bench-") as tmp:
        for n in (int(x) for x in args.sizes.split(",")):
            r = bench_size(n, args.hours, args.repeat, Path(tmp), python)
            print(f"{r['services']:>8} {r['queries']:>7} {r['source']:>8} {r['load']:>7.1f} "
                  f"{r['in_process'] * 1000:>9.0f} {r['floor'] * 1000:>9.0f} {r['cli_wall'] * 1000:>7.0f} "
                  f"{r['cli_rss_mib']:>8.0f} {r['naive_queries']:>9} {r['naive'] * 1000:>10.0f} "
                  f"{r['naive'] / r['in_process']:>8.1f}x {r['in_process'] / r['floor']:>7.2f}x "
                  f"{r['cli_wall'] / (r['floor'] + bare):>14.2f}x {r['cli_wall'] / (r['floor'] + imports):>19.2f}x",
                  flush=True)
    print("\ncheck = run_check() in-process (queries + evaluation); floor = the same aggregated PromQL over plain "
          "HTTP;\nCLI = the real cron command in a fresh interpreter; 1-by-1 = the same signals per service.")


if __name__ == "__main__":
    # An installed zarish-obs has its bytecode compiled, as typer and requests have theirs; with writing it off
    # (as in some CI images) every run would compile this package's sources and time the compiler.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    with tempfile.TemporaryDirectory(prefix="zarish-bench-cache-") as snapshots:
        os.environ["ZARISH_CACHE_DIR"] = snapshots  # the catalog snapshots the cron command keeps between runs
        main()
