"""Generated `promtool test rules` files: every alert and tier of the catalog, proven on synthetic series.

SLO file, one test group with three environments side by side (so the long tiers are simulated once):
- `production`: each objective group's first service burns (a bad-event ratio halfway between the
  highest tier threshold and 100%) from t=0. Every condition becomes true at 5m, when the first
  recorded 5-minute increase lands on the `[w:5m]` subquery grid, so tier X fires exactly at
  5m + for(X): checked one evaluation step before (not firing) and at that instant (exact labels and
  annotations of every alert firing by then).
- `zero-traffic`: the same services, counters flat: no alert, every ratio recorded as 0 (not NaN), no
  latency quantile series.
- `low-traffic`: the same services, every request bad but fewer than `alerting.min_events` in total:
  the ratio is 100% and still nothing pages.
A second, short group lets the first service per severity vanish and checks `SLOMetricsAbsent` (with ratio
SLIs, also the first service per severity with ratio SLIs loses their counters).

DR file: each trigger below its threshold, then above it from a known step, checked the step before
`for:` expires and at expiry.

Recovery file: one small group per case. RPOBreached with the replication lag and the backup's age each
below (exactly at the RPO) and above it, and with no replication data; BackupMissed just inside and just
outside interval + grace, with backups one interval apart, and with no backup recorded at all.

Maintenance file (catalogs with windows that exclude their minutes from the SLOs): for each such window
whose first opening falls in the first days after t=0 (promtool's clock starts at 1970-01-01 00:00 UTC, so
later one-off windows get no case), a covered service with a page tier gets three storms of 100% errors:
one filling the window (no page tier fires at any step from its opening to an hour after it closes), one
that ends as the window opens and one that starts as it closes (each pages before it ends). The outside
storms are as long as the window, or long enough for a page tier's long window to fill if that is longer.

Targets file: two pods of one service go down (one alert for the service, not one per pod); the same
service down in another environment for less than `for:`, and a pod outside the catalog, never alert.
"""

from __future__ import annotations

import math
import re
from typing import Any

from zarish_obs import conventions, maintenance, maintenance_promql, promql
from zarish_obs.alerts import burnrate, common, dr, ratio_series, recovery, targets
from zarish_obs.alerts.recording import recording_groups
from zarish_obs.catalog import Catalog, Service
from zarish_obs.durations import format_duration, parse_duration
from zarish_obs.errors import ExitCode, ZarishError
from zarish_obs.promql import Matcher, firing_alerts, selector
from zarish_obs.writers import to_yaml

TESTS_DIR = "tests"
SLO_TEST_FILE = "zarish-slo.test.yml"
DR_TEST_FILE = "zarish-dr.test.yml"
RECOVERY_TEST_FILE = "zarish-recovery.test.yml"
TARGETS_TEST_FILE = "zarish-targets.test.yml"
MAINTENANCE_TEST_FILE = "zarish-maintenance.test.yml"
MAINTENANCE_HORIZON = conventions.MAINTENANCE_SINCE + 8 * 86400  # a weekly window opens within it
MAINTENANCE_STEPS = (conventions.TILE_SECONDS, 60)  # the coarsest that divides every window edge
ZERO_ENV = "zero-traffic"
LOW_ENV = "low-traffic"
FIRST_TILE = conventions.TILE_SECONDS  # the first recorded 5m increase on the subquery grid
REQUESTS_PER_MINUTE = 100
# Every 5xx code (the catalog demands the error regex match one of them), then spellings some exporters use.
ERROR_STATUSES = (*conventions.SERVER_ERROR_STATUSES, "429", "5xx", "error", "failure")
OK_STATUSES = ("200", "204", "201", "302", "2xx", "ok", "success")


def _status(regex: str, candidates: tuple[str, ...], matching: bool) -> str:
    for value in candidates:
        if bool(re.fullmatch(regex, value)) == matching:
            return value
    what = "matches" if matching else "does not match"
    raise ZarishError(f"metrics.error_status_regex {regex!r}: no test status value {what} it "
                      f"(tried {', '.join(candidates)})", ExitCode.DATAERR)


def _seconds(duration: str) -> int:
    return int(parse_duration(duration))


def _step(*durations: int) -> int:
    """The evaluation step: the largest that divides a minute, the 5m tiles and every `for:`."""
    step = 60
    for d in durations:
        step = math.gcd(step, d)
    return max(step, 1)


def _num(value: float) -> str:
    """Twelve significant digits: float noise (0.30000000000000004) goes, tiny thresholds (1e-12) stay."""
    return f"{value:.12g}"


