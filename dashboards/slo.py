"""SLO dashboard: per service and SLO, the SLI and error budget over the SLO window, burn rates per
alert window against the burn-rate tiers, and the SLO alerts firing now.

Reads the recorded series of the alerts package (names from `conventions`), so it stays cheap over 30 days.
"""

from __future__ import annotations

from grafanalib import core as g

from zarish_obs import conventions, promql
from zarish_obs.catalog import AvailabilitySLO, Catalog, RatioSLO, Service
from zarish_obs.dashboards import common as c
from zarish_obs.promql import Matcher, selector

TIER_COLOURS = {"ticket_slow": "yellow", "ticket_fast": "orange", "page_slow": "red", "page_fast": "dark-red"}
KIND_TITLES = {"availability": "Availability", "latency": "Latency"}


def kind_title(kind: str) -> str:
    """Panel title of an SLO kind: a ratio SLI is titled by its own name."""
    return KIND_TITLES.get(kind, kind)


def _what(kind: str, objective: AvailabilitySLO) -> str:
    if isinstance(objective, RatioSLO):
        about = f" ({objective.description})" if objective.description else ""
        return f"good {kind} events{about}, as the catalog's queries count them,"
    if kind == "availability":
        return "requests not answered with an error status"
    return f"requests faster than {getattr(objective, 'threshold_seconds', 0):g}s"


def _num(value: float) -> str:
    return repr(float(value))


def ratio(catalog: Catalog, svc: Service, kind: str, window: str) -> str:
    """The recorded bad/total ratio of one SLO over `window`."""
    m = catalog.metrics
    matchers = [c.env_matcher(catalog), Matcher(m.service_label, svc.name), Matcher(conventions.SLO_LABEL, kind)]
    return selector(conventions.slo_error_ratio(conventions.normalise(window)), matchers)


def sli(catalog: Catalog, svc: Service, kind: str, objective: AvailabilitySLO) -> str:
    return f"1 - {ratio(catalog, svc, kind, objective.window)}"


def budget_remaining(catalog: Catalog, svc: Service, kind: str, objective: AvailabilitySLO) -> str:
    return f"1 - {ratio(catalog, svc, kind, objective.window)} / {_num(objective.error_budget)}"


def burn_rate(catalog: Catalog, svc: Service, kind: str, objective: AvailabilitySLO, window: str) -> str:
    return f"{ratio(catalog, svc, kind, window)} / {_num(objective.error_budget)}"


def firing_alerts(catalog: Catalog) -> str:
    burn = Matcher(conventions.ALERT_NAME_LABEL, "|".join(conventions.slo_burn_alerts(catalog)), "=~")
    return promql.firing_alerts([burn])


def burn_thresholds(catalog: Catalog, window: str) -> list[g.Threshold]:
    levels = sorted((t.factor(window), TIER_COLOURS[t.name]) for t in conventions.enabled_tiers(catalog))
    return c.steps(c.GREEN, *levels)


def _tiers_text(catalog: Catalog, window: str) -> str:
    parts = [f"{t.name} {t.factor(window):g}x ({t.long_window}/{t.short_window})"
             for t in conventions.enabled_tiers(catalog)]
    return ", ".join(parts) or "none enabled"


def _service_panels(catalog: Catalog, svc: Service, grid: c.Grid) -> list[g.Panel]:
    panels: list[g.Panel] = [grid.row(f"{svc.name} ({svc.tier})")]
    for kind, objective in svc.slo_items():
        name = kind_title(kind)
        target = round(objective.objective / 100, 10)
        what = _what(kind, objective)
        panels.append(c.stat(
            f"{name} SLI ({objective.window})", [c.target(sli(catalog, svc, kind, objective), kind, instant=True)],
            grid.place(4, 6), "percentunit", c.steps(c.RED, (target, c.GREEN)), decimals=3, text_mode="value",
            description=f"Share of {what} over the last {objective.window}; objective {objective.objective}%.",
        ))
        panels.append(c.stat(
            f"{name} error budget left", [c.target(budget_remaining(catalog, svc, kind, objective), kind,
                                                   instant=True)],
            grid.place(4, 6), "percentunit", c.steps(c.RED, (0, c.ORANGE), (0.25, c.GREEN)), decimals=1,
            text_mode="value",
            description=(f"Error budget ({objective.error_budget:.4%} of "
                         f"{'events' if isinstance(objective, RatioSLO) else 'requests'} over {objective.window}) "
                         "not yet spent; negative when the SLO is missed."),
        ))
        queries = [(burn_rate(catalog, svc, kind, objective, w), w) for w in conventions.ALERT_WINDOWS]
        panels.append(c.timeseries(
            f"{name} burn rate", c.targets(queries), grid.place(16, 6), "suffix:x",
            description=("Error-budget burn rate per alert window (1x spends the budget exactly over "
                         f"{objective.window}). Dashed lines: alert tiers {_tiers_text(catalog, objective.window)}."),
            min_value=0, thresholds=burn_thresholds(catalog, objective.window), threshold_style="dashed",
            legend_calcs=("lastNotNull",),
        ))
    return panels


def build(catalog: Catalog) -> g.Dashboard:
    grid = c.Grid()
    panels: list[g.Panel] = [
        c.table("Firing SLO alerts", [c.target(firing_alerts(catalog), "", instant=True, table=True)],
                grid.place(24, 6), description="SLO burn-rate alerts firing now (Prometheus ALERTS series)."),
    ]
    services = [s for s in catalog.services if s.slo_items()]
    for svc in services:
        panels += _service_panels(catalog, svc, grid)
    if not services:
        panels.append(c.text("No SLOs", "This catalog declares no SLOs.", grid.place(24, 3)))
    variables = [c.datasource_variable(catalog), c.environment_variable(catalog, multi=False)]
    return c.dashboard(catalog, "slo", panels, variables, ["slo"], time_from="now-24h",
                       description=f"{c.display_name(catalog)}: SLIs, error budgets and burn rates per service.",
                       annotations=c.maintenance_annotations(catalog, [c.env_matcher(catalog)]))
