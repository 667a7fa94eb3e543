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

from zarish_obs import conventions
from zarish_obs.catalog import Catalog, Metrics, Service
from zarish_obs.durations import format_duration, parse_duration

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

    def slo_total(self, kind: str, services: Sequence[Service], window: str, matchers: Sequence[Matcher] = ()
                  ) -> str | None:
        """Total events of one SLO kind over `window`, per (environment, service), for all services."""
        return self._slo_events(kind, services, window, matchers, bad=False)

    def slo_bad(self, kind: str, services: Sequence[Service], window: str, matchers: Sequence[Matcher] = ()
                ) -> str | None:
        """Bad events (5xx, or slower than the service's threshold) over `window`."""
        return self._slo_events(kind, services, window, matchers, bad=True)

    def _slo_events(self, kind: str, services: Sequence[Service], window: str, matchers: Sequence[Matcher],
                    bad: bool) -> str | None:
        g = self.group
        if kind == "availability":
            names = [s.name for s in services if s.slos.availability]
            if not names:
                return None
            sel = [*matchers, self.services(names)] + ([self.errors()] if bad else [])
            return f"sum{by(g)} (increase({selector(self.m.requests_total, sel)}[{window}]))"
        if kind != "latency":
            raise ValueError(f"unknown SLO kind {kind!r}")
        parts = []
        for threshold, names in self._latency_groups(services):
            sel = [*matchers, self.services(names)]
            count = f"sum{by(g)} (increase({selector(self.m.latency_histogram + '_count', sel)}[{window}]))"
            if not bad:
                parts.append(count)
                continue
            le = Matcher("le", le_regex(threshold), "=~")
            good = f"sum{by(g)} (increase({selector(self.m.latency_histogram + '_bucket', [*sel, le])}[{window}]))"
            parts.append(f"clamp_min({count} - {good}, 0)")
        return self._union(parts) if parts else None

    def slo_error_ratio_raw(self, kind: str, services: Sequence[Service], window: str,
                            matchers: Sequence[Matcher] = ()) -> str | None:
        """Bad/total of one SLO kind over `window`, straight from the raw counters."""
        total = self.slo_total(kind, services, window, matchers)
        bad = self.slo_bad(kind, services, window, matchers)
        if total is None or bad is None:
            return None
        return safe_ratio(f"({bad})", f"({total})")

    # -- SLO windows from the recorded 5-minute increases ------------------------------------------------
    @staticmethod
    def recorded_events(window: str, matchers: Sequence[Matcher] = (), bad: bool = False) -> str:
        """Exact event count over `window`: the recorded 5m increases tiled without overlap."""
        name = conventions.SLO_ERRORS_5M if bad else conventions.SLO_REQUESTS_5M
        return f"sum_over_time({selector(name, matchers)}[{window}:5m])"

    def slo_error_ratio_recorded(self, window: str, matchers: Sequence[Matcher] = ()) -> str:
        """Bad/total over `window` as a ratio of exact sums (not an average of ratios), for every SLO."""
        return safe_ratio(self.recorded_events(window, matchers, bad=True), self.recorded_events(window, matchers))


def signals(catalog: Catalog) -> Signals:
    return Signals(catalog.metrics)


# -- DR triggers ------------------------------------------------------------------------------------------
# Shared by the DR alert rules and the monitor so "for 5 minutes" means the same in both.
_DR_MIN_RATE_WINDOW_SECONDS = 60


def dr_error_ratio_window(catalog: Catalog) -> str:
    """Rate window of the DR error-ratio trigger: four scrapes, at least a minute (1m at 15s).

    Short on purpose: "above 10% for 5 minutes" then means five minutes of errors, not five minutes of a
    5-minute average (which would need 8m20s of 15% errors before it held); four scrapes keep it from
    coming back empty between two scrapes, which would reset a pending alert.
    """
    scrape = parse_duration(catalog.prometheus.scrape_interval)
    return format_duration(max(_DR_MIN_RATE_WINDOW_SECONDS, 4 * scrape))


def dr_error_ratio(catalog: Catalog, window: str = "5m") -> str:
    """Error ratio of all services together in the DR environment (production): one series, no labels."""
    s = signals(catalog)
    return s.error_ratio([s.env(catalog.dr.error_ratio.environment)], window, group=())


def dr_replication_lag(catalog: Catalog) -> str:
    return f"max({catalog.dr.replication_lag.metric})"


def dr_primary_probe_success(catalog: Catalog) -> str:
    """1 while at least one probe of the primary region succeeds, 0 when all of them fail."""
    m = Matcher("region", catalog.primary_region.name)
    return f"max({selector(catalog.dr.primary_region_unavailable.metric, [m])})"


def region_probe_success(catalog: Catalog) -> str:
    return f"max by (region) ({catalog.dr.primary_region_unavailable.metric})"


def dr_manual_trigger(catalog: Catalog) -> str:
    return f"max({catalog.dr.manual_trigger.metric})"


def backup_age_seconds(catalog: Catalog) -> str:
    return f"time() - max({catalog.dr.backup.metric})"


def metric_absent(catalog: Catalog, service: str, environment: str) -> str:
    s = signals(catalog)
    return f"absent({selector(catalog.metrics.requests_total, [s.env(environment), s.service(service)])})"
