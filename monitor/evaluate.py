"""Query answers -> per-service SLO and burn-rate verdicts, DR triggers, one Nagios verdict. Pure.

Severity order (the worst wins): OK < WARNING < UNKNOWN < CRITICAL. A fired DR trigger or a page
is never hidden behind UNKNOWN, and missing data is never OK. Zero traffic is not missing data: the
request rate is 0, the error ratio 0 (the PromQL module's safe ratio), latencies null, no alert.

Maintenance windows are decided from the catalog and the evaluation instant alone (zarish_obs.maintenance,
no query), so the monitor agrees with the silences and recording rules about which minutes are planned:
- A service covered by a window open at the instant in the checked environment carries
  `maintenance: {name, reason, until, until_local, exclude_from_slo, windows}` (null otherwise). Its SLO
  figures and `status` are still computed and shown, but `counts` is false when an open window excludes its
  minutes from the SLOs: its status then does not enter the verdict, so a planned outage neither pages
  nor turns the check UNKNOWN. A window with `exclude_from_slo: false` is shown and still counts.
- DR triggers are evaluated as always. While a `suppress_dr` window over the DR environment is open the
  automatic triggers (error ratio, replication lag, primary region) have `counts` false and
  `suppressed_by` naming it, so neither a fired nor an unknown one raises the exit code or recommends
  failover; the manual trigger is a person's decision and always counts. Without such a window a fired
  trigger raises the exit code as ever, and its detail names the windows open over the DR environment:
  a forgotten window must never hide a failover decision.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from zarish_obs import conventions, maintenance, maintenance_promql, promql
from zarish_obs.durations import parse_duration
from zarish_obs.monitor.client import QueryError, Sample
from zarish_obs.monitor.queries import SLO_LABEL, dr_rate_window

if TYPE_CHECKING:  # a cron run may hold the cached snapshot of the model: read by attribute only
    from zarish_obs.catalog import AvailabilitySLO, Catalog, MaintenanceWindow, Service

REPORT_VERSION = 1
OK, WARNING, CRITICAL, UNKNOWN = "ok", "warning", "critical", "unknown"
EXIT_CODES = {OK: 0, WARNING: 1, CRITICAL: 2, UNKNOWN: 3}
_RANK = {OK: 0, WARNING: 1, UNKNOWN: 2, CRITICAL: 3}
BUDGET_WARNING = 0.25

Results = Mapping[str, "list[Sample] | QueryError"]


def worst(statuses: Sequence[str]) -> str:
    return max(statuses, key=_RANK.__getitem__, default=OK)


def finite(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def rfc3339(at: float) -> str:
    dt = datetime.fromtimestamp(at, UTC)
    text = dt.strftime("%Y-%m-%dT%H:%M:%S")
    if not float(at).is_integer():
        text += f".{dt.microsecond // 1000:03d}"
    return text + "Z"


@dataclass
class _Index:
    """Answers of one query keyed by service (and SLO kind), restricted to the environment."""

    values: dict[tuple[str, ...], float | None]
    error: str | None
    failed: bool = False

    def get(self, *key: str) -> tuple[bool, float | None]:
        if key in self.values:
            return True, self.values[key]
        return False, None


def _failure(name: str, answer: object) -> str | None:
    """The error line for a failed query; None for queries skipped because the server is unusable
    (the reason is reported once, not once per query)."""
    if answer is None:
        return f"{name}: not queried"
    if isinstance(answer, QueryError):
        return None if answer.kind == "skipped" else f"{name}: {answer.message}"
    return None


def _index(results: Results, name: str, catalog: Catalog, environment: str, with_slo: bool = False) -> _Index:
    answer = results.get(name)
    if answer is None or isinstance(answer, QueryError):
        return _Index({}, _failure(name, answer), failed=True)
    env_label, svc_label = catalog.metrics.environment_label, catalog.metrics.service_label
    out: dict[tuple[str, ...], float | None] = {}
    for sample in answer:
        if sample.labels.get(env_label, environment) != environment:
            continue
        key = (sample.labels.get(svc_label, ""),) + ((sample.labels.get(SLO_LABEL, ""),) if with_slo else ())
        out[key] = finite(sample.value)
    return _Index(out, None)


def _skipped(results: Results, name: str) -> bool:
    answer = results.get(name)
    return isinstance(answer, QueryError) and answer.kind == "skipped"


def _scalar(results: Results, name: str) -> tuple[bool, float | None, str | None]:
    """(answered, value, error line) of a query expected to return at most one series."""
    answer = results.get(name)
    if answer is None or isinstance(answer, QueryError):
        reason = _failure(name, answer) or (answer.message if isinstance(answer, QueryError) else None)
        return False, None, reason
    values = [finite(s.value) for s in answer]
    present = [v for v in values if v is not None]
    return True, (max(present) if present else None), None


@functools.lru_cache(maxsize=64)
def _normalise(window: str) -> str:
    return conventions.normalise(window)


@functools.lru_cache(maxsize=64)
def _factor(tier_name: str, slo_window: str) -> float:
    return next(t for t in conventions.TIERS if t.name == tier_name).factor(slo_window)


BURN_WINDOWS = conventions.ALERT_WINDOWS


def _slo_report(svc: Service, kind: str, objective: AvailabilitySLO, ratios: dict[str, _Index],
                events: dict[str, _Index], catalog: Catalog, source: str, problems: list[str]) -> dict[str, Any]:
    window = _normalise(objective.window)
    budget = objective.error_budget
    found, ratio = ratios[window].get(svc.name, kind) if window in ratios else (False, None)
    if not found or ratio is None:
        problems.append(f"{kind} SLO: no data over {window}")
    burn: dict[str, float | None] = {}
    ratio_by_window: dict[str, float | None] = {}
    for w in BURN_WINDOWS:
        _, r = ratios[w].get(svc.name, kind) if w in ratios else (False, None)
        ratio_by_window[w] = r
        burn[w] = None if r is None else r / budget
    missing = [w for w, r in ratio_by_window.items() if r is None]
    if missing:
        problems.append(f"{kind} SLO: no data for burn-rate window(s) {', '.join(missing)}")
    tiers: list[str] = []
    severities: list[str] = []
    for tier in conventions.enabled_tiers(catalog):
        long_w, short_w = _normalise(tier.long_window), _normalise(tier.short_window)
        threshold = _factor(tier.name, objective.window) * budget
        r_long, r_short = ratio_by_window.get(long_w), ratio_by_window.get(short_w)
        ev_found, n = events[long_w].get(svc.name, kind) if long_w in events else (False, None)
        if r_long is None or r_short is None:
            continue
        if not ev_found or n is None:
            problems.append(f"{kind} SLO: no event count over {long_w}")
            continue
        if r_long > threshold and r_short > threshold and n >= catalog.alerting.min_events:
            tiers.append(tier.name)
            if tier.severity not in severities:
                severities.append(tier.severity)
    remaining = None if ratio is None else 1 - ratio / budget
    return {
        "slo": kind, "objective": objective.objective, "window": window, "source": source,
        "sli": None if ratio is None else round(100 * (1 - ratio), 9),
        "error_ratio": ratio, "error_budget": budget,
        "error_budget_remaining": remaining, "burn_rates": burn,
        "alerts": sorted(severities, key=("page", "ticket").index), "alert_tiers": tiers,
        **({"threshold_seconds": objective.threshold_seconds} if kind == "latency" else {}),
    }


def _service_status(report: dict[str, Any], problems: list[str]) -> str:
    statuses = [UNKNOWN] if problems else [OK]
    for s in report["slos"]:
        if "page" in s["alerts"]:
            statuses.append(CRITICAL)
        if "ticket" in s["alerts"]:
            statuses.append(WARNING)
        if s["error_budget_remaining"] is not None and s["error_budget_remaining"] < BUDGET_WARNING:
            statuses.append(WARNING)
    return worst(statuses)


def services_report(catalog: Catalog, environment: str, results: Results, source: str,
                    errors: list[str], at: float | None = None) -> list[dict[str, Any]]:
    rate = _index(results, "request_rate", catalog, environment)
    eratio = _index(results, "error_ratio", catalog, environment)
    p50 = _index(results, "latency_p50", catalog, environment)
    p95 = _index(results, "latency_p95", catalog, environment)
    ratios = {w: _index(results, f"slo_ratio:{w}", catalog, environment, True)
              for w in conventions.ratio_windows(catalog)}
    events = {w: _index(results, f"slo_events:{w}", catalog, environment, True)
              for w in conventions.event_windows(catalog)}
    for idx in (rate, eratio, p50, p95, *ratios.values(), *events.values()):
        if idx.error and idx.error not in errors:
            errors.append(idx.error)
    out = []
    for svc in catalog.services:
        problems: list[str] = []
        found, rr = rate.get(svc.name)
        # A service with only ratio SLIs need not expose the request metrics: their absence is no problem.
        missing = svc.http_slos and (not found or rr is None)
        if missing:
            problems.append(f"no request-rate series for {svc.name} in {environment}" if not rate.failed
                            else "request rate unknown (query failed)")
        _, er = eratio.get(svc.name)
        if found and er is None:
            problems.append("no error-ratio data")
        lat: dict[str, float | None] = {}
        for key, idx in (("latency_p50_seconds", p50), ("latency_p95_seconds", p95)):
            _, v = idx.get(svc.name)
            lat[key] = v if rr else None
            if rr and v is None:
                problems.append(f"no latency histogram data ({key})")
        entry: dict[str, Any] = {
            "service": svc.name, "status": OK, "request_rate": rr, "error_ratio": er, **lat,
            "slos": [_slo_report(svc, kind, o, ratios, events, catalog, source, problems)
                     for kind, o in svc.slo_items()],
        }
        if missing:
            problems = [problems[0]]
        entry["status"] = _service_status(entry, problems)
        entry["problems"] = problems
        window = None if at is None else service_maintenance(catalog, svc.name, environment, at)
        entry["maintenance"] = window
        entry["counts"] = window is None or not window["exclude_from_slo"]
        out.append(entry)
    return out


def dr_report(catalog: Catalog, results: Results, manual_reason: str | None,
              errors: list[str]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    dr = catalog.dr
    triggers: list[dict[str, Any]] = []

    def add(name: str, query: str, threshold: float, for_seconds: float, fires: Any, absent: str,
            describe: Any, when_absent: bool | None = None) -> None:
        answered, value, error = _scalar(results, query)
        if error and error not in errors and not _skipped(results, query):
            errors.append(error)
        if value is not None:
            fired: bool | None = bool(fires(value))
        else:
            fired = when_absent if answered else None
        detail = error or (absent if value is None else describe(value))
        triggers.append({"name": name, "fired": fired, "value": value, "threshold": threshold,
                         "for_seconds": for_seconds, "detail": detail, "query": query})

    er = dr.error_ratio
    t = conventions.timings(catalog)
    step = catalog.prometheus.evaluation_interval
    er_cond = promql.dr_error_ratio_sustained(catalog)
    add("error_ratio", "dr:error_ratio", er_cond.threshold, parse_duration(t.error_ratio_for), er_cond.holds,
        f"no {catalog.metrics.requests_total} series in {er.environment}: cannot tell",
        lambda v: f"lowest error ratio of {er.environment} ({dr_rate_window(catalog)} rate, every {step}) over "
                  f"the last {t.error_ratio_for}: {100 * v:.2f}% (trigger: above {100 * er.threshold:g}% "
                  "throughout)")
    lag_threshold = parse_duration(dr.replication_lag.threshold)
    lag_for = t.replication_lag_for
    add("replication_lag", "dr:replication_lag", lag_threshold, parse_duration(lag_for),
        lambda v: v > lag_threshold, f"no {dr.replication_lag.metric} series: cannot tell",
        lambda v: f"lowest replication lag over the last {lag_for}: {v:g}s (trigger: above {lag_threshold:g}s "
                  "throughout)")
    pr_for = parse_duration(t.region_unavailable_for)
    region = catalog.primary_region
    absent = (f"no {dr.primary_region_unavailable.metric} series for region {region.name}: cannot tell"
              if region.probes else f"region {region.name} has no probes in the catalog: cannot tell")
    pr_text = t.region_unavailable_for
    pr_cond = promql.dr_primary_region_unavailable(catalog)
    add("primary_region_unavailable", "dr:primary_region_unavailable", pr_cond.threshold, pr_for, pr_cond.holds,
        absent,
        lambda v: (f"every probe of {region.name} failed at every {step} step of the last {pr_text}"
                   if pr_cond.holds(v) else f"a probe of {region.name} succeeded within the last {pr_text}"))
    add("manual", "dr:manual", 1, 0, lambda v: v == 1,
        f"{dr.manual_trigger.metric} absent: nobody triggered failover by metric",
        lambda v: f"{dr.manual_trigger.metric} = {v:g}", when_absent=False)
    if manual_reason is not None:
        triggers[-1].update(fired=True, value=1.0, detail=f"--manual-trigger: {manual_reason}")

    # The RPO and the backups: each source's age now, and its lowest age over the alerts' `for:` (RPOBreached
    # and BackupMissed fire exactly when these lowest ages say so; a source without data has no series).
    ages: dict[str, dict[str, float]] = {"rpo:sources": {}, "rpo:held": {}}
    problem = None
    for query, found in ages.items():
        _, _, error = _scalar(results, query)
        if error and error not in errors and not _skipped(results, query):
            errors.append(error)
        problem = problem or error
        answer = results.get(query)
        for sample in answer if isinstance(answer, list) else []:
            value = finite(sample.value)
            if value is not None:
                found[sample.labels.get(conventions.RPO_SOURCE_LABEL, "")] = value
    now, held = ages["rpo:sources"], ages["rpo:held"]
    replication, backup = conventions.RPO_SOURCES
    point = min(((now[s], s) for s in conventions.RPO_SOURCES if s in now), key=lambda p: p[0], default=None)
    answered_held = isinstance(results.get("rpo:held"), list)
    lowest = min(held.values(), default=None)
    breached = None if lowest is None else promql.rpo_breached(catalog).holds(lowest)
    late = promql.backup_late(catalog)
    missed = (backup not in held or late.holds(held[backup])) if answered_held else None

    def ago(seconds: float) -> str:
        return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min" if seconds < 7200 \
            else f"{seconds / 3600:.1f} h"

    if point is None:
        detail = (f"no {dr.replication_lag.metric} or {dr.backup.metric} series: cannot tell how old the newest "
                  "recoverable point is")
    else:
        detail = (f"newest recoverable point {ago(point[0])} old ({point[1]}), RPO {dr.rpo}"
                  + (f": BREACHED for at least {t.recovery_for}" if breached else ""))
    if backup not in now:
        detail += f"; no {dr.backup.metric} series: no successful backup recorded"
    else:
        detail += (f"; last successful backup {ago(now[backup])} ago"
                   + (f": MISSED (more than {ago(late.threshold)}, the schedule's interval plus grace, "
                      f"for at least {t.recovery_for})" if missed else ""))
    rpo = {"recoverable_point_age_seconds": None if point is None else point[0],
           "source": None if point is None else point[1],
           "replication_lag_seconds": now.get(replication), "backup_age_seconds": now.get(backup),
           "rpo_seconds": parse_duration(dr.rpo), "breached": breached,
           "backup_missed_after_seconds": late.threshold, "backup_missed": missed,
           "for_seconds": parse_duration(t.recovery_for), "detail": problem or detail}
    return triggers, rpo


# -- maintenance windows -------------------------------------------------------------------------------------
AUTOMATIC_TRIGGERS = ("error_ratio", "replication_lag", "primary_region_unavailable")


def _window(catalog: Catalog, window: MaintenanceWindow, until: float) -> dict[str, Any]:
    local = datetime.fromtimestamp(until, conventions.report_timezone(catalog))
    return {"name": window.name, "reason": window.reason, "until": rfc3339(until),
            "until_local": local.isoformat(timespec="minutes"), "exclude_from_slo": window.exclude_from_slo}


def service_maintenance(catalog: Catalog, service: str, environment: str, at: float) -> dict[str, Any] | None:
    """The open window that governs the service at `at` (one excluding SLO minutes first, then the one that
    ends last), with the names of every window open for it; None outside every window."""
    by_name = {w.name: w for w in catalog.maintenance}
    found = maintenance.active(catalog, service, environment, at)
    if not found:
        return None
    occ = max(found, key=lambda o: (by_name[o.window].exclude_from_slo, o.end))
    return {**_window(catalog, by_name[occ.window], occ.end), "windows": sorted({o.window for o in found})}


def open_windows(catalog: Catalog, environments: Sequence[str], at: float) -> list[dict[str, Any]]:
    """Every window open at `at` over one of `environments`, with what it covers."""
    out = []
    for w in catalog.maintenance:
        envs = maintenance.environments(catalog, w)
        if not set(envs) & set(environments):
            continue
        for occ in maintenance.openings(catalog, w, at, at + 1):
            out.append({**_window(catalog, w, occ.end), "services": maintenance.services(catalog, w),
                        "environments": envs, "suppress_dr": w.suppress_dr})
    return out


def _describe(windows: Sequence[dict[str, Any]]) -> str:
    named = ", ".join(f"{w['name']} ({w['reason']}) until {w['until_local']}" for w in windows)
    return f"window{'s' if len(windows) > 1 else ''} {named}"


def mark_dr_maintenance(catalog: Catalog, triggers: list[dict[str, Any]], at: float) -> None:
    """Set each trigger's `counts` and `suppressed_by`, and name the open windows in the detail."""
    dr_env = catalog.dr.error_ratio.environment
    windows = open_windows(catalog, [dr_env], at)
    quiet = {w.name for w in maintenance_promql.dr_windows(catalog)}
    suppressing = [w for w in windows if w["name"] in quiet]
    for t in triggers:
        hidden = suppressing if t["name"] in AUTOMATIC_TRIGGERS else []
        t["counts"] = not hidden
        t["suppressed_by"] = hidden[0]["name"] if hidden else None
        if hidden and t["fired"] is not False:
            t["detail"] += (f"; not counted: maintenance {_describe(hidden[:1])} suppresses the DR triggers "
                            f"in {dr_env}")
        elif t["fired"] and windows:
            t["detail"] += (f"; during maintenance {_describe(windows)} in {dr_env}: counted, since no open window "
                            "suppresses DR triggers (suppress_dr)")


