"""Every generated rule file passes `promtool check rules`; the generated and hand-written unit tests pass
with the real promtool, and fail when the rules they guard are broken."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from zarish_obs import promtool
from zarish_obs.alerts.render import DR_FILE, RECORDING_FILE, RECOVERY_FILE, SLO_FILE, TARGETS_FILE, render, rule_files
from zarish_obs.alerts.unittests import DR_TEST_FILE, RECOVERY_TEST_FILE, SLO_TEST_FILE, TARGETS_TEST_FILE, TESTS_DIR
from zarish_obs.catalog import Catalog
from zarish_obs.stack.main import main
from zarish_obs.writers import to_yaml, write_files

pytestmark = pytest.mark.real
MINIMAL = Path(__file__).resolve().parent / "data" / "catalogs" / "minimal.yaml"
HAND_WRITTEN = Path(__file__).resolve().parent / "promtool" / "dr-triggers.test.yml"
HAND_WRITTEN_RECOVERY = Path(__file__).resolve().parent / "promtool" / "recovery.test.yml"


def _catalogs(default_catalog: Catalog, other_catalogs: dict[str, Catalog]) -> dict[str, Catalog]:
    scaled = default_catalog.model_copy(update={"time_scale": 0.5})  # the local stack's compressed time
    return {"default": default_catalog, **other_catalogs, "default-time-scale-0.5": scaled}


def _write(tmp: Path, catalog: Catalog) -> Path:
    write_files(tmp, render(catalog, "files"))
    return tmp


def _unit(work: Path, test_file: str) -> str:
    result = promtool.test_rules(work / TESTS_DIR / test_file, cwd=work / TESTS_DIR)
    return "SUCCESS" if result.ok else result.output


def test_every_rule_file_and_format_passes_promtool_check(tmp_path: Path, default_catalog: Catalog,
                                                         other_catalogs: dict[str, Catalog]) -> None:
    cats = _catalogs(default_catalog, other_catalogs)
    assert len(cats) >= 3
    for name, cat in cats.items():
        paths = []
        for file, text in rule_files(cat).items():
            paths.append(tmp_path / f"{name}-{file}")
            paths[-1].write_text(text)
        cm = yaml.safe_load(render(cat, "configmap")["prometheus-rules-configmap.yaml"])
        for file, text in cm["data"].items():
            paths.append(tmp_path / f"{name}-cm-{file}")
            paths[-1].write_text(text)
        for doc in yaml.safe_load_all(render(cat, "operator")["prometheusrules.yaml"]):
            paths.append(tmp_path / f"{name}-op-{doc['metadata']['name']}.yml")
            paths[-1].write_text(to_yaml(doc["spec"]))
        result = promtool.check_rules(*paths)
        assert result.ok, f"{name}: {result.output}"
        assert result.output.count("SUCCESS") == len(paths)


@pytest.mark.parametrize("which", ["default", "minimal", "custom-labels", "default-time-scale-0.5"])
def test_generated_unit_tests_pass(which: str, tmp_path: Path, default_catalog: Catalog,
                                   other_catalogs: dict[str, Catalog]) -> None:
    work = _write(tmp_path, _catalogs(default_catalog, other_catalogs)[which])
    for test_file in (DR_TEST_FILE, SLO_TEST_FILE, RECOVERY_TEST_FILE, TARGETS_TEST_FILE):
        assert _unit(work, test_file) == "SUCCESS", test_file


def _replace(old: str, new: str) -> Callable[[str], str]:
    def edit(text: str) -> str:
        assert old in text, old
        return text.replace(old, new)
    return edit


# Each mutation breaks one property the generated tests claim to prove; the tests must notice.
MUTATIONS = {
    "min-events guard dropped": (SLO_FILE, SLO_TEST_FILE, _replace(">= 20\n", ">= 0\n")),
    "zero traffic gives no 0 (NaN-style gap)": (
        RECORDING_FILE, SLO_TEST_FILE,
        _replace(" or (environment_service:zarish_slo_requests:increase1d * 0)", "")),
    "page tier waits a minute longer": (SLO_FILE, SLO_TEST_FILE, _replace("for: 2m", "for: 3m")),
    "ticket tier threshold too high": (SLO_FILE, SLO_TEST_FILE,
                                       _replace("> (0.9333 * 0.005)", "> (0.9333 * 0.9)")),
    "DR error threshold raised": (DR_FILE, DR_TEST_FILE, _replace("> 0.1\n", "> 0.2\n")),
    "region for shortened": (DR_FILE, DR_TEST_FILE, _replace("for: 30m", "for: 29m")),
    "manual trigger removed": (DR_FILE, DR_TEST_FILE, _replace("max(zarish_dr_manual_trigger) == 1",
                                                               "max(zarish_dr_manual_trigger) == 2")),
    "RPO judged by the older source": (RECOVERY_FILE, RECOVERY_TEST_FILE, _replace("(min(label_replace(",
                                                                                   "(max(label_replace(")),
    "RPO at the threshold counts as breached": (RECOVERY_FILE, RECOVERY_TEST_FILE, _replace(") > 3600", ") >= 3600")),
    "backup grace dropped": (RECOVERY_FILE, RECOVERY_TEST_FILE, _replace("> 93600 or", "> 86400 or")),
    "absent backup metric is OK": (RECOVERY_FILE, RECOVERY_TEST_FILE,
                                   _replace(" or absent(zarish_backup_last_success_timestamp_seconds)", "")),
    "recovery for lengthened": (RECOVERY_FILE, RECOVERY_TEST_FILE, _replace("for: 10m", "for: 11m")),
    "targets down alerts per pod": (TARGETS_FILE, TARGETS_TEST_FILE, _replace(
        "count by (environment, service)", "count by (environment, service, instance)")),
    "targets down on healthy pods": (TARGETS_FILE, TARGETS_TEST_FILE, _replace(" == 0,", " >= 0,")),
    "targets for shortened": (TARGETS_FILE, TARGETS_TEST_FILE, _replace("for: 5m", "for: 4m")),
}


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_generated_unit_tests_catch_broken_rules(mutation: str, tmp_path: Path,
                                                 other_catalogs: dict[str, Catalog]) -> None:
    work = _write(tmp_path, other_catalogs["minimal"])  # one service: the fastest full run
    rule_file, test_file, edit = MUTATIONS[mutation]
    assert _unit(work, test_file) == "SUCCESS"
    (work / rule_file).write_text(edit((work / rule_file).read_text()))
    assert promtool.check_rules(work / rule_file).ok, "the mutation must still be a valid rule file"
    assert _unit(work, test_file) != "SUCCESS"


def test_hand_written_dr_trigger_tests_pass(tmp_path: Path, default_catalog: Catalog) -> None:
    shutil.copy(HAND_WRITTEN, tmp_path / HAND_WRITTEN.name)
    (tmp_path / DR_FILE).write_text(rule_files(default_catalog)[DR_FILE])
    result = promtool.test_rules(tmp_path / HAND_WRITTEN.name, cwd=tmp_path)
    assert result.ok, result.output
    # ... and they notice a DR plan number being wrong.
    (tmp_path / DR_FILE).write_text(rule_files(default_catalog)[DR_FILE].replace("for: 5m", "for: 8m"))
    broken = promtool.test_rules(tmp_path / HAND_WRITTEN.name, cwd=tmp_path)
    assert not broken.ok and "DRErrorRatioHigh" in broken.output


def test_hand_written_recovery_tests_pass(tmp_path: Path, default_catalog: Catalog) -> None:
    shutil.copy(HAND_WRITTEN_RECOVERY, tmp_path / HAND_WRITTEN_RECOVERY.name)
    rules = rule_files(default_catalog)[RECOVERY_FILE]
    (tmp_path / RECOVERY_FILE).write_text(rules)
    result = promtool.test_rules(tmp_path / HAND_WRITTEN_RECOVERY.name, cwd=tmp_path)
    assert result.ok, result.output
    # ... and they notice the built-in catalog's numbers being wrong: a grace of 1h instead of 2h.
    (tmp_path / RECOVERY_FILE).write_text(rules.replace("> 93600 or", "> 90000 or"))
    broken = promtool.test_rules(tmp_path / HAND_WRITTEN_RECOVERY.name, cwd=tmp_path)
    assert not broken.ok and "BackupMissed" in broken.output and "RPOBreached" not in broken.output


def test_cli_alerts_test_passes_and_reports(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["alerts", "test", "--catalog", str(MINIMAL), "--format", "json", "--keep", str(tmp_path)]) == 0
    report = yaml.safe_load(capsys.readouterr().out)
    assert report["ok"] is True
    assert [c["check"] for c in report["checks"]].count("promtool test rules") == 4
    assert (tmp_path / "tests" / SLO_TEST_FILE).exists()


def test_cli_alerts_test_exits_1_when_a_check_fails(capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import zarish_obs.alerts.cli as cli

    def broken(catalog: Catalog, fmt: str = "files", *args: object) -> dict[str, str]:
        files = render(catalog, fmt)
        files[DR_FILE] = files[DR_FILE].replace("> 0.1\n", "> 0.5\n")
        return files

    monkeypatch.setattr(cli, "render", broken)
    assert main(["alerts", "test", "--catalog", str(MINIMAL)]) == 1
    out = capsys.readouterr().out
    assert "FAIL  promtool test rules   tests/zarish-dr.test.yml" in out and "DRErrorRatioHigh" in out


def test_checks_run_side_by_side_and_report_in_order() -> None:
    """`alerts test` and `check` run their validator processes at once (up to one per CPU): jobs that each wait
    for the others at a barrier finish only when they run together; the report keeps the jobs' order."""
    together = max(1, min(3, os.cpu_count() or 1))
    barrier = threading.Barrier(together, timeout=30)

    def job(i: int) -> Callable[[], promtool.CheckResult]:
        def run() -> promtool.CheckResult:
            barrier.wait()
            return promtool.CheckResult(i % 2 == 0, f"job {i}")
        return run

    checks = promtool.timed_all([("check", f"file-{i}", job(i)) for i in range(together)])
    assert [(c.file, c.ok, c.output) for c in checks] == [(f"file-{i}", i % 2 == 0, f"job {i}")
                                                          for i in range(together)]
