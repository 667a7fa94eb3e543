"""Multiwindow, multi-burn-rate SLO alerts (SRE Workbook), one rule per SLO kind, tier and objective.

Services sharing an SLO window and objective share one rule that selects them with a `service=~` matcher,
so the rule count is bounded by the number of distinct objectives, not the number of services. A tier
fires for a service when the bad-event ratio over both its long and its short window exceeds
factor x error budget and the long window saw at least `alerting.min_events` requests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from zarish_obs import conventions, maintenance_promql, promql
from zarish_obs.alerts import common
from zarish_obs.alerts.recording import long_group
from zarish_obs.catalog import Catalog, Service
from zarish_obs.conventions import BurnTier, enabled_tiers, normalise
from zarish_obs.durations import format_duration
from zarish_obs.promql import Matcher, selector

FAST_GROUP = "zarish-slo-alerts-fast"
SLOW_GROUP = "zarish-slo-alerts-slow"
WHAT = {"availability": "failed (5xx)", "latency": "were slower than the service's latency threshold"}


@dataclass(frozen=True)
class ObjectiveGroup:
    """Services whose SLO of one kind has the same window and objective."""

    kind: str
    window: str
    objective: float
    budget: float
    services: tuple[str, ...]

    def threshold(self, tier: BurnTier) -> float:
        return tier.factor(self.window) * self.budget

    def can_fire(self, tier: BurnTier) -> bool:
        """A ratio never exceeds 1, so a tier whose threshold is 100% or more is dead."""
        return self.threshold(tier) < 1


def objective_groups(catalog: Catalog) -> list[ObjectiveGroup]:
    groups: dict[tuple[str, str, float, float], list[str]] = {}
    for svc in catalog.services:
        for kind, s in svc.slo_items():
            groups.setdefault((kind, normalise(s.window), s.objective, s.error_budget), []).append(svc.name)
    order = {k: i for i, k in enumerate(conventions.slo_kinds(catalog))}
    return [ObjectiveGroup(kind, window, objective, budget, tuple(sorted(names)))
            for (kind, window, objective, budget), names in
            sorted(groups.items(), key=lambda kv: (order[kv[0][0]], kv[0][1], -kv[0][2]))]


def warnings(catalog: Catalog) -> list[str]:
    """One line per enabled tier that can never fire for some objective (its rule is left out)."""
    out = []
    for g in objective_groups(catalog):
        for tier in enabled_tiers(catalog):
            if not g.can_fire(tier):
                out.append(
                    f"warning: {g.kind} SLO {common.number(g.objective)}% over {g.window} "
                    f"({', '.join(g.services)}): tier {tier.name} ({tier.long_window}/{tier.short_window} at "
                    f"{common.number(tier.factor(g.window))}x budget) needs more than "
                    f"{common.percent(g.threshold(tier))} bad events and can never fire; no rule generated")
    return out


def service_matchers(catalog: Catalog, group: ObjectiveGroup) -> list[Matcher]:
    """The cheapest selection of the group's services among the recorded series of its SLO kind.

    Only services with an SLO of that kind have such series, so a group holding all of them needs no
    service matcher, and a large group is selected by excluding the few others (a long regex
    alternation is what makes a rule slow at 1,000 services).
    """
    s = promql.signals(catalog)
    label = catalog.metrics.service_label
    others = sorted({svc.name for svc in catalog.services for kind, _ in svc.slo_items() if kind == group.kind}
                    - set(group.services))
    if not others:
        return []
    if len(promql.regex_any(others)) < len(promql.regex_any(group.services)):
        return [Matcher(label, others[0], "!=") if len(others) == 1 else Matcher(label, promql.regex_any(others), "!~")]
    return [s.service(group.services[0]) if len(group.services) == 1 else s.services(group.services)]


def burn_expr(catalog: Catalog, group: ObjectiveGroup, tier: BurnTier) -> str:
    matchers = [Matcher(conventions.SLO_LABEL, group.kind), *service_matchers(catalog, group)]
    threshold = f"({common.number(tier.factor(group.window))} * {common.number(group.budget)})"
    long = selector(conventions.slo_error_ratio(normalise(tier.long_window)), matchers)
    short = selector(conventions.slo_error_ratio(normalise(tier.short_window)), matchers)
    guard = promql.Signals.recorded_events(normalise(tier.long_window), matchers)
    return (f"{long} > {threshold}\nand\n{short} > {threshold}\nand\n"
            f"{guard} >= {catalog.alerting.min_events}")


def burn_rule(catalog: Catalog, group: ObjectiveGroup, tier: BurnTier) -> dict[str, Any]:
    alertname = conventions.burn_alert(group.kind)
    svc = common.label_ref(catalog.metrics.service_label)
    env = common.label_ref(catalog.metrics.environment_label)
    factor = common.number(tier.factor(group.window))
    objective = common.number(group.objective)
    summary = (f"{svc} ({env}): {group.kind} SLO is burning its error budget {factor}x too fast "
               f"({tier.long_window} and {tier.short_window} windows)")
    ratio = conventions.is_ratio(group.kind)
    events = f"{group.kind} events" if ratio else "requests"
    what = "were bad (ratio SLI from the catalog's queries)" if ratio else WHAT[group.kind]
    description = (
        f"More than {common.percent(group.threshold(tier))} of the {events} of {svc} in {env} "
        f"{what} over both the last {tier.long_window} and the last {tier.short_window}: "
        f"{factor} times the error budget of the {objective}% {group.kind} objective over {group.window}. "
        f"At this rate {common.percent(tier.budget_share)} of the {group.window} budget is spent within "
        f"{tier.long_window}. The long window saw at least {catalog.alerting.min_events} {events}.")
    # objective and slo_window tell the rules of one tier apart (and tell people which objective burns).
    labels = {conventions.SEVERITY_LABEL: tier.severity, conventions.LONG_WINDOW_LABEL: tier.long_window,
              conventions.SHORT_WINDOW_LABEL: tier.short_window, conventions.OBJECTIVE_LABEL: objective,
              conventions.SLO_WINDOW_LABEL: group.window,
              **common.common_labels(catalog)}
    for_ = conventions.timings(catalog).tier_for[tier.name]
    return common.alert_rule(alertname, burn_expr(catalog, group, tier), for_, labels,
                             common.annotations(catalog, alertname, "slo", summary, description))


@dataclass(frozen=True)
class AbsentWatch:
    """The services of one severity that its SLOMetricsAbsent rule watches: through the request metric
    (`http`), and through the total events of each of their ratio SLIs (`ratio`)."""

    severity: str
    http: tuple[Service, ...]
    ratio: tuple[Service, ...]


def absent_watches(catalog: Catalog) -> list[AbsentWatch]:
    """Critical services page, the others open a ticket. A service with HTTP SLOs and ratio SLIs is in
    both lists: its request metric and its ratio SLIs' metrics can vanish separately, and either way some
    of its SLO alerts cannot fire."""
    out = []
    for severity in ("page", "ticket"):
        of = sorted((s for s in catalog.services if ("page" if s.tier == "critical" else "ticket") == severity),
                    key=lambda s: s.name)
        http = tuple(s for s in of if s.slo_items() and s.http_slos)
        ratio = tuple(s for s in of if s.slos.ratios)
        if http or ratio:
            out.append(AbsentWatch(severity, http, ratio))
    return out


def absent_annotations(catalog: Catalog, ratio: bool) -> dict[str, str]:
    """What an SLOMetricsAbsent alert says: which request metric, or which ratio SLI's events, are missing."""
    svc = common.label_ref(catalog.metrics.service_label)
    env = common.label_ref(catalog.metrics.environment_label)
    waited = catalog.alerting.metrics_absent_for
    if ratio:
        slo = common.label_ref(conventions.SLO_LABEL)
        tile = format_duration(conventions.TILE_SECONDS)
        summary = f"{svc} ({env}): the events of ratio SLI {slo} are missing, it cannot be evaluated"
        description = (
            f"The total_query of ratio SLI {slo} of {svc}, over its last {tile} in {env}, has returned no series "
            f"for {waited}: the service is down, not scraped, or renamed or relabelled the metrics that query "
            f"reads. Its {slo} SLO alerts cannot fire while this lasts.")
    else:
        summary = f"{svc} ({env}): request metrics are missing, its SLOs cannot be evaluated"
        description = (
            f"Prometheus has no {catalog.metrics.requests_total} series for {svc} in {env} for {waited}: the "
            "service is down, not scraped, or renamed its metrics. Its SLO alerts cannot fire while this lasts.")
    return common.annotations(catalog, conventions.SLO_METRICS_ABSENT, "overview", summary, description)


