"""The `zarish-obs` command: the root typer app that mounts every component's app.

It lives in the top layer with the stack and demo because, like them, it reaches every component;
the core and the components never import it.
"""

from __future__ import annotations

import importlib
import sys
import traceback
from typing import Annotated

import click
import typer

from zarish_obs import __version__
from zarish_obs.cliutil import err
from zarish_obs.errors import EXIT_CODES_HELP, ExitCode, ZarishError

# Each command group's module and typer app, imported only when that group runs (or for the root's help), so a
# cron-started `monitor check` does not pay for the dashboards, the report's charts or the stack.
GROUPS: dict[str, tuple[str, str]] = {
    "catalog": ("zarish_obs.catalog_cli", "app"),
    "openslo": ("zarish_obs.openslo_cli", "app"),
    "import": ("zarish_obs.sloth_cli", "app"),
    "scrape": ("zarish_obs.scrape.cli", "app"),
    "alerts": ("zarish_obs.alerts.cli", "app"),
    "maintenance": ("zarish_obs.alerts.maintenance_cli", "app"),
    "dashboards": ("zarish_obs.dashboards.cli", "app"),
    "monitor": ("zarish_obs.monitor.cli", "app"),
    "report": ("zarish_obs.monitor.compliance.cli", "app"),
}
# Top-level commands a top-layer module mounts with its `register(app)` function.
REGISTERED: dict[str, str] = {"stack": "zarish_obs.stack.cli", "demo": "zarish_obs.stack.cli",
                              "check": "zarish_obs.stack.check"}
HELP = ("Observability provisioner and SLO/DR monitor for ZARISH HIS: Prometheus scrape config, alert rules, "
        "Grafana dashboards and a cron-ready SLO/DR check, all from one service catalog.")


def _root(
    ctx: typer.Context,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    if version:
        print(__version__)
        raise typer.Exit(0)
    if ctx.invoked_subcommand is None:
        print(ctx.get_help(), file=sys.stderr)
        raise typer.Exit(ExitCode.USAGE)


def build_app(args: list[str]) -> typer.Typer:
    """The root app with the group the command line names mounted, or every group (root help, an unknown or
    misspelt name: click then lists them all)."""
    app = typer.Typer(name="zarish-obs", help=HELP, epilog=EXIT_CODES_HELP, no_args_is_help=True,
                      add_completion=False, pretty_exceptions_enable=False)
    app.callback(invoke_without_command=True)(_root)
    first = next((a for a in args if not a.startswith("-")), None)
    groups = [first] if first in GROUPS else [] if first in REGISTERED else list(GROUPS)
    registered = [REGISTERED[first]] if first in REGISTERED else [] if first in GROUPS else list(
        dict.fromkeys(REGISTERED.values()))
    for name in groups:
        module, attr = GROUPS[name]
        app.add_typer(getattr(importlib.import_module(module), attr), name=name)
    for module in registered:
        importlib.import_module(module).register(app)
    return app


def main(argv: list[str] | None = None) -> int:
    """Entry point: maps every failure to a documented exit code and a one-line message."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    command = typer.main.get_command(build_app(args))
    try:
        rc = command.main(args=args, prog_name="zarish-obs", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:
        print(exc.ctx.get_help() if exc.ctx else "", file=sys.stderr)
        rc = ExitCode.USAGE
    except click.UsageError as exc:
        hint = f" (try '{exc.ctx.command_path} --help')" if exc.ctx else ""
        err(f"zarish-obs: usage: {exc.format_message()}{hint}")
        rc = ExitCode.USAGE
    except click.exceptions.Abort:
        err("zarish-obs: aborted")
        rc = 130
    except click.exceptions.Exit as exc:
        rc = exc.exit_code
    except ZarishError as exc:
        if debug:
            traceback.print_exc()
        for line in exc.lines:
            err(line if line.startswith("zarish-obs") or ":" in line else f"zarish-obs: {line}")
        rc = exc.exit_code
    except KeyboardInterrupt:
        err("zarish-obs: interrupted")
        rc = 130
    except Exception as exc:
        if debug:
            traceback.print_exc()
        err(f"zarish-obs: internal error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            " (re-run with --debug for the traceback)")
        rc = ExitCode.SOFTWARE
    return int(rc or 0)


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
