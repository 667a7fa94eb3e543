"""Every PromQL expression zarish-obs emits is built here, once per signal.

The recording rules, the alerts, the dashboards and the monitor all call these functions, so a
dashboard panel, an alert and a `monitor check` can never disagree about what "error ratio" means.
Label values are always escaped, so a service called `a"b\\c` cannot break or inject into a query.

Zero traffic never yields NaN or +Inf: every division is `bad / (total > 0) or total * 0`, which is
0 when there were no requests (and no series at all when the metric is absent, which the
absence alerts and the monitor's UNKNOWN verdict catch).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from zarish_obs import conventions
from zarish_obs.durations import format_duration, parse_duration

if TYPE_CHECKING:  # a cron run may hold the cached snapshot of the model: read by attribute only
    from zarish_obs.catalog import Catalog, Metrics, Service

_OPS = ("=", "!=", "=~", "!~")


def escape_label_value(value: str) -> str:
    """Escape a string for use inside a double-quoted PromQL label value."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def regex_literal(value: str) -> str:
    """A RE2 pattern matching exactly `value` (Prometheus anchors regex matchers)."""
    return re.sub(r"([\\.^$|?*+()\[\]{}])", r"\\\1", value)


def regex_any(values: Iterable[str]) -> str:
    """A RE2 alternation matching exactly one of `values`."""
    return "|".join(regex_literal(v) for v in sorted(set(values)))


@dataclass(frozen=True)
class Matcher:
    name: str
    value: str
    op: str = "="

    def __post_init__(self) -> None:
        if self.op not in _OPS:
            raise ValueError(f"unknown matcher operator {self.op!r}")
        if not re.match(r"^[a-zA-Z_][a-zA-Z0-9_]*$", self.name):
            raise ValueError(f"{self.name!r} is not a valid label name")

    def render(self) -> str:
        return f'{self.name}{self.op}"{escape_label_value(self.value)}"'


def selector(metric: str, matchers: Sequence[Matcher] = ()) -> str:
    if not matchers:
        return metric
    return metric + "{" + ", ".join(m.render() for m in matchers) + "}"


def by(labels: Sequence[str]) -> str:
    return f" by ({', '.join(labels)})" if labels else ""


def safe_ratio(bad: str, total: str) -> str:
    """bad/total, 0 on zero traffic, never NaN or Inf; both sides must carry the same labels."""
    return f"({bad} / ({total} > 0)) or ({total} * 0)"


def le_regex(threshold: float) -> str:
    """Both spellings of a bucket boundary: Go clients write `1`, Python clients `1.0`."""
    forms = {repr(float(threshold))}
    if float(threshold).is_integer():
        forms.add(str(int(threshold)))
    return regex_any(forms)


