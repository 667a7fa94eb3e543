"""The fixed set of instant queries one `monitor check` sends, whatever the number of services.

Every signal is ONE query grouped by (environment, service) for all services of the environment;
expressions come from zarish_obs.promql and recorded names from zarish_obs.conventions. Windows of a day
or more read the event counts the rules record for them when Prometheus has those (source `recorded`), the
sums of the recorded 5-minute SLO increases when it has only those (`tiles`: rules of an older zarish-obs, or
a history backfilled at 5 minutes), raw counters otherwise.
DR triggers are stateless: "above X for 5m" is a subquery over the last 5m at the rule evaluation
interval, which holds exactly when the alert rule (`for: 5m`) would be firing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from zarish_obs import conventions, promql
from zarish_obs.durations import parse_duration

if TYPE_CHECKING:  # a cron run may hold the cached snapshot of the model: read by attribute only
    from zarish_obs.catalog import Catalog

PROBE = "slo_recorded_kinds"
SLO_LABEL = conventions.SLO_LABEL


@dataclass(frozen=True)
class Query:
    name: str
    expr: str


slo_kinds = conventions.slo_kinds
ratio_windows = conventions.ratio_windows
event_windows = conventions.event_windows
dr_rate_window = promql.dr_error_ratio_window


def _long_windows(catalog: Catalog) -> list[str]:
    return [w for w in ratio_windows(catalog) + event_windows(catalog) if conventions.is_long(w)]


# The probe's marker (a label, as `or` matches series without their names) for hourly increases as old as the
# longest layered window.
PROBE_LABEL, HOUR_HISTORY = "zarish_probe", "hour_history"


def _layered_reach(catalog: Catalog) -> str | None:
    """The longest long window summed from the hourly increases (None when no window is)."""
    layered = [w for w in _long_windows(catalog) if conventions.layered(catalog, w)]
    return max(layered, key=parse_duration) if layered else None


def recorded_probe(catalog: Catalog, environment: str) -> Query:
    """Which recorded SLO series each kind has in this environment (cheap; sent first): the long windows' event
    counts, the 5-minute increases, and whether the hourly increases reach back the longest layered window (the
    recorded counts of a Prometheus whose rules gained the hourly layer less than a window ago miss the hours
    before it)."""
    s = promql.signals(catalog)
    names = [conventions.slo_events(w) for w in _long_windows(catalog)] + [conventions.SLO_REQUESTS_5M]
    sel = promql.selector("", [promql.Matcher("__name__", promql.regex_any(names), "=~"), s.env(environment)])
    expr = f"count by (__name__, {SLO_LABEL}) ({sel})"
    reach = _layered_reach(catalog)
    if reach is not None:
        hourly = promql.selector(conventions.slo_events(conventions.HOUR_TILE), [s.env(environment)])
        old = f"count by ({SLO_LABEL}) ({hourly} offset {conventions.normalise(reach)})"
        expr += f'\nor\nlabel_replace({old}, "{PROBE_LABEL}", "{HOUR_HISTORY}", "", "")'
    return Query(PROBE, expr)


def probed_source(catalog: Catalog, probe_labels: list[dict[str, str]]) -> str:
    """`recorded` when every SLO kind has every long window's event counts (and hourly increases a window old
    where they are layered), else `tiles` when every kind has the 5-minute increases, else `raw`."""
    have = {(labels.get(PROBE_LABEL) or labels.get("__name__", ""), labels.get(SLO_LABEL, ""))
            for labels in probe_labels}
    kinds = slo_kinds(catalog)
    if not kinds:
        return "raw"
    needed = {conventions.slo_events(w) for w in _long_windows(catalog)}
    if _layered_reach(catalog) is not None:
        needed.add(HOUR_HISTORY)
    if all((name, k) in have for name in needed for k in kinds):
        return "recorded"
    return "tiles" if all((conventions.SLO_REQUESTS_5M, k) in have for k in kinds) else "raw"


def _recorded(s: promql.Signals, signal: str, source: str) -> Callable[[str, list[promql.Matcher]], str]:
    """The long-window expression of `signal` (ratio or events) for a recorded `source`."""
    if source == "tiles":
        if signal == "ratio":
            return lambda w, m: promql.safe_ratio(s.tiled_events(w, m, bad=True), s.tiled_events(w, m))
        return lambda w, m: s.tiled_events(w, m)
    return s.slo_error_ratio_recorded if signal == "ratio" else s.recorded_events


def _tag(parts: list[tuple[str, str | None]]) -> str | None:
    """Raw per-kind expressions joined into one, each series labelled slo=<kind> like the recorded ones."""
    tagged = [f'label_replace({expr}, "{SLO_LABEL}", "{kind}", "", "")' for kind, expr in parts if expr]
    return " or ".join(tagged) if tagged else None


def _slo_signal(catalog: Catalog, environment: str, window: str, source: str, signal: str) -> str | None:
    """One query for every service and SLO kind: long windows from the recorded series `source` names, the
    rest (and every window with source `raw`) from the raw counters."""
    s = promql.signals(catalog)
    env = [s.env(environment)]
    raw = s.slo_error_ratio_raw if signal == "ratio" else s.slo_total
    if source != "raw" and conventions.is_long(window):
        return _recorded(s, signal, source)(window, env)
    return _tag([(k, raw(k, catalog.services, window, env)) for k in slo_kinds(catalog)])


def slo_ratio(catalog: Catalog, environment: str, window: str, source: str) -> str | None:
    return _slo_signal(catalog, environment, window, source, "ratio")


def slo_events(catalog: Catalog, environment: str, window: str, source: str) -> str | None:
    return _slo_signal(catalog, environment, window, source, "events")


def dr_queries(catalog: Catalog) -> list[Query]:
    step = catalog.prometheus.evaluation_interval
    lag_for = conventions.timings(catalog).replication_lag_for
    return [
        Query("dr:error_ratio", promql.dr_error_ratio_sustained(catalog).value),
        Query("dr:replication_lag", f"min_over_time(({promql.dr_replication_lag(catalog)})[{lag_for}:{step}])"),
        Query("dr:primary_region_unavailable", promql.dr_primary_region_unavailable(catalog).value),
        Query("dr:manual", promql.dr_manual_trigger(catalog)),
        Query("rpo:sources", promql.recoverable_point_sources(catalog)),
        Query("rpo:held", promql.recovery_held(catalog)),
    ]


def golden_signals(s: promql.Signals, matchers: list[promql.Matcher]) -> list[Query]:
    return [
        Query("request_rate", s.request_rate(matchers)),
        Query("error_ratio", s.error_ratio(matchers)),
        Query("latency_p50", s.latency_quantile(0.5, matchers)),
        Query("latency_p95", s.latency_quantile(0.95, matchers)),
    ]


def plan(catalog: Catalog, environment: str, source: str) -> list[Query]:
    """All queries after the probe, in a fixed order; the count depends on the catalog's windows only."""
    s = promql.signals(catalog)
    out = golden_signals(s, [s.env(environment)])
    for w in ratio_windows(catalog):
        expr = slo_ratio(catalog, environment, w, source)
        if expr:
            out.append(Query(f"slo_ratio:{w}", expr))
    for w in event_windows(catalog):
        expr = slo_events(catalog, environment, w, source)
        if expr:
            out.append(Query(f"slo_events:{w}", expr))
    return out + dr_queries(catalog)


