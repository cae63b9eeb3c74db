"""The annotations are part of the contract: `mypy canary tests/support` must stay clean (config in pyproject.toml).

The rest of the tests is not checked yet (`mypy tests`: 185 errors, mostly untyped peers of third-party servers)."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def test_mypy_reports_no_error():
    pytest.importorskip("mypy", reason="mypy is in the `test` extra: pip install -e '.[test]'")
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "canary", "tests/support"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"mypy found type errors:\n{result.stdout}{result.stderr}"