class Signals:
    """Expressions over the catalog's metric and label names."""

    def __init__(self, metrics: Metrics):
        self.m = metrics
        self.group = (metrics.environment_label, metrics.service_label)

    # -- matchers ---------------------------------------------------------------------------------------
    def env(self, environment: str) -> Matcher:
        return Matcher(self.m.environment_label, environment)

    def service(self, name: str) -> Matcher:
        return Matcher(self.m.service_label, name)

    def services(self, names: Iterable[str]) -> Matcher:
        return Matcher(self.m.service_label, regex_any(names), "=~")

    def errors(self) -> Matcher:
        return Matcher(self.m.status_label, self.m.error_status_regex, "=~")

    # -- the four golden signals (the DR plan's overview panels) -----------------------------------------
    def _sum_rate(self, metric: str, matchers: Sequence[Matcher], window: str, group: Sequence[str]) -> str:
        return f"sum{by(group)} (rate({selector(metric, matchers)}[{window}]))"

    def request_rate(
        self, matchers: Sequence[Matcher] = (), window: str = "5m", group: Sequence[str] | None = None
    ) -> str:
        g = self.group if group is None else group
        return self._sum_rate(self.m.requests_total, matchers, window, g)

    def error_rate(
        self, matchers: Sequence[Matcher] = (), window: str = "5m", group: Sequence[str] | None = None
    ) -> str:
        g = self.group if group is None else group
        return self._sum_rate(self.m.requests_total, [*matchers, self.errors()], window, g)

    def error_ratio(
        self, matchers: Sequence[Matcher] = (), window: str = "5m", group: Sequence[str] | None = None
    ) -> str:
        """5xx over all requests; `group=()` gives one number for all services together."""
        return safe_ratio(self.error_rate(matchers, window, group), self.request_rate(matchers, window, group))

    def latency_quantile(
        self, quantile: float, matchers: Sequence[Matcher] = (), window: str = "5m",
        group: Sequence[str] | None = None,
    ) -> str:
        g = self.group if group is None else group
        bucket = selector(f"{self.m.latency_histogram}_bucket", matchers)
        return f"histogram_quantile({quantile}, sum{by(['le', *g])} (rate({bucket}[{window}])))"

    # -- SLO events --------------------------------------------------------------------------------------
    def _latency_groups(self, services: Sequence[Service]) -> list[tuple[float, list[str]]]:
        groups: dict[float, list[str]] = {}
        for svc in services:
            if svc.slos.latency:
                groups.setdefault(svc.slos.latency.threshold_seconds, []).append(svc.name)
        return sorted(groups.items())

    def _union(self, parts: list[str]) -> str:
        return " or ".join(f"({p})" for p in parts) if len(parts) > 1 else parts[0]

    def slo_total(self, kind: str, services: Sequence[Service], window: str, matchers: Sequence[Matcher] = (),
                  at: float | None = None) -> str | None:
        """Total events of one SLO kind over `window` (ending at `at` when given: the `@` modifier), per
        (environment, service), for all services."""
        return self._slo_events(kind, services, window, matchers, bad=False, at=at)

    def slo_bad(self, kind: str, services: Sequence[Service], window: str, matchers: Sequence[Matcher] = (),
                at: float | None = None) -> str | None:
        """Bad events (5xx, or slower than the service's threshold) over `window` (ending at `at`)."""
        return self._slo_events(kind, services, window, matchers, bad=True, at=at)

    def _slo_events(self, kind: str, services: Sequence[Service], window: str, matchers: Sequence[Matcher],
                    bad: bool, at: float | None = None) -> str | None:
        g = self.group
        if conventions.is_ratio(kind):
            return self._ratio_events(kind, services, window, matchers, bad, at)
        rng = f"[{window}]" + ("" if at is None else f" @ {number(at)}")  # `@ t`: the range ending at t
        if kind == "availability":
            names = [s.name for s in services if s.slos.availability]
            if not names:
                return None
            sel = [*matchers, self.services(names)] + ([self.errors()] if bad else [])
            return f"sum{by(g)} (increase({selector(self.m.requests_total, sel)}{rng}))"
        if kind != "latency":
            raise ValueError(f"unknown SLO kind {kind!r}")
        parts = []
        for threshold, names in self._latency_groups(services):
            sel = [*matchers, self.services(names)]
            count = f"sum{by(g)} (increase({selector(self.m.latency_histogram + '_count', sel)}{rng}))"
            if not bad:
                parts.append(count)
                continue
            le = Matcher("le", le_regex(threshold), "=~")
            good = f"sum{by(g)} (increase({selector(self.m.latency_histogram + '_bucket', [*sel, le])}{rng}))"
            parts.append(f"clamp_min({count} - {good}, 0)")
        return self._union(parts) if parts else None

    def ratio_query(self, service: str, query: str, window: str, matchers: Sequence[Matcher] = (),
                    at: float | None = None) -> str:
        """One query of a ratio SLI over `window` (ending at `at`), with `matchers` added to each of its
        selectors, summed per environment, and labelled with its service whatever the query's own labels say."""
        from zarish_obs import promql_lexer  # only catalogs with ratio SLIs need the lexer

        inner = promql_lexer.rewrite(promql_lexer.lex(query), window, [m.render() for m in matchers],
                                     None if at is None else number(at))
        summed = f"sum{by([self.m.environment_label])} ({inner})"
        return f'label_replace({summed}, "{self.m.service_label}", "{escape_label_value(service)}", "", "")'

    def _ratio_events(self, kind: str, services: Sequence[Service], window: str, matchers: Sequence[Matcher],
                      bad: bool, at: float | None) -> str | None:
        """Total or bad events of the ratio SLI named `kind`, for every service declaring one; with only a
        good query, bad = total - good (0 where the good query has no series yet), never below 0."""
        parts = []
        for svc in services:
            ratio = svc.ratio(kind)
            if ratio is None:
                continue
            total = self.ratio_query(svc.name, ratio.total_query, window, matchers, at)
            if not bad:
                parts.append(total)
            elif ratio.bad_query is not None:
                parts.append(self.ratio_query(svc.name, ratio.bad_query, window, matchers, at))
            else:
                good = self.ratio_query(svc.name, ratio.good_query or "", window, matchers, at)
                parts.append(f"clamp_min({total} - ({good} or {total} * 0), 0)")
        return self._union(parts) if parts else None

    def ratio_samples(self, service: Service, window: str, matchers: Sequence[Matcher] = (), offset: str = ""
                      ) -> str | None:
        """Per environment, how many series the first selector of the service's first ratio SLI's total query
        had samples of within `window` (`offset` after the range): what tells whether a service with only
        ratio SLIs was scraped, where others are watched through the request counter."""
        if not service.slos.ratios:
            return None
        from zarish_obs import promql_lexer

        lexed = promql_lexer.lex(service.slos.ratios[0].total_query)
        sel = promql_lexer.selector_with(lexed, lexed.selectors[0], [m.render() for m in matchers])
        counted = f"count{by([self.m.environment_label])} (count_over_time({sel}[{window}]{offset}))"
        return f'label_replace({counted}, "{self.m.service_label}", "{escape_label_value(service.name)}", "", "")'

    def slo_error_ratio_raw(self, kind: str, services: Sequence[Service], window: str,
                            matchers: Sequence[Matcher] = ()) -> str | None:
        """Bad/total of one SLO kind over `window`, straight from the raw counters."""
        total = self.slo_total(kind, services, window, matchers)
        bad = self.slo_bad(kind, services, window, matchers)
        if total is None or bad is None:
            return None
        return safe_ratio(f"({bad})", f"({total})")

    # -- SLO windows from the recorded increases --------------------------------------------------------
    @staticmethod
    def tiled_events(window: str, matchers: Sequence[Matcher] = (), bad: bool = False) -> str:
        """Exact event count over `window`: the recorded 5m increases on the 5-minute grid, without overlap."""
        return over_tiles("sum", selector(conventions.slo_events(conventions.TILE, bad), matchers), window,
                          conventions.TILE)

    @staticmethod
    def hourly_events(bad: bool = False) -> str:
        """The last 12 tiles up to HOUR_TILE_LAG ago: read on the hour grid, one hour's tiles (conventions)."""
        lag = format_duration(conventions.HOUR_TILE_LAG_SECONDS)
        return over_tiles("sum", selector(conventions.slo_events(conventions.TILE, bad)), conventions.HOUR_TILE,
                          conventions.TILE, lag)

    @staticmethod
    def events_so_far(bad: bool = False) -> str:
        """The tiles of the current hour, from the one on the hour up to the latest, without a range that depends
        on the time: of the last hour's 12 tiles, those of an hour with the parity of the current one. With p
        the current hour's parity and S, S_odd the sums of all and of the odd hours' tiles: (1 - p) S + (2p - 1)
        S_odd (the inner `time()` is each tile's own grid point)."""
        hour = conventions.HOUR_TILE_SECONDS
        parity = f"(time() % {2 * hour} >= bool {hour})"  # 1 in odd hours (a scalar: floor() takes vectors)
        sel = selector(conventions.slo_events(conventions.TILE, bad))
        every = over_tiles("sum", sel, conventions.HOUR_TILE, conventions.TILE)
        odd = over_tiles("sum", f"({sel} * {parity})", conventions.HOUR_TILE, conventions.TILE)
        return f"(1 - {parity}) * {every}\n+\n(2 * {parity} - 1) * {odd}"

    def layered_events(self, window: str, bad: bool = False) -> str:
        """Events over `window` (whole hours) with as few reads as possible, equal to `tiled_events`: the hourly
        increases at the window's hour points hold the tiles up to 5 minutes before the last one, the hour so
        far adds the current hour's, and the same hour so far `window` ago, already in the first hourly
        increase, is taken off. Each part counts as 0 while it has no series (a young history).

        The current hour so far is computed here, not read from its recorded series: vmalert writes a rule's
        result after the round, so the rules after it in the group would read the previous round's, which just
        after an hour point still holds the hour that the hourly increases now hold too. The hourly increases
        tolerate that lag (any evaluation in the 3 minutes before an hour point records that hour's tiles), and
        the hour so far a window ago is long written."""
        parts = (
            ("hours", over_tiles("sum", selector(conventions.slo_events(conventions.HOUR_TILE, bad)), window,
                                 conventions.HOUR_TILE)),
            ("hour_so_far", self.events_so_far(bad)),
            ("hour_so_far_before", f"-({conventions.slo_events_so_far(bad)} offset {conventions.normalise(window)})"),
        )
        marked = "\nor\n".join(f'label_replace({expr}, "{LAYER_LABEL}", "{name}", "", "")' for name, expr in parts)
        return f"sum{by([*self.group, conventions.SLO_LABEL])} (\n{marked}\n)"

    @staticmethod
    def recorded_events(window: str, matchers: Sequence[Matcher] = (), bad: bool = False) -> str:
        """Exact event count over `window`: the recorded series for a day or more, 5m tiles below that."""
        if conventions.is_long(window):
            return selector(conventions.slo_events(window, bad), matchers)
        return Signals.tiled_events(window, matchers, bad)

    def slo_error_ratio_recorded(self, window: str, matchers: Sequence[Matcher] = ()) -> str:
        """Bad/total over `window` as a ratio of exact sums (not an average of ratios), for every SLO."""
        return safe_ratio(self.recorded_events(window, matchers, bad=True), self.recorded_events(window, matchers))