def _by_slo_label(ratio: str, http: str) -> str:
    """A template that reads `ratio` for an alert with an `slo` label (a ratio SLI's), `http` otherwise."""
    if ratio == http:
        return ratio
    return f"{{{{ if $labels.{conventions.SLO_LABEL} }}}}{ratio}{{{{ else }}}}{http}{{{{ end }}}}"


def absent_rule(catalog: Catalog, watch: AbsentWatch) -> dict[str, Any]:
    """A union of `absent()` terms, each yielding the labels of its own alert: environment and service, and
    for a ratio SLI its name in `slo`. One rule per severity (promtool reports two rules with one name and
    the same labels as duplicates), so when it watches both kinds its texts choose by the `slo` label."""
    env = catalog.dr.error_ratio.environment
    terms = [promql.metric_absent(catalog, svc.name, env) for svc in watch.http]
    terms += [t for svc in watch.ratio if (t := promql.ratio_metrics_absent(catalog, svc, env))]
    expr = maintenance_promql.unless_recorded_active(catalog, "\nor\n".join(terms))
    kinds = [absent_annotations(catalog, r) for r, svcs in ((False, watch.http), (True, watch.ratio)) if svcs]
    annotations = kinds[0] if len(kinds) == 1 else {k: _by_slo_label(kinds[1][k], v) for k, v in kinds[0].items()}
    return common.alert_rule(
        conventions.SLO_METRICS_ABSENT, expr, conventions.timings(catalog).metrics_absent_for,
        {conventions.SEVERITY_LABEL: watch.severity, **common.common_labels(catalog)}, annotations)


