"""A catalog that validates never produces a file that a validator rejects: mutated built-in catalogs either
fail validation (exit 65, one located line each) or every generated file passes every check of `zarish-obs
check` (real promtool and amtool, the dashboard schema)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.catalog_mutations import Mutation, full_default_catalog, mutated_catalogs, plausible_catalogs
from zarish_obs.catalog import parse_catalog
from zarish_obs.errors import CatalogError
from zarish_obs.stack.check import run_checks
from zarish_obs.stack.main import main

pytestmark = [pytest.mark.real, pytest.mark.slow]


@settings(max_examples=14, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(mutation=st.one_of(mutated_catalogs(max_changes=2), plausible_catalogs(max_changes=2)))
def test_mutated_catalog_is_refused_or_all_its_files_pass(mutation: Mutation, tmp_path_factory: pytest.TempPathFactory,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    work = tmp_path_factory.mktemp("mutant")
    path = work / "catalog.yaml"
    path.write_text(mutation.text, "utf-8")
    try:
        catalog = parse_catalog(mutation.text, str(path))
    except CatalogError as exc:
        rc = main(["catalog", "validate", "--catalog", str(path)])
        err = capsys.readouterr().err
        assert rc == 65, mutation.describe()
        assert "Traceback" not in err and err.strip(), mutation.describe()
        assert all(line.startswith(f"{path}:") for line in exc.lines), (mutation.describe(), exc.lines)
        return
    failed = [c for c in run_checks(catalog, work / "out") if not c.ok]
    assert not failed, f"{mutation.describe()}: " + "; ".join(f"{c.check} {c.file}: {c.output[-300:]}"
                                                             for c in failed)


def test_the_property_reaches_the_validators(tmp_path: Path) -> None:
    """An unmutated catalog goes all the way through the checks (so the property is not vacuous)."""


    text = yaml.safe_dump(full_default_catalog(), sort_keys=False)
    checks = run_checks(parse_catalog(text, "full.yaml"), tmp_path)
    assert {c.check for c in checks} >= {"promtool check config", "promtool check rules", "promtool test rules",
                                         "amtool check-config", "dashboard schema"}
    assert all(c.ok for c in checks), [c.file for c in checks if not c.ok]