LAYER_LABEL = "zarish_layer"  # tells the parts of a layered sum apart until `sum` drops it


def over_tiles(fn: str, expr: str, window: str, step: str, offset: str | None = None) -> str:
    """`fn` over the values of `expr` at the `step` grid points of the last `window` (`offset` earlier).

    Prometheus 2 subqueries include both ends, so on the grid `[1h:5m]` reads 13 points: the range is a
    millisecond short, which reads exactly window/step points at every instant, on the grid or off it (and
    changes nothing where the range's start is excluded anyway, as in Prometheus 3 and VictoriaMetrics)."""
    rng = format_duration(parse_duration(window) - 0.001)
    return f"{fn}_over_time({expr}[{rng}:{step}]" + (f" offset {offset})" if offset else ")")


def signals(catalog: Catalog) -> Signals:
    return Signals(catalog.metrics)


# -- DR triggers ------------------------------------------------------------------------------------------
# The alert rules, the DR dashboard and the monitor all build the DR conditions here, so "above 10% for
# 5 minutes" is one expression on one rate window, whoever evaluates it.
_DR_MIN_RATE_WINDOW_SECONDS = 60


def number(value: float) -> str:
    """A float as short PromQL text: 0.1, 300, 14.4."""
    return f"{value:.10g}"


