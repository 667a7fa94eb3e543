"""`zarish-obs openslo export|validate`: the catalog's SLOs for other SLO tools, and a check of OpenSLO files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from zarish_obs import openslo
from zarish_obs.cliutil import CatalogOpt, catalog, err, new_app
from zarish_obs.openslo_validate import validate_files
from zarish_obs.writers import write_files

app = new_app("openslo", "Export the catalog's SLOs as OpenSLO v1 documents and validate OpenSLO files.")


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
