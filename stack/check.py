"""`zarish-obs check`: everything generated for a catalog, through every validator the project knows.

Meant for a user's CI: one command, one line per check and an exit code to gate on. The files are
built in-process by the builders `scrape|alerts|dashboards generate` use and written into a
temporary directory (or --out: atomically, other files left alone), so what passes here is what
those commands write. It lives in the top layer because it reaches every component.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer

from zarish_obs import procs, promtool
from zarish_obs.alerts import cli as alerts_cli
from zarish_obs.alerts.render import rule_files, warnings
from zarish_obs.catalog import Catalog
from zarish_obs.cliutil import CatalogOpt, FormatOpt, TableOrJson, catalog, err
from zarish_obs.errors import ExitCode, ZarishError
from zarish_obs.scrape import render as scrape_render
from zarish_obs.writers import write_files

VALIDATORS = ("promtool", "amtool")
SCRAPE, ALERTS, DASHBOARDS = "scrape", "alerts", "dashboards"
CONFIG_CHECK = "promtool check config"
SCHEMA_CHECK = "dashboard schema"
INDENT = "      "

CHECK_HELP = (
    "Generate everything for the catalog (Prometheus config, recording and alert rules with their promtool "
    "tests, Alertmanager config, Grafana dashboards) into a temporary directory or --out, and run every "
    "validator: promtool check config (on a copy with file_sd_configs for kubernetes_sd_configs, which "
    "Debian's promtool lacks), promtool's parse of every ratio SLI query (exit 65 naming the catalog field), "
    "promtool check rules, promtool test rules, amtool check-config and Grafana's "
    "dashboard schema. One line per check, then a summary. Exit codes: 0 every check passed, 1 some check "
    "failed, 65 bad catalog, 69 a validator binary (promtool, amtool) is missing, 73 --out cannot be written."
)


def missing_validators() -> list[str]:
    missing = []
    for tool in VALIDATORS:
        try:
            procs.binary(tool)
        except ZarishError:
            missing.append(tool)
    return missing


def require_validators() -> None:
    """Exit 69 naming every missing validator before anything is generated or run."""
    missing = missing_validators()
    if missing:
        raise ZarishError(f"check: validator binary missing: {', '.join(missing)} (not on PATH nor in /usr/bin; "
                          "apt-get install prometheus prometheus-alertmanager)", ExitCode.UNAVAILABLE)


def _schema(path: Path) -> promtool.CheckResult:
    """The dashboard schema gate on a dashboard as written (what Grafana would read)."""
    from zarish_obs.dashboards import schema_gate

    try:
        dashboard = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        return promtool.CheckResult(False, f"{path.name}: not JSON: {exc}")
    problems = schema_gate.problems(dashboard) if isinstance(dashboard, dict) else [("$", "not a JSON object")]
    return promtool.CheckResult(not problems, "\n".join(f"{p}: {msg}" for p, msg in problems))


def _dashboard_checks(cat: Catalog, workdir: Path) -> list[promtool.Check]:
    from zarish_obs.dashboards import generate

    started = time.monotonic()
    try:
        built = generate.build_all(cat)
    except ZarishError as exc:  # the builders' own gate refused a dashboard: nothing to write
        return [promtool.Check(SCHEMA_CHECK, f"{DASHBOARDS}/", False, round(time.monotonic() - started, 2),
                      "\n".join(exc.lines))]
    written = write_files(workdir / DASHBOARDS, generate.render_json(built))
    return [promtool.timed(SCHEMA_CHECK, str(p.relative_to(workdir)), lambda p=p: _schema(p)) for p in written]


def run_checks(cat: Catalog, workdir: Path) -> list[promtool.Check]:
    """Generate every file for `cat` under `workdir` (scrape/, alerts/, dashboards/) and validate each.

    Raises the exit-69 error before generating anything when a validator binary is missing. The
    Prometheus config is checked in full, loading the generated rule files, so it runs after them.
    """
    require_validators()
    scrape_files = write_files(workdir / SCRAPE, scrape_render.render(cat, "files"))
    alerts_dir = workdir / ALERTS
    alert_checks = [replace(c, file=f"{ALERTS}/{c.file}") for c in alerts_cli.run_checks(cat, alerts_dir)]
    rules = [alerts_dir / name for name in rule_files(cat)]
    config_checks = [promtool.timed(CONFIG_CHECK, str(p.relative_to(workdir)),
                            lambda p=p: promtool.check_config_offline(p, rules)) for p in scrape_files]
    return [*config_checks, *alert_checks, *_dashboard_checks(cat, workdir)]


def summary(checks: list[promtool.Check]) -> str:
    failed = [c for c in checks if not c.ok]
    if not failed:
        return f"all {len(checks)} checks passed"
    return (f"{len(failed)} of {len(checks)} checks FAILED: "
            + ", ".join(f"{c.check} {c.file}" for c in failed))


def table_lines(checks: list[promtool.Check]) -> list[str]:
    """One line per check (failure output and notes indented below it), then the summary."""
    return [*promtool.check_lines(checks, INDENT), summary(checks)]


def to_json(checks: list[promtool.Check]) -> dict[str, Any]:
    return {"ok": all(c.ok for c in checks), "checks": [c.to_json() for c in checks],
            "notes": [f"{c.check} {c.file}: {c.note}" for c in checks if c.note]}


def check_cmd(
    path: CatalogOpt = None,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Generate into this directory and keep the files (default: a temporary directory, "
        "removed afterwards). Other files there are left alone.", show_default=False)] = None,
    fmt: FormatOpt = TableOrJson.table,
) -> None:
    cat = catalog(path)
    require_validators()
    promtool.require_parsable_queries(cat, path)
    for line in warnings(cat):
        err(line)
    if out is None:
        with tempfile.TemporaryDirectory(prefix="zarish-check-") as tmp:
            checks = run_checks(cat, Path(tmp))
    else:
        checks = run_checks(cat, out)
    if fmt is TableOrJson.json:
        print(json.dumps(to_json(checks), indent=2))
    else:
        print("\n".join(table_lines(checks)))
    if not all(c.ok for c in checks):
        raise typer.Exit(ExitCode.FAILED)


def register(app: typer.Typer) -> None:
    """Mount `check` on the root app."""
    app.command("check", help=CHECK_HELP)(check_cmd)