@dataclass(frozen=True)
class Condition:
    """`value op threshold` on a one-series expression, in PromQL and in Python, so a rule and the monitor
    cannot compare differently (`>` is strict: exactly the threshold does not hold)."""

    value: str
    op: str  # ">" or "=="
    threshold: float

    @property
    def expr(self) -> str:
        return f"({self.value}) {self.op} {number(self.threshold)}"

    def holds(self, value: float) -> bool:
        return value > self.threshold if self.op == ">" else value == self.threshold


def dr_error_ratio_window(catalog: Catalog) -> str:
    """Rate window of the DR error-ratio trigger: four scrapes, at least a minute (1m at 15s).

    Short on purpose: "above 10% for 5 minutes" then means five minutes of errors, not five minutes of a
    5-minute average (which would need 8m20s of 15% errors before it held); four scrapes keep it from
    coming back empty between two scrapes, which would reset a pending alert.
    """
    scrape = parse_duration(catalog.prometheus.scrape_interval)
    return format_duration(max(_DR_MIN_RATE_WINDOW_SECONDS, 4 * scrape))


def dr_error_ratio(catalog: Catalog) -> str:
    """The DR error ratio: all services of the DR environment together over `dr_error_ratio_window`; one
    series, no labels. No other window is "the DR error ratio" anywhere."""
    s = signals(catalog)
    return s.error_ratio([s.env(catalog.dr.error_ratio.environment)], dr_error_ratio_window(catalog), group=())


