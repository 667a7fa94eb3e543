"""`zarish-obs alerts`: recording rules, SLO burn-rate and DR alerts, their promtool tests, Alertmanager."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from zarish_obs import promtool
from zarish_obs.alerts import engines
from zarish_obs.alerts.alertmanager import ENV_VARS, receivers_from_env
from zarish_obs.alerts.mimir_cli import UPLOAD_HELP, upload
from zarish_obs.alerts.render import ALERTMANAGER_FILE, TESTS_DIR, render, rule_files, warnings
from zarish_obs.catalog import Catalog
from zarish_obs.cliutil import CatalogOpt, FormatOpt, TableOrJson, catalog, err, new_app
from zarish_obs.errors import ExitCode, ZarishError
from zarish_obs.writers import write_files

app = new_app("alerts", "Prometheus recording rules, SLO burn-rate and DR-trigger alerts, Alertmanager config.")

GENERATE_HELP = (
    "Write the recording rules, SLO and DR alerts, their promtool tests and the Alertmanager config for the "
    "catalog. Deterministic and atomic: other files in --out are left alone. Warns on stderr about burn-rate "
    "tiers that can never fire for an objective. E-mail and Slack receivers come from environment "
    "variables, secrets only as file paths: " + "; ".join(f"{k}: {v}" for k, v in ENV_VARS.items()) + ". "
    "--target picks the rule engine: Prometheus (default, unchanged), vmalert on VictoriaMetrics, Thanos Ruler or "
    "Mimir's ruler."
)


class AlertsFormat(str, Enum):
    files = "files"
    configmap = "configmap"
    operator = "operator"


class Target(str, Enum):
    prometheus = "prometheus"
    vmalert = "vmalert"
    thanos = "thanos"
    mimir = "mimir"


VMALERT_ONLY = "only with --target vmalert"


def _vmalert_settings(target: Target, out: Path, rule_dir: str | None, datasource_url: str | None,
                      remote_write_url: str | None, remote_read_url: str | None, notifier_urls: list[str] | None,
                      latency_offset: str | None) -> engines.VmalertSettings | None:
    """The vmalert addresses from the options; a vmalert option with another target is a usage error."""
    given = {"--rule-dir": rule_dir, "--datasource-url": datasource_url, "--remote-write-url": remote_write_url,
             "--remote-read-url": remote_read_url, "--notifier-url": notifier_urls, "--latency-offset": latency_offset}
    if target is not Target.vmalert:
        used = [name for name, value in given.items() if value]
        if used:
            raise ZarishError(f"{', '.join(used)}: {VMALERT_ONLY}", ExitCode.USAGE)
        return None
    offset = latency_offset or engines.DEFAULT_LATENCY_OFFSET
    try:
        engines.latency_seconds(offset)
    except ValueError as exc:
        raise ZarishError(f"--latency-offset: {exc}", ExitCode.USAGE) from None
    return engines.VmalertSettings(
        rule_dir=rule_dir or str(out.absolute()), datasource_url=datasource_url or engines.DEFAULT_STORE_URL,
        remote_write_url=remote_write_url, remote_read_url=remote_read_url,
        notifier_urls=tuple(notifier_urls or ()), latency_offset=offset)


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
    target: Annotated[Target, typer.Option(
        "--target", help="prometheus: the files above; vmalert: rule files in dependency order, alertmanager.yml "
        "and vmalert.flags; thanos: rule files with partial_response_strategy per group; mimir: one ruler "
        "namespace file per rule file (--format files only for the last three).")] = Target.prometheus,
    rule_dir: Annotated[str | None, typer.Option(
        "--rule-dir", help=f"Where vmalert reads the rule files (default: --out, absolute); {VMALERT_ONLY}.")] = None,
    datasource_url: Annotated[str | None, typer.Option(
        "--datasource-url", help="VictoriaMetrics (or vmselect) URL vmalert queries "
        f"(default: {engines.DEFAULT_STORE_URL}); {VMALERT_ONLY}.")] = None,
    remote_write_url: Annotated[str | None, typer.Option(
        "--remote-write-url", help=f"Where vmalert writes recorded series (default: the datasource); {VMALERT_ONLY}.")
    ] = None,
    remote_read_url: Annotated[str | None, typer.Option(
        "--remote-read-url", help=f"Where vmalert restores alert state from (default: the datasource); {VMALERT_ONLY}.")
    ] = None,
    notifier_urls: Annotated[list[str] | None, typer.Option(
        "--notifier-url", help=f"Alertmanager URL, repeatable (default: the catalog's alertmanagers); {VMALERT_ONLY}.")
    ] = None,
    latency_offset: Annotated[str | None, typer.Option(
        "--latency-offset", help="The store's -search.latencyOffset, queried that far back (default "
        f"{engines.DEFAULT_LATENCY_OFFSET}, VictoriaMetrics' default; 0s for none); {VMALERT_ONLY}.")] = None,
) -> None:
    vmalert = _vmalert_settings(target, out, rule_dir, datasource_url, remote_write_url, remote_read_url,
                                notifier_urls, latency_offset)
    if target is not Target.prometheus and fmt is not AlertsFormat.files:
        raise ZarishError(f"--format {fmt.value}: only with --target prometheus (--target {target.value} writes files)",
                          ExitCode.USAGE)
    cat = catalog(path)
    for line in warnings(cat):
        err(line)
    receivers = receivers_from_env(cat, os.environ)
    if target is Target.prometheus:
        files = render(cat, fmt.value, webhook_url, receivers)
    else:
        files = engines.render_target(cat, target.value, webhook_url, receivers, vmalert)
    for written in write_files(out, files):
        print(written)


def run_checks(cat: Catalog, work: Path) -> list[promtool.Check]:
    """promtool check rules, amtool check-config and promtool test rules on freshly generated files."""
    files = render(cat, "files")
    write_files(work, files)
    jobs: list[tuple[str, str, Callable[[], promtool.CheckResult]]] = [
        ("promtool check rules", name, lambda n=name: promtool.check_rules(work / n)) for name in rule_files(cat)]
    jobs.append(("amtool check-config", ALERTMANAGER_FILE,
                 lambda: promtool.check_alertmanager(work / ALERTMANAGER_FILE)))
    for name in sorted(n for n in files if n.startswith(f"{TESTS_DIR}/")):
        jobs.append(("promtool test rules", name, lambda t=work / name: promtool.test_rules(t, cwd=t.parent)))
    return promtool.timed_all(jobs)


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


app.command("upload", help=UPLOAD_HELP)(upload)