def _segments(parts: list[tuple[float, int]], start: float = 0.0) -> str:
    """Counter/gauge values in promtool notation: `(increment, steps)` pieces after a start value."""
    out = []
    value = start
    first = True
    for inc, steps in parts:
        if first:
            out.append(f"{_num(value)}+{_num(inc)}x{steps}")
            value += inc * steps
            first = False
        elif steps > 0:
            value += inc
            out.append(f"{_num(value)}+{_num(inc)}x{steps - 1}")
            value += inc * (steps - 1)
    return " ".join(out)


def _gauge(parts: list[tuple[float, int]]) -> str:
    """Gauge values: `(value, samples)` pieces."""
    return " ".join(f"{_num(v)}x{n - 1}" for v, n in parts if n > 0)


def _series(metric: str, labels: dict[str, str]) -> str:
    return selector(metric, [Matcher(k, v) for k, v in labels.items()])


def _at(seconds: int) -> str:
    return format_duration(seconds) if seconds > 0 else "0s"


class _Kind:
    """Synthetic instrumentation of one service for one SLO kind, in the catalog's metric names."""

    def __init__(self, catalog: Catalog):
        m = catalog.metrics
        self.catalog = catalog
        self.m = m
        self.err = _status(m.error_status_regex, ERROR_STATUSES, True)
        self.ok = _status(m.error_status_regex, OK_STATUSES, False)

    def labels(self, env: str, svc: str) -> dict[str, str]:
        return {self.m.environment_label: env, self.m.service_label: svc}

    def series(self, kind: str, env: str, svc: Service, per_step: float, bad_fraction: float, steps: int
               ) -> list[dict[str, str]]:
        if conventions.is_ratio(kind):
            return self._ratio(kind, env, svc, per_step, bad_fraction, steps)
        bad = per_step * bad_fraction
        good = per_step - bad
        base = self.labels(env, svc.name)
        if kind == "availability":
            return [
                {"series": _series(self.m.requests_total, {**base, self.m.status_label: self.ok}),
                 "values": _segments([(good, steps)])},
                {"series": _series(self.m.requests_total, {**base, self.m.status_label: self.err}),
                 "values": _segments([(bad, steps)])},
            ]
        assert svc.slos.latency is not None
        hist = self.m.latency_histogram
        le = repr(float(svc.slos.latency.threshold_seconds))
        return [
            {"series": _series(f"{hist}_count", base), "values": _segments([(per_step, steps)])},
            {"series": _series(f"{hist}_bucket", {**base, "le": le}), "values": _segments([(good, steps)])},
            {"series": _series(f"{hist}_bucket", {**base, "le": "+Inf"}), "values": _segments([(per_step, steps)])},
        ]


    def _ratio(self, kind: str, env: str, svc: Service, per_step: float, bad_fraction: float, steps: int
               ) -> list[dict[str, str]]:
        return [{"series": series, "values": _segments([(inc, steps)])}
                for series, inc in self.ratio_counters(kind, env, svc, per_step, bad_fraction)]

    def ratio_counters(self, kind: str, env: str, svc: Service, per_step: float, bad_fraction: float
                       ) -> list[tuple[str, float]]:
        """(series, increment per step) of the counters a ratio SLI's queries select (see ratio_series).
        Queries over rate() count per second, so their counters grow a tile's seconds faster: the min_events
        guard then reads as many events."""
        ratio = svc.ratio(kind)
        assert ratio is not None
        plan = ratio_series.plan(self.catalog, ratio)
        total = per_step * (conventions.TILE_SECONDS if plan.rate else 1)
        bad = total * bad_fraction
        field = "bad_query" if ratio.bad_query is not None else "good_query"
        increments = plan.increments(total, bad if field == "bad_query" else total - bad, field)
        out = []
        for labels, inc in zip(plan.series, increments, strict=True):
            named = dict(labels)
            metric = named.pop("__name__")
            out.append((_series(metric, {**named, self.m.environment_label: env}), inc))
        return out


def _untestable(catalog: Catalog, group: burnrate.ObjectiveGroup) -> str | None:
    """Why the burn tests cannot simulate this objective group (a ratio SLI with queries too complex to
    invert), or None."""
    if not conventions.is_ratio(group.kind):
        return None
    svc = _service(catalog, group.services[0])
    ratio = svc.ratio(group.kind)
    return None if ratio is None else ratio_series.unsupported(catalog, svc, ratio)