def _throughout(catalog: Catalog, fn: str, expr: str, for_: str) -> str:
    """`fn` of `expr` at each rule evaluation step of the last `for_` (both ends included): the instants at
    which an alert rule with that `for:` must have seen its condition."""
    return f"{fn}_over_time(({expr})[{for_}:{catalog.prometheus.evaluation_interval}])"


def dr_error_ratio_high(catalog: Catalog) -> Condition:
    """The alert's condition, held for `timings.error_ratio_for` by the rule's `for:`."""
    return Condition(dr_error_ratio(catalog), ">", catalog.dr.error_ratio.threshold)


def dr_error_ratio_sustained(catalog: Catalog) -> Condition:
    """Stateless form of the alert: the lowest DR error ratio over the last `for:` is above the threshold
    exactly when DRErrorRatioHigh fires (up to the evaluation alignment of the rule group)."""
    lowest = _throughout(catalog, "min", dr_error_ratio(catalog), conventions.timings(catalog).error_ratio_for)
    return Condition(lowest, ">", catalog.dr.error_ratio.threshold)


def dr_replication_lag(catalog: Catalog) -> str:
    return f"max({catalog.dr.replication_lag.metric})"


def dr_primary_probe_success(catalog: Catalog) -> str:
    """1 while at least one probe of the primary region succeeds, 0 when all of them fail."""
    m = Matcher(conventions.REGION_LABEL, catalog.primary_region.name)
    return f"max({selector(catalog.dr.primary_region_unavailable.metric, [m])})"


def dr_primary_region_down(catalog: Catalog) -> Condition:
    """The alert's condition, held for `timings.region_unavailable_for` by the rule's `for:`."""
    return Condition(dr_primary_probe_success(catalog), "==", 0)


def dr_primary_region_unavailable(catalog: Catalog) -> Condition:
    """Stateless form of the alert: no probe of the primary region succeeded at any evaluation step of the
    last `for:` (the value is 1 if one did), exactly when DRPrimaryRegionUnavailable fires."""
    highest = _throughout(catalog, "max", dr_primary_probe_success(catalog),
                          conventions.timings(catalog).region_unavailable_for)
    return Condition(highest, "==", 0)


def region_probe_success(catalog: Catalog) -> str:
    return f"max{by([conventions.REGION_LABEL])} ({catalog.dr.primary_region_unavailable.metric})"


def dr_manual_trigger(catalog: Catalog) -> str:
    return f"max({catalog.dr.manual_trigger.metric})"


# -- the recovery point and the backups --------------------------------------------------------------------
# The RPO is kept by replication to the DR region, the backups by their schedule: RPOBreached, BackupMissed,
# the DR dashboard and the monitor read these.
def firing_alerts(matchers: Sequence[Matcher] = ()) -> str:
    """Prometheus's ALERTS series of the alerts firing now (not pending), narrowed by `matchers`."""
    return selector(conventions.ALERTS_SERIES, [*matchers, Matcher(conventions.ALERT_STATE_LABEL,
                                                                   conventions.FIRING)])


def backup_age_seconds(catalog: Catalog) -> str:
    """Seconds since the newest successful backup finished; no series while no backup is recorded."""
    return f"time() - max({catalog.dr.backup.metric})"


def recoverable_point_sources(catalog: Catalog) -> str:
    """The age of the newest recoverable point of each source, labelled `source`: the replication lag
    (`replication`, as the DR trigger reads it) and the last successful backup's age (`backup`). A source
    without data has no series."""
    exprs = dict(zip(conventions.RPO_SOURCES, (dr_replication_lag(catalog), backup_age_seconds(catalog)),
                     strict=True))
    return " or ".join(f'label_replace({expr}, "{conventions.RPO_SOURCE_LABEL}", "{name}", "", "")'
                       for name, expr in exprs.items())


def recoverable_point_age(catalog: Catalog) -> str:
    """Age of the newest recoverable point: the smaller of the two sources, whichever has data."""
    return f"min({recoverable_point_sources(catalog)})"


def rpo_breached(catalog: Catalog) -> Condition:
    """Both the replication lag and the last backup are older than the RPO (or the one with data is): a
    failover now loses more than the RPO."""
    return Condition(recoverable_point_age(catalog), ">", parse_duration(catalog.dr.rpo))


