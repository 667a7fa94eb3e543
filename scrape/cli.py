"""`zarish-obs scrape`: generate the Prometheus configuration."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from zarish_obs.catalog import locate
from zarish_obs.cliutil import CatalogOpt, catalog, new_app
from zarish_obs.errors import CatalogError
from zarish_obs.scrape.shards import MAX_REPLICAS, MAX_SHARDS, remote_write_problems, render_shards
from zarish_obs.writers import write_files

app = new_app("scrape", "Prometheus configuration: Kubernetes jobs, region probes, alerting, remote_write.")


class ScrapeFormat(str, Enum):
    files = "files"
    configmap = "configmap"


@app.command("generate")
def generate(
    path: CatalogOpt = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory to write into.")] = Path("out/scrape"),
    fmt: Annotated[ScrapeFormat, typer.Option("--format", help="files: prometheus.yml; configmap: "
                                              "ConfigMap + NetworkPolicies.")] = ScrapeFormat.files,
    shards: Annotated[int, typer.Option("--shards", min=1, max=MAX_SHARDS,
                                        help="Split the Kubernetes pod targets over this many Prometheus servers "
                                        "(hashmod of the scrape address); each remote-writes to the catalog's "
                                        "prometheus.remote_write, which is then required.")] = 1,
    replicas: Annotated[int, typer.Option("--replicas", min=1, max=MAX_REPLICAS,
                                          help="Identical Prometheus servers per shard (HA), told apart by the "
                                          "`replica` external label (a, b, ...) the store deduplicates on.")] = 1,
) -> None:
    """Write prometheus.yml (or a ConfigMap and NetworkPolicies) for the catalog. Deterministic and atomic:
    other files in --out are left alone. With --shards/--replicas: prometheus-shard-<i>-replica-<r>.yml, one per
    server (or one ConfigMap each in prometheus-shards-configmap.yaml); the defaults give the single
    prometheus.yml, byte for byte."""
    cat = catalog(path)
    problems = remote_write_problems(cat, shards)
    if problems:
        raise CatalogError(locate(path, problems))
    for written in write_files(out, render_shards(cat, shards, replicas, fmt.value)):
        print(written)
