"""A real `canary serve` process per test, on an ephemeral port."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from canary.store import open_db
from canary.store.registry import add_system
from canary.web.users import add_user

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "un mot de passe solide"


@pytest.fixture
def served(db_path):
    db = open_db(db_path)
    add_system(db, "ehr-mediboard", "ehr", establishment="Clinique des Lilas")
    add_user(db, "rssi", PASSWORD)
    db.close()
    proc = subprocess.Popen(
        [sys.executable, "-m", "canary", "--db", str(db_path), "serve", "--port", "0", "--callback-port", "0"],
        stderr=subprocess.PIPE, text=True, cwd=REPO,
    )
    base = None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and base is None:
        line = proc.stderr.readline()
        match = re.search(r"console on (http://\S+)", line)
        if match:
            base = match.group(1).rstrip("/")
    assert base, "serve did not start"
    yield base
    proc.terminate()
    proc.wait(timeout=10)


