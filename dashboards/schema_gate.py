"""The gate every generated dashboard passes before it is written or uploaded.

It validates against Grafana's published dashboard JSON schema (a byte-for-byte copy shipped in
`schema/`, provenance in `schema/SOURCE.md`) plus the rules the schema cannot express but Grafana's
API enforces (uid characters and length, a non-empty title, unique panel ids).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from importlib import resources
from typing import Any

from jsonschema import Draft7Validator
from jsonschema.exceptions import ValidationError

from zarish_obs.errors import ExitCode, ZarishError

SCHEMA_FILE = "dashboard.jsonschema.json"
UID_RE = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    text = resources.files("zarish_obs.dashboards").joinpath("schema", SCHEMA_FILE).read_text("utf-8")
    return json.loads(text)


@lru_cache(maxsize=1)
def validator() -> Draft7Validator:
    return Draft7Validator(schema())


def json_path(path: Iterable[Any]) -> str:
    out = "$"
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _short(message: str) -> str:
    return message if len(message) <= 200 else message[:197] + "..."


def _describe(error: ValidationError) -> list[tuple[str, str]]:
    """(path, message) per cause. A oneOf failure (a panel is a Panel or a RowPanel) is reported with the
    errors of the branch it came closest to, so the message points at the offending key, not the panel."""
    if not error.context:
        return [(json_path(error.absolute_path), _short(error.message))]
    branches: dict[Any, list[ValidationError]] = {}
    for sub in error.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    def distance(errors: list[ValidationError]) -> tuple[bool, int]:
        wrong_type = any(e.validator in ("const", "enum") and list(e.relative_path) == ["type"] for e in errors)
        return wrong_type, len(errors)

    closest = min(branches.values(), key=distance)
    return [item for sub in closest for item in _describe(sub)]


def _panels(dashboard: Mapping[str, Any]) -> Iterable[tuple[str, Mapping[str, Any]]]:
    for i, panel in enumerate(dashboard.get("panels", [])):
        yield f"$.panels[{i}]", panel
        for j, inner in enumerate(panel.get("panels", []) if isinstance(panel, dict) else []):
            yield f"$.panels[{i}].panels[{j}]", inner


def problems(dashboard: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(json path, problem) pairs; empty when the dashboard is valid."""
    found = [item for e in validator().iter_errors(dashboard) for item in _describe(e)]
    uid = dashboard.get("uid")
    if not isinstance(uid, str) or not UID_RE.match(uid):
        found.append(("$.uid", f"{uid!r} must be 1-40 characters of [A-Za-z0-9_-]"))
    if not str(dashboard.get("title") or "").strip():
        found.append(("$.title", "must not be empty (Grafana answers 400)"))
    seen: dict[Any, str] = {}
    for path, panel in _panels(dashboard):
        pid = panel.get("id") if isinstance(panel, dict) else None
        if pid in seen:
            found.append((f"{path}.id", f"panel id {pid} is also used by {seen[pid]}"))
        elif pid is not None:
            seen[pid] = path
    return sorted(set(found))


def check(dashboards: Mapping[str, Mapping[str, Any]]) -> None:
    """Raise one ZarishError with a line per problem, naming dashboard and JSON path, if any is invalid."""
    lines: list[str] = []
    for name, dash in dashboards.items():
        lines += [f"dashboard {name}: {path}: {msg}" for path, msg in problems(dash)]
    if lines:
        head = (f"dashboards: {len(lines)} schema problem(s) in generated dashboards "
                "(Grafana dashboard schema v41; this is a zarish-obs bug, please report it)")
        raise ZarishError(head, ExitCode.SOFTWARE, [head, *lines])
