"""Options and helpers every component's typer app shares, so all commands read alike."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from zarish_obs.catalog import Catalog, load_catalog
from zarish_obs.errors import EXIT_CODES_HELP

CatalogOpt = Annotated[
    Path | None,
    typer.Option("--catalog", "-c", help="Service catalog YAML (default: the built-in ZARISH HIS catalog).",
                 envvar="ZARISH_CATALOG", show_default=False),
]


class TableOrJson(str, Enum):
    table = "table"
    json = "json"


FormatOpt = Annotated[TableOrJson, typer.Option("--format", "-f", help="Output for people (table) or machines (json).")]


def catalog(path: Path | None) -> Catalog:
    return load_catalog(path)


def err(message: str) -> None:
    """One line on stderr (logs and progress never go to stdout, which is for results)."""
    print(message, file=sys.stderr, flush=True)


def new_app(name: str, help_text: str) -> typer.Typer:
    return typer.Typer(name=name, help=help_text, epilog=EXIT_CODES_HELP, no_args_is_help=True,
                       add_completion=False, pretty_exceptions_enable=False)
