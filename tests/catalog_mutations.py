"""Hypothesis strategies that break the built-in catalog one field at a time, shared by the catalog tests and
the end-to-end property "a mutated catalog either fails validation (exit 65) or every generated file passes
every validator".

`mutated_catalogs()` starts from the built-in catalog with every default written out (so fields the YAML
leaves to defaults, such as `dr.backup.grace` or the burn tiers' `for`, can be hit too) plus one
remote_write entry, and replaces random scalar leaves with values of another kind.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import yaml
from hypothesis import strategies as st

from zarish_obs.catalog import default_catalog_text, parse_catalog
from zarish_obs.durations import parse_duration

Path = tuple[str | int, ...]

REMOTE_WRITE = {"url": "https://mimir.example.org/api/v1/push", "name": "mimir", "basic_auth_username": "zarish",
                "basic_auth_password_file": "/etc/prometheus/secrets/mimir-password"}

# Values that are valid somewhere in a catalog and wrong almost everywhere else, and the classic
# near-misses of URLs, durations, host:port pairs, names and regexes.
TRICKY_STRINGS = (
    "", " ", "-5m", "5m", "0s", "30d", "1h30m", "5 m", "1.5h", "500ms", "a b", "x", "X", "primary", "dr",
    "http://x", "https://", "http://a b", "ftp://host/x", "host", "host:", "host:0", "host:99999", ":9093",
    "http://host:9093", "localhost:9090", "[::1]:9093", "5..", "(?=5)..", "\\1", "[", "*", "{{ $labels.x }}",
    "a\nb", "a\x00b", "\u00e9", "sum", "le", "slo", "__name__", "99.9", "true", "null", "0 2 * * *", "@daily",
    "61 * * * *", "0 2 30 2 *", "Asia/Dhaka", "Mars/Base", "/etc/x", "/etc/*/x.yml",
)
scalars = st.one_of(
    st.sampled_from(TRICKY_STRINGS),
    st.text(max_size=12),
    st.booleans(),
    st.none(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.sampled_from([0, 1, -1, 65535, 65536, 2**63]),
    st.floats(allow_nan=True, allow_infinity=True),
)
odd_values = st.one_of(
    scalars,
    st.lists(scalars, max_size=3),
    st.dictionaries(st.sampled_from(["name", "url", "for", "x"]), scalars, max_size=2),
)


def full_default_catalog() -> dict[str, Any]:
    """The built-in catalog as data with every default spelled out, and one remote_write entry."""
    doc = parse_catalog(default_catalog_text(), "<built-in catalog>").model_dump(by_alias=True, mode="json")
    doc["prometheus"]["remote_write"] = [{**REMOTE_WRITE, "bearer_token_file": None}]
    return doc


def leaf_paths(doc: Any, path: Path = ()) -> list[Path]:
    """Every path to a scalar (None included) in `doc`."""
    if isinstance(doc, dict):
        return [p for key in doc for p in leaf_paths(doc[key], (*path, key))]
    if isinstance(doc, list):
        return [p for i, item in enumerate(doc) for p in leaf_paths(item, (*path, i))]
    return [path]


def set_at(doc: Any, path: Path, value: Any) -> None:
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


@dataclass(frozen=True)
class Mutation:
    """A catalog with some leaves replaced: its YAML text and what was put where (for failure messages)."""

    text: str
    changes: tuple[tuple[Path, Any], ...]

    def describe(self) -> str:
        return "; ".join(f"{'.'.join(map(str, p))} = {v!r}" for p, v in self.changes)


@st.composite
def mutated_catalogs(draw: st.DrawFn, max_changes: int = 1, base: dict[str, Any] | None = None) -> Mutation:
    """A catalog with 1..max_changes scalar leaves replaced by other values, mostly of another kind."""
    doc = copy.deepcopy(base if base is not None else _FULL)
    paths = leaf_paths(doc)
    chosen = draw(st.lists(st.sampled_from(paths), min_size=1, max_size=max_changes, unique=True))
    changes = []
    for path in chosen:
        old = doc
        for key in path:
            old = old[key]
        value = draw(odd_values.filter(lambda v, old=old: type(v) is not type(old) or v != old))
        set_at(doc, path, value)
        changes.append((path, value))
    return Mutation(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), tuple(changes))


# Values of the same kind as the leaf they replace: these mostly validate, so they reach the generators and
# the validators, where a catalog that validates but yields a rejected file would show.
PLAUSIBLE_DURATIONS = ("1s", "15s", "30s", "1m", "2m", "5m", "10m", "30m", "1h", "2h", "6h", "1d", "7d", "28d", "30d",
                       "90d")
PLAUSIBLE_NUMBERS = (0.0, 1e-12, 1e-9, 0.001, 0.01, 0.1, 0.25, 0.5, 0.9, 0.999, 1.0, 2.5, 50.0, 90.0, 99.0, 99.5,
                     99.9, 99.95, 99.99, 99.999, 99.9999)
PLAUSIBLE_INTS = (0, 1, 5, 20, 100, 1000, 8080, 65535)
PLAUSIBLE_STRINGS = ("a", "zarish", "x-y", "dhaka", "production", "https://example.org/hook", "http://host:9093/alerts",
                     "host:9093", "5..", "5[0-9]{2}", "599", "[45]..", "0 3 * * 1-5", "*/30 * * * *", "Asia/Dhaka",
                     "UTC", "status_code", "svc", "/etc/prometheus/rules/*.yml")


def _plausible(old: Any) -> st.SearchStrategy[Any]:
    if isinstance(old, bool):
        return st.just(not old)
    if isinstance(old, int):
        return st.sampled_from(PLAUSIBLE_INTS)
    if isinstance(old, float):
        return st.sampled_from(PLAUSIBLE_NUMBERS)
    if isinstance(old, str):
        try:
            parse_duration(old)
            return st.sampled_from(PLAUSIBLE_DURATIONS)
        except ValueError:
            return st.sampled_from(PLAUSIBLE_STRINGS)
    return st.sampled_from(PLAUSIBLE_STRINGS)


@st.composite
def plausible_catalogs(draw: st.DrawFn, max_changes: int = 1) -> Mutation:
    """A catalog with 1..max_changes leaves replaced by another value of the same kind."""
    doc = copy.deepcopy(_FULL)
    chosen = draw(st.lists(st.sampled_from(leaf_paths(doc)), min_size=1, max_size=max_changes, unique=True))
    changes = []
    for path in chosen:
        old = doc
        for key in path:
            old = old[key]
        value = draw(_plausible(old))
        set_at(doc, path, value)
        changes.append((path, value))
    return Mutation(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), tuple(changes))


_FULL = full_default_catalog()
