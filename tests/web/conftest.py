"""Console fixtures: the Flask app on a real registry (``client``), and a real `canary serve` process."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from canary.store import open_db
from canary.store.registry import add_system
from canary.web import create_app
from canary.web.tokens import create_token
from canary.web.users import add_user
from tests.support.accounts import PASSWORD, REPO, ROLE_USERS
from tests.support.wait import wait_for


def _accounts(db_path: Path) -> None:
    db = open_db(db_path)
    add_system(db, "ehr-mediboard", "ehr", establishment="Clinique des Lilas")
    for role, name in ROLE_USERS.items():
        add_user(db, name, PASSWORD, role)
    db.close()


@pytest.fixture
def app(db_path):
    _accounts(db_path)
    return create_app({"DATABASE": str(db_path), "TESTING": True})


@pytest.fixture
def client(app) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def api(app, db_path) -> tuple[FlaskClient, dict[str, dict[str, str]]]:
    """A client and one bearer header per role (an API token each), on a registry with the console's accounts."""
    db = open_db(db_path)
    headers = {role: {"Authorization": f"Bearer {create_token(db, f'soar-{role}', role, 'test')[1]}"}
               for role in ("viewer", "analyst", "admin")}
    db.close()
    return app.test_client(), headers


@pytest.fixture
def sign_in(app) -> Callable[[str], FlaskClient]:
    """A new client signed in with the account of ``role``, holding its form token."""

    def signed_in(role: str) -> FlaskClient:
        client = app.test_client()
        resp = client.post("/auth/login", data={"username": ROLE_USERS[role], "password": PASSWORD})
        assert resp.status_code == 302, resp.get_data(as_text=True)
        with client.session_transaction() as session:
            session["csrf"] = "test-form-token"
        return client

    return signed_in


def _read_until_started(proc: subprocess.Popen[str], found: dict[str, str]) -> None:
    assert proc.stderr is not None
    for line in proc.stderr:
        match = re.search(r"(console|callback listener) on (http://\S+)", line)
        if match:
            found[match.group(1).split()[0]] = match.group(2).rstrip("/")
        if "console" in found:
            break
    # Keep draining so the child never blocks on a full pipe.
    for _line in proc.stderr:
        pass


@pytest.fixture
def served_urls(db_path):
    """``canary serve`` in a subprocess: {"console": URL, "callback": URL}."""
    _accounts(db_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "canary", "--db", str(db_path), "serve", "--port", "0", "--callback-port", "0"],
        stderr=subprocess.PIPE, text=True, cwd=REPO,
    )
    found: dict[str, str] = {}
    # Read stderr in a thread: a blocking readline() would hang the test if serve died without a word.
    reader = threading.Thread(target=_read_until_started, args=(proc, found), daemon=True)
    reader.start()
    wait_for(lambda: "console" in found or proc.poll() is not None, timeout=20, interval=0.05)
    assert "console" in found, "serve did not start"
    yield found
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def served(served_urls) -> str:
    """The console's base URL of a real `canary serve`."""
    return served_urls["console"]
