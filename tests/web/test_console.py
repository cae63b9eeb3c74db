"""The console over real HTTP: `canary serve` in a subprocess, a real client."""

from __future__ import annotations

from datetime import UTC, datetime

import requests

from canary.store import open_db


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


def test_password_guessing_slows_the_guessing_address(served, db_path):
    session = requests.Session()
    answers = [session.post(served + "/auth/login", data={"username": "rssi", "password": "guess"}).status_code
               for _ in range(6)]
    assert set(answers) <= {401, 429} and 429 in answers, answers
    # Past the free guesses the delay doubles per failure; how long the address waits after these six
    # depends on how fast the machine answered them. Add the failures of a longer attack (as the console
    # records them) so the right password below falls inside the wait whatever the load.
    db = open_db(db_path)
    try:
        now = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        db["login_failures"].insert_all([{"name": "rssi", "source": "127.0.0.1", "at": now}] * 6)
    finally:
        db.close()
    # Even the right password waits while this address is slowed down (tests/web/test_hardening.py: others do not).
    slowed = session.post(served + "/auth/login", data={"username": "rssi", "password": "un mot de passe solide"})
    assert slowed.status_code == 429 and int(slowed.headers["Retry-After"]) > 60
