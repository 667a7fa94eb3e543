"""`zarish-obs check`: every generated file through every validator, with the real promtool and amtool."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import DATA, catalog_file
from zarish_obs import procs, promtool
from zarish_obs.alerts import render as alerts_render
from zarish_obs.catalog import load_catalog
from zarish_obs.conventions import DASHBOARD_KINDS
from zarish_obs.dashboards import generate as dashboards_generate
from zarish_obs.scrape import render as scrape_render
from zarish_obs.stack import check
from zarish_obs.stack.main import main

pytestmark = pytest.mark.real

MINIMAL = catalog_file("minimal.yaml")
KINDS = {check.CONFIG_CHECK, "promtool check rules", "promtool test rules", "amtool check-config",
         check.SCHEMA_CHECK}


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    rc = main(["check", *args])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.mark.parametrize("path", [None, *sorted((DATA / "catalogs").glob("*.yaml"))],
                         ids=lambda p: "built-in" if p is None else p.stem)
def test_every_catalog_passes_every_check(path: Path | None, capsys: pytest.CaptureFixture[str]) -> None:
    """Also the --format json contract: {"ok", "checks": [{"check", "file", "ok", "seconds", "output"}], "notes"}."""
    rc, out, err = _run(capsys, "--format", "json", *(["--catalog", str(path)] if path else []))
    report = json.loads(out)
    failed = [f"{c['check']} {c['file']}: {c['output']}" for c in report["checks"] if not c["ok"]]
    assert rc == 0 and report["ok"] is True and not failed, failed or err
    assert set(report) == {"ok", "checks", "notes"}
    for c in report["checks"]:
        assert set(c) == {"check", "file", "ok", "seconds", "output"}
        assert isinstance(c["check"], str) and isinstance(c["file"], str) and isinstance(c["output"], str)
        assert isinstance(c["ok"], bool) and isinstance(c["seconds"], float | int) and c["seconds"] >= 0
    assert any("kubernetes_sd_configs" in note for note in report["notes"])
    assert {c["check"] for c in report["checks"]} == KINDS
    cat = load_catalog(path)
    checked = {c["file"] for c in report["checks"]}
    assert {f"alerts/{name}" for name in alerts_render.rule_files(cat)} <= checked
    assert sum(c["check"] == check.SCHEMA_CHECK for c in report["checks"]) == len(DASHBOARD_KINDS)


def _corrupt_yaml(text: str, edit: Callable[[Any], None]) -> str:
    data = yaml.safe_load(text)
    edit(data)
    return yaml.safe_dump(data, sort_keys=False)


def _break_rules(monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    original = alerts_render.rule_files
    first = next(iter(original(load_catalog(MINIMAL))))

    def broken(cat: Any) -> dict[str, str]:
        files = original(cat)
        files[first] = _corrupt_yaml(files[first], lambda d: d["groups"][0]["rules"][0].update(expr="sum(("))
        return files

    monkeypatch.setattr(alerts_render, "rule_files", broken)
    return "promtool check rules", f"alerts/{first}"


def _break_config(monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    original = scrape_render.render

    def broken(cat: Any, fmt: str = "files", topology: Any = None) -> dict[str, str]:
        files = original(cat, fmt, topology)
        files["prometheus.yml"] = _corrupt_yaml(
            files["prometheus.yml"], lambda d: d["scrape_configs"][0].setdefault("relabel_configs", []).append(
                {"source_labels": ["__address__"], "regex": "(unclosed", "action": "keep"}))
        return files

    monkeypatch.setattr(scrape_render, "render", broken)
    return check.CONFIG_CHECK, "scrape/prometheus.yml"


def _break_dashboard(monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    original = dashboards_generate.render_json

    def broken(dashboards: dict[str, dict[str, Any]]) -> dict[str, str]:
        files = original(dashboards)
        name = sorted(files)[0]
        files[name] = json.dumps({**json.loads(files[name]), "panels": "not a list"})
        return files

    monkeypatch.setattr(dashboards_generate, "render_json", broken)
    uid = sorted(dashboards_generate.build_all(load_catalog(MINIMAL)))[0]
    return check.SCHEMA_CHECK, f"dashboards/{uid}.json"


def test_broken_generated_files_fail_their_checks(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """A broken rule file, Prometheus config and dashboard, each named with the validator's words below it."""
    broken = [breaker(monkeypatch) for breaker in (_break_rules, _break_config, _break_dashboard)]
    rc, out, _ = _run(capsys, "--catalog", str(MINIMAL), "--out", str(tmp_path))
    assert rc == 1, out
    lines = out.splitlines()
    for name, file in broken:
        fail = next(i for i, line in enumerate(lines) if line.startswith("FAIL") and name in line and file in line)
        assert lines[fail + 1].startswith(check.INDENT) and lines[fail + 1].strip()
        assert f"{name} {file}" in lines[-1] and "FAILED" in lines[-1]
    assert any(line.startswith("PASS  amtool check-config") for line in lines)


def test_a_dashboard_the_builders_gate_refuses_is_a_failed_check(monkeypatch: pytest.MonkeyPatch,
                                                                 tmp_path: Path) -> None:
    original = dashboards_generate.build_one
    monkeypatch.setattr(dashboards_generate, "build_one", lambda cat, kind: {**original(cat, kind), "title": ""})
    checks = check._dashboard_checks(load_catalog(MINIMAL), tmp_path)
    assert [(c.check, c.ok) for c in checks] == [(check.SCHEMA_CHECK, False)]
    assert "$.title" in checks[0].output
    assert not (tmp_path / check.DASHBOARDS).exists()


