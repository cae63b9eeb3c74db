"""The real console script in its own process, as an operator (or cron) runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_canary(db_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The real console script in its own process, as an operator (or cron) runs it."""
    return subprocess.run([sys.executable, "-m", "canary", "--db", str(db_path), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, env={**os.environ, **(env or {})})
