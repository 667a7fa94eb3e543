"""Sharded and highly available Prometheus: one config per (shard, replica), all writing to one store.

Each config is `build_prometheus_config`'s, changed in four ways:

- The Kubernetes pod job keeps only its shard's targets: `hashmod` of the final scrape address
  (after the `prometheus.io/port` rewrite, so every discovered port of one pod lands on the same
  shard) modulo the number of shards, then `keep` where the hash equals the shard's index. Every
  pod is scraped by exactly one shard (and by each replica of it).
- Jobs that must run once (the apiserver and node jobs, the region probes, the Pushgateway and any
  extra job) run on shard 0 only: on every shard they would be stored once per shard, differing
  only in the `shard` label, and sums over them would count them several times.
- `global.external_labels` gain `shard` (its index) and `replica` (a, b, ...). Prometheus adds them
  to what it remote-writes and to the alerts it sends; they never reach its own TSDB.
- With more than one shard, no shard sees all services, so no shard evaluates rules: a shard
  would fire `absent()` alerts for every service another shard owns, and its recording rules would
  hold partial sums. `rule_files` and `alerting` are left out; the same rule files (`zarish-obs
  alerts generate`) run once, centrally, against the store (vmalert, the Mimir ruler, Thanos
  Ruler). With one shard and several replicas every replica sees everything, so each keeps its
  rules and `alert_relabel_configs` drop `replica` from the alerts, so Alertmanager merges the
  replicas' copies of one alert instead of notifying twice.

More than one shard requires the catalog's `prometheus.remote_write`: a shard alone holds only part
of the data, so the store is where the whole is queried (`monitor check --prometheus-url <store>`).

How the store treats the HA replicas (they send the same samples, labelled `replica=a` and
`replica=b`):

- VictoriaMetrics (single node, checked with 1.79) deduplicates only samples of the *same* series,
  keeping the last one per `-dedup.minScrapeInterval` window; series that differ in `replica` are
  different series and both stay. So VictoriaMetrics drops the label on ingestion with
  `-relabelConfig` (a file holding `- {action: labeldrop, regex: replica}`) and runs with
  `-dedup.minScrapeInterval` equal to the scrape interval. The Prometheus configs stay
  store-neutral (no `write_relabel_configs`), so the same files serve Mimir and Thanos.
- Mimir: the HA tracker (`-distributor.ha-tracker.enable`, `accept_ha_samples`) accepts one
  replica per HA group and removes the replica label. Its group label defaults to `cluster`, which
  every shard shares here (it is the Kubernetes cluster), so set the per-tenant limits
  `ha_cluster_label: shard` and `ha_replica_label: replica` (one tenant per Kubernetes cluster,
  since shard indexes repeat across clusters).
- Thanos (sidecar or Receive): Thanos Query merges the replicas at query time when given the label
  (`--query.replica-label=replica`); the compactor can also merge their blocks offline
  (`--deduplication.replica-label=replica`, irreversible).

The label names are conventions.SHARD_LABEL and REPLICA_LABEL.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Any

from zarish_obs.catalog import Catalog
from zarish_obs.conventions import REPLICA_LABEL, SHARD_LABEL
from zarish_obs.scrape.config import Topology, build_prometheus_config
from zarish_obs.scrape.kubernetes import pods_job
from zarish_obs.scrape.networkpolicy import metrics_policies
from zarish_obs.scrape.render import HEADER, render
from zarish_obs.writers import configmap, to_yaml, to_yaml_documents

HASH_LABEL = "__tmp_hash"
PODS_JOB = pods_job([])["job_name"]
REPLICA_NAMES = string.ascii_lowercase
MAX_SHARDS = 256
MAX_REPLICAS = len(REPLICA_NAMES)
RemoteWriteProblem = tuple[tuple[str, ...], str]


@dataclass(frozen=True)
class Member:
    """One Prometheus server of the sharded set: which shard it scrapes and which replica of it it is."""

    shard: int
    replica: str

    @property
    def name(self) -> str:
        return f"prometheus-shard-{self.shard}-replica-{self.replica}"

    @property
    def file_name(self) -> str:
        return f"{self.name}.yml"


def members(shards: int, replicas: int) -> list[Member]:
    """Every (shard, replica), shard-major, replicas named a, b, c ..."""
    check_counts(shards, replicas)
    return [Member(s, REPLICA_NAMES[r]) for s in range(shards) for r in range(replicas)]


def check_counts(shards: int, replicas: int) -> None:
    """ValueError for counts outside 1..MAX (the CLI's options enforce the same bounds)."""
    if not 1 <= shards <= MAX_SHARDS:
        raise ValueError(f"shards must be 1..{MAX_SHARDS}, got {shards}")
    if not 1 <= replicas <= MAX_REPLICAS:
        raise ValueError(f"replicas must be 1..{MAX_REPLICAS} (named a..z), got {replicas}")


def remote_write_problems(catalog: Catalog, shards: int) -> list[RemoteWriteProblem]:
    """(field path, reason) when the catalog cannot carry `shards` shards: the CLI locates it in the file."""
    if shards > 1 and not catalog.prometheus.remote_write:
        return [(("prometheus", "remote_write"),
                 f"--shards {shards} needs a central store to write to (a shard alone holds only part of the "
                 "data); list it here")]
    return []


def shard_relabel_configs(shards: int, shard: int) -> list[dict[str, Any]]:
    """Keep the targets whose final scrape address hashes to `shard`."""
    return [
        {"source_labels": ["__address__"], "modulus": shards, "target_label": HASH_LABEL, "action": "hashmod"},
        {"source_labels": [HASH_LABEL], "regex": str(shard), "action": "keep"},
    ]


def victoria_metrics_relabel_config() -> list[dict[str, Any]]:
    """VictoriaMetrics' `-relabelConfig` file: the replicas of a shard then write the same series, which
    `-dedup.minScrapeInterval` thins to one sample per interval."""
    return [{"action": "labeldrop", "regex": REPLICA_LABEL}]


def victoria_metrics_dedup_flag(scrape_interval: str) -> str:
    """VictoriaMetrics' flag that keeps one sample per scrape interval of the series the replicas both write."""
    return f"-dedup.minScrapeInterval={scrape_interval}"


def build_member_config(catalog: Catalog, shards: int, replicas: int, member: Member,
                        topology: Topology | None = None) -> dict[str, Any]:
    """prometheus.yml of one member of the set (see the module docstring for what differs and why)."""
    check_counts(shards, replicas)
    if remote_write_problems(catalog, shards):
        raise ValueError(f"{shards} shards need prometheus.remote_write in the catalog")
    config = build_prometheus_config(catalog, topology)
    jobs = []
    for job in config["scrape_configs"]:
        if job["job_name"] == PODS_JOB:
            if shards > 1:
                job = {**job, "relabel_configs": [*job["relabel_configs"],
                                                  *shard_relabel_configs(shards, member.shard)]}
            jobs.append(job)
        elif member.shard == 0:
            jobs.append(job)
    config["scrape_configs"] = jobs
    labels = config["global"]["external_labels"]
    config["global"]["external_labels"] = {**labels, SHARD_LABEL: str(member.shard), REPLICA_LABEL: member.replica}
    if shards > 1:
        del config["rule_files"], config["alerting"]
    elif replicas > 1:
        config["alerting"]["alert_relabel_configs"] = [{"action": "labeldrop", "regex": REPLICA_LABEL}]
    return config


def build_shard_configs(catalog: Catalog, shards: int, replicas: int,
                        topology: Topology | None = None) -> dict[str, dict[str, Any]]:
    """File name -> config dict, one per (shard, replica)."""
    return {m.file_name: build_member_config(catalog, shards, replicas, m, topology) for m in members(shards, replicas)}


def render_shards(catalog: Catalog, shards: int, replicas: int, fmt: str = "files",
                  topology: Topology | None = None) -> dict[str, str]:
    """The files `scrape generate --shards --replicas` writes. One shard, one replica: exactly `render`'s."""
    if shards == 1 and replicas == 1:
        return render(catalog, fmt, topology)
    header = HEADER.format(name=catalog.name)
    texts = {name: header + to_yaml(cfg) for name, cfg in build_shard_configs(catalog, shards, replicas,
                                                                              topology).items()}
    if fmt == "files":
        return texts
    if fmt == "configmap":
        maps = [configmap(f"{m.name}-config", catalog.monitoring_namespace, {"prometheus.yml": texts[m.file_name]},
                          labels={"app.kubernetes.io/name": "prometheus", "app.kubernetes.io/instance": m.name})
                for m in members(shards, replicas)]
        return {
            "prometheus-shards-configmap.yaml": header + to_yaml_documents(maps),
            "networkpolicies.yaml": header + to_yaml_documents(metrics_policies(catalog)),
        }
    raise ValueError(f"unknown format {fmt!r}")
