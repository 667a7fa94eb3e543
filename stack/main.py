"""The `zarish-obs` command: the root typer app that mounts every component's app.

It lives in the top layer with the stack and demo because, like them, it reaches every component;
the core and the components never import it.
"""

from __future__ import annotations

import sys
import traceback
from typing import Annotated

import click
import typer

from zarish_obs import __version__
from zarish_obs.alerts.cli import app as alerts_app
from zarish_obs.alerts.maintenance_cli import app as maintenance_app
from zarish_obs.catalog_cli import app as catalog_app
from zarish_obs.cliutil import err
from zarish_obs.dashboards.cli import app as dashboards_app
from zarish_obs.errors import EXIT_CODES_HELP, ExitCode, ZarishError
from zarish_obs.monitor.cli import app as monitor_app
from zarish_obs.monitor.compliance.cli import app as report_app
from zarish_obs.openslo_cli import app as openslo_app
from zarish_obs.scrape.cli import app as scrape_app
from zarish_obs.stack.check import register as register_check
from zarish_obs.stack.cli import register as register_stack

app = typer.Typer(
    name="zarish-obs",
    help="Observability provisioner and SLO/DR monitor for ZARISH HIS: Prometheus scrape config, alert "
    "rules, Grafana dashboards and a cron-ready SLO/DR check, all from one service catalog.",
    epilog=EXIT_CODES_HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback(invoke_without_command=True)
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




app.add_typer(catalog_app, name="catalog")
app.add_typer(openslo_app, name="openslo")
app.add_typer(scrape_app, name="scrape")
app.add_typer(alerts_app, name="alerts")
app.add_typer(maintenance_app, name="maintenance")
app.add_typer(dashboards_app, name="dashboards")
app.add_typer(monitor_app, name="monitor")
app.add_typer(report_app, name="report")
register_stack(app)
register_check(app)


def main(argv: list[str] | None = None) -> int:
    """Entry point: maps every failure to a documented exit code and a one-line message."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    command = typer.main.get_command(app)
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
