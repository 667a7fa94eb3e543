"""One report run: send the plan, build the report. The in-process API the CLI and the tests use."""

from __future__ import annotations

from typing import Any

from zarish_obs.catalog import Catalog
from zarish_obs.errors import ExitCode, ZarishError
from zarish_obs.monitor.client import Client, QueryError, Settings
from zarish_obs.monitor.compliance.build import build
from zarish_obs.monitor.compliance.period import Period
from zarish_obs.monitor.compliance.queries import plan


def default_environment(catalog: Catalog) -> str:
    """The environment the DR error-ratio trigger watches, as `monitor check` defaults."""
    return catalog.dr.error_ratio.environment


def _unavailable(settings: Settings, what: str, error: QueryError) -> ZarishError:
    if error.kind == "query":
        return ZarishError(f"{settings.display_url}: Prometheus rejected the {what} query: {error.message}",
                           ExitCode.UNAVAILABLE)
    return ZarishError(f"{settings.display_url}: {error.message} ({what})", ExitCode.UNAVAILABLE)


def run_report(catalog: Catalog, environment: str | None, period: Period, settings: Settings,
               now: float) -> dict[str, Any]:
    """The compliance report of `environment` (default: the DR environment) over `period`.

    Any query that fails, whether the server is down, answers garbage or rejects the query, ends the run
    with ZarishError (exit 69): a report built on missing answers would state wrong figures as facts.
    """
    environment = environment or default_environment(catalog)
    if environment not in {e.name for e in catalog.environments}:
        names = ", ".join(e.name for e in catalog.environments)
        raise ZarishError(f"--environment {environment!r}: not in the catalog ({names})", ExitCode.USAGE)
    client = Client(settings, period.end)
    try:
        retention = client.retention()
    except QueryError as exc:
        raise _unavailable(settings, "runtime information", exc) from None
    queries = plan(catalog, environment, period)
    answers: dict[str, Any] = dict(client.query_many(queries))
    for name, answer in answers.items():
        if isinstance(answer, QueryError):
            raise _unavailable(settings, name.split(":")[0], answer)
    answers["retention"] = retention
    return build(catalog, environment, period, answers, now=now, prometheus_url=settings.display_url,
                 queries_sent=client.sent)
