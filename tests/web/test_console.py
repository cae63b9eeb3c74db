"""The console over real HTTP: `canary serve` in a subprocess, a real client."""

from __future__ import annotations

import re
import subprocess
import sys
import time

import pytest
import requests

from canary.store import open_db
from canary.store.registry import add_system
from canary.web.users import add_user


@pytest.fixture
def served(db_path):
    db = open_db(db_path)
    add_system(db, "ehr-mediboard", "ehr", establishment="Clinique des Lilas")
    add_user(db, "rssi", "un mot de passe solide")
    db.close()
    proc = subprocess.Popen(
        [sys.executable, "-m", "canary", "--db", str(db_path), "serve", "--port", "0"],
        stderr=subprocess.PIPE, text=True,
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


def test_console_requires_login_and_lists_systems(served):
    session = requests.Session()
    page = session.get(served + "/", allow_redirects=False)
    assert page.status_code == 302 and "/auth/login" in page.headers["Location"]
    bad = session.post(served + "/auth/login", data={"username": "rssi", "password": "wrong"})
    assert bad.status_code == 401 and "incorrect" in bad.text
    ok = session.post(served + "/auth/login?lang=en", data={"username": "rssi", "password": "un mot de passe solide"})
    assert ok.status_code == 200
    assert "ehr-mediboard" in ok.text and "Clinique des Lilas" in ok.text
    assert "Watched systems" in ok.text
    french = session.get(served + "/?lang=fr")
    assert "Systèmes surveillés" in french.text


def test_open_redirect_is_refused(served):
    session = requests.Session()
    resp = session.post(served + "/auth/login?next=//evil.example/", allow_redirects=False,
                        data={"username": "rssi", "password": "un mot de passe solide"})
    assert resp.status_code == 302 and resp.headers["Location"] == "/"
