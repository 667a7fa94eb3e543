"""Benchmark (not a test): `zarish-obs report` over 31 days on a real Prometheus with 100 and 1,000 services.

Prints, per size: the queries the report sends (the goal: the same at 100 and at 1,000), its wall time
in-process (queries, assembly, JSON) and through the real CLI, and the ratio to replaying its own queries
(the very same expressions, ranges and steps) straight over HTTP with requests at the same parallelism
(goal: at most 1.5x).

The history: every service has 2xx and 5xx request counters and a latency histogram (its threshold's bucket,
+Inf, count) in production, one sample every 4 minutes for 33 days (every sample of 31 days is read;
a 15 s scrape would be 16x the data and hours of backfill on 2 cores). 1,000 services are 5,000 series and
about 59 M samples; the TSDB is built once into .bench-cache/ (minutes) and reused.

    nice .venv/bin/python bench/bench_report.py [--sizes 100,1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from bench_monitor import (  # a sibling script: python puts the script's folder first on the path
    THRESHOLDS,
    bench_catalog,
    median_time,
)

from zarish_obs import openmetrics, procs

CACHE = Path(__file__).resolve().parent.parent / ".bench-cache" / "report"
STEP = 240
DAYS = 31
LEAD_DAYS = 2
PARALLEL = 4


def history_end(now: float) -> int:
    """A whole day boundary (UTC) at least an hour back, so blocks never reach into the future."""
    return int((now - 3600) // 86400 * 86400)


def write_history(path: Path, services: int, start: int, end: int) -> None:
    """The counters of `services` services, each series ascending, streamed (the file is several GB).
    Each service has a 5xx burst of 20 minutes on one day of the month, so the report finds incidents."""
    times = list(range(start, end + 1, STEP))
    stamps = [f" {t}\n" for t in times]
    with path.open("w", encoding="utf-8") as out:
        out.write("# TYPE http_requests counter\n")
        for i in range(services):
            rate = 2.0 + (i % 7)
            burst_day = start + (LEAD_DAYS + i % DAYS) * 86400 + 36000
            for status, share in (("200", None), ("500", 0.0005)):
                lab = f'http_requests_total{{environment="production",service="svc-{i:04d}",status="{status}"}} '
                value = 0.0
                for k, t in enumerate(times):
                    if k:
                        in_burst = burst_day <= t < burst_day + 1200
                        bad = 0.3 if in_burst else share or 0.0
                        value += rate * STEP * (bad if status == "500" else 1 - (0.3 if in_burst else 0.0005))
                    out.write(lab + f"{value:.3f}" + stamps[k])
        out.write("# TYPE http_request_duration_seconds histogram\n")
        for i in range(services):
            rate = 2.0 + (i % 7)
            base = f'environment="production",service="svc-{i:04d}"'
            threshold = THRESHOLDS[i % len(THRESHOLDS)]
            for name, share in ((f'http_request_duration_seconds_bucket{{{base},le="{threshold}"}} ', 0.995),
                                (f'http_request_duration_seconds_bucket{{{base},le="+Inf"}} ', 1.0),
                                (f"http_request_duration_seconds_count{{{base}}} ", 1.0)):
                per_step = rate * STEP * share
                for k in range(len(times)):
                    out.write(name + f"{per_step * k:.3f}" + stamps[k])
        out.write("# EOF\n")


def tsdb(services: int, start: int, end: int) -> Path:
    """The backfilled TSDB for this size and range, built once and kept in the cache."""
    data = CACHE / f"{services}-{start}-{end}"
    if (data / "done").is_file():
        return data
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    text = data / "history.om"
    t = time.perf_counter()
    write_history(text, services, start, end)
    size = text.stat().st_size
    openmetrics.backfill(text, data / "tsdb", max_block_duration="2400h")
    text.unlink()
    (data / "done").write_text("ok\n")
    print(f"  built the history for {services} services: {size / 2**20:.0f} MiB of OpenMetrics, "
          f"{time.perf_counter() - t:.0f}s", flush=True)
    return data


def replay(url: str, queries: dict[str, object]) -> int:
    """The report's own queries (and its runtime-info call) straight over HTTP, `PARALLEL` at a time, chunked
    as the client chunks them: the floor any client of the same queries pays. Returns the requests sent."""
    from zarish_obs.monitor.client import Instant, Range, chunks

    calls: list[tuple[str, dict[str, str]]] = [("/api/v1/status/runtimeinfo", {})]
    for spec in queries.values():
        if isinstance(spec, Instant):
            calls.append(("/api/v1/query", {"query": spec.expr, "time": str(spec.at)}))
        elif isinstance(spec, Range):
            for a, b in chunks(spec.start, spec.end, spec.step):
                calls.append(("/api/v1/query_range", {"query": spec.expr, "start": str(a), "end": str(b),
                                                      "step": str(spec.step)}))
    session = requests.Session()

    def one(call: tuple[str, dict[str, str]]) -> None:
        r = session.get(url + call[0], params=call[1], timeout=600)
        r.raise_for_status()
        r.json()

    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        list(pool.map(one, calls))
    return len(calls)


def measure(n: int, start: int, end: int, now: float, repeat: int) -> tuple:
    """One size: the report in-process and through the CLI, and the floor, against one Prometheus."""
    from zarish_obs.conventions import report_timezone
    from zarish_obs.monitor.client import settings_from_env
    from zarish_obs.monitor.compliance import formats
    from zarish_obs.monitor.compliance.period import resolve
    from zarish_obs.monitor.compliance.queries import plan
    from zarish_obs.monitor.compliance.run import run_report

    cached = tsdb(n, start, end)
    cat, text = bench_catalog(n, f"{STEP // 60}m")
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        work = Path(tmp)
        shutil.copytree(cached / "tsdb", work / "data")
        config = work / "prometheus.yml"
        config.write_text("global:\n  scrape_interval: 1h\n")
        catalog_file = work / "catalog.yaml"
        catalog_file.write_text(text)
        with procs.running(procs.start_prometheus(config, work / "data")) as prom:
            url = prom.url
            period = resolve(report_timezone(cat), now, from_text=str(end - DAYS * 86400), to_text=str(end))
            settings = settings_from_env(url, timeout=600, deadline=3600, parallel=PARALLEL)
            queries = plan(cat, "production", period)
            report: dict = {}

            def in_process() -> None:
                report.update(run_report(cat, "production", period, settings, time.time()))
                formats.render(report, "json")

            def cli() -> None:
                proc = subprocess.run(
                    procs.python_module("zarish_obs.stack.main", "report", "--catalog", str(catalog_file),
                                        "--prometheus-url", url, "--from", str(int(period.start)), "--to",
                                        str(int(period.end)), "--deadline", "3600", "--timeout", "600",
                                        "--out", str(work / "r.json")),
                    capture_output=True, text=True)
                if proc.returncode not in (0, 1):
                    raise SystemExit(f"report CLI failed: {proc.stderr.strip()}")

            http = replay(url, queries)  # warms the page cache and Prometheus's caches alike for both
            floor_s = median_time(lambda: replay(url, queries), repeat)
            report_s = median_time(in_process, repeat)
            cli_s = median_time(cli, repeat)
    incidents = sum(len(s["incidents"]) for s in report["services"])
    return n, report["queries"], http, report_s, floor_s, cli_s, incidents, report["complete"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="100,1000")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    now = time.time()
    end = history_end(now)
    start = end - (DAYS + LEAD_DAYS) * 86400
    print(f"bench_report: {DAYS} days of history at {STEP}s per sample; median of {args.repeat} runs", flush=True)
    rows = [measure(int(n), start, end, now, args.repeat) for n in args.sizes.split(",")]
    print(f"{'services':>8} {'queries':>7} {'HTTP':>5} {'report s':>8} {'floor s':>7} {'CLI s':>6} "
          f"{'report/floor':>12} {'CLI/floor':>9} {'incidents':>9} complete")
    for n, q, http, rep, flo, cli_s, inc, complete in rows:
        print(f"{n:>8} {q:>7} {http:>5} {rep:>8.2f} {flo:>7.2f} {cli_s:>6.2f} {rep / flo:>11.2f}x "
              f"{cli_s / flo:>8.2f}x {inc:>9} {complete}")
    counts = {r[1] for r in rows}
    print(f"queries per report: {'the same' if len(counts) == 1 else 'DIFFERENT'} at every size ({sorted(counts)})")
    json.dump([dict(zip(("services", "queries", "http", "report_s", "floor_s", "cli_s", "incidents", "complete"),
                        r, strict=True)) for r in rows], sys.stderr)
    print(file=sys.stderr)


if __name__ == "__main__":
    main()
