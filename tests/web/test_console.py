"""The console over real HTTP: `canary serve` in a subprocess, a real client."""

from __future__ import annotations

import requests


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


def test_password_guessing_slows_the_guessing_address(served):
    session = requests.Session()
    for _ in range(5):
        assert session.post(served + "/auth/login", data={"username": "rssi", "password": "guess"}).status_code in (401,
                                                                                                                   429)
    # Even the right password waits while this address is slowed down (tests/web/test_hardening.py: others do not).
    slowed = session.post(served + "/auth/login", data={"username": "rssi", "password": "un mot de passe solide"})
    assert slowed.status_code == 429 and "Retry-After" in slowed.headers