def absent_rules(catalog: Catalog) -> list[dict[str, Any]]:
    """Per watched service: its SLO metrics vanished from the DR-watched environment (see absent_watches)."""
    return [absent_rule(catalog, w) for w in absent_watches(catalog)]


def firing_rules(catalog: Catalog) -> list[tuple[ObjectiveGroup, BurnTier, dict[str, Any]]]:
    """Every (objective group, tier) that gets a rule: enabled and able to fire."""
    return [(g, t, burn_rule(catalog, g, t)) for t in enabled_tiers(catalog) for g in objective_groups(catalog)
            if g.can_fire(t)]


def slo_alert_groups(catalog: Catalog) -> list[dict[str, Any]]:
    """Page tiers at the global evaluation interval; ticket tiers (windows of a day or more) and the
    absence alert (which waits `metrics_absent_for` anyway) once a minute."""
    rules = firing_rules(catalog)
    fast = [r for _, t, r in rules if t.severity == "page"]
    slow = [r for _, t, r in rules if t.severity != "page"] + absent_rules(catalog)
    groups: list[dict[str, Any]] = []
    if fast:
        groups.append({"name": FAST_GROUP, "rules": fast})
    if slow:
        groups.append(long_group(catalog, SLOW_GROUP, slow))
    return groups