def _absent_untestable(catalog: Catalog) -> list[str]:
    """Ratio SLIs watched by SLOMetricsAbsent whose counters cannot be simulated: without their series they
    would be absent all along, so no SLOMetricsAbsent test can state which alerts fire."""
    return [f"ratio SLI {r.name!r} ({svc.name}): {reason}"
            for w in burnrate.absent_watches(catalog) for svc in w.ratio for r in svc.slos.ratios
            if (reason := ratio_series.unsupported(catalog, svc, r))]


def notes(catalog: Catalog) -> list[str]:
    """One line per ratio SLI objective whose burn-rate alerts get no generated promtool test, and one when
    SLOMetricsAbsent gets none."""
    out = []
    for g in burnrate.objective_groups(catalog):
        reason = _untestable(catalog, g)
        if reason:
            out.append(f"note: ratio SLI {g.kind!r} ({', '.join(g.services)}): no generated promtool test of its "
                       f"burn-rate alerts: {reason}; its rules are still checked by promtool check rules")
    untestable = _absent_untestable(catalog)
    if untestable:
        out.append(f"note: no generated promtool test of {conventions.SLO_METRICS_ABSENT}: "
                   f"{'; '.join(untestable)}; its rules are still checked by promtool check rules")
    return out


def _service(catalog: Catalog, name: str) -> Service:
    return next(s for s in catalog.services if s.name == name)


def _expected(rule: dict[str, Any], labels: dict[str, str]) -> dict[str, Any]:
    all_labels = {**labels, **rule["labels"]}
    return {"exp_labels": all_labels,
            "exp_annotations": {k: common.expand(v, all_labels) for k, v in rule["annotations"].items()}}


def _burn_group(catalog: Catalog) -> dict[str, Any] | None:
    rules = [(g, t, r) for g, t, r in burnrate.firing_rules(catalog) if not _untestable(catalog, g)]
    if not rules:
        return None
    fors = {t.name: _seconds(conventions.timings(catalog).tier_for[t.name]) for _, t, _ in rules}
    step = _step(FIRST_TILE, *fors.values())
    end = FIRST_TILE + max(fors.values())
    steps = end // step
    kind = _Kind(catalog)
    prod = catalog.dr.error_ratio.environment
    per_step = max(REQUESTS_PER_MINUTE, catalog.alerting.min_events) * step / 60
    # Low traffic: fewer than min_events requests over the whole test, all of them bad.
    low_per_step = catalog.alerting.min_events / 2 / steps if catalog.alerting.min_events > 1 else 0.0
    reps: dict[burnrate.ObjectiveGroup, Service] = {}
    for g, _, _ in rules:
        reps.setdefault(g, _service(catalog, g.services[0]))
    series: list[dict[str, str]] = []
    for g, svc in reps.items():
        highest = max(g.threshold(t) for gg, t, _ in rules if gg == g)
        series += kind.series(g.kind, prod, svc, per_step, (1 + highest) / 2, steps)
        series += kind.series(g.kind, ZERO_ENV, svc, 0.0, 0.0, steps)
        if low_per_step:
            series += kind.series(g.kind, LOW_ENV, svc, low_per_step, 1.0, steps)

    alertnames = sorted({conventions.burn_alert(g.kind) for g in reps})
    times = sorted({FIRST_TILE + f for f in fors.values()} | {FIRST_TILE + f - step for f in fors.values()})
    alert_tests = []
    for t in times:
        for name in alertnames:
            exp = [_expected(rule, {**kind.labels(prod, reps[g].name), "slo": g.kind})
                   for g, tier, rule in rules
                   if conventions.burn_alert(g.kind) == name and FIRST_TILE + fors[tier.name] <= t]
            alert_tests.append({"eval_time": _at(t), "alertname": name, "exp_alerts": exp})

    check = FIRST_TILE * 2
    expr_tests = []
    for w in conventions.ratio_windows(catalog):
        expr_tests.append({
            "expr": _series(conventions.slo_error_ratio(w), {catalog.metrics.environment_label: ZERO_ENV}),
            "eval_time": _at(check),
            "exp_samples": [{"labels": _series(conventions.slo_error_ratio(w),
                                               {**kind.labels(ZERO_ENV, svc.name), "slo": g.kind}), "value": 0}
                            for g, svc in reps.items()],
        })
    env_zero = {catalog.metrics.environment_label: ZERO_ENV}
    avail = [svc for g, svc in reps.items() if g.kind == "availability"]
    if avail:
        expr_tests.append({"expr": _series(conventions.ERROR_RATIO, env_zero), "eval_time": _at(check),
                           "exp_samples": [{"labels": _series(conventions.ERROR_RATIO, kind.labels(ZERO_ENV, s.name)),
                                            "value": 0} for s in sorted(set(avail), key=lambda s: s.name)]})
    for quantile in (conventions.LATENCY_P50, conventions.LATENCY_P95):
        expr_tests.append({"expr": _series(quantile, env_zero), "eval_time": _at(check), "exp_samples": []})
    if low_per_step:
        ratio = conventions.slo_error_ratio("1h")
        expr_tests.append({
            "expr": _series(ratio, {catalog.metrics.environment_label: LOW_ENV}), "eval_time": _at(check),
            "exp_samples": [{"labels": _series(ratio, {**kind.labels(LOW_ENV, svc.name), "slo": g.kind}),
                             "value": 1} for g, svc in reps.items()],
        })
    expr_tests += _layered_tests(catalog, kind, prod, reps, step, end)
    return {
        "name": "burn-rate tiers fire at 5m + for; zero and low traffic never alert",
        "interval": _at(step),
        "input_series": series,
        "alert_rule_test": alert_tests,
        "promql_expr_test": expr_tests,
    }


