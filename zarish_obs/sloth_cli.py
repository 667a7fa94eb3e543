"""`zarish-obs import sloth`: Sloth SLO specs as a catalog whose services carry ratio SLIs."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from zarish_obs import sloth
from zarish_obs.catalog import AvailabilitySLO, load_catalog
from zarish_obs.catalog_import import merge
from zarish_obs.cliutil import err, new_app
from zarish_obs.errors import ExitCode, ZarishError
from zarish_obs.openslo_validate import read_texts
from zarish_obs.writers import write_atomic

app = new_app("import", "Import SLOs written for other tools into a service catalog.")


def _window(value: str) -> str:
    """The --window value held to the catalog's SLO window rules now, as a usage error."""
    try:
        AvailabilitySLO.model_validate({"objective": 99.0, "window": value})
    except ValidationError as exc:
        reason = str(exc.errors(include_url=False)[0]["msg"]).removeprefix("Value error, ")
        raise ZarishError(f"--window {value!r}: {reason}", ExitCode.USAGE) from None
    return value


def import_sloth(files: list[Path], base: Path | None = None, window: str = sloth.DEFAULT_WINDOW,
                 strict: bool = False) -> tuple[str, list[str]]:
    """(catalog YAML text, note lines); raises ZarishError (exit 65) with one line per refusal."""
    _window(window)
    catalog = load_catalog(base)
    texts, unreadable = read_texts(files)
    result = sloth.import_texts(texts, catalog.metrics.service_label, window)
    problems = unreadable + result.refusals(strict)
    if problems:
        raise ZarishError(problems[0], ExitCode.DATAERR, problems)
    if not result.services:
        raise ZarishError(f"{', '.join(map(str, files))}: (documents): no Sloth SLOs found", ExitCode.DATAERR)
    source = "<sloth import of " + ", ".join(map(str, files)) + ">"
    return merge(catalog, result.services, source), result.notes


@app.command("sloth")
def sloth_command(
    files: Annotated[list[Path], typer.Argument(help="Sloth specs: `version: prometheus/v1` files and Kubernetes "
                                                "PrometheusServiceLevel resources, several documents per file "
                                                "allowed.")],
    base: Annotated[Path | None, typer.Option("--base", help="Catalog whose sections other than services the "
                                              "result keeps (default: the built-in catalog's).",
                                              show_default=False)] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the catalog here (atomically) instead of "
                                             "to stdout.", show_default=False)] = None,
    window: Annotated[str, typer.Option("--window", help="SLO window of every imported SLO: Sloth specs have "
                                        "none, Sloth takes it from its --default-slo-period.")
                      ] = sloth.DEFAULT_WINDOW,
    strict: Annotated[bool, typer.Option("--strict", help="Refuse (exit 65) instead of noting Sloth fields the "
                                         "catalog has no place for.")] = False,
) -> None:
    """Each `events` SLO becomes a ratio SLI of its service (error_query as bad_query, {{.window}} as
    {{window}}); what the catalog cannot express is refused, one line each (FILE#DOC: field.path: reason), and
    fields it has no place for are listed on stderr (FILE#DOC: field.path: not imported: reason). Nothing is
    written unless every document imports."""
    text, notes = import_sloth(files, base, window, strict)
    for note in notes:
        err(note)
    if out is None:
        sys.stdout.write(text)
        return
    write_atomic(out, text)
    err(f"import sloth: wrote {out}")
