"""The cron-time catalog snapshot: a restored catalog answers every field and derived value as the validated
model does, the monitor builds the same queries and verdict from it, and the cache never serves a catalog
that changed, never fails a run and never leaves a readable file for others."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from tests.catalog_mutations import Mutation, plausible_catalogs
from tests.conftest import catalog_file
from zarish_obs import catalog_base, catalog_cache
from zarish_obs.catalog import Catalog, load_catalog, parse_catalog
from zarish_obs.errors import CatalogError
from zarish_obs.monitor.evaluate import build_report
from zarish_obs.monitor.queries import plan, recorded_probe

RICH = ("ratio.yaml", "maintenance.yaml", "custom-labels.yaml", "minimal.yaml")


def rich_catalogs() -> list[tuple[Path | None, Catalog]]:
    return [(None, load_catalog()), *((catalog_file(n), load_catalog(catalog_file(n))) for n in RICH)]


def same(model: Any, view: Any, path: str = "catalog") -> None:
    """Every field of the model, recursively, equal in value and type on the view."""
    fields = getattr(type(model), "model_fields", None)
    if fields is not None:
        assert type(view).__name__ == type(model).__name__, path
        for name in fields:
            same(getattr(model, name), getattr(view, name), f"{path}.{name}")
        return
    if isinstance(model, list | tuple):
        assert type(view) is type(model) and len(view) == len(model), path
        for i, (a, b) in enumerate(zip(model, view, strict=True)):
            same(a, b, f"{path}[{i}]")
        return
    assert type(view) is type(model) and view == model, (path, model, view)


def derived(cat: Any) -> dict[str, Any]:
    """What the catalog_base classes compute, as plain data."""
    return {
        "primary": cat.primary_region.name, "dr": [r.name for r in cat.dr_regions],
        "envs": [cat.environment(e.name).namespace for e in cat.environments],
        "services": [{
            "http": s.http_slos,
            "slos": [(kind, slo.window_seconds, slo.error_budget, getattr(slo, "queries", lambda: None)())
                     for kind, slo in s.slo_items()],
            "ratios": [s.ratio(r.name).name for r in s.slos.ratios], "no ratio": s.ratio("nope"),
        } for s in cat.services],
        "maintenance": [w.kind for w in cat.maintenance],
    }


def restored(cat: Catalog) -> Any:
    return catalog_cache.restore(json.loads(json.dumps(catalog_cache.snapshot(cat))))


@pytest.mark.parametrize("index", range(1 + len(RICH)))
def test_restored_catalog_equals_the_model(index: int) -> None:
    _, cat = rich_catalogs()[index]
    view = restored(cat)
    same(cat, view)
    assert derived(view) == derived(cat)
    with pytest.raises(AttributeError):
        view.name = "changed"  # read-only, as the frozen model


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plausible_catalogs(max_changes=3))
def test_restored_catalog_equals_the_model_property(mutation: Mutation) -> None:
    try:
        cat = parse_catalog(mutation.text, "<mutated>")
    except CatalogError:
        return
    view = restored(cat)
    same(cat, view)
    assert derived(view) == derived(cat)


@pytest.mark.parametrize("index", range(1 + len(RICH)))
def test_monitor_builds_the_same_check_from_the_snapshot(index: int) -> None:
    _, cat = rich_catalogs()[index]
    view = restored(cat)
    for env in (e.name for e in cat.environments):
        assert recorded_probe(view, env) == recorded_probe(cat, env)
        for source in ("recorded", "tiles", "raw"):
            assert plan(view, env, source) == plan(cat, env, source)
        names = [q.name for q in plan(cat, env, "raw")]
        for at in (0.0, 3 * 86400 + 3600.0, 1_796_000_000.0):  # in and out of the test catalogs' windows
            results = {n: [] for n in names}
            assert build_report(view, env, results, source="raw", at=at, prometheus_url="http://p") == \
                build_report(cat, env, results, source="raw", at=at, prometheus_url="http://p")


# -- the cache --------------------------------------------------------------------------------------------------
@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "cache" / "zarish-obs"
    monkeypatch.setenv(catalog_cache.CACHE_ENV, str(directory))
    return directory


def snapshots(directory: Path) -> list[Path]:
    return sorted(directory.glob("catalog-*.json"))


def test_second_load_is_the_snapshot_and_private(cache: Path) -> None:
    first = catalog_cache.load(None)
    assert isinstance(first, Catalog)
    (file,) = snapshots(cache)
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700 and stat.S_IMODE(file.stat().st_mode) == 0o600
    second = catalog_cache.load(None)
    assert not isinstance(second, Catalog) and isinstance(second, catalog_base.CatalogBase)
    same(first, second)
    assert not list(cache.glob(".*.tmp"))


def test_an_edited_catalog_is_validated_again(cache: Path, tmp_path: Path) -> None:
    path = tmp_path / "catalog.yaml"
    good = catalog_file("minimal.yaml").read_text()
    path.write_text(good)
    catalog_cache.load(path)
    assert not isinstance(catalog_cache.load(path), Catalog)
    bad = good.replace("version: 1", "version: 1\nsurprise: true")
    path.write_text(bad)
    with pytest.raises(CatalogError) as cached_err:
        catalog_cache.load(path)
    with pytest.raises(CatalogError) as plain_err:
        load_catalog(path)
    assert cached_err.value.problems == plain_err.value.problems  # the loader's own one-line errors
    assert len(snapshots(cache)) == 1  # an invalid catalog is never stored
    path.write_text(good)
    assert not isinstance(catalog_cache.load(path), Catalog)  # back to the snapshot it matches


def test_unreadable_catalog_gets_the_loaders_error(cache: Path, tmp_path: Path) -> None:
    with pytest.raises(CatalogError) as exc:
        catalog_cache.load(tmp_path / "missing.yaml")
    assert exc.value.problems == [f"{tmp_path / 'missing.yaml'}: (file): no such file"]


@pytest.mark.parametrize("damage", ["not json", '{"format": 1}', "wrong key", "unknown base", "not a catalog"])
def test_a_damaged_snapshot_is_ignored_and_replaced(cache: Path, damage: str) -> None:
    catalog_cache.load(None)
    (file,) = snapshots(cache)
    data = json.loads(file.read_text())
    if damage == "wrong key":
        data["key"] = "0" * 64
    elif damage == "unknown base":
        data["catalog"]["base"] = "os"
    elif damage == "not a catalog":
        data["catalog"]["model"] = "Region"
    file.write_text(damage if damage.startswith(("not json", "{")) else json.dumps(data))
    assert isinstance(catalog_cache.load(None), Catalog)  # validated again, no error
    assert not isinstance(catalog_cache.load(None), Catalog)  # and the snapshot is whole again


def test_cache_off_or_unwritable_only_costs_the_full_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(catalog_cache.CACHE_ENV, "off")
    assert isinstance(catalog_cache.load(None), Catalog) and isinstance(catalog_cache.load(None), Catalog)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv(catalog_cache.CACHE_ENV, str(blocker / "zarish-obs"))  # cannot be created
    assert isinstance(catalog_cache.load(None), Catalog) and isinstance(catalog_cache.load(None), Catalog)
    monkeypatch.delenv(catalog_cache.CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert catalog_cache.cache_dir() == tmp_path / "xdg" / "zarish-obs"


def test_old_snapshots_are_pruned(cache: Path, tmp_path: Path) -> None:
    text = catalog_file("minimal.yaml").read_text()
    for i in range(catalog_cache.KEEP + 3):
        path = tmp_path / f"c{i}.yaml"
        path.write_text(text.replace("version: 1", f"version: 1\n# edit {i}"))
        catalog_cache.load(path)
    assert len(snapshots(cache)) == catalog_cache.KEEP
    for name in ("notes.txt", "catalog-prod.json"):
        (cache / name).write_text("mine")
    catalog_cache.load(None)
    assert len(snapshots(cache)) == catalog_cache.KEEP + 1  # the user's catalog-prod.json and KEEP of ours
    assert (cache / "notes.txt").read_text() == (cache / "catalog-prod.json").read_text() == "mine"


def test_key_follows_the_code_that_validates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "catalog_base.py").write_text("")
    (tmp_path / "fields.py").write_text("A = 1\n")
    monkeypatch.setattr(catalog_base, "__file__", str(tmp_path / "catalog_base.py"))
    before = catalog_cache.cache_key(b"x")
    assert catalog_cache.cache_key(b"x") == before and catalog_cache.cache_key(b"y") != before
    (tmp_path / "fields.py").write_text("A = 22\n")
    assert catalog_cache.cache_key(b"x") != before


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_cron_run_on_an_unchanged_catalog_imports_neither_pydantic_nor_yaml(cache: Path, tmp_path: Path) -> None:
    """The real command, twice: the first validates and stores the snapshot, the second reads it; both give the
    same verdict (here UNKNOWN: nothing listens on the port)."""
    out = tmp_path / "run.json"
    code = ("import json, sys; from zarish_obs.stack.main import main; rc = main(sys.argv[2:]); "
            "json.dump({'rc': rc, 'modules': sorted(sys.modules)}, open(sys.argv[1], 'w'))")
    argv = ["monitor", "check", "--prometheus-url", f"http://127.0.0.1:{closed_port()}", "--format", "json",
            "--deadline", "3", "--timeout", "1"]
    runs = []
    for _ in range(2):
        done = subprocess.run([sys.executable, "-c", code, str(out), *argv], capture_output=True, text=True,
                              env={**os.environ, catalog_cache.CACHE_ENV: str(cache)}, timeout=60)
        report = json.loads(done.stdout)
        for key in ("evaluated_at", "evaluated_at_unix", "duration_seconds"):
            report.pop(key)
        runs.append((json.loads(out.read_text()), report))
    (cold, cold_report), (warm, warm_report) = runs
    assert cold["rc"] == warm["rc"] == 3 and cold_report == warm_report
    heavy = ("pydantic", "pydantic_core", "yaml", "zarish_obs.catalog")
    assert all(m in cold["modules"] for m in heavy)
    assert not [m for m in warm["modules"] if m.split(".")[0] in heavy[:3] or m == "zarish_obs.catalog"]