def send_order(queries: list[Query]) -> list[Query]:
    """Longest windows first: with several queries in flight the slowest one starts at once and the
    check ends when it does, instead of starting it last."""
    def cost(q: Query) -> float:
        _, _, window = q.name.partition(":")
        return -parse_duration(window) if q.name.startswith("slo_") else 0.0
    return sorted(queries, key=cost)


def per_service_plan(catalog: Catalog, environment: str, service: str, source: str) -> list[Query]:
    """The same signals for ONE service (what a naive monitor sends N times); used by the benchmark."""
    s = promql.signals(catalog)
    m = [s.env(environment), s.service(service)]
    svc = [x for x in catalog.services if x.name == service]
    out = golden_signals(s, m)
    per_window = (
        ("slo_ratio", ratio_windows(catalog), _recorded(s, "ratio", source),
         lambda kind, w: s.slo_error_ratio_raw(kind, svc, w, m)),
        ("slo_events", event_windows(catalog), _recorded(s, "events", source),
         lambda kind, w: s.slo_total(kind, svc, w, m)),
    )
    for prefix, windows, recorded, raw in per_window:
        for w in windows:
            for kind in slo_kinds(catalog):
                if source != "raw" and conventions.is_long(w):
                    expr = recorded(w, [*m, promql.Matcher(SLO_LABEL, kind)])
                else:
                    expr = raw(kind, w)
                if expr:
                    out.append(Query(f"{prefix}:{w}:{kind}", expr))
    return out
