"""The compliance report against VictoriaMetrics holding an HA pair's two copies of every series: each service
once, with the figures the same history gives on Prometheus (issue 14 item 3).

The pair's copies carry `replica="a"` / `"b"` and a `shard` label; the store drops `replica` on ingestion and
deduplicates, as the README's sharding section tells users to configure it. A store left at its defaults keeps
both copies, and the report then counts every request twice: the comparison would catch a report that relied on
luck rather than on the store's deduplication.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import requests

from zarish_obs import conventions, procs
from zarish_obs.catalog import Catalog, load_catalog
from zarish_obs.monitor.client import settings_from_env
from zarish_obs.monitor.compliance.period import resolve
from zarish_obs.monitor.compliance.run import run_report
from zarish_obs.scrape.shards import (
    REPLICA_LABEL,
    SHARD_LABEL,
    victoria_metrics_dedup_flag,
    victoria_metrics_relabel_config,
)
from zarish_obs.stack.synthetic import STEP, History, Traffic, aligned_end, backfill, const, start_prometheus
from zarish_obs.writers import to_yaml

pytestmark = [pytest.mark.real, pytest.mark.slow]

HOURS = 2


def _history(cat: Catalog, end: int) -> History:
    traffic = [Traffic(s.name, rate=const(4.0 + i), errors=const(0.02 if s.name == "billing" else 0.0005))
               for i, s in enumerate(cat.services)]
    return History(cat, end, raw_seconds=(HOURS + 1) * 3600, recorded_days=0.25, traffic=traffic)


def _import_copies(url: str, text: str) -> None:
    for replica in ("a", "b"):
        r = requests.post(f"{url}/api/v1/import/prometheus", data=text.encode("utf-8"), timeout=120,
                          params=[("extra_label", f"{REPLICA_LABEL}={replica}"), ("extra_label", f"{SHARD_LABEL}=0")])
        r.raise_for_status()
    requests.get(f"{url}/internal/force_flush", timeout=30).raise_for_status()


def _report(cat: Catalog, url: str, end: int) -> dict[str, Any]:
    period = resolve(conventions.report_timezone(cat), time.time(), from_text=str(end - HOURS * 3600), to_text=str(end))
    return run_report(cat, None, period, settings_from_env(url), time.time())


def _figures(report: dict[str, Any]) -> dict[str, tuple[float, dict[str, tuple[float, float]]]]:
    names = [svc["service"] for svc in report["services"]]
    assert len(names) == len(set(names)), names
    return {svc["service"]: (svc["request_count"], {s["slo"]: (s["events"]["total"], s["events"]["bad"])
                                                     for s in svc["slos"]}) for svc in report["services"]}


def test_report_on_victoria_metrics_counts_an_ha_pair_once(tmp_path: Path) -> None:
    cat = load_catalog()
    end = aligned_end(20)
    text = _history(cat, end).text()
    prom = start_prometheus(tmp_path, backfill(text, tmp_path))
    relabel = tmp_path / "relabel.yml"
    relabel.write_text(to_yaml(victoria_metrics_relabel_config()), "utf-8")
    dedup = procs.start_victoria_metrics(tmp_path / "vm-dedup", extra=[
        victoria_metrics_dedup_flag(f"{STEP}s"), f"-relabelConfig={relabel}"])
    plain = procs.start_victoria_metrics(tmp_path / "vm-plain")
    try:
        _import_copies(dedup.url, text)
        _import_copies(plain.url, text)
        truth = _figures(_report(cat, prom.url, end))
        once = _figures(_report(cat, dedup.url, end))
        twice = _figures(_report(cat, plain.url, end))
    finally:
        for p in (prom, dedup, plain):
            p.stop()

    assert sorted(once) == sorted(truth) == sorted(s.name for s in cat.services)
    for name, (requests_seen, slos) in truth.items():
        assert requests_seen > 0
        assert once[name][0] == pytest.approx(requests_seen, rel=0.01), name
        for slo, (total, bad) in slos.items():
            got_total, got_bad = once[name][1][slo]
            assert got_total == pytest.approx(total, rel=0.01), (name, slo)
            assert got_bad == pytest.approx(bad, rel=0.05, abs=2), (name, slo)
        # Without the store's deduplication both copies count: what the configuration above prevents.
        assert twice[name][0] == pytest.approx(2 * requests_seen, rel=0.02), name
