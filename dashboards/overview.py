"""The DR plan's "ZARISH HIS Overview": request rate, 5xx error ratio and p50/p95 latency by service.

Same metrics, labels and 5m windows as the DR plan's raw PromQL (so it works on any Prometheus,
recording rules or not), narrowed by the environment and service variables.
"""

from __future__ import annotations

from grafanalib import core as g

from zarish_obs.catalog import Catalog
from zarish_obs.dashboards import common as c
from zarish_obs.promql import signals

WINDOW = "5m"


def queries(catalog: Catalog) -> dict[str, list[tuple[str, str]]]:
    """(expr, legend) per panel; the DR plan groups `by (service)` and so do we."""
    s = signals(catalog)
    svc = catalog.metrics.service_label
    matchers = [c.env_matcher(catalog), c.service_matcher(catalog)]
    group = [svc]
    legend = "{{" + svc + "}}"
    return {
        "request_rate": [(s.request_rate(matchers, WINDOW, group), legend)],
        "error_ratio": [(s.error_ratio(matchers, WINDOW, group), legend)],
        "latency": [
            (s.latency_quantile(0.95, matchers, WINDOW, group), "95th percentile - " + legend),
            (s.latency_quantile(0.50, matchers, WINDOW, group), "50th percentile - " + legend),
        ],
    }


def build(catalog: Catalog) -> g.Dashboard:
    q = queries(catalog)
    threshold = catalog.dr.error_ratio.threshold
    grid = c.Grid()
    panels: list[g.Panel] = [
        c.timeseries("Request Rate", c.targets(q["request_rate"]), grid.place(12, 9), "reqps",
                     description=f"Requests per second by service ({WINDOW} rate).", min_value=0),
        c.timeseries(
            "Error Rate", c.targets(q["error_ratio"]), grid.place(12, 9), "percentunit",
            description=(f"Share of requests answered with a status matching "
                         f"`{catalog.metrics.error_status_regex}` ({WINDOW} rate). The red line is the DR trigger "
                         f"({threshold:.0%} for {catalog.dr.error_ratio.for_} in "
                         f"{catalog.dr.error_ratio.environment})."),
            min_value=0, max_value=1, thresholds=c.steps(c.GREEN, (threshold, c.RED)), threshold_style="line",
        ),
        c.timeseries("Response Time", c.targets(q["latency"]), grid.place(24, 9), "s",
                     description=f"p95 and p50 request duration by service ({WINDOW} rate of the histogram).",
                     min_value=0),
    ]
    variables = [c.datasource_variable(catalog), c.environment_variable(catalog), c.service_variable(catalog)]
    return c.dashboard(catalog, "overview", panels, variables, ["overview"],
                       description=f"{c.display_name(catalog)}: request rate, error ratio and latency by service.",
                       annotations=c.maintenance_annotations(
                           catalog, [c.env_matcher(catalog), c.service_matcher(catalog)]))