def _layered_tests(catalog: Catalog, kind: _Kind, env: str, reps: dict[burnrate.ObjectiveGroup, Service], step: int,
                   end: int) -> list[dict[str, Any]]:
    """Once the burn has crossed an hour, every long window's recorded event counts equal the sum of its 5-minute
    tiles to 1e-9 (1 where they do: promtool compares values exactly, and the layered sum adds in another order),
    on the last step and the one before."""
    if end <= conventions.HOUR_TILE_SECONDS + FIRST_TILE:
        return []
    env_matcher = [Matcher(catalog.metrics.environment_label, env)]
    tests = []
    for t in (end - step, end):
        for w in conventions.ratio_windows(catalog):
            if not conventions.is_long(w):
                continue
            for bad in (False, True):
                recorded = selector(conventions.slo_events(w, bad), env_matcher)
                tiles = promql.Signals.tiled_events(w, env_matcher, bad)
                expected = [{"labels": _series("", {**kind.labels(env, svc.name), conventions.SLO_LABEL: g.kind}),
                             "value": 1} for g, svc in reps.items()]
                tests.append({"expr": f"abs({recorded} - {tiles}) <= bool {tiles} * 1e-9", "eval_time": _at(t),
                              "exp_samples": expected})
    return tests


def _absent_group(catalog: Catalog) -> dict[str, Any] | None:
    """The first service of each SLOMetricsAbsent rule loses its watched metrics, the others keep them.

    A ratio SLI's 5-minute increase outlives its counters' last sample by a tile, and whether the range
    includes its start (Prometheus 2) or not (3) moves that by a step: ratio counters stop a tile before the
    request metrics, and the alerts are checked a step before `metrics_absent_for` has passed under either
    reading and a step after (a step later than for the request metrics alone). With ratio SLIs, nothing
    fires at the ratio counters' last sample either, `metrics_absent_for` after they started."""
    watches = burnrate.absent_watches(catalog)
    if not watches or _absent_untestable(catalog):
        return None
    wait = _seconds(conventions.timings(catalog).metrics_absent_for)
    step = _step(wait)
    ratio = any(w.ratio for w in watches)
    vanish_step = max(1, 600 // step)  # data for 10 minutes, then a staleness marker
    if ratio:  # ratio counters last `metrics_absent_for` (after the first step, which has one sample only)
        vanish_step = max(vanish_step, -(-(wait + conventions.TILE_SECONDS - step) // step))
    gone = (vanish_step + 1) * step
    end = gone + wait
    last = end + step if ratio else end
    ratio_stop = (gone + step - conventions.TILE_SECONDS) // step  # samples up to it, then a staleness marker
    steps = last // step
    kind = _Kind(catalog)
    prod = catalog.dr.error_ratio.environment
    m = catalog.metrics
    gone_http = {w.http[0].name for w in watches if w.http}
    gone_ratio = {w.ratio[0].name for w in watches if w.ratio}
    series = []
    for svc in catalog.services:
        if not svc.slo_items() or not svc.http_slos:
            continue
        labels = {**kind.labels(prod, svc.name), m.status_label: kind.ok}
        values = (f"{_segments([(10.0, vanish_step)])} stale" if svc.name in gone_http
                  else _segments([(10.0, steps)]))
        series.append({"series": _series(m.requests_total, labels), "values": values})
    for svc in catalog.services:
        for r in svc.slos.ratios:
            for text, inc in kind.ratio_counters(r.name, prod, svc, 10.0, 0.0):
                values = (f"{_segments([(inc, ratio_stop)])} stale" if svc.name in gone_ratio
                          else _segments([(inc, steps)]))
                series.append({"series": text, "values": values})
    fired = []
    for w in watches:
        rule = burnrate.absent_rule(catalog, w)
        if w.http:
            said = {**rule, "annotations": burnrate.absent_annotations(catalog, ratio=False)}
            fired.append(_expected(said, kind.labels(prod, w.http[0].name)))
        if w.ratio:
            said = {**rule, "annotations": burnrate.absent_annotations(catalog, ratio=True)}
            fired += [_expected(said, {**kind.labels(prod, w.ratio[0].name), conventions.SLO_LABEL: r.name})
                      for r in w.ratio[0].slos.ratios]
    present = [ratio_stop * step] if ratio else []  # every ratio counter still there, for `for:` and more
    tests = [{"eval_time": _at(t), "alertname": conventions.SLO_METRICS_ABSENT, "exp_alerts": fired if t >= end else []}
             for t in (*present, end - step, last)]
    return {"name": "SLOMetricsAbsent fires metrics_absent_for after a service's metrics vanish",
            "interval": _at(step), "input_series": series, "alert_rule_test": tests}


def slo_tests(catalog: Catalog) -> dict[str, Any] | None:
    groups = [g for g in (_burn_group(catalog), _absent_group(catalog)) if g]
    if not groups:
        return None
    step = min(_seconds(g["interval"]) for g in groups)
    # promtool evaluates groups in random order unless told: the alerts must see this step's recordings.
    order = [g["name"] for g in recording_groups(catalog) + burnrate.slo_alert_groups(catalog)]
    return {"rule_files": [f"../{common.RECORDING_FILE}", f"../{common.SLO_FILE}"],
            "evaluation_interval": _at(step), "group_eval_order": order, "tests": groups}


def dr_tests(catalog: Catalog) -> dict[str, Any]:
    rules = {r["alert"]: r for r in dr.dr_rules(catalog)}
    d = catalog.dr
    for_of = {name: _seconds(r["for"]) if "for" in r else 0 for name, r in rules.items()}
    step = _step(*[f for f in for_of.values() if f])
    window = _seconds(dr.error_ratio_window(catalog))
    # Requests run below the error threshold, then stop for longer than the rate window (so no window
    # mixes the two regimes and the ratio is always exactly low, 0 or high), then resume above it.
    low_steps = -(-max(300, window) // step)
    pause_steps = window // step + 1
    switch_step = low_steps + pause_steps  # every trigger is above its threshold from the next step on
    switch = switch_step * step
    onset = {  # first evaluation at which each condition holds
        "DRErrorRatioHigh": switch + step,
        "DRReplicationLagHigh": switch + step,
        "DRPrimaryRegionUnavailable": switch + step,
        "DRManualTrigger": switch + step,
    }
    fires = {name: onset[name] + for_of[name] for name in onset}
    end = max(fires.values())
    steps = end // step
    after = steps - switch_step

    m = catalog.metrics
    env = {m.environment_label: d.error_ratio.environment}
    thr = d.error_ratio.threshold
    low, high = 0.4 * thr, min(1.5 * thr, (1 + thr) / 2)
    per_step = REQUESTS_PER_MINUTE * step / 60
    ok = _status(m.error_status_regex, OK_STATUSES, False)
    err = _status(m.error_status_regex, ERROR_STATUSES, True)
    some_service = catalog.services[0].name
    req = {**env, m.service_label: some_service}
    lag = _seconds(d.replication_lag.threshold)
    primary = catalog.primary_region.name
    series = [
        {"series": _series(m.requests_total, {**req, m.status_label: ok}),
         "values": _segments([(per_step * (1 - low), low_steps), (0, pause_steps), (per_step * (1 - high), after)])},
        {"series": _series(m.requests_total, {**req, m.status_label: err}),
         "values": _segments([(per_step * low, low_steps), (0, pause_steps), (per_step * high, after)])},
        {"series": _series(d.replication_lag.metric, {"instance": "db-replica"}),
         "values": _gauge([(lag / 2, switch_step + 1), (lag + 60, after)])},
        {"series": _series(d.primary_region_unavailable.metric, {"region": primary, "instance": "primary-health"}),
         "values": _gauge([(1, switch_step + 1), (0, after)])},
        {"series": _series(d.manual_trigger.metric, {}), "values": _gauge([(0, switch_step + 1), (1, after)])},
    ]
    for region in catalog.dr_regions:
        series.append({"series": _series(d.primary_region_unavailable.metric,
                                         {"region": region.name, "instance": f"{region.name}-health"}),
                       "values": _gauge([(1, steps + 1)])})
    tests = []
    for name in ("DRErrorRatioHigh", "DRReplicationLagHigh", "DRPrimaryRegionUnavailable", "DRManualTrigger"):
        rule = rules[name]
        for t in (fires[name] - step, fires[name]):
            exp = [_expected(rule, {})] if t >= fires[name] else []
            tests.append({"eval_time": _at(t), "alertname": name, "exp_alerts": exp})
    group = {"name": "DR triggers below, then above their thresholds", "interval": _at(step),
             "input_series": series, "alert_rule_test": tests}
    return {"rule_files": [f"../{common.DR_FILE}"], "evaluation_interval": _at(step), "tests": [group]}


def _first_step_above(threshold: int, step: int) -> int:
    """The first evaluation at which an age counted from t=0 is strictly above `threshold`."""
    return (threshold // step + 1) * step


def _expiry_checks(rule: dict[str, Any], onset: int, for_: int, step: int,
                   labels: tuple[dict[str, str], ...] = ({},)) -> list[dict[str, Any]]:
    """The condition holds from `onset`: nothing the step before `for:` expires, the alert(s) at expiry."""
    fire = onset + for_
    return [{"eval_time": _at(fire - step), "alertname": rule["alert"], "exp_alerts": []},
            {"eval_time": _at(fire), "alertname": rule["alert"],
             "exp_alerts": [_expected(rule, lb) for lb in labels]}]


def _quiet(rule: dict[str, Any], *times: int) -> list[dict[str, Any]]:
    return [{"eval_time": _at(t), "alertname": rule["alert"], "exp_alerts": []} for t in times]


def recovery_tests(catalog: Catalog) -> dict[str, Any]:
    rules = {r["alert"]: r for r in recovery.recovery_rules(catalog)}
    rpo_rule, backup_rule = rules[conventions.RPO_BREACHED], rules[conventions.BACKUP_MISSED]
    for_ = _seconds(conventions.timings(catalog).recovery_for)
    step = _step(for_)
    d = catalog.dr
    rpo = _seconds(d.rpo)
    late = conventions.backup_missed_after_seconds(catalog)
    interval = conventions.backup_interval_seconds(catalog)

    def lag(*parts: tuple[float, int]) -> dict[str, str]:
        return {"series": _series(d.replication_lag.metric, {"instance": "db-replica"}), "values": _gauge(list(parts))}

    def backup(values: str) -> dict[str, str]:
        return {"series": _series(d.backup.metric, {"job": "backup"}), "values": values}

    def finished_at(ts: float, samples: int) -> dict[str, str]:
        return backup(_gauge([(ts, samples)]))

    def group(name: str, series: list[dict[str, str]], tests: list[dict[str, Any]]) -> dict[str, Any]:
        return {"name": name, "interval": _at(step), "input_series": series, "alert_rule_test": tests}

    rpo_fire = _first_step_above(rpo, step) + for_
    n_rpo = rpo_fire // step + 1
    switch = 2  # samples with the lag exactly at the RPO (not above it) before it rises just above
    lag_fire = (switch + 1) * step + for_
    n_lag = lag_fire // step + 1
    n_quiet = 2 * for_ // step + 1
    late_fire = _first_step_above(late, step) + for_
    n_late = late_fire // step + 1
    per_interval = -(-interval // step)
    groups = [
        group("RPO: the backup's age passes the RPO while replication lags more than it",
              [lag((rpo + 60, n_rpo)), finished_at(0, n_rpo)],
              _expiry_checks(rpo_rule, _first_step_above(rpo, step), for_, step)),
        group("RPO: the replication lag passes the RPO while the backup is older than it",
              [lag((rpo, switch + 1), (rpo + 1, n_lag - switch - 1)), finished_at(-(rpo + step), n_lag)],
              _expiry_checks(rpo_rule, (switch + 1) * step, for_, step)),
        group("RPO: replication at the RPO keeps it, however old the backup",
              [lag((rpo, n_quiet)), finished_at(-10 * late, n_quiet)], _quiet(rpo_rule, for_, 2 * for_)),
        group("RPO: a fresh backup keeps it while replication lags far behind",
              [lag((10 * rpo, n_quiet)), backup(_segments([(step, n_quiet - 1)]))], _quiet(rpo_rule, for_, 2 * for_)),
        group("RPO: without replication data the backup's age alone decides",
              [finished_at(0, n_rpo)], _expiry_checks(rpo_rule, _first_step_above(rpo, step), for_, step)),
        group("Backup: just inside, then just outside interval + grace",
              [lag((1, n_late)), finished_at(0, n_late)],
              _expiry_checks(backup_rule, _first_step_above(late, step), for_, step)),
        group("Backup: successful backups one interval apart never alert",
              [lag((1, 2 * per_interval)),
               backup(_gauge([(i * per_interval * step, per_interval) for i in range(2)]))],
              _quiet(backup_rule, per_interval * step - step, 2 * per_interval * step - step)),
        group("Backup: no backup recorded at all",
              [lag((1, for_ // step + 1))], _expiry_checks(backup_rule, 0, for_, step)),
    ]
    return {"rule_files": [f"../{recovery.RECOVERY_FILE}"], "evaluation_interval": _at(step), "tests": groups}


def targets_tests(catalog: Catalog) -> dict[str, Any]:
    rule = targets.targets_down_rule(catalog)
    for_ = _seconds(conventions.timings(catalog).targets_down_for)
    step = _step(for_)
    env = catalog.dr.error_ratio.environment
    other_env = next((e.name for e in catalog.environments if e.name != env), None)
    down = catalog.services[0].name
    switch = 2  # every pod is up for this many steps first
    onset = (switch + 1) * step
    samples = (onset + for_) // step + 1
    brief = for_ // step  # samples down in the other environment: one step short of `for:`

    def pod(service: str, environment: str, i: int, values: list[tuple[float, int]]) -> dict[str, str]:
        labels = {conventions.TARGET_SERVICE_LABEL: service, conventions.TARGET_ENVIRONMENT_LABEL: environment,
                  "instance": f"{service}-{i}:9090", "job": "kubernetes-pods"}
        return {"series": _series(conventions.TARGET_UP, labels), "values": _gauge(values)}

    series = [pod(down, env, 0, [(1, samples)])]
    series += [pod(down, env, i, [(1, switch + 1), (0, samples - switch - 1)]) for i in (1, 2)]
    series += [pod(s.name, env, 0, [(1, samples)]) for s in catalog.services[1:]]
    if other_env:
        series.append(pod(down, other_env, 0, [(1, switch + 1), (0, brief), (1, samples - switch - 1 - brief)]))
    series.append(pod("not-in-the-catalog", env, 0, [(0, samples)]))
    m = catalog.metrics
    test = {"name": "two pods of one service down: one alert; shorter outages and other pods: none",
            "interval": _at(step), "input_series": series,
            "alert_rule_test": _expiry_checks(rule, onset, for_, step,
                                              ({m.environment_label: env, m.service_label: down},))}
    return {"rule_files": [f"../{targets.TARGETS_FILE}"], "evaluation_interval": _at(step), "tests": [test]}


def _page_alerts(catalog: Catalog, labels: dict[str, str]) -> str:
    m = catalog.metrics
    return firing_alerts([Matcher(conventions.ALERT_NAME_LABEL, promql_regex(conventions.SLO_BURN_ALERTS.values()),
                                  "=~"),
                          Matcher(conventions.SEVERITY_LABEL, "page"),
                          Matcher(m.environment_label, labels[m.environment_label]),
                          Matcher(m.service_label, labels[m.service_label])])


def promql_regex(values: Any) -> str:
    from zarish_obs.promql import regex_any

    return regex_any(values)


def _maintenance_subject(catalog: Catalog, window: Any) -> tuple[str, Service, int] | None:
    """A covered (environment, service) with an availability SLO and a page tier that can fire, and the
    longest of those tiers' long window plus `for:` (what a storm needs to page for sure)."""
    rules = burnrate.firing_rules(catalog)
    for env in maintenance.environments(catalog, window):
        for name in maintenance.services(catalog, window):
            needs = [_seconds(t.long_window) + _seconds(conventions.timings(catalog).tier_for[t.name])
                     for g, t, _ in rules if t.severity == "page" and g.kind == "availability" and name in g.services]
            if needs:
                return env, _service(catalog, name), min(needs)
    return None


def _maintenance_groups(catalog: Catalog, window: Any) -> list[dict[str, Any]]:
    subject = _maintenance_subject(catalog, window)
    if subject is None:
        return []
    env, svc, need = subject
    step = _maintenance_step(catalog)
    since = float(conventions.MAINTENANCE_SINCE)
    while True:
        found = maintenance_promql.next_opening(catalog, window, since, MAINTENANCE_HORIZON - since)
        if found is None:
            return []
        start, end = int(found[0]), int(found[1])
        storm = max(end - start, need + 2 * conventions.TILE_SECONDS)
        span = (start - storm - 3600, end + storm + 3600)
        others = maintenance.covering(catalog, svc.name, env, span[0], span[1])
        if start % step == 0 and end % step == 0 and span[0] >= 0 and others == [(start, end)]:
            break
        since = found[0] + 1
    kind = _Kind(catalog)
    labels = kind.labels(env, svc.name)
    per_step = max(REQUESTS_PER_MINUTE, catalog.alerting.min_events) * step / 60
    last = end + storm + 3600

    def series(a: int, b: int) -> list[dict[str, str]]:
        """Good traffic, all of it failing in [a, b)."""
        ok = {**labels, catalog.metrics.status_label: kind.ok}
        err = {**labels, catalog.metrics.status_label: kind.err}
        parts = [(a // step, False), ((b - a) // step, True), ((last - b) // step, False)]
        return [{"series": _series(catalog.metrics.requests_total, ok),
                 "values": _segments([(0.0 if bad else per_step, n) for n, bad in parts])},
                {"series": _series(catalog.metrics.requests_total, err),
                 "values": _segments([(per_step if bad else 0.0, n) for n, bad in parts])}]

    pages = _page_alerts(catalog, labels)
    after = end + 3600
    name = f"maintenance {window.name} ({env}/{svc.name}, open {_at(start)} to {_at(end)})"
    return [
        {"name": f"{name}: a storm filling the window pages no one, then or an hour later",
         "interval": _at(step), "input_series": series(start, end),
         "promql_expr_test": [{"expr": f"count_over_time({pages}[{_at(after - start)}])", "eval_time": _at(after),
                               "exp_samples": []}]},
        {"name": f"{name}: the same storm ending as the window opens pages",
         "interval": _at(step), "input_series": series(start - storm, start),
         "promql_expr_test": [{"expr": f"max({pages})", "eval_time": _at(start - step),
                               "exp_samples": [{"labels": "{}", "value": 1}]}]},
        {"name": f"{name}: the same storm starting as the window closes pages",
         "interval": _at(step), "input_series": series(end, end + storm),
         "promql_expr_test": [{"expr": f"max({pages})", "eval_time": _at(end + storm - step),
                               "exp_samples": [{"labels": "{}", "value": 1}]}]},
    ]


def _maintenance_step(catalog: Catalog) -> int:
    """Days of evaluations at 1m are slow; windows on whole 5 minutes are tested at 5m steps."""
    edges = [edge for w in maintenance_promql.slo_windows(catalog)
             for o in maintenance.occurrences(catalog, w, 0, MAINTENANCE_HORIZON) for edge in (o.start, o.end)]
    return next(s for s in MAINTENANCE_STEPS if all(e % s == 0 for e in edges))


def maintenance_tests(catalog: Catalog) -> dict[str, Any] | None:
    groups = [g for w in maintenance_promql.slo_windows(catalog) for g in _maintenance_groups(catalog, w)]
    if not groups:
        return None
    order = [g["name"] for g in recording_groups(catalog) + burnrate.slo_alert_groups(catalog)]
    return {"rule_files": [f"../{common.RECORDING_FILE}", f"../{common.SLO_FILE}"],
            "evaluation_interval": _at(_maintenance_step(catalog)), "group_eval_order": order, "tests": groups}


def unit_test_files(catalog: Catalog) -> dict[str, str]:
    """Test file name (relative to tests/) -> YAML text; rule files are referenced as ../<file>."""
    out = {DR_TEST_FILE: to_yaml(dr_tests(catalog)), RECOVERY_TEST_FILE: to_yaml(recovery_tests(catalog)),
           TARGETS_TEST_FILE: to_yaml(targets_tests(catalog))}
    slo = slo_tests(catalog)
    if slo:
        out[SLO_TEST_FILE] = to_yaml(slo)
    maint = maintenance_tests(catalog)
    if maint:
        out[MAINTENANCE_TEST_FILE] = to_yaml(maint)
    return dict(sorted(out.items()))


