"""Benchmark (not a test): zarish-obs alert rules versus a Sloth-style per-SLO layout.

For synthetic catalogs of 10, 100 and 1,000 services it prints generation time, rule counts and the
rule-group evaluation cost in a real Prometheus loaded with matching synthetic history, read from
`prometheus_rule_group_last_duration_seconds`, and the ratios between the two layouts.

The comparison layout is written here from Sloth's documented structure (no Sloth code): per SLO, 8 SLI
recording rules (ratios over 5m, 30m, 1h, 2h, 6h, 1d, 3d from the raw counters and the period ratio as
the average of the recorded 5m ratio), 7 metadata recording rules and 2 multiwindow alerts (page, ticket):
17 rules per SLO, one rule group per service. Its SLI expressions come from zarish_obs.promql (one
service at a time), so both layouts measure the same events.

Both layouts get the same backfilled history: raw counters and histograms at 15 s, plus the history of
the recorded series each layout reads back over long windows (our 5m increases, hourly increases and hour so
far; Sloth's 5m ratio), so neither starts with empty long windows.

It prints, per size and in one run, one evaluation of every group (the sum of each group's last duration) and
the evaluation CPU per minute (each group's last duration times its evaluations per minute) of both layouts,
and their ratios, plus our costliest groups.

    nice .venv/bin/python bench/bench_alerts.py [--sizes 10,100,1000] [--minutes 30]
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests
import yaml

from zarish_obs import conventions, openmetrics, procs, promql
from zarish_obs.alerts.render import rule_files, rule_groups
from zarish_obs.catalog import Catalog, parse_catalog
from zarish_obs.writers import to_yaml

OBJECTIVES = (99.9, 99.5, 99.0, 95.0)
THRESHOLDS = (0.25, 0.5, 1.0)
# Healthy services (no SLO burns its budget): the steady state both layouts spend most of their time in.
BUCKETS = ((0.1, 0.9), (0.25, 0.995), (0.5, 0.998), (1.0, 0.999), (2.5, 0.9995))
SCRAPE = 15
WAIT_ITERATIONS = 2
RUN_DEADLINE = 240.0
SLOTH_WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
SLOTH_TIERS = (("page", (("1h", "5m", 14.4), ("6h", "30m", 6.0))),
               ("ticket", (("1d", "2h", 3.0), ("3d", "6h", 1.0))))


def synthetic_catalog(n: int) -> Catalog:
    services = [{"name": f"svc-{i:04d}", "slos": {
        "availability": {"objective": OBJECTIVES[i % len(OBJECTIVES)], "window": "30d"},
        "latency": {"objective": 99.0, "threshold_seconds": THRESHOLDS[i % len(THRESHOLDS)], "window": "30d"}}}
        for i in range(n)]
    data = {"version": 1, "name": f"bench-{n}", "regions": [{"name": "dhaka", "role": "primary"}],
            "environments": [{"name": "production", "namespace": "prod"}], "services": services}
    return parse_catalog(yaml.safe_dump(data))


# -- the Sloth-style layout ------------------------------------------------------------------------------
def _sloth_slo_rules(catalog: Catalog, svc: str, kind: str, objective: float) -> list[dict[str, Any]]:
    s = promql.signals(catalog)
    service = next(x for x in catalog.services if x.name == svc)
    slo_id = f"{svc}-{kind}"
    ident = {"sloth_id": slo_id, "sloth_service": svc, "sloth_slo": kind}
    sel = f'{{sloth_id="{slo_id}"}}'
    budget = round(1 - objective / 100, 12)
    rules: list[dict[str, Any]] = []
    for w in SLOTH_WINDOWS:
        expr = s.slo_error_ratio_raw(kind, [service], w)
        rules.append({"record": f"slo:sli_error:ratio_rate{w}", "expr": expr, "labels": {**ident, "sloth_window": w}})
    rules.append({"record": "slo:sli_error:ratio_rate30d",
                  "expr": f"sum_over_time(slo:sli_error:ratio_rate5m{sel}[30d]) / ignoring (sloth_window) "
                          f"count_over_time(slo:sli_error:ratio_rate5m{sel}[30d])",
                  "labels": {**ident, "sloth_window": "30d"}})
    on = "on (sloth_id, sloth_slo, sloth_service) group_left"
    rules += [
        {"record": "slo:objective:ratio", "expr": f"vector({objective / 100})", "labels": ident},
        {"record": "slo:error_budget:ratio", "expr": f"vector(1 - {objective / 100})", "labels": ident},
        {"record": "slo:time_period:days", "expr": "vector(30)", "labels": ident},
        {"record": "slo:current_burn_rate:ratio",
         "expr": f"slo:sli_error:ratio_rate5m{sel} / {on} slo:error_budget:ratio{sel}", "labels": ident},
        {"record": "slo:period_burn_rate:ratio",
         "expr": f"slo:sli_error:ratio_rate30d{sel} / {on} slo:error_budget:ratio{sel}", "labels": ident},
        {"record": "slo:period_error_budget_remaining:ratio",
         "expr": f"1 - slo:period_burn_rate:ratio{sel}", "labels": ident},
        {"record": "sloth_slo_info", "expr": "vector(1)", "labels": {**ident, "sloth_objective": str(objective)}},
    ]
    for severity, tiers in SLOTH_TIERS:
        parts = []
        for long, short, factor in tiers:
            parts.append(
                f"(max(slo:sli_error:ratio_rate{short}{sel} > ({factor} * {budget})) without (sloth_window) and "
                f"max(slo:sli_error:ratio_rate{long}{sel} > ({factor} * {budget})) without (sloth_window))")
        rules.append({"alert": f"{kind.capitalize()}HighErrorRate", "expr": " or ".join(parts),
                      "labels": {"severity": severity, "sloth_severity": severity}})
    return rules


def sloth_rule_file(catalog: Catalog) -> str:
    groups = []
    for svc in catalog.services:
        rules = []
        for kind, slo in svc.slo_items():
            rules += _sloth_slo_rules(catalog, svc.name, kind, slo.objective)
        groups.append({"name": f"sloth-slo-{svc.name}", "rules": rules})
    return to_yaml({"groups": groups})


# -- synthetic history -----------------------------------------------------------------------------------
def history(catalog: Catalog, minutes: int, end: int) -> list[openmetrics.Family]:
    m = catalog.metrics
    times = openmetrics.grid(end - minutes * 60, end, SCRAPE)
    req = openmetrics.Family(m.requests_total.removesuffix("_total"), "counter")
    hist = openmetrics.Family(m.latency_histogram, "histogram")
    ours = {name: openmetrics.Family(name, "gauge") for bad in (False, True)
            for name in (conventions.slo_events(conventions.TILE, bad),
                         conventions.slo_events(conventions.HOUR_TILE, bad), conventions.slo_events_so_far(bad))}
    minutes_grid = openmetrics.grid(end - minutes * 60, end, 60)
    sloth = openmetrics.Family("slo:sli_error:ratio_rate5m", "gauge")
    for i, svc in enumerate(catalog.services):
        rate = 5.0 + i % 7
        err = 0.00015 * (1 + i % 5)
        base = {m.environment_label: "production", m.service_label: svc.name}
        def steady(per_second: float) -> list[tuple[int, float]]:
            return openmetrics.counter(times, lambda t: per_second)

        req.add(m.requests_total, {**base, m.status_label: "200"}, steady(rate * (1 - err)))
        req.add(m.requests_total, {**base, m.status_label: "500"}, steady(rate * err))
        for le, share in BUCKETS:
            hist.add(f"{m.latency_histogram}_bucket", {**base, "le": repr(le)}, steady(rate * share))
        hist.add(f"{m.latency_histogram}_bucket", {**base, "le": "+Inf"}, steady(rate))
        hist.add(f"{m.latency_histogram}_count", base, steady(rate))
        hist.add(f"{m.latency_histogram}_sum", base, steady(rate * 0.2))
        assert svc.slos.latency is not None
        slow = 1 - dict(BUCKETS)[svc.slos.latency.threshold_seconds]
        for kind, bad in (("availability", err), ("latency", slow)):
            labels = {**base, "slo": kind}
            for flag, share in ((False, 1.0), (True, bad)):
                tile = rate * 300 * share
                for name, ts, value in ((conventions.slo_events(conventions.TILE, flag), times, tile),
                                        (conventions.slo_events(conventions.HOUR_TILE, flag), minutes_grid, 12 * tile),
                                        (conventions.slo_events_so_far(flag), minutes_grid, 6 * tile)):
                    ours[name].add(name, labels, [(t, value) for t in ts])
            ident = {"sloth_id": f"{svc.name}-{kind}", "sloth_service": svc.name, "sloth_slo": kind,
                     "sloth_window": "5m"}
            sloth.add("slo:sli_error:ratio_rate5m", {**base, **ident}, [(t, bad) for t in times])
    return [req, hist, *ours.values(), sloth]


# -- running Prometheus ----------------------------------------------------------------------------------
_METRIC = re.compile(r'^(prometheus_rule_group_\w+)\{rule_group="([^"]+)"\} (\S+)$')


def group_metrics(url: str) -> dict[str, dict[str, float]]:
    """rule group -> {last_duration, iterations, interval}."""
    out: dict[str, dict[str, float]] = {}
    text = requests.get(f"{url}/metrics", timeout=30).text
    for line in text.splitlines():
        match = _METRIC.match(line)
        if not match:
            continue
        name, group, value = match.groups()
        key = {"prometheus_rule_group_last_duration_seconds": "last",
               "prometheus_rule_group_iterations_total": "iterations",
               "prometheus_rule_group_interval_seconds": "interval"}.get(name)
        if key:
            out.setdefault(group, {})[key] = float(value)
    return out


def measure(work: Path, catalog: Catalog, files: dict[str, str], minutes: int) -> dict[str, float]:
    """Backfill fresh history, load `files` as rules, and read the groups' evaluation durations."""
    work.mkdir(parents=True)
    for name, text in files.items():
        (work / name).write_text(text)
    end = int(time.time()) - 5
    started = time.monotonic()
    om = openmetrics.write(work / "history.om", history(catalog, minutes, end))
    openmetrics.backfill(om, work / "data")
    om.unlink()
    backfill_s = time.monotonic() - started
    config = work / "prometheus.yml"
    config.write_text(to_yaml({"global": {"scrape_interval": f"{SCRAPE}s", "evaluation_interval": f"{SCRAPE}s"},
                               "rule_files": [str(work / n) for n in files]}))
    prom = procs.start_prometheus(config, work / "data", extra=["--log.level=warn"])
    print(f"  {work.name}: backfilled in {backfill_s:.1f}s, Prometheus ready; waiting for "
          f"{WAIT_ITERATIONS} evaluations of every group", file=sys.stderr)
    try:
        deadline = time.monotonic() + RUN_DEADLINE
        groups: dict[str, dict[str, float]] = {}
        while time.monotonic() < deadline:
            groups = group_metrics(prom.url)
            if groups and all(g.get("iterations", 0) >= WAIT_ITERATIONS for g in groups.values()):
                break
            time.sleep(2)
        else:
            print(f"  warning: not every group reached {WAIT_ITERATIONS} iterations in {RUN_DEADLINE:.0f}s",
                  file=sys.stderr)
        sums, per_minute = [], []
        for _ in range(3):
            groups = group_metrics(prom.url)
            sums.append(sum(g.get("last", 0) for g in groups.values()))
            per_minute.append(sum(g.get("last", 0) * 60 / max(g.get("interval", SCRAPE), 1) for g in groups.values()))
            time.sleep(SCRAPE)
        top = sorted(((g.get("last", 0), name.rsplit(";", 1)[-1]) for name, g in groups.items()), reverse=True)[:3]
        return {"groups": len(groups), "sum_last_s": statistics.median(sums),
                "cpu_s_per_min": statistics.median(per_minute), "backfill_s": backfill_s,
                "top": ", ".join(f"{name} {last:.3f}s" for last, name in top)}
    finally:
        prom.stop()


