"""`zarish-obs openslo export|validate|import`: the catalog's SLOs for other SLO tools, a check of OpenSLO files,
and OpenSLO files back into a catalog."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from zarish_obs import openslo
from zarish_obs.cliutil import CatalogOpt, catalog, err, new_app
from zarish_obs.errors import ExitCode, ZarishError
from zarish_obs.openslo_import import import_openslo
from zarish_obs.openslo_validate import read_texts, validate_files
from zarish_obs.writers import write_atomic, write_files

app = new_app("openslo", "Export the catalog's SLOs as OpenSLO v1 documents, validate OpenSLO files and import "
              "them into a catalog.")


@app.command("export")
def openslo_export(
    path: CatalogOpt = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output directory.")] = Path("openslo"),
    single_file: Annotated[bool, typer.Option("--single-file", help=f"One multi-document {openslo.SINGLE_FILE} "
                                              "instead of one file per kind and name.")] = False,
) -> None:
    """Write DataSource, Service, SLI, SLO, AlertPolicy, AlertCondition and AlertNotificationTarget documents."""
    written = write_files(out, openslo.files(catalog(path), single_file))
    err(f"openslo: wrote {len(written)} file(s) to {out}")


@app.command("validate")
def openslo_validate(
    files: Annotated[list[Path], typer.Argument(help="OpenSLO v1 YAML files, checked together (references may "
                                                "cross files).")],
) -> None:
    """Check OpenSLO v1 files: one line per problem (FILE#DOC: field.path: reason), exit 65 if any."""
    count = validate_files(files)
    print(f"{len(files)} file(s), {count} document(s): valid")


@app.command("import")
def openslo_import(
    files: Annotated[list[Path], typer.Argument(help="OpenSLO v1 YAML files, read together (references may "
                                                "cross files).")],
    base: Annotated[Path | None, typer.Option(
        "--base", "-b", help="Catalog whose other sections (regions, environments, metrics, dr, alerting, ...) "
        "the imported services join; its own services are replaced (default: the built-in catalog).",
        show_default=False)] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Catalog file to write (default: stdout); "
                                             "replaced only when the whole import succeeded.",
                                             show_default=False)] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Refuse (exit 65) instead of noting alert policies "
                                         "and conditions the catalog's alerting tiers replace.")] = False,
) -> None:
    """Turn OpenSLO v1 documents into a catalog: documents `openslo export` wrote come back exactly; others
    become ratio SLIs when they are Prometheus ratios with one objective, Occurrences budgeting and a
    rolling window. Anything else is refused, one line per problem (FILE#DOC: field.path: reason), exit 65,
    and nothing is written. Alert policies and conditions other than the catalog's own tiers are listed on
    stderr (FILE#DOC: field.path: not imported: reason)."""
    texts, unreadable = read_texts(files)
    if unreadable:
        raise ZarishError(unreadable[0], ExitCode.DATAERR, unreadable)
    result = import_openslo(texts, catalog(base), strict)
    for note in result.notes:
        err(note)
    if out is None:
        sys.stdout.write(result.text)
        return
    write_atomic(out, result.text)
    err(f"openslo: wrote the catalog to {out}")
