"""Options and helpers every component's typer app shares, so all commands read alike."""

from __future__ import annotations

import sys
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from zarish_obs.errors import EXIT_CODES_HELP, ExitCode, ZarishError

if TYPE_CHECKING:  # loaded when a command reads it, so `monitor check` can take the cron cache instead
    from zarish_obs.catalog import Catalog

CatalogOpt = Annotated[
    Path | None,
    typer.Option("--catalog", "-c", help="Service catalog YAML (default: the built-in ZARISH HIS catalog).",
                 envvar="ZARISH_CATALOG", show_default=False),
]


class TableOrJson(str, Enum):
    table = "table"
    json = "json"


FormatOpt = Annotated[TableOrJson, typer.Option("--format", "-f", help="Output for people (table) or machines (json).")]


def parse_instant(text: str | None, option: str) -> float | None:
    """An instant given on the command line: RFC 3339 with a zone, or unix seconds; None when not given."""
    if text is None or text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        pass
    else:
        if not (0 <= value < 1e11):
            raise ZarishError(f"{option} {text!r}: unix seconds out of range (milliseconds?)", ExitCode.USAGE)
        return value
    try:
        dt = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise ZarishError(f"{option} {text[:40]!r}: expected RFC 3339 (2026-01-21T10:00:00Z) or unix seconds",
                          ExitCode.USAGE) from None
    if dt.tzinfo is None:
        raise ZarishError(f"{option} {text[:40]!r}: RFC 3339 needs a zone (Z or +06:00)", ExitCode.USAGE)
    return dt.timestamp()


def catalog(path: Path | None) -> Catalog:
    from zarish_obs.catalog import load_catalog

    return load_catalog(path)


def err(message: str) -> None:
    """One line on stderr (logs and progress never go to stdout, which is for results)."""
    print(message, file=sys.stderr, flush=True)


def new_app(name: str, help_text: str) -> typer.Typer:
    return typer.Typer(name=name, help=help_text, epilog=EXIT_CODES_HELP, no_args_is_help=True,
                       add_completion=False, pretty_exceptions_enable=False)
