"""`zarish-obs catalog show|validate`: the catalog commands, which need nothing but the core."""

from __future__ import annotations

import json
import sys
import time

import typer

from zarish_obs import maintenance, procs, promtool
from zarish_obs.catalog import BUILT_IN_SOURCE, default_catalog_text
from zarish_obs.cliutil import CatalogOpt, FormatOpt, TableOrJson, catalog, new_app
from zarish_obs.errors import CatalogError, ExitCode, ZarishError

app = new_app("catalog", "Show and validate the service catalog.")
OVERLAP_HORIZON_SECONDS = 366 * 86400  # overlapping maintenance windows are looked for over the next year


@app.command("show")
def catalog_show(path: CatalogOpt = None) -> None:
    """Print the catalog (the built-in ZARISH HIS one by default) as YAML, to start your own from."""
    if path is None:
        sys.stdout.write(default_catalog_text())
        return
    catalog(path)
    sys.stdout.write(path.read_text("utf-8"))


@app.command("validate")
def catalog_validate(path: CatalogOpt = None, fmt: FormatOpt = TableOrJson.table) -> None:
    """Check a catalog: every problem in one run, one line each (file:LINE: field: reason), exit 65 if any.
    Ratio SLI queries are also parsed by promtool when it is installed (a note says so when it is not)."""
    source = str(path) if path else BUILT_IN_SOURCE
    notes: list[str] = []
    try:
        cat = catalog(path)
        if promtool.has_ratio_queries(cat):
            try:
                procs.binary("promtool")
            except ZarishError:
                notes.append("promtool not found: the ratio SLI queries were not parsed (zarish-obs check does)")
            else:
                promtool.require_parsable_queries(cat, path)
    except CatalogError as exc:
        if fmt is TableOrJson.json:
            print(json.dumps({"valid": False, "file": source, "problems": exc.problems}))
            raise typer.Exit(ExitCode.DATAERR) from None
        raise
    now = time.time()
    notes += maintenance.overlaps(cat, now, now + OVERLAP_HORIZON_SECONDS)
    summary = {
        "valid": True, "file": source, "name": cat.name, "services": len(cat.services),
        "slos": sum(len(s.slo_items()) for s in cat.services), "environments": len(cat.environments),
        "regions": len(cat.regions), "maintenance_windows": len(cat.maintenance), "notes": notes,
    }
    for note in notes:
        print(f"{source}: note: {note}", file=sys.stderr)
    if fmt is TableOrJson.json:
        print(json.dumps(summary))
    else:
        print(f"{source}: valid: {summary['services']} services, {summary['slos']} SLOs, "
              f"{summary['environments']} environments, {summary['regions']} regions")
