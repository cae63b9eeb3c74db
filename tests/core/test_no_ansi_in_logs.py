"""Warnings and first-start notices printed in colour on a terminal reach a log file as plain text."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_seed_warnings_to_a_file_carry_no_ansi_codes(tmp_path):
    db = tmp_path / "canary.db"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("FORCE_COLOR", None)
    base = [sys.executable, "-m", "canary", "--db", str(db)]
    subprocess.run([*base, "system", "add", "ehr-a", "--kind", "ehr"], check=True, env=env, capture_output=True)
    log = tmp_path / "seed.log"
    with open(log, "wb") as handle:
        subprocess.run([*base, "seed", "ehr-a", "--count", "1"], check=True, env=env, stdout=subprocess.DEVNULL,
                       stderr=handle)
    text = log.read_bytes()
    assert b"WARNING" in text  # no pools, no tripwire settings: several warnings
    assert b"\x1b[" not in text
