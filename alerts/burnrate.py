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
from zarish_obs.catalog import Catalog
from zarish_obs.conventions import BurnTier, enabled_tiers, normalise
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
    alertname = conventions.SLO_BURN_ALERTS[group.kind]
    svc = common.label_ref(catalog.metrics.service_label)
    env = common.label_ref(catalog.metrics.environment_label)
    factor = common.number(tier.factor(group.window))
    objective = common.number(group.objective)
    summary = (f"{svc} ({env}): {group.kind} SLO is burning its error budget {factor}x too fast "
               f"({tier.long_window} and {tier.short_window} windows)")
    description = (
        f"More than {common.percent(group.threshold(tier))} of the requests of {svc} in {env} "
        f"{WHAT[group.kind]} over both the last {tier.long_window} and the last {tier.short_window}: "
        f"{factor} times the error budget of the {objective}% {group.kind} objective over {group.window}. "
        f"At this rate {common.percent(tier.budget_share)} of the {group.window} budget is spent within "
        f"{tier.long_window}. The long window saw at least {catalog.alerting.min_events} requests.")
    # objective and slo_window tell the rules of one tier apart (and tell people which objective burns).
    labels = {conventions.SEVERITY_LABEL: tier.severity, conventions.LONG_WINDOW_LABEL: tier.long_window,
              conventions.SHORT_WINDOW_LABEL: tier.short_window, conventions.OBJECTIVE_LABEL: objective,
              conventions.SLO_WINDOW_LABEL: group.window,
              **common.common_labels(catalog)}
    for_ = conventions.timings(catalog).tier_for[tier.name]
    return common.alert_rule(alertname, burn_expr(catalog, group, tier), for_, labels,
                             common.annotations(catalog, alertname, "slo", summary, description))


def absent_rules(catalog: Catalog) -> list[dict[str, Any]]:
    """Per service with an SLO: its request metric vanished from the DR-watched environment.

    One rule per severity (critical services page, the others open a ticket): a union of `absent()`
    terms, each yielding the service and environment labels of its own alert.
    """
    env = catalog.dr.error_ratio.environment
    by_severity: dict[str, list[str]] = {}
    for svc in catalog.services:
        if svc.slo_items():
            by_severity.setdefault("page" if svc.tier == "critical" else "ticket", []).append(svc.name)
    rules = []
    svc_ref = common.label_ref(catalog.metrics.service_label)
    env_ref = common.label_ref(catalog.metrics.environment_label)
    for severity in ("page", "ticket"):
        names = sorted(by_severity.get(severity, []))
        if not names:
            continue
        expr = "\nor\n".join(promql.metric_absent(catalog, name, env) for name in names)
        expr = maintenance_promql.unless_recorded_active(catalog, expr)
        summary = f"{svc_ref} ({env_ref}): request metrics are missing, its SLOs cannot be evaluated"
        description = (
            f"Prometheus has no {catalog.metrics.requests_total} series for {svc_ref} in {env_ref} for "
            f"{catalog.alerting.metrics_absent_for}: the service is down, not scraped, or renamed its "
            "metrics. Its SLO alerts cannot fire while this lasts.")
        rules.append(common.alert_rule(
            conventions.SLO_METRICS_ABSENT, expr, conventions.timings(catalog).metrics_absent_for,
            {conventions.SEVERITY_LABEL: severity, **common.common_labels(catalog)},
            common.annotations(catalog, conventions.SLO_METRICS_ABSENT, "overview", summary, description)))
    return rules


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
