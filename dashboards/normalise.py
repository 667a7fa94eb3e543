"""grafanalib's JSON -> Grafana's modern dashboard model (schemaVersion 41).

grafanalib 0.7.1 writes the model of Grafana 5-7: string datasources, `null` for every unset option,
`rows`/`style`/`hideControls`/`__inputs`, legacy target fields and threshold steps with the string
"null". Current Grafana migrates such JSON on load, imperfectly, and its published schema rejects it.
This module rewrites each object it knows explicitly (no blanket whitelist, so a key grafanalib starts
emitting later fails the schema gate instead of silently disappearing).
"""

from __future__ import annotations

import copy
import json
from typing import Any

from grafanalib._gen import DashboardEncoder

SCHEMA_VERSION = 41
PROMETHEUS = "prometheus"

_LEGACY_DASHBOARD = ("__inputs", "rows", "style", "hideControls", "sharedCrosshair", "gnetId", "id", "version")
_LEGACY_PANEL = ("error", "editable", "height", "minSpan", "span", "columns", "fontSize", "styles", "color",
                 "mappings")
_DEFAULT_FALSE_PANEL = ("transparent", "hideTimeOverride")
_ROW_KEYS = ("type", "collapsed", "title", "datasource", "gridPos", "id", "panels", "repeat")
_LEGACY_VARIABLE = ("useTags", "tagsQuery", "tagValuesQuery")
_INTERVAL_ONLY = ("auto", "auto_min", "auto_count")
_TARGET_KEYS = ("datasource", "expr", "legendFormat", "refId", "instant", "format", "interval", "hide")

BUILTIN_ANNOTATION = {
    "builtIn": 1,
    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
    "enable": True,
    "hide": True,
    "iconColor": "rgba(0, 211, 255, 1)",
    "name": "Annotations & Alerts",
    "type": "dashboard",
}


def to_plain(dashboard: Any) -> dict[str, Any]:
    """A grafanalib Dashboard as plain JSON data (what grafanalib itself would write)."""
    return json.loads(json.dumps(dashboard.to_json_data(), cls=DashboardEncoder))


def datasource_ref(value: Any) -> Any:
    """`"${datasource}"` or `"zarish-prometheus"` -> `{"type": "prometheus", "uid": ...}`."""
    if isinstance(value, str):
        return {"type": PROMETHEUS, "uid": value}
    return value


def prune_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: prune_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [prune_nulls(v) for v in value]
    return value


def sort_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: sort_keys(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [sort_keys(v) for v in value]
    return value


def _steps(steps: list[dict[str, Any]], floor: Any) -> list[dict[str, Any]]:
    """Threshold steps as {color, value}. Grafana treats the first step as -Infinity whatever its value;
    JSON has no -Infinity and the schema forbids null, so the base gets a number below the next step."""
    out = []
    values = [s.get("value") for s in steps[1:] if isinstance(s.get("value"), (int, float))]
    for i, step in enumerate(steps):
        value = step.get("value")
        if i == 0 or not isinstance(value, (int, float)):
            if not values:
                value = floor if isinstance(floor, (int, float)) else 0
            elif isinstance(floor, (int, float)) and floor < values[0]:
                value = floor
            else:
                value = 0 if values[0] > 0 else values[0] - 1
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        out.append({"color": step["color"], "value": value})
    return out


def _target(target: dict[str, Any], panel_ds: Any) -> dict[str, Any]:
    out = {k: target[k] for k in _TARGET_KEYS if k in target}
    out["datasource"] = datasource_ref(out.get("datasource") or panel_ds)
    if not out.get("interval"):
        out.pop("interval", None)
    if not out.get("hide"):
        out.pop("hide", None)
    out["range"] = not out.get("instant", False)
    out["editorMode"] = "code"
    return out


def _panel(panel: dict[str, Any]) -> dict[str, Any]:
    if panel.get("type") == "row":
        row = {k: panel[k] for k in _ROW_KEYS if k in panel}
        row["panels"] = [_panel(p) for p in row.get("panels", [])]
        return prune_nulls(row)
    p = {k: v for k, v in panel.items() if k not in _LEGACY_PANEL}
    for key in _DEFAULT_FALSE_PANEL:
        if p.get(key) is False:
            del p[key]
    for key in ("links", "transformations"):
        if p.get(key) == []:
            del p[key]
    p = prune_nulls(p)
    if "datasource" in p:
        p["datasource"] = datasource_ref(p["datasource"])
    if p.get("type") == "text":
        p.pop("fieldConfig", None)
        p.pop("targets", None)
        p.pop("datasource", None)
    else:
        p["targets"] = [_target(t, p.get("datasource")) for t in p.get("targets", [])]
    defaults = p.get("fieldConfig", {}).get("defaults", {})
    custom = defaults.get("custom")
    if isinstance(custom, dict) and "displayMode" in custom:
        custom["cellOptions"] = {"type": custom.pop("displayMode")}
    legend = p.get("options", {}).get("legend")
    if isinstance(legend, dict):
        legend["showLegend"] = legend.get("displayMode") != "hidden"
    thresholds = defaults.get("thresholds")
    if thresholds is not None:
        thresholds["steps"] = _steps(thresholds.get("steps") or [{"color": "green"}], defaults.get("min"))
    return p


def _variable(var: dict[str, Any]) -> dict[str, Any]:
    v = {k: val for k, val in var.items() if k not in _LEGACY_VARIABLE}
    if v.get("type") != "interval":
        for key in _INTERVAL_ONLY:
            v.pop(key, None)
    v = prune_nulls(v)
    if "datasource" in v:
        v["datasource"] = datasource_ref(v["datasource"])
    current = v.get("current")
    if isinstance(current, dict):
        current.pop("tags", None)
        if "text" not in current or "value" not in current:
            del v["current"]
    return v


def normalise(raw: dict[str, Any]) -> dict[str, Any]:
    """The modern, schema-valid form of one dashboard (deterministic key order)."""
    d = {k: v for k, v in copy.deepcopy(raw).items() if k not in _LEGACY_DASHBOARD}
    d = prune_nulls(d)
    d["schemaVersion"] = SCHEMA_VERSION
    d["panels"] = [_panel(p) for p in d.get("panels", [])]
    d["templating"] = {"list": [_variable(v) for v in d.get("templating", {}).get("list", [])]}
    annotations = d.get("annotations", {}).get("list", [])
    d["annotations"] = {"list": annotations or [BUILTIN_ANNOTATION]}
    picker = d.get("timepicker")
    if isinstance(picker, dict):
        d["timepicker"] = {k: picker[k] for k in ("refresh_intervals", "hidden", "nowDelay") if k in picker}
    d.setdefault("fiscalYearStartMonth", 0)
    d.setdefault("liveNow", False)
    return sort_keys(d)
