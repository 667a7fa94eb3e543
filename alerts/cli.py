"""`zarish-obs alerts`: recording rules, SLO burn-rate and DR alerts, their promtool tests, Alertmanager."""

from __future__ import annotations

import json
import os
import tempfile
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from zarish_obs import promtool
from zarish_obs.alerts.alertmanager import ENV_VARS, receivers_from_env
from zarish_obs.alerts.render import ALERTMANAGER_FILE, TESTS_DIR, render, rule_files, warnings
from zarish_obs.catalog import Catalog
from zarish_obs.cliutil import CatalogOpt, FormatOpt, TableOrJson, catalog, err, new_app
from zarish_obs.errors import ExitCode
from zarish_obs.writers import write_files

app = new_app("alerts", "Prometheus recording rules, SLO burn-rate and DR-trigger alerts, Alertmanager config.")

GENERATE_HELP = (
    "Write the recording rules, SLO and DR alerts, their promtool tests and the Alertmanager config for the "
    "catalog. Deterministic and atomic: other files in --out are left alone. Warns on stderr about burn-rate "
    "tiers that can never fire for an objective. E-mail and Slack receivers come from environment "
    "variables, secrets only as file paths: " + "; ".join(f"{k}: {v}" for k, v in ENV_VARS.items()) + "."
)


class AlertsFormat(str, Enum):
    files = "files"
    configmap = "configmap"
    operator = "operator"


@app.command("generate", help=GENERATE_HELP)
def generate(
    path: CatalogOpt = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory to write into.")] = Path("out/alerts"),
    fmt: Annotated[AlertsFormat, typer.Option(
        "--format", help="files: rule files, alertmanager.yml and promtool tests under tests/; configmap: "
        "ConfigMaps in the monitoring namespace; operator: PrometheusRule objects + alertmanager.yml.")
    ] = AlertsFormat.files,
    webhook_url: Annotated[str | None, typer.Option(
        "--webhook-url", help="Webhook receiver URL (default: alerting.webhook_url of the catalog).")] = None,
) -> None:
    cat = catalog(path)
    for line in warnings(cat):
        err(line)
    files = render(cat, fmt.value, webhook_url, receivers_from_env(cat, os.environ))
    for written in write_files(out, files):
        print(written)


def run_checks(cat: Catalog, work: Path) -> list[promtool.Check]:
    """promtool check rules, amtool check-config and promtool test rules on freshly generated files."""
    files = render(cat, "files")
    write_files(work, files)
    checks = [promtool.timed("promtool check rules", name, lambda n=name: promtool.check_rules(work / n))
              for name in rule_files(cat)]
    checks.append(promtool.timed("amtool check-config", ALERTMANAGER_FILE,
                                 lambda: promtool.check_alertmanager(work / ALERTMANAGER_FILE)))
    for name in sorted(n for n in files if n.startswith(f"{TESTS_DIR}/")):
        test = work / name
        checks.append(promtool.timed("promtool test rules", name,
                                     lambda t=test: promtool.test_rules(t, cwd=t.parent)))
    return checks


@app.command("test")
def test(
    path: CatalogOpt = None,
    fmt: FormatOpt = TableOrJson.table,
    keep: Annotated[Path | None, typer.Option(
        "--keep", help="Generate into this directory and keep it (default: a temporary directory).")] = None,
) -> None:
    """Generate the rules and their promtool unit tests, then run promtool check rules, amtool check-config
    and promtool test rules on them. Exit 0 when everything passes, 1 otherwise."""
    cat = catalog(path)
    for line in warnings(cat):
        err(line)
    if keep is not None:
        checks = run_checks(cat, keep)
    else:
        with tempfile.TemporaryDirectory(prefix="zarish-alerts-") as tmp:
            checks = run_checks(cat, Path(tmp))
    ok = all(c.ok for c in checks)
    if fmt is TableOrJson.json:
        print(json.dumps({"ok": ok, "checks": [c.to_json() for c in checks]}, indent=2))
    else:
        print("\n".join(promtool.check_lines(checks)))
        print(f"{'all checks passed' if ok else 'some checks FAILED'} ({len(checks)} checks)")
    if not ok:
        raise typer.Exit(ExitCode.FAILED)
