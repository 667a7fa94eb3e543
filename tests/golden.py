"""Golden-file comparison. Regenerate with: ZARISH_UPDATE_GOLDEN=1 .venv/bin/pytest tests -k golden"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

GOLDEN = Path(__file__).resolve().parent / "golden"


def assert_golden(relative: str, actual: str) -> None:
    path = GOLDEN / relative
    if os.environ.get("ZARISH_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
        return
    assert path.exists(), f"{path} missing: run ZARISH_UPDATE_GOLDEN=1 .venv/bin/pytest tests -k golden"
    expected = path.read_text(encoding="utf-8")
    if actual != expected:
        diff = "".join(difflib.unified_diff(expected.splitlines(True), actual.splitlines(True), str(path),
                                            "generated", n=2))
        raise AssertionError(f"{relative} differs from its golden file "
                             f"(regenerate with ZARISH_UPDATE_GOLDEN=1 if intended):\n{diff[:6000]}")
