"""The local stack's sharded topology (`stack up --topology sharded`): its servers and files, as plain data.

Issue 14's topology on loopback, every file from the builders users run:

- Prometheus shards: `scrape generate --shards 2 --replicas 2`'s builder (`scrape.shards.build_member_config`) with
  the stack's static pods, so the pod job's generated `hashmod` relabelling decides which shard scrapes which
  exporter. Shard 0 runs both its replicas (the HA pair), shard 1 its first replica only: three servers, the
  fewest with both an HA pair and a second shard. With two shards the builder gives no shard rules or alerting.
- VictoriaMetrics (single node), which every shard remote-writes to (the stack's catalog copy lists it as its only
  `prometheus.remote_write`), configured as the shards module tells users: `-relabelConfig` dropping `replica`
  and `-dedup.minScrapeInterval` equal to the scrape interval.
- vmalert running `alerts generate --target vmalert`'s rule files with its generated flags: VictoriaMetrics as
  datasource, remote write and remote read target, the stack's Alertmanager as notifier. Rule paths in the flags
  are relative to the state directory, where vmalert runs.

The receiver, exporters, infra process, Pushgateway, blackbox exporter and Alertmanager are the single topology's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from zarish_obs.alerts import engines
from zarish_obs.catalog import Catalog, RemoteWrite
from zarish_obs.conventions import REPLICA_LABEL
from zarish_obs.durations import parse_duration
from zarish_obs.procs import VICTORIA_METRICS_LATENCY_OFFSET
from zarish_obs.scrape.shards import (
    REPLICA_NAMES,
    Member,
    build_member_config,
    members,
    victoria_metrics_dedup_flag,
    victoria_metrics_relabel_config,
)
from zarish_obs.stack import configs, layout
from zarish_obs.stack.layout import STORE_KIND, Component, loopback, loopback_component
from zarish_obs.writers import to_yaml

SHARDS = 2
REPLICAS = 2  # what the builder is asked for; shard 0 runs both, the others their first (see running_members)
SHARD_KIND = "prometheus-shard"
RULER_KIND = "vmalert"
REPLAY_KIND = "vmalert-replay"  # a short-lived vmalert that records the rules over the imported history
START_ORDER = ("receiver", "exporter", "infra", "pushgateway", "blackbox", "alertmanager", STORE_KIND, SHARD_KIND,
               RULER_KIND)
STORE_RELABEL_YML = f"{layout.CONFIG}/victoria-metrics-relabel.yml"
VMALERT_FLAGS = f"{layout.CONFIG}/{engines.VMALERT_FLAGS_FILE}"
STORE_DATA = f"{layout.DATA}/victoria-metrics"
REMOTE_WRITE_PATH = "/api/v1/write"
# VictoriaMetrics keeps a cache of query results over past ranges; the stack imports its history into the past
# after starting it, so the cache stays off (VictoriaMetrics' own advice when backfilling).
STORE_FLAGS = ("-search.disableCache",)
# On shutdown a Prometheus keeps trying to deliver unsent samples for a minute by default; the store stops with it,
# so the shards give up after a second (`stack down` would otherwise wait for each, then kill it).
SHARD_FLAGS = ("--storage.remote.flush-deadline=1s",)
RULE_FLAG = "-rule="
# The generated vmalert flags a replay of the recording rules keeps, besides their `-rule=` flags: where it reads and
# writes and what shapes the recorded series.
REPLAY_KEEPS = ("-datasource.url=", "-remoteWrite.url=", "-remoteWrite.flushInterval=", "-evaluationInterval=",
                "-disableAlertgroupLabel", "-external.label=")
# Each group's own interval as the replay's step, no pause between rules (the rules read the imported raw
# history; a chained record of the past is then as sparse as the single topology's promtool backfill gives it).
REPLAY_FLAGS = ("-datasource.queryStep=0s", "-replay.rulesDelay=0s", "-replay.disableProgressBar")


def running_members() -> list[Member]:
    """The servers the stack runs out of the builder's set: every replica of shard 0, the first of the others."""
    return [m for m in members(SHARDS, REPLICAS) if m.shard == 0 or m.replica == REPLICA_NAMES[0]]


