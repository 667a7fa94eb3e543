"""Building blocks shared by the three dashboard builders: variables, targets, thresholds, layout, links.

Everything here returns grafanalib objects; `normalise.py` turns their (legacy) JSON into the modern
model afterwards. Builders stay pure: no I/O, output depends on the catalog only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from grafanalib import core as g

from zarish_obs import conventions, maintenance_promql
from zarish_obs.catalog import Catalog
from zarish_obs.dashboards.normalise import BUILTIN_ANNOTATION
from zarish_obs.promql import Matcher, selector

DATASOURCE_VAR = "datasource"
DATASOURCE = "${" + DATASOURCE_VAR + "}"
ENV_VAR = "environment"
SERVICE_VAR = "service"
ALL_VALUE = ".+"
GREEN, ORANGE, RED, BLUE = "green", "orange", "red", "blue"
MAINTENANCE_COLOURS = {True: "purple", False: "blue"}  # by exclude_from_slo: SLO paused, SLO still counted

TITLES = {"overview": "Overview", "slo": "SLOs", "dr": "DR Status"}


def display_name(catalog: Catalog) -> str:
    """`zarish-his` -> `ZARISH HIS` (the DR plan's spelling of the product name)."""
    return catalog.name.replace("-", " ").upper()


def title(catalog: Catalog, kind: str) -> str:
    return f"{display_name(catalog)} {TITLES[kind]}"


def uid(catalog: Catalog, kind: str) -> str:
    return conventions.dashboard_uid(catalog.name, kind)


def env_matcher(catalog: Catalog) -> Matcher:
    return Matcher(catalog.metrics.environment_label, "$" + ENV_VAR, "=~")


def service_matcher(catalog: Catalog) -> Matcher:
    return Matcher(catalog.metrics.service_label, "$" + SERVICE_VAR, "=~")


# -- template variables ----------------------------------------------------------------------------------
def datasource_variable(catalog: Catalog) -> g.Template:
    return g.Template(name=DATASOURCE_VAR, label="Data source", query="prometheus", type="datasource",
                      default=catalog.grafana.datasource_uid, refresh=1, sort=0)


def label_values(metric_selector: str, label: str) -> str:
    """Grafana's Prometheus variable query (not PromQL: Grafana turns it into a series/labels API call)."""
    return f"label_values({metric_selector}, {label})"


def environment_variable(catalog: Catalog, multi: bool = True) -> g.Template:
    m = catalog.metrics
    t = g.Template(name=ENV_VAR, label="Environment", query=label_values(m.requests_total, m.environment_label),
                   dataSource=DATASOURCE, default=catalog.dr.error_ratio.environment, multi=multi,
                   includeAll=multi, allValue=ALL_VALUE if multi else None, refresh=2, sort=1)
    return t


def service_variable(catalog: Catalog) -> g.Template:
    m = catalog.metrics
    query = label_values(selector(m.requests_total, [env_matcher(catalog)]), m.service_label)
    t = g.Template(name=SERVICE_VAR, label="Service", query=query, dataSource=DATASOURCE, default="$__all",
                   multi=True, includeAll=True, allValue=ALL_VALUE, refresh=2, sort=1)
    t._current = {"selected": True, "text": "All", "value": "$__all"}
    return t


# -- queries, thresholds, links ---------------------------------------------------------------------------
def target(expr: str, legend: str = "", ref: str = "A", instant: bool = False, table: bool = False) -> g.Target:
    return g.Target(expr=expr, legendFormat=legend, refId=ref, datasource=DATASOURCE, instant=instant,
                    format="table" if table else "time_series")


def ref_id(index: int) -> str:
    """A, B, ... Z, AA, AB: Grafana's own refId sequence."""
    out = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        out = chr(65 + rem) + out
    return out


def targets(queries: Sequence[tuple[str, str]], instant: bool = False) -> list[g.Target]:
    return [target(expr, legend, ref_id(i), instant) for i, (expr, legend) in enumerate(queries)]


def steps(base: str, *levels: tuple[float, str]) -> list[g.Threshold]:
    """Threshold steps: the base colour (Grafana treats the first step as -Infinity), then (value, colour)."""
    out = [g.Threshold(base, 0, 0.0)]
    out += [g.Threshold(color, i + 1, float(value)) for i, (value, color) in enumerate(levels)]
    return out


def dashboard_links(catalog: Catalog, kind: str) -> list[g.DashboardLink]:
    """Links to the other two dashboards, carrying variables and the time range across."""
    return [
        g.DashboardLink(type="link", title=title(catalog, other), uri=f"/d/{uid(catalog, other)}",
                        icon="dashboard", includeVars=True, keepTime=True,
                        tooltip=f"Open {title(catalog, other)}")
        for other in conventions.DASHBOARD_KINDS if other != kind
    ]


# -- annotations ----------------------------------------------------------------------------------------
def maintenance_annotations(catalog: Catalog, matchers: Sequence[Matcher]) -> list[dict[str, object]]:
    """One region annotation per maintenance window, named after it (the published dashboard schema has no
    title, text or tag fields for a Prometheus annotation, so the name is what tells windows apart); none, and
    Grafana's built-in list unchanged, for a catalog without windows."""
    if not catalog.maintenance:
        return []
    out: list[dict[str, object]] = [dict(BUILTIN_ANNOTATION)]
    for window in catalog.maintenance:
        out.append({
            "name": f"Maintenance: {window.name}",
            "datasource": {"type": "prometheus", "uid": DATASOURCE},
            "enable": True,
            "hide": False,
            "iconColor": MAINTENANCE_COLOURS[window.exclude_from_slo],
            "expr": maintenance_promql.annotation(catalog, window, matchers),
        })
    return out


# -- layout ---------------------------------------------------------------------------------------------
@dataclass
class Grid:
    """Places panels left to right on Grafana's 24-column grid, wrapping to a new line when full."""

    x: int = 0
    y: int = 0
    line_h: int = 0

    def place(self, w: int, h: int) -> g.GridPos:
        if self.x + w > 24:
            self.newline()
        pos = g.GridPos(h=h, w=w, x=self.x, y=self.y)
        self.x += w
        self.line_h = max(self.line_h, h)
        return pos

    def newline(self) -> None:
        if self.x:
            self.y += self.line_h
        self.x, self.line_h = 0, 0

    def row(self, row_title: str) -> g.RowPanel:
        self.newline()
        panel = g.RowPanel(title=row_title, gridPos=g.GridPos(h=1, w=24, x=0, y=self.y))
        self.y += 1
        return panel


def dashboard(catalog: Catalog, kind: str, panels: list[g.Panel], variables: list[g.Template],
              tags: Sequence[str], description: str, time_from: str = "now-1h",
              annotations: Sequence[dict[str, object]] = ()) -> g.Dashboard:
    return g.Dashboard(
        title=title(catalog, kind),
        uid=uid(catalog, kind),
        description=description,
        tags=[catalog.name, *tags],
        timezone=catalog.timezone,
        refresh="30s",
        time=g.Time(time_from, "now"),
        graphTooltip=1,
        editable=True,
        panels=panels,
        links=dashboard_links(catalog, kind),
        templating=g.Templating(list=variables),
        annotations=g.Annotations(list=list(annotations)),
        schemaVersion=41,
    ).auto_panel_ids()


# -- panels ---------------------------------------------------------------------------------------------
def timeseries(panel_title: str, queries: list[g.Target], pos: g.GridPos, unit: str, description: str = "",
               min_value: int | None = None, max_value: int | None = None,
               thresholds: list[g.Threshold] | None = None, threshold_style: str = "off",
               legend_calcs: Sequence[str] = ("lastNotNull", "max")) -> g.TimeSeries:
    """A TimeSeries panel (the Graph panel is deprecated); legend as a table with last and max values."""
    return g.TimeSeries(
        title=panel_title, description=description, dataSource=DATASOURCE, targets=queries, gridPos=pos,
        unit=unit, valueMin=min_value, valueMax=max_value, thresholds=thresholds or steps(GREEN),
        thresholdsStyleMode=threshold_style, legendDisplayMode="table", legendPlacement="bottom",
        legendCalcs=list(legend_calcs), tooltipMode="multi", tooltipSort="desc", fillOpacity=10,
        showPoints="never", stacking={"mode": "none", "group": "A"}, maxDataPoints=None,
    )


def stat(panel_title: str, queries: list[g.Target], pos: g.GridPos, unit: str, thresholds: list[g.Threshold],
         description: str = "", mappings: list[object] | None = None, decimals: int | None = None,
         min_value: float | None = None, max_value: float | None = None,
         text_mode: str = "value_and_name") -> g.Stat:
    extra: dict[str, object] = {}
    limits = {k: v for k, v in (("min", min_value), ("max", max_value)) if v is not None}
    if limits:
        extra = {"fieldConfig": {"defaults": limits}}
    return g.Stat(
        title=panel_title, description=description, dataSource=DATASOURCE, targets=queries, gridPos=pos,
        format=unit, thresholds=thresholds, colorMode="background", graphMode="none", reduceCalc="lastNotNull",
        textMode=text_mode, noValue="no data", mappings=mappings or [], decimals=decimals,
        color={"mode": "thresholds"}, maxDataPoints=None, extraJson=extra or None,
    )


def text(panel_title: str, markdown: str, pos: g.GridPos) -> g.Text:
    return g.Text(title=panel_title, content=markdown, mode="markdown", gridPos=pos, maxDataPoints=None)


def table(panel_title: str, queries: list[g.Target], pos: g.GridPos, description: str = "") -> g.Table:
    return g.Table(title=panel_title, description=description, dataSource=DATASOURCE, targets=queries,
                   gridPos=pos, maxDataPoints=None, showHeader=True, filterable=True,
                   transformations=[{"id": "organize", "options": {"excludeByName": {
                       "Time": True, "Value": True, "__name__": True}}}])
