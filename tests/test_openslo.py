"""OpenSLO v1 export and validation: exported documents pass our validator, and every malformed document of
tests/data/openslo gets exactly the one line it expects (first line `# expect: #DOC: path: reason`)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.golden import assert_golden
from zarish_obs import conventions, openslo
from zarish_obs.catalog import Catalog, load_catalog
from zarish_obs.openslo_validate import validate_texts
from zarish_obs.promql import signals
from zarish_obs.stack.main import main

DATA = Path(__file__).resolve().parent / "data"
MALFORMED = sorted((DATA / "openslo").glob("*.yaml"))
CATALOGS = [None, *sorted((DATA / "catalogs").glob("*.yaml"))]


def _expected(path: Path) -> str:
    first = path.read_text("utf-8").splitlines()[0]
    return str(path) + first.removeprefix("# expect: ").replace("{file}", str(path))


@pytest.mark.parametrize("catalog_path", CATALOGS, ids=lambda p: p.name if p else "built-in")
@pytest.mark.parametrize("single", [False, True], ids=["per-file", "single-file"])
def test_export_passes_validator(catalog_path: Path | None, single: bool) -> None:
    files = openslo.files(load_catalog(catalog_path), single)
    count, problems = validate_texts(sorted(files.items()))
    assert problems == []
    assert count == len(openslo.documents(load_catalog(catalog_path)))


def test_export_follows_catalog(default_catalog: Catalog) -> None:
    """Every SLO of the catalog becomes an SLO whose target, window and queries are the catalog's own."""
    docs = openslo.documents(default_catalog)
    slos = {d["metadata"]["name"]: d["spec"] for d in docs if d["kind"] == "SLO"}
    slis = {d["metadata"]["name"]: d["spec"] for d in docs if d["kind"] == "SLI"}
    items = [(svc, kind, obj) for svc in default_catalog.services for kind, obj in svc.slo_items()]
    assert len(slos) == len(items)
    s = signals(default_catalog)
    for svc, kind, obj in items:
        spec = slos[openslo.slo_name(svc, kind)]
        assert spec["objectives"][0]["target"] == pytest.approx(obj.objective / 100)
        assert spec["timeWindow"] == [{"duration": openslo.shorthand(obj.window), "isRolling": True}]
        ratio = slis[spec["indicatorRef"]]["ratioMetric"]
        assert ratio["bad"]["metricSource"]["spec"]["query"] == s.slo_bad(kind, [svc], conventions.TILE)
        assert ratio["total"]["metricSource"]["spec"]["query"] == s.slo_total(kind, [svc], conventions.TILE)
    conditions = [d["spec"]["condition"] for d in docs if d["kind"] == "AlertCondition"]
    tiers = conventions.enabled_tiers(default_catalog)
    assert [c["threshold"] for c in conditions] == [t.factor(w) for w in conventions.slo_windows(default_catalog)
                                                    for t in tiers]


def test_export_skips_disabled_tiers(default_catalog: Catalog) -> None:
    data = default_catalog.model_dump(by_alias=True, mode="json")
    data["alerting"]["ticket_slow"]["enabled"] = False
    cat = Catalog.model_validate(data)
    names = [d["metadata"]["name"] for d in openslo.documents(cat) if d["kind"] == "AlertPolicy"]
    assert names and not any(n.startswith("ticket-slow") for n in names)
    assert validate_texts([("x.yaml", openslo.files(cat, True)[openslo.SINGLE_FILE])])[1] == []


@pytest.mark.parametrize(("duration", "expected"), [("30d", "30d"), ("28d", "4w"), ("1d12h", "36h"), ("90s", "2m"),
                                                    ("7s", "1m"), ("2h", "2h")])
def test_shorthand(duration: str, expected: str) -> None:
    assert openslo.shorthand(duration) == expected


def test_golden_openslo_default(default_catalog: Catalog) -> None:
    assert_golden("openslo/openslo.yaml", openslo.files(default_catalog, True)[openslo.SINGLE_FILE])


def test_at_least_twenty_malformed() -> None:
    assert len(MALFORMED) >= 20


@pytest.mark.parametrize("path", MALFORMED, ids=lambda p: p.stem)
def test_malformed_document_line(path: Path) -> None:
    assert validate_texts([(str(path), path.read_text("utf-8"))])[1] == [_expected(path)]


def test_cli_export_and_validate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["openslo", "export", "--out", str(out)]) == 0
    written = sorted(out.glob("*.yaml"))
    assert len(written) == len(openslo.documents(load_catalog(None)))
    before = {p.name: p.read_text("utf-8") for p in written}
    assert main(["openslo", "export", "--out", str(out)]) == 0
    assert {p.name: p.read_text("utf-8") for p in sorted(out.glob("*.yaml"))} == before
    assert main(["openslo", "validate", *map(str, written)]) == 0
    assert main(["openslo", "export", "--single-file", "--out", str(tmp_path / "one")]) == 0
    assert [p.name for p in (tmp_path / "one").iterdir()] == [openslo.SINGLE_FILE]


def test_cli_validate_bad_files(capsys: pytest.CaptureFixture[str]) -> None:
    chosen = MALFORMED[:3]
    assert main(["openslo", "validate", *map(str, chosen)]) == 65
    err = capsys.readouterr().err.splitlines()
    assert err == [_expected(p) for p in chosen]
    assert main(["openslo", "validate", "/nonexistent/x.yaml"]) == 65
    assert capsys.readouterr().err.strip() == "/nonexistent/x.yaml: (file): no such file"


def test_cli_cross_file_references(tmp_path: Path) -> None:
    """References may cross files: an SLO alone is incomplete, with its Service and SLI it is valid."""
    files = openslo.files(load_catalog(DATA / "catalogs" / "minimal.yaml"))
    for name, text in files.items():
        (tmp_path / name).write_text(text, "utf-8")
    slo_files = [str(p) for p in tmp_path.glob("slo-*.yaml")]
    assert main(["openslo", "validate", *slo_files]) == 65
    assert main(["openslo", "validate", *map(str, sorted(tmp_path.glob("*.yaml")))]) == 0


_VALID = openslo.files(load_catalog(DATA / "catalogs" / "minimal.yaml"), True)[openslo.SINGLE_FILE]
_leaf = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
_value = st.recursive(_leaf, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.sampled_from(["apiVersion", "kind", "metadata", "name", "spec", "service", "objectives", "target",
                     "timeWindow", "calendar", "isRolling", "ratioMetric", "conditions", "x"]) | st.text(max_size=5),
    inner, max_size=4), max_leaves=12)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=200))
def test_fuzzed_text_never_tracebacks(text: str) -> None:
    _, problems = validate_texts([("f.yaml", text)])
    assert all(p.startswith("f.yaml") for p in problems)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["DataSource", "Service", "SLI", "SLO", "AlertPolicy", "AlertCondition",
                        "AlertNotificationTarget"]), _value, _value)
def test_fuzzed_documents_never_traceback(kind: str, metadata: object, spec: object) -> None:
    doc = {"apiVersion": openslo.API_VERSION, "kind": kind, "metadata": metadata, "spec": spec}
    _, problems = validate_texts([("f.yaml", yaml.safe_dump(doc))])
    assert all(p.startswith("f.yaml#0: ") for p in problems)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=0, max_value=len(_VALID) - 1), st.text(max_size=6))
def test_mutated_export_never_tracebacks(at: int, insert: str) -> None:
    _, problems = validate_texts([("f.yaml", _VALID[:at] + insert + _VALID[at:])])
    assert all(p.startswith("f.yaml") for p in problems)
