"""`zarish-obs report`: the SLO compliance report for a month or any range, and how to schedule it."""

from __future__ import annotations

import re
import sys
import time
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from zarish_obs.cliutil import CatalogOpt, catalog
from zarish_obs.errors import ExitCode, ZarishError
from zarish_obs.monitor.schedule import ScheduleFormat

EXIT_HELP = (
    "Exit codes: 0 written and complete; 1 written but incomplete (Prometheus lacks data for part of the "
    "period, or coverage is below policy.minimum_coverage_percent); 64 usage error (unknown month, --from "
    "not before --to, a period in the future); 65 bad catalog; 69 Prometheus unreachable or not answering "
    "its API; 73 cannot write the output. Breaches are in the report, not in the exit code. Credentials "
    "come from PROMETHEUS_TOKEN(_FILE) or PROMETHEUS_USER with PROMETHEUS_PASSWORD(_FILE)."
)

app = typer.Typer(name="report", help="SLO compliance report for a calendar month or any range (JSON, CSV, "
                  "Markdown, self-contained HTML), with the error-budget policy's verdicts.",
                  epilog=EXIT_HELP, add_completion=False, pretty_exceptions_enable=False,
                  invoke_without_command=True)


class ReportFormat(str, Enum):
    json = "json"
    csv = "csv"
    markdown = "markdown"
    html = "html"


SUFFIXES = {".json": ReportFormat.json, ".csv": ReportFormat.csv, ".md": ReportFormat.markdown,
            ".markdown": ReportFormat.markdown, ".html": ReportFormat.html, ".htm": ReportFormat.html}
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def out_format(path: Path, fmt: ReportFormat | None) -> ReportFormat:
    """The file's format: from its suffix, else --format; a suffix that contradicts --format is a usage error."""
    by_suffix = SUFFIXES.get(path.suffix.lower())
    if by_suffix and fmt and by_suffix is not fmt:
        raise ZarishError(f"--out {path}: the suffix says {by_suffix.value} but --format says {fmt.value}",
                          ExitCode.USAGE)
    chosen = by_suffix or fmt
    if chosen is None:
        raise ZarishError(f"--out {path}: cannot tell the format from the suffix; use .json, .csv, .md or .html, "
                          "or --format", ExitCode.USAGE)
    return chosen


def expand(path: Path, label: str) -> Path:
    """`{period}` in a file name becomes the period's label (2026-11), made safe for a file name."""
    return Path(str(path).replace("{period}", _UNSAFE.sub("_", label).strip("_")))


