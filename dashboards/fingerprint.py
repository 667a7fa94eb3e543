"""Our own fingerprint inside each dashboard, so an upload can tell "still as we left it" from "edited".

The fingerprint is the sha256 of the dashboard's canonical JSON without `id`, `version` and the
fingerprint itself. It lives in a hidden constant template variable (hide=2, skipUrlSync, so it shows
neither on the dashboard nor in links and URLs); the schema allows it and Grafana keeps it on save.
If Grafana's copy no longer hashes to the fingerprint it carries, somebody changed it after we
uploaded it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

VARIABLE = "zarish_obs_fingerprint"
IGNORED = ("id", "version")


def _without(dashboard: dict[str, Any]) -> dict[str, Any]:
    d = {k: v for k, v in dashboard.items() if k not in IGNORED}
    templating = d.get("templating")
    if isinstance(templating, dict) and isinstance(templating.get("list"), list):
        d["templating"] = {**templating, "list": [v for v in templating["list"]
                                                  if not (isinstance(v, dict) and v.get("name") == VARIABLE)]}
    return d


def canonical(dashboard: dict[str, Any]) -> str:
    return json.dumps(dashboard, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def compute(dashboard: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(_without(dashboard)).encode("utf-8")).hexdigest()


def stored(dashboard: dict[str, Any]) -> str | None:
    """The fingerprint a dashboard carries, or None if it has none (not uploaded by zarish-obs)."""
    for var in (dashboard.get("templating") or {}).get("list") or []:
        if isinstance(var, dict) and var.get("name") == VARIABLE and isinstance(var.get("query"), str):
            return var["query"]
    return None


def stamp(dashboard: dict[str, Any]) -> dict[str, Any]:
    """A copy of the dashboard carrying its own fingerprint (as the last template variable)."""
    d = _without(dashboard)
    value = compute(d)
    var = {
        "current": {"text": value, "value": value},
        "description": "zarish-obs content fingerprint: detects edits made in Grafana since the last upload",
        "hide": 2,
        "name": VARIABLE,
        "query": value,
        "skipUrlSync": True,
        "type": "constant",
    }
    d["templating"] = {**d.get("templating", {}), "list": [*d.get("templating", {}).get("list", []), var]}
    for key in IGNORED:
        if key in dashboard:
            d[key] = dashboard[key]
    return d


def intact(dashboard: dict[str, Any]) -> bool:
    """True when the dashboard carries a fingerprint and still matches it."""
    value = stored(dashboard)
    return value is not None and value == compute(dashboard)


def same_content(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Equal apart from Grafana's bookkeeping (`id`, `version`)."""
    strip = lambda d: {k: v for k, v in d.items() if k not in IGNORED}  # noqa: E731
    return canonical(strip(a)) == canonical(strip(b))
