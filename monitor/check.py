"""One `monitor check`: probe, query, evaluate. The in-process API the local stack and tests use."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from zarish_obs.cliutil import parse_instant
from zarish_obs.errors import ExitCode, ZarishError
from zarish_obs.monitor.client import Client, QueryError, Settings, settings_from_env
from zarish_obs.monitor.evaluate import build_report
from zarish_obs.monitor.queries import plan, probed_source, recorded_probe, send_order

if TYPE_CHECKING:  # a cron run may hold the cached snapshot of the model: read by attribute only
    from zarish_obs.catalog import Catalog


def default_environment(catalog: Catalog) -> str:
    """The environment the DR error-ratio trigger watches (production in the built-in catalog)."""
    return catalog.dr.error_ratio.environment


def parse_at(text: str | None) -> float | None:
    """`--at` as unix seconds (None: now, chosen when the check runs)."""
    return parse_instant(text, "--at")


def run_check(catalog: Catalog, prometheus_url: str | None = None, at: float | None = None,
              environment: str | None = None, *, settings: Settings | None = None,
              manual_reason: str | None = None, headers: Sequence[str] = (), ca_file: str | None = None,
              insecure: bool = False, timeout: float = 10.0, deadline: float = 20.0,
              parallel: int = 4) -> dict[str, Any]:
    """Run one check and return the JSON report (see the issue's contract; `exit_code` is the verdict).

    Never raises for server problems: those become UNKNOWN with a message in `errors`. Raises
    ZarishError (usage) for a bad environment, URL or option.
    """
    environment = environment or default_environment(catalog)
    if environment not in {e.name for e in catalog.environments}:
        names = ", ".join(e.name for e in catalog.environments)
        raise ZarishError(f"--environment {environment!r}: not in the catalog ({names})", ExitCode.USAGE)
    if manual_reason is not None and not manual_reason.strip():
        raise ZarishError("--manual-trigger needs a reason (who and why)", ExitCode.USAGE)
    if settings is None:
        if not prometheus_url:
            raise ZarishError("no Prometheus URL: pass --prometheus-url or set PROMETHEUS_URL", ExitCode.USAGE)
        settings = settings_from_env(prometheus_url, headers, ca_file, insecure, timeout, deadline, parallel)
    at = time.time() if at is None else float(at)
    started = time.monotonic()
    client = Client(settings, at)
    probe = recorded_probe(catalog, environment)
    answer = client.query_many({probe.name: probe.expr})[probe.name]
    errors: list[str] = []
    if isinstance(answer, QueryError):
        source = "raw"
        if answer.server_level:
            errors.append(f"{settings.display_url}: {answer.message}; no query answered")
            skipped = QueryError(f"not sent: {answer.message}", "skipped")
            queries = plan(catalog, environment, source)
            results: dict[str, Any] = {q.name: skipped for q in queries}
        else:
            errors.append(f"{probe.name}: {answer.message}")
            queries = plan(catalog, environment, source)
            results = client.query_many({q.name: q.expr for q in send_order(queries)})
    else:
        source = probed_source(catalog, [dict(s.labels) for s in answer])
        queries = plan(catalog, environment, source)
        results = client.query_many({q.name: q.expr for q in send_order(queries)})
    report = build_report(catalog, environment, results, source=source, at=at,
                          prometheus_url=settings.display_url, manual_reason=manual_reason, errors=errors)
    report["queries"] = 1 + len(queries)
    report["requests_sent"] = client.sent
    report["duration_seconds"] = round(time.monotonic() - started, 3)
    return report