def with_store(catalog: Catalog, store_url: str) -> Catalog:
    """The catalog with the stack's store as its only remote_write target (the catalog's own are production's)."""
    prom = catalog.prometheus.model_copy(update={
        "remote_write": [RemoteWrite(url=store_url + REMOTE_WRITE_PATH, name=STORE_KIND)]})
    return catalog.model_copy(update={"prometheus": prom})


def recording_files(files: Mapping[str, list[dict[str, Any]]]) -> list[str]:
    """The rule files that hold only recording rules (the ones a history replay evaluates)."""
    return [name for name, groups in files.items() if all("record" in r for g in groups for r in g["rules"])]


def _targets(config: dict[str, Any]) -> set[str]:
    return {t for job in config["scrape_configs"] for g in job.get("static_configs", []) for t in g["targets"]}


@dataclass(frozen=True)
class ShardedParts:
    catalog: Catalog  # the local catalog with the store as remote_write
    components: list[Component]  # store, shards, vmalert (in start order)
    replay: Component  # the history replay's vmalert
    files: dict[str, str]  # path relative to the state directory -> text
    rule_files: tuple[str, ...]


def build(catalog: Catalog, workload: dict[str, Any], peers: Mapping[str, Component],
          port: Callable[[], int]) -> ShardedParts:
    """Store, shards and vmalert for the local `catalog`, around the single topology's `peers` (by kind)."""
    store = loopback_component(STORE_KIND, STORE_KIND, port(), "/health", data=STORE_DATA,
                               relabel_config=STORE_RELABEL_YML,
                               flags=[victoria_metrics_dedup_flag(catalog.prometheus.scrape_interval), *STORE_FLAGS])
    cat = with_store(catalog, store.url)
    pushgateway = loopback(peers["pushgateway"].port)
    topo = configs.local_topology(workload, alertmanager=loopback(peers["alertmanager"].port),
                                  blackbox=loopback(peers["blackbox"].port), pushgateway=pushgateway, rule_files=[])
    files = {STORE_RELABEL_YML: to_yaml(victoria_metrics_relabel_config())}
    shards = []
    for m in running_members():
        config = build_member_config(cat, SHARDS, REPLICAS, m, topo)
        path = f"{layout.CONFIG}/{m.file_name}"
        files[path] = to_yaml(config)
        labels = config["global"]["external_labels"]
        shards.append(loopback_component(
            m.name, SHARD_KIND, port(), "/-/ready", config=path, data=f"{layout.DATA}/{m.name}",
            flags=list(SHARD_FLAGS), shard=m.shard, replica=m.replica,
            store_labels={k: v for k, v in labels.items() if k != REPLICA_LABEL},
            scrapes_pushgateway=pushgateway in _targets(config),
            scrape_interval_seconds=parse_duration(cat.prometheus.scrape_interval)))

    settings = engines.VmalertSettings(rule_dir=layout.RULES, datasource_url=store.url,
                                       notifier_urls=(peers["alertmanager"].url,),
                                       latency_offset=VICTORIA_METRICS_LATENCY_OFFSET)
    rendered = engines.render_target(cat, "vmalert", vmalert=settings)
    groups = engines.vmalert_groups(cat)
    rules = {f"{layout.RULES}/{name}": rendered[name] for name in groups}
    files.update(rules)
    files[VMALERT_FLAGS] = rendered[engines.VMALERT_FLAGS_FILE]
    flags = rendered[engines.VMALERT_FLAGS_FILE].splitlines()
    ruler = loopback_component(RULER_KIND, RULER_KIND, port(), "/health", flags=flags)

    recorded = {f"{RULE_FLAG}{layout.RULES}/{name}" for name in recording_files(groups)}
    replay_flags = [f for f in flags if f in recorded or f.startswith(REPLAY_KEEPS)] + list(REPLAY_FLAGS)
    replay = loopback_component(REPLAY_KIND, REPLAY_KIND, port(), "/health", flags=replay_flags)
    return ShardedParts(catalog=cat, components=[store, *shards, ruler], replay=replay, files=files,
                        rule_files=tuple(rules))
