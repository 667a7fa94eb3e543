"""Both importers on fuzzed input: a catalog or located one-line refusals (ZarishError), never a traceback."""

from __future__ import annotations

import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zarish_obs import openslo
from zarish_obs.catalog import load_catalog, parse_catalog
from zarish_obs.errors import ZarishError
from zarish_obs.openslo_import import import_openslo
from zarish_obs.sloth_cli import import_sloth

DATA = Path(__file__).resolve().parent / "data"
BASE = load_catalog(DATA / "catalogs" / "ratio.yaml")
EXPORT = openslo.files(BASE, True)[openslo.SINGLE_FILE]
SLOTH = (DATA / "sloth" / "payments.yaml").read_text("utf-8")

_leaf = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8) | st.sampled_from(
    ['sum(rate(x{service="payments"}[{{.window}}]))', "99.9", "30d", "payments", "prometheus/v1"])
_value = st.recursive(_leaf, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.sampled_from(["version", "service", "slos", "name", "objective", "sli", "events", "error_query",
                     "total_query", "raw", "plugin", "alerting", "labels", "apiVersion", "kind", "spec",
                     "metadata", "x"]) | st.text(max_size=5), inner, max_size=4), max_leaves=14)


def _openslo(text: str) -> None:
    try:
        parse_catalog(import_openslo([("f.yaml", text)], BASE).text)
    except ZarishError as exc:
        assert exc.exit_code == 65 and exc.lines and all(
            line.startswith(("f.yaml", "<imported catalog>")) for line in exc.lines), exc.lines


def _sloth(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "s.yaml"
        spec.write_text(text, "utf-8")
        try:
            catalog_text, notes = import_sloth([spec])
        except ZarishError as exc:
            assert exc.exit_code == 65 and exc.lines and all(str(spec) in line or "<" in line for line in exc.lines), \
                exc.lines
            return
        parse_catalog(catalog_text)
        assert all(line.startswith(str(spec)) for line in notes)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=0, max_value=len(EXPORT)), st.text(max_size=6))
def test_mutated_openslo_export_never_tracebacks(at: int, insert: str) -> None:
    _openslo(EXPORT[:at] + insert + EXPORT[at:])


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=0, max_value=len(SLOTH)), st.text(max_size=6))
def test_mutated_sloth_spec_never_tracebacks(at: int, insert: str) -> None:
    _sloth(SLOTH[:at] + insert + SLOTH[at:])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_value)
def test_fuzzed_sloth_documents_never_traceback(doc: object) -> None:
    _sloth(yaml.safe_dump(doc))