def test_a_failing_validator_fails_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """Whatever promtool answers counts: a promtool that refuses everything fails every promtool check."""
    fake = tmp_path / "bin" / "promtool"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho \"fake promtool refuses: $*\" >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:/usr/bin:/bin")
    rc, out, _ = _run(capsys, "--catalog", str(MINIMAL), "--format", "json")
    report = json.loads(out)
    assert rc == 1 and report["ok"] is False
    by_ok = {c["check"]: c["ok"] for c in report["checks"]}
    for c in report["checks"]:
        assert c["ok"] is not c["check"].startswith("promtool"), c
        if c["check"].startswith("promtool"):
            assert "fake promtool refuses" in c["output"]
    assert by_ok["amtool check-config"] and by_ok[check.SCHEMA_CHECK]


def test_missing_promtool_is_exit_69_named_before_anything_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    # procs.binary also looks in /usr/bin, so hiding the executable from PATH alone would not hide it.
    monkeypatch.setitem(procs.BINARIES, "promtool", "zarish-test-no-such-promtool")
    out_dir = tmp_path / "out"
    rc, out, err = _run(capsys, "--catalog", str(MINIMAL), "--out", str(out_dir))
    assert rc == 69 and out == ""
    assert len(err.strip().splitlines()) == 1 and "promtool" in err and "amtool" not in err
    assert not out_dir.exists()


def test_out_keeps_other_files_and_the_generated_ones(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mine = {"notes.txt": "keep me\n", "scrape/extra.yml": "a: 1\n", "alerts/tests/mine.test.yml": "x\n"}
    for name, text in mine.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    rc, out, _ = _run(capsys, "--catalog", str(MINIMAL), "--out", str(tmp_path))
    assert rc == 0, out
    for name, text in mine.items():
        assert (tmp_path / name).read_text() == text
    checked = [line.split()[-2] for line in out.splitlines() if line.startswith("PASS")]
    assert checked and all((tmp_path / f).is_file() for f in checked)
    assert not list(tmp_path.rglob("*.tmp"))


def test_a_relative_out_directory_works_from_anywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """`--out out` (the demo's default) resolves against the working directory for every validator, also for
    promtool test rules, which runs in the test file's own directory."""
    monkeypatch.chdir(tmp_path)
    rc, out, _ = _run(capsys, "--catalog", str(MINIMAL), "--out", "out")
    assert rc == 0, out
    assert "promtool test rules" in out and (tmp_path / "out" / "alerts" / "tests").is_dir()


def test_bad_catalog_is_one_line_exit_65(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(MINIMAL.read_text().replace("objective: 99.5", "objective: 120"))
    rc, out, err = _run(capsys, "--catalog", str(bad))
    assert rc == 65 and out == ""
    assert str(bad) in err and "objective" in err and "Traceback" not in err


def test_help_documents_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = _run(capsys, "--help")
    text = " ".join(out.split())
    assert rc == 0
    for code in ("0 every check passed", "1 some check failed", "65 bad catalog", "69 a validator binary"):
        assert code in text


def test_offline_copy_of_a_config() -> None:
    """The copy promtool checks: file_sd for Kubernetes SD, local credential files, the given rule files."""
    config = {"rule_files": ["/etc/prometheus/rules/*.yml"], "scrape_configs": [
        {"job_name": "pods", "kubernetes_sd_configs": [{"role": "pod"}],
         "authorization": {"credentials_file": "/var/run/secrets/token"}, "tls_config": {"ca_file": "ca.crt"}},
        {"job_name": "static", "static_configs": [{"targets": ["a:1"]}]}]}
    before = json.dumps(config)
    copy_, placeholders = promtool.offline_config(config, ["/abs/rules.yml"])
    assert json.dumps(config) == before
    pods, static = copy_["scrape_configs"]
    assert "kubernetes_sd_configs" not in pods
    assert pods["file_sd_configs"] == [{"files": [promtool.OFFLINE_SD_GLOB]}]
    assert static == config["scrape_configs"][1]
    assert sorted([pods["authorization"]["credentials_file"], pods["tls_config"]["ca_file"]]) == placeholders
    assert all(not p.startswith("/") for p in placeholders)
    assert copy_["rule_files"] == ["/abs/rules.yml"]


def test_the_config_check_is_full_not_syntax_only(tmp_path: Path) -> None:
    """The copy loads: the generated rule files are checked through it, and the credential paths exist."""
    config = tmp_path / "prometheus.yml"
    config.write_text(scrape_render.render(load_catalog(), "files")["prometheus.yml"])
    good, bad = tmp_path / "good.yml", tmp_path / "bad.yml"
    good.write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": [{"record": "a:b", "expr": "vector(1)"}]}]}))
    bad.write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": [{"record": "a:b", "expr": "sum(("}]}]}))
    passed = promtool.check_config_offline(config, [good])
    assert passed.ok, passed.output
    assert "kubernetes_sd_configs" in passed.note and str(config) in passed.output
    failed = promtool.check_config_offline(config, [bad])
    assert not failed.ok and str(bad) in failed.output
