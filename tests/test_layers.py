"""The import contract: the core imports no component, components import only the core, the top layer
(`stack/`: root CLI, local stack, demo, check) may import everything, and nothing hides a broken install."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
COMPONENTS = ("scrape", "alerts", "dashboards", "monitor")
TOP = "stack"
# Source folder -> the package it installs as (pyproject's package-dir mapping).
FOLDERS = {"zarish_obs": "core", **{c: c for c in COMPONENTS}, TOP: TOP}


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every module an import statement names, wherever it stands (functions included)."""
    out: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out.extend((node.lineno, a.name) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                raise AssertionError(f"{path}:{node.lineno}: relative import; use the absolute zarish_obs.* name")
            base = node.module or ""
            out.extend((node.lineno, f"{base}.{a.name}") for a in node.names)
    return out


def _layer(module: str) -> str | None:
    """The layer a `zarish_obs...` module belongs to; None for third-party and standard modules."""
    parts = module.split(".")
    if parts[0] != "zarish_obs":
        return None
    if len(parts) > 1 and parts[1] in (*COMPONENTS, TOP):
        return parts[1]
    return "core"


def _sources(folder: str) -> list[Path]:
    return sorted(p for p in (REPO / folder).rglob("*.py") if "__pycache__" not in p.parts)


def test_the_contract_is_checked_on_real_imports() -> None:
    """The parser sees imports inside functions, so a lazy import cannot slip past the contract."""
    assert any(m.startswith("zarish_obs.alerts") for p in _sources(TOP) for _, m in _imports(p))
    assert {_layer("zarish_obs.catalog"), _layer("zarish_obs.alerts.dr"), _layer("zarish_obs.stack.main"),
            _layer("yaml")} == {"core", "alerts", "stack", None}


@pytest.mark.parametrize("folder", [f for f in FOLDERS if f != TOP])
def test_imports_run_one_way(folder: str) -> None:
    own = FOLDERS[folder]
    allowed = {"core"} if own == "core" else {"core", own}
    bad = [f"{p.relative_to(REPO)}:{line}: imports {module} ({_layer(module)})"
           for p in _sources(folder) for line, module in _imports(p)
           if _layer(module) is not None and _layer(module) not in allowed]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("folder", [*FOLDERS, "bench"])
def test_no_import_error_is_swallowed(folder: str) -> None:
    """`except ImportError` turns a broken install into a missing feature; it must fail loudly instead."""
    bad = []
    for p in _sources(folder):
        for node in ast.walk(ast.parse(p.read_text("utf-8"))):
            if isinstance(node, ast.ExceptHandler) and node.type is not None:
                names = [n.id for n in ast.walk(node.type) if isinstance(n, ast.Name)]
                if {"ImportError", "ModuleNotFoundError"} & set(names):
                    bad.append(f"{p.relative_to(REPO)}:{node.lineno}")
    assert not bad, bad


def test_bench_does_not_reach_into_the_tests() -> None:
    bad = [f"{p.relative_to(REPO)}:{line}: {module}" for p in _sources("bench") for line, module in _imports(p)
           if module.split(".")[0] == "tests"]
    bad += [f"{p.relative_to(REPO)}: edits sys.path" for p in _sources("bench") if "sys.path" in p.read_text()]
    assert not bad, bad


def test_monitor_check_imports_only_what_it_uses() -> None:
    """The cron command's start-up: the root app mounts only the group named on the command line, so
    `monitor check` loads neither the other components nor their heavy libraries (charts, schema, browser)."""
    code = ("import sys; from zarish_obs.stack.main import build_app; build_app(['monitor', 'check']); "
            "import zarish_obs.monitor.check; print('\\n'.join(sorted(sys.modules)))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    unused = ("zarish_obs.alerts", "zarish_obs.dashboards", "zarish_obs.scrape", "zarish_obs.monitor.compliance",
              "zarish_obs.openslo", "zarish_obs.sloth", "zarish_obs.stack.")
    others = [m for m in loaded if m.startswith(unused) and m != "zarish_obs.stack.main"]
    heavy = [m for m in ("matplotlib", "grafanalib", "jsonschema", "selenium") if m in loaded]
    assert not others and not heavy, (others, heavy)
    everything = subprocess.run([sys.executable, "-c", code.replace("['monitor', 'check']", "[]")],
                                capture_output=True, text=True, check=True).stdout.split()
    assert "zarish_obs.dashboards.cli" in everything  # the root help still lists every group