def count_rules(text: str) -> int:
    return sum(len(g["rules"]) for g in yaml.safe_load(text)["groups"])


def run(sizes: list[int], minutes: int) -> None:
    rows = []
    with tempfile.TemporaryDirectory(prefix="zarish-bench-alerts-") as tmp:
        try:
            for n in sizes:
                cat = synthetic_catalog(n)
                t0 = time.perf_counter()
                ours = rule_files(cat)
                gen_s = time.perf_counter() - t0
                t0 = time.perf_counter()
                sloth = {"sloth.yml": sloth_rule_file(cat)}
                sloth_gen_s = time.perf_counter() - t0
                ours_rules = sum(len(g["rules"]) for groups in rule_groups(cat).values() for g in groups)
                sloth_rules = count_rules(sloth["sloth.yml"])
                slos = sum(len(s.slo_items()) for s in cat.services)
                print(f"[{n} services, {slos} SLOs] generated: zarish-obs {ours_rules} rules in {gen_s:.2f}s, "
                      f"sloth-style {sloth_rules} rules in {sloth_gen_s:.2f}s; measuring...", file=sys.stderr)
                mo = measure(Path(tmp) / f"ours-{n}", cat, ours, minutes)
                ms = measure(Path(tmp) / f"sloth-{n}", cat, sloth, minutes)
                rows.append((n, slos, gen_s, ours_rules, sloth_rules, mo, ms))
        finally:
            procs.stop_all()
    print(f"\nzarish-obs alert rules vs a Sloth-style per-SLO layout ({minutes} min of history at {SCRAPE}s, "
          "evaluation_interval 15s; cost = sum over groups of prometheus_rule_group_last_duration_seconds)")
    header = (f"{'services':>8} {'SLOs':>5} {'gen s':>6} {'rules':>6} {'sloth rules':>11} {'rule ratio':>10} "
              f"{'groups':>6} {'sloth groups':>12} {'eval s':>8} {'sloth eval s':>12} {'eval ratio':>10} "
              f"{'cpu s/min':>9} {'sloth cpu s/min':>15} {'cpu ratio':>9}")
    print(header)
    for n, slos, gen_s, ours_rules, sloth_rules, mo, ms in rows:
        print(f"{n:>8} {slos:>5} {gen_s:>6.2f} {ours_rules:>6} {sloth_rules:>11} {ours_rules / sloth_rules:>10.3f} "
              f"{mo['groups']:>6.0f} {ms['groups']:>12.0f} {mo['sum_last_s']:>8.4f} {ms['sum_last_s']:>12.4f} "
              f"{mo['sum_last_s'] / ms['sum_last_s']:>10.3f} {mo['cpu_s_per_min']:>9.4f} "
              f"{ms['cpu_s_per_min']:>15.4f} {mo['cpu_s_per_min'] / ms['cpu_s_per_min']:>9.3f}")
    print("ratios are zarish-obs / sloth-style; the goals at 1,000 services: one evaluation of every group (eval "
          "ratio) at most 0.2, CPU per minute (cpu ratio) at most 0.1")
    for n, _, _, _, _, mo, _ in rows:
        print(f"  {n} services, our costliest groups (last duration): {mo['top']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,1000", help="comma-separated service counts")
    parser.add_argument("--minutes", type=int, default=30, help="minutes of backfilled history (15 s samples)")
    args = parser.parse_args()
    run([int(x) for x in args.sizes.split(",")], args.minutes)


if __name__ == "__main__":
    main()
