"""`zarish-obs monitor`: the cron-ready SLO and DR-trigger check, and how to schedule it."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from zarish_obs.cliutil import CatalogOpt, FormatOpt, TableOrJson, catalog, err, new_app
from zarish_obs.errors import ExitCode, OutputError, ZarishError
from zarish_obs.monitor.schedule import ScheduleFormat

app = new_app("monitor", "Check SLOs and DR triggers against Prometheus; exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.")

CHECK_EPILOG = (
    "Exit codes (Nagios convention): 0 OK; 1 WARNING (ticket-tier burn, RPO breach, error budget below "
    "25%); 2 CRITICAL (page-tier burn, or a DR trigger fired: failover recommended); 3 UNKNOWN (Prometheus "
    "unreachable, timed out or answered garbage, or no data where data is expected); 64 usage error; "
    "65 bad catalog. A service inside a maintenance window that excludes its minutes from the SLOs is shown "
    "but does not count; DR triggers still do, unless a suppress_dr window is open. "
    "Credentials come from the environment: PROMETHEUS_TOKEN or PROMETHEUS_TOKEN_FILE "
    "(bearer), or PROMETHEUS_USER with PROMETHEUS_PASSWORD or PROMETHEUS_PASSWORD_FILE (basic auth). "
    "The validated catalog is kept between runs in $ZARISH_CACHE_DIR (default $XDG_CACHE_HOME/zarish-obs or "
    "~/.cache/zarish-obs; 'off' turns it off); any change to the catalog file is validated again."
)


@app.command("check", epilog=CHECK_EPILOG)
def check(
    path: CatalogOpt = None,
    prometheus_url: Annotated[str, typer.Option("--prometheus-url", envvar="PROMETHEUS_URL",
                                                help="Prometheus-compatible API base URL (Prometheus, Thanos "
                                                "Query, Mimir .../prometheus, VictoriaMetrics).")
                              ] = "http://localhost:9090",
    at: Annotated[str | None, typer.Option("--at", help="Evaluation instant: RFC 3339 or unix seconds "
                                           "(default: now). Every query is evaluated at it.")] = None,
    fmt: FormatOpt = TableOrJson.table,
    environment: Annotated[str | None, typer.Option("--environment", "-e", help="Environment to check "
                                                    "(default: the DR environment, production).")] = None,
    textfile: Annotated[Path | None, typer.Option("--textfile", help="Also write the verdict as metrics to "
                                                  "this node_exporter textfile (atomically).")] = None,
    pushgateway: Annotated[str | None, typer.Option("--pushgateway", envvar="PUSHGATEWAY_URL",
                                                    help="Also push the verdict metrics to this Pushgateway.")
                           ] = None,
    manual_trigger: Annotated[str | None, typer.Option("--manual-trigger", metavar="REASON",
                                                       help="Operations trigger failover by hand (the reason is "
                                                       "printed with the verdict).")] = None,
    header: Annotated[list[str] | None, typer.Option("--header", "-H", help="Extra HTTP header 'Name: value' "
                                                     "(repeatable), e.g. 'X-Scope-OrgID: tenant'.")] = None,
    ca_file: Annotated[Path | None, typer.Option("--ca-file", help="CA bundle to verify the server's TLS "
                                                 "certificate.")] = None,
    insecure: Annotated[bool, typer.Option("--insecure", help="Do not verify TLS certificates.")] = False,
    timeout: Annotated[float, typer.Option("--timeout", help="Per-query timeout in seconds.")] = 10.0,
    deadline: Annotated[float, typer.Option("--deadline", help="Overall deadline in seconds: the check ends "
                                            "UNKNOWN rather than run longer.")] = 20.0,
    parallel: Annotated[int, typer.Option("--parallel", help="Queries in flight at once.")] = 4,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the metrics to stderr instead of writing "
                                          "the textfile or pushing.")] = False,
    exit_zero: Annotated[bool, typer.Option("--exit-zero", help="Exit 0 whatever the verdict (for schedulers "
                                            "that count non-zero as a failed job; the verdict is still in the "
                                            "output and the exported metrics).")] = False,
) -> None:
    """Evaluate every service's SLOs and the DR triggers at one instant and print the verdict.

    Cron-ready: one JSON object on stdout with --format json, logs on stderr, exit code = verdict.
    """
    from zarish_obs import catalog_cache
    from zarish_obs.monitor import export
    from zarish_obs.monitor.check import parse_at, run_check
    from zarish_obs.monitor.report import emit

    cat = catalog_cache.load(path)
    if ca_file is not None and not ca_file.is_file():
        raise ZarishError(f"--ca-file {ca_file}: no such file", ExitCode.USAGE)
    report = run_check(cat, prometheus_url, parse_at(at), environment, manual_reason=manual_trigger,
                       headers=header or [], ca_file=str(ca_file) if ca_file else None, insecure=insecure,
                       timeout=timeout, deadline=deadline, parallel=parallel)
    now = time.time()
    if textfile is not None or pushgateway:
        if dry_run:
            err(export.render_metrics(report, now, now if export.succeeded(report) else None).rstrip("\n"))
        if textfile is not None and not dry_run:
            try:
                export.write_textfile(textfile, report, now)
            except OutputError as exc:
                report["errors"].append(f"textfile: {exc.message}")
        if pushgateway and not dry_run:
            left = max(1.0, deadline - report["duration_seconds"])
            try:
                export.push(pushgateway, report, now, timeout=min(5.0, left))
            except RuntimeError as exc:
                report["errors"].append(str(exc))
    if fmt is TableOrJson.json:
        for line in report["errors"]:
            err(f"zarish-obs monitor: {line}")
    emit(report, fmt.value)
    raise typer.Exit(0 if exit_zero else report["exit_code"])


@app.command("schedule")
def schedule(
    path: CatalogOpt = None,
    every: Annotated[str, typer.Option("--every", help="Period: whole minutes dividing an hour (1m..30m) "
                                       "or whole hours dividing a day (1h..12h).")] = "5m",
    fmt: Annotated[ScheduleFormat, typer.Option("--format", "-f", help="crontab line or Kubernetes CronJob.")
                   ] = ScheduleFormat.crontab,
    prometheus_url: Annotated[str | None, typer.Option("--prometheus-url", help="URL the job queries "
                                                       "(default: the in-cluster Prometheus service).")] = None,
    pushgateway: Annotated[str | None, typer.Option("--pushgateway", help="Pushgateway URL (default: the "
                                                    "catalog's prometheus.pushgateway).")] = None,
    environment: Annotated[str | None, typer.Option("--environment", "-e")] = None,
    image: Annotated[str | None, typer.Option("--image", help="Container image with zarish-obs installed.")
                     ] = None,
    catalog_path: Annotated[str | None, typer.Option("--catalog-path", help="Where the job finds the catalog "
                                                     "(default: the --catalog file's absolute path for crontab, "
                                                     "/etc/zarish-obs/catalog.yaml mounted from a ConfigMap for "
                                                     "cronjob).")] = None,
    textfile: Annotated[str | None, typer.Option("--textfile", help="crontab only: node_exporter textfile "
                                                 "to write.")] = None,
    token_secret: Annotated[str | None, typer.Option("--token-secret", help="cronjob only: Secret (key "
                                                     "'token') holding a Prometheus bearer token.")] = None,
) -> None:
    """Print a crontab line or a Kubernetes CronJob that runs `monitor check` every --every."""
    from zarish_obs.monitor import schedule as sched
    from zarish_obs.writers import to_yaml_documents

    cat = catalog(path)
    if catalog_path is None:
        catalog_path = str(path.resolve()) if path is not None and fmt is ScheduleFormat.crontab \
            else sched.Spec.catalog_path
    spec = sched.Spec(every=every, environment=environment, prometheus_url=prometheus_url,
                      pushgateway=pushgateway, image=image, catalog_path=catalog_path,
                      builtin_catalog=path is None, textfile=textfile, token_secret=token_secret)
    if fmt is ScheduleFormat.crontab:
        sys.stdout.write(sched.crontab(cat, spec) + "\n")
    else:
        catalog_text = path.read_text("utf-8") if path is not None else None
        sys.stdout.write(to_yaml_documents(sched.cronjob(cat, spec, catalog_text)))