@app.callback()
def report(
    ctx: typer.Context,
    path: CatalogOpt = None,
    prometheus_url: Annotated[str, typer.Option("--prometheus-url", envvar="PROMETHEUS_URL",
                                                help="Prometheus-compatible API base URL.")
                              ] = "http://localhost:9090",
    month: Annotated[str | None, typer.Option("--month", metavar="YYYY-MM", help="A calendar month in the "
                                              "catalog's time zone (default: the previous full month).")] = None,
    from_: Annotated[str | None, typer.Option("--from", metavar="TIME", help="Range start: RFC 3339, a date "
                                              "(local midnight) or unix seconds.")] = None,
    to: Annotated[str | None, typer.Option("--to", metavar="TIME", help="Range end (exclusive).")] = None,
    last: Annotated[str | None, typer.Option("--last", metavar="DURATION", help="The last 7d, 36h, ... up to "
                                             "now.")] = None,
    environment: Annotated[str | None, typer.Option("--environment", "-e", help="Environment (default: the DR "
                                                    "environment, production).")] = None,
    fmt: Annotated[ReportFormat | None, typer.Option("--format", "-f", help="Format on stdout, or for --out "
                                                     "files without a known suffix (default: json).")] = None,
    out: Annotated[list[Path] | None, typer.Option("--out", "-o", help="Write here instead of stdout, "
                                                   "atomically; repeatable (one run, several formats, chosen "
                                                   "by suffix .json/.csv/.md/.html); {period} in the name "
                                                   "becomes the period's label.")] = None,
    header: Annotated[list[str] | None, typer.Option("--header", "-H", help="Extra HTTP header 'Name: value' "
                                                     "(repeatable), e.g. 'X-Scope-OrgID: tenant'.")] = None,
    ca_file: Annotated[Path | None, typer.Option("--ca-file", help="CA bundle for the server's TLS "
                                                 "certificate.")] = None,
    insecure: Annotated[bool, typer.Option("--insecure", help="Do not verify TLS certificates.")] = False,
    timeout: Annotated[float, typer.Option("--timeout", help="Per-query timeout in seconds.")] = 120.0,
    deadline: Annotated[float, typer.Option("--deadline", help="Overall deadline in seconds.")] = 900.0,
    parallel: Annotated[int, typer.Option("--parallel", help="Queries in flight at once.")] = 4,
) -> None:
    """Write the SLO compliance report: per service and SLO the SLI, events, error budget, verdict, worst
    day and daily series; incidents, alerts, DR trigger minutes, data completeness and the policy verdicts."""
    if ctx.invoked_subcommand is not None:
        return
    from zarish_obs import conventions
    from zarish_obs.monitor.client import settings_from_env
    from zarish_obs.monitor.compliance import formats, period
    from zarish_obs.monitor.compliance.run import run_report
    from zarish_obs.writers import write_atomic

    cat = catalog(path)
    now = time.time()
    chosen = period.resolve(conventions.report_timezone(cat), now, month_text=month, from_text=from_,
                            to_text=to, last=last)
    targets = [(expand(p, chosen.label), out_format(p, fmt)) for p in out or []]
    if ca_file is not None and not ca_file.is_file():
        raise ZarishError(f"--ca-file {ca_file}: no such file", ExitCode.USAGE)
    settings = settings_from_env(prometheus_url, header or [], str(ca_file) if ca_file else None, insecure,
                                 timeout=timeout, deadline=deadline, parallel=parallel)
    result = run_report(cat, environment, chosen, settings, now)
    texts = {f: formats.render(result, f.value) for f in {f for _, f in targets} or {fmt or ReportFormat.json}}
    if targets:
        for target, f in targets:
            write_atomic(target, texts[f])
            print(f"zarish-obs report: wrote {target}", file=sys.stderr)
    else:
        sys.stdout.write(next(iter(texts.values())))
    if not result["complete"]:
        print(f"zarish-obs report: incomplete: {result['data'].get('reason') or 'data missing for part of the period'}",
              file=sys.stderr)
    raise typer.Exit(ExitCode.OK if result["complete"] else ExitCode.FAILED)


@app.command("schedule")
def schedule(
    path: CatalogOpt = None,
    monthly: Annotated[bool, typer.Option("--monthly", help="The previous month's report on the 1st at 06:00 "
                                          "local time (the only schedule so far; required).")] = False,
    fmt: Annotated[ScheduleFormat, typer.Option("--format", "-f", help="crontab line or Kubernetes CronJob.")
                   ] = ScheduleFormat.crontab,
    prometheus_url: Annotated[str | None, typer.Option("--prometheus-url", help="URL the job queries "
                                                       "(default: the in-cluster Prometheus service).")] = None,
    environment: Annotated[str | None, typer.Option("--environment", "-e")] = None,
    image: Annotated[str | None, typer.Option("--image", help="Container image with zarish-obs installed.")
                     ] = None,
    catalog_path: Annotated[str | None, typer.Option("--catalog-path", help="Where the job finds the catalog.")
                            ] = None,
    directory: Annotated[str | None, typer.Option("--dir", help="crontab only: where the reports go (the "
                                                  "CronJob keeps them on a PersistentVolumeClaim).")] = None,
    token_secret: Annotated[str | None, typer.Option("--token-secret", help="cronjob only: Secret (key "
                                                     "'token') holding a Prometheus bearer token.")] = None,
) -> None:
    """Print a crontab line or a Kubernetes CronJob that writes last month's report (HTML and JSON)."""
    from zarish_obs.monitor.compliance import schedule as sched
    from zarish_obs.monitor.schedule import Spec
    from zarish_obs.writers import to_yaml_documents

    if not monthly:
        raise ZarishError("report schedule: say --monthly (the report covers calendar months)", ExitCode.USAGE)
    cat = catalog(path)
    if catalog_path is None:
        catalog_path = str(path.resolve()) if path is not None and fmt is ScheduleFormat.crontab \
            else Spec.catalog_path
    spec = Spec(environment=environment, prometheus_url=prometheus_url, image=image, catalog_path=catalog_path,
                builtin_catalog=path is None, token_secret=token_secret)
    if fmt is ScheduleFormat.crontab:
        sys.stdout.write(sched.crontab(cat, spec, directory or sched.REPORT_DIR) + "\n")
    else:
        catalog_text = path.read_text("utf-8") if path is not None else None
        sys.stdout.write(to_yaml_documents(sched.cronjob(cat, spec, catalog_text)))
