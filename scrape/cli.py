"""`zarish-obs scrape`: generate the Prometheus configuration."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from zarish_obs.cliutil import CatalogOpt, catalog, new_app
from zarish_obs.scrape.render import render
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
) -> None:
    """Write prometheus.yml (or a ConfigMap and NetworkPolicies) for the catalog. Deterministic and atomic:
    other files in --out are left alone."""
    cat = catalog(path)
    for written in write_files(out, render(cat, fmt.value)):
        print(written)