def backup_late(catalog: Catalog) -> Condition:
    """The last successful backup is older than the schedule's interval plus grace."""
    return Condition(backup_age_seconds(catalog), ">", conventions.backup_missed_after_seconds(catalog))


def backup_missed(catalog: Catalog) -> str:
    """Late, or no backup recorded at all: a vanished backup metric is never silently OK."""
    return f"{backup_late(catalog).expr} or absent({catalog.dr.backup.metric})"


def recovery_held(catalog: Catalog) -> str:
    """Stateless form of RPOBreached and BackupMissed: each source's lowest age at every evaluation step
    of the last `for:`. RPOBreached fires exactly when the smaller of the two is above the RPO, BackupMissed
    when the backup's is late or the backup has no series at all (both share `timings.recovery_for`)."""
    return _throughout(catalog, "min", recoverable_point_sources(catalog), conventions.timings(catalog).recovery_for)


def metric_absent(catalog: Catalog, service: str, environment: str) -> str:
    s = signals(catalog)
    return f"absent({selector(catalog.metrics.requests_total, [s.env(environment), s.service(service)])})"


def with_labels(expr: str, labels: dict[str, str]) -> str:
    """`expr` with each of `labels` set to its value (for a label-less result such as `absent()` of an
    aggregation, which names no series to take labels from)."""
    for name, value in labels.items():
        expr = f'label_replace({expr}, "{name}", "{escape_label_value(value)}", "", "")'
    return expr


def ratio_metrics_absent(catalog: Catalog, service: Service, environment: str) -> str | None:
    """Per ratio SLI of `service`: a series labelled with `environment`, the service and the SLI's name
    (`slo`) while its total events over the recording rules' 5-minute tile have no series there, or None
    for a service without ratio SLIs.

    The total is the very expression the recording rules evaluate (narrowed to the environment), so this
    holds exactly when the SLI's recorded series, and with them its burn-rate alerts, are gone. It only
    looks at the ratio SLIs: the request metric of a service that also has HTTP SLOs is watched by
    `metric_absent`. A counter that stops being scraped keeps its last samples in the 5-minute range, so
    this holds up to five minutes after the request metric's instant `absent()` would.
    """
    s = signals(catalog)
    m = catalog.metrics
    window = format_duration(conventions.TILE_SECONDS)
    terms = []
    for ratio in service.slos.ratios:
        total = s.slo_total(ratio.name, [service], window, [s.env(environment)])
        assert total is not None
        terms.append(with_labels(f"absent({total})", {m.environment_label: environment,
                                                      m.service_label: service.name,
                                                      conventions.SLO_LABEL: ratio.name}))
    return "\nor\n".join(terms) if terms else None


def targets_down(catalog: Catalog) -> str:
    """Per (environment, service) of the catalog: how many of the service's scrape targets are down
    (`up == 0`); no series while all are up. Targets carry the pod labels conventions.TARGET_*, renamed to
    the catalog's label names so the alert groups and is inhibited like every per-service alert."""
    m = catalog.metrics
    sel = selector(conventions.TARGET_UP, [
        Matcher(conventions.TARGET_SERVICE_LABEL, regex_any(s.name for s in catalog.services), "=~"),
        Matcher(conventions.TARGET_ENVIRONMENT_LABEL, regex_any(e.name for e in catalog.environments), "=~"),
    ])
    expr = f"{sel} == 0"
    for target, label in ((conventions.TARGET_SERVICE_LABEL, m.service_label),
                          (conventions.TARGET_ENVIRONMENT_LABEL, m.environment_label)):
        if target != label:
            expr = f'label_replace({expr}, "{label}", "$1", "{target}", "(.*)")'
    return f"count{by([m.environment_label, m.service_label])} ({expr})"


def dr_replication_lag_high(catalog: Catalog) -> Condition:
    """The replication-lag trigger's condition, held for `timings.replication_lag_for` by the rule's `for:`."""
    return Condition(dr_replication_lag(catalog), ">", parse_duration(catalog.dr.replication_lag.threshold))


def dr_manual_triggered(catalog: Catalog) -> Condition:
    """Operations declared a disaster: the manual trigger metric is 1."""
    return Condition(dr_manual_trigger(catalog), "==", 1)
