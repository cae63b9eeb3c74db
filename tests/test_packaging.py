"""An installed wheel must carry what the checkout reads from seeds/ (build_py copies it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from canary.generate.reference import Reference

ROOT = Path(__file__).resolve().parents[1]


def test_built_package_carries_the_seed_tables_and_their_licences(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "setup.py", "-q", "build_py", "--build-lib", str(tmp_path)], cwd=ROOT,
                   check=True, capture_output=True)
    packaged = tmp_path / "canary" / "_seeds"
    assert (packaged / "README.md").is_file()  # sources and licences travel with the data
    assert not list(packaged.rglob("*.py"))  # builder scripts stay in the repository
    reference = Reference.load(packaged)
    assert len(reference.surnames) > 1000