def verdict(services: list[dict[str, Any]], triggers: list[dict[str, Any]], rpo: dict[str, Any],
            errors: list[str]) -> str:
    statuses = [s["status"] for s in services if s.get("counts", True)]
    statuses += [CRITICAL if t["fired"] else UNKNOWN for t in triggers
                 if t["fired"] is not False and t.get("counts", True)]
    if rpo["recoverable_point_age_seconds"] is None:
        statuses.append(UNKNOWN)  # neither replication nor backup data: the RPO cannot be judged
    elif rpo["breached"] or rpo["backup_missed"]:
        statuses.append(WARNING)
    if errors:
        statuses.append(UNKNOWN)
    return worst(statuses)


def build_report(catalog: Catalog, environment: str, results: Results, *, source: str, at: float,
                 prometheus_url: str, manual_reason: str | None = None,
                 errors: Sequence[str] = ()) -> dict[str, Any]:
    """The JSON contract of `monitor check` (version 1) from the answers of one check."""
    errs = list(errors)
    services = services_report(catalog, environment, results, source, errs, at)
    triggers, rpo = dr_report(catalog, results, manual_reason, errs)
    mark_dr_maintenance(catalog, triggers, at)
    status = verdict(services, triggers, rpo, errs)
    failover = any(t["fired"] and t["counts"] for t in triggers)
    return {
        "version": REPORT_VERSION, "status": status, "exit_code": EXIT_CODES[status],
        "evaluated_at": rfc3339(at), "evaluated_at_unix": at, "prometheus_url": prometheus_url,
        "catalog": catalog.name, "environment": environment, "slo_source": source,
        "services": services, "dr_triggers": triggers, "rpo": rpo,
        "maintenance_windows": open_windows(catalog, sorted({environment, catalog.dr.error_ratio.environment}), at),
        "failover_recommended": failover,
        "failover_procedure": list(catalog.dr.failover_procedure) if failover else [],
        "errors": errs,
    }
