"""The sharded stack's recent past in VictoriaMetrics (history.py says why a fresh stack needs one).

The exporters' history files are the single topology's. Each pod's series get the labels its shard's scrape gives
them, from `promtool check service-discovery` on that shard's config (the generated relabelling, `hashmod`
included, decides both the labels and which shard owns the pod), plus what the shard's remote write adds and the
store keeps: its external labels but `replica`. Pushed series go with the shard that scrapes the Pushgateway. The
text goes in through VictoriaMetrics' Prometheus import API, then vmalert's replay mode records the recording
rules over that past into the store, as the running vmalert records the present.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from zarish_obs import openmetrics, procs
from zarish_obs.conventions import SHARD_LABEL
from zarish_obs.errors import ExitCode, ZarishError
from zarish_obs.stack import history
from zarish_obs.stack.layout import Component, Layout, loopback

IMPORT_PATH = "/api/v1/import/prometheus"
FLUSH_PATH = "/internal/force_flush"
Owners = dict[str, tuple[Component, dict[str, str]]]


def shard_targets(layout: Layout, shards: Sequence[Component]) -> Owners:
    """Pod address -> (the shard that scrapes it, the labels its scrape gives the pod's series), for shards given
    one replica each (the replicas of a shard scrape the same targets). A pod kept by two shards is refused."""
    out: Owners = {}
    for comp in shards:
        for address, labels in history.target_labels(layout.path(comp.extra["config"])).items():
            if address in out:
                raise ZarishError(f"pod {address} is scraped by shards {out[address][0].extra['shard']} and "
                                  f"{comp.extra['shard']}", ExitCode.SOFTWARE)
            out[address] = (comp, labels)
    return out


def _share(docs: list[dict[str, Any]], owners: Owners, shard: Component) -> list[dict[str, Any]]:
    """The parts of the history files one shard would have scraped."""
    out = []
    for doc in docs:
        pods = [p for p in doc["pods"] if owners[loopback(p["port"])][0] is shard]
        pushed = doc.get("pushed", []) if shard.extra["scrapes_pushgateway"] else []
        out.append({**doc, "pods": pods, "pushed": pushed})
    return out


def import_history(store_url: str, history_files: list[Path], shards: Sequence[Component],
                   owners: Owners) -> tuple[int, int]:
    """Every history file into the store, labelled as the live samples arrive; returns (series, history end)."""
    docs = [json.loads(p.read_text("utf-8")) for p in history_files]
    unowned = sorted({p["port"] for d in docs for p in d["pods"] if loopback(p["port"]) not in owners})
    if unowned:
        raise ZarishError(f"no shard scrapes workload port(s) {', '.join(map(str, unowned))}", ExitCode.SOFTWARE)
    series = 0
    for shard in shards:
        targets = {address: labels for address, (owner, labels) in owners.items() if owner is shard}
        families = history.families(_share(docs, owners, shard), targets)
        series += sum(len(f.series) for f in families)
        params = [("extra_label", f"{k}={v}") for k, v in shard.extra["store_labels"].items()]
        try:
            r = requests.post(store_url + IMPORT_PATH, params=params, timeout=60,
                              data=openmetrics.render(families).encode("utf-8"))
            r.raise_for_status()
            requests.get(store_url + FLUSH_PATH, timeout=30).raise_for_status()
        except requests.RequestException as exc:
            raise ZarishError(f"VictoriaMetrics at {store_url}: history import failed: {exc}",
                              ExitCode.UNAVAILABLE) from None
    return series, min(int(d["end"]) for d in docs)


def rfc3339(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def replay_argv(replay: Component, start: int, end: int) -> list[str]:
    """vmalert recording the recording rules over [start, end] into the store (flags from the plan)."""
    return [procs.binary("vmalert"), *replay.extra["flags"], f"-replay.timeFrom={rfc3339(start)}",
            f"-replay.timeTo={rfc3339(end)}", f"-httpListenAddr={loopback(replay.port)}"]


def wait_live(store_url: str, shards: Sequence[Component], since: float, timeout: float) -> None:
    """Until the store holds samples newer than `since` from every shard: vmalert then starts on live data."""
    want = {str(c.extra["shard"]) for c in shards}
    deadline = time.monotonic() + timeout
    seen: set[str] = set()
    while time.monotonic() < deadline:
        try:
            r = requests.get(f"{store_url}/api/v1/query", timeout=5,
                             params={"query": f"max by ({SHARD_LABEL}) (timestamp(up))"})
            seen = {x["metric"].get(SHARD_LABEL, "") for x in r.json()["data"]["result"]
                    if float(x["value"][1]) >= since}
        except (requests.RequestException, ValueError, KeyError):
            pass
        if want <= seen:
            return
        time.sleep(0.2)
    raise ZarishError(f"VictoriaMetrics at {store_url} has no live samples from shard(s) "
                      f"{', '.join(sorted(want - seen))} within {timeout:.0f}s", ExitCode.UNAVAILABLE)
