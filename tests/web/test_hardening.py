"""The console against an attacker: redirects, sessions, headers, login throttling, the first password."""

from __future__ import annotations

import http.client
import os
import re
import stat
import subprocess
import sys
import urllib.parse
from datetime import UTC, datetime, timedelta

import pytest
import requests

from canary.store import open_db
from canary.web import create_app
from canary.web.users import add_user, set_password, throttle_delay
from tests.support.accounts import PASSWORD, REPO
from tests.support.processes import read_line
from tests.support.wait import wait_for

LOGIN = {"username": "rssi", "password": PASSWORD}

# Every form of "next" known to send a browser off-site once it normalises the URL.
BYPASSES = [
    "//evil.example/", "/%09/evil.example/", "/\t/evil.example", "/\n/evil.example", "/\r\n/evil.example",
    "/\\evil.example", "\\\\evil.example", "/\\/evil.example", "\\/evil.example", " //evil.example",
    "\t//evil.example", "\x00//evil.example", "///evil.example", "////evil.example", "/%2F/evil.example",
    "/%5Cevil.example", "https://evil.example/", "http:evil.example", "javascript:alert(1)",
    "//evil.example@localhost", "/\x0b/evil.example", "/\x0c/evil.example", "\x1f//evil.example",
    "data:text/html,x", "//%09/evil.example", "/ /\\evil.example".replace(" ", "\t"), "evil.example",
]


def _login(base: str, next_: str) -> requests.Response:
    query = urllib.parse.urlencode({"next": next_})
    return requests.post(f"{base}/auth/login?{query}", data=LOGIN, allow_redirects=False, timeout=10)


def test_login_redirects_only_to_same_origin_paths(served):
    for form in BYPASSES:
        resp = _login(served, form)
        assert resp.status_code == 302, form
        assert resp.headers["Location"] == "/", (form, resp.headers["Location"])
    # The reproduction of the report, sent raw (the tab percent-encoded in the query).
    raw = requests.post(served + "/auth/login?next=/%09/localhost:18099/landed", data=LOGIN, allow_redirects=False,
                        timeout=10)
    assert raw.headers["Location"] == "/"
    # Local paths still work, with their query.
    assert _login(served, "/alerts?all=1").headers["Location"] == "/alerts?all=1"


def _signed_in(base: str) -> requests.Session:
    session = requests.Session()
    assert session.post(base + "/auth/login?lang=en", data=LOGIN, timeout=10).status_code == 200
    return session


def _csrf(session: requests.Session, base: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', session.get(base + "/", timeout=10).text)
    assert match
    return match.group(1)


def test_a_copied_session_cookie_dies_with_logout(served):
    session = _signed_in(served)
    stolen = dict(session.cookies)
    session.post(served + "/auth/logout", data={"csrf": _csrf(session, served)}, timeout=10)
    replay = requests.get(served + "/", cookies=stolen, allow_redirects=False, timeout=10)
    assert replay.status_code == 302 and "/auth/login" in replay.headers["Location"]


def test_a_password_change_ends_every_session(served, db_path):
    session = _signed_in(served)
    other = _signed_in(served)
    db = open_db(db_path)
    set_password(db, "rssi", "un tout nouveau mot de passe")
    db.close()
    for victim in (session, other):
        assert victim.get(served + "/", allow_redirects=False, timeout=10).status_code == 302


def test_security_headers_on_every_page(served):
    session = _signed_in(served)
    for path in ("/", "/alerts", "/auth/login"):
        headers = session.get(served + path, timeout=10).headers
        csp = headers["Content-Security-Policy"]
        assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Referrer-Policy"] == "no-referrer"
        assert headers["X-Content-Type-Options"] == "nosniff"
    # The inline style is allowed by its nonce, fresh on every page.
    page = session.get(served + "/", timeout=10)
    nonce = re.search(r'<style nonce="([^"]+)">', page.text).group(1)
    assert f"'nonce-{nonce}'" in page.headers["Content-Security-Policy"]


def test_session_cookie_is_secure_over_tls_only(db_path):
    db = open_db(db_path)
    add_user(db, "rssi", PASSWORD)
    db.close()
    app = create_app({"DATABASE": str(db_path)})
    for scheme, secure in (("https", True), ("http", False)):
        client = app.test_client()
        resp = client.post("/auth/login", base_url=f"{scheme}://localhost", data=LOGIN)
        cookie = resp.headers["Set-Cookie"]
        assert ("; Secure" in cookie) is secure, cookie
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie


def _post_login_from(base: str, source: str, password: str) -> http.client.HTTPResponse:
    """A login POST from another loopback address (127.0.0.0/8 is all local on Linux)."""
    parsed = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=10, source_address=(source, 0))
    body = urllib.parse.urlencode({"username": "rssi", "password": password})
    conn.request("POST", "/auth/login", body=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
    resp = conn.getresponse()
    resp.read()
    conn.close()
    return resp


def test_guessing_slows_the_guesser_not_the_owner(served, db_path):
    for _ in range(6):
        assert _post_login_from(served, "127.0.0.1", "guess").status in (401, 429)
    slowed = _post_login_from(served, "127.0.0.1", PASSWORD)
    assert slowed.status == 429 and int(slowed.headers["Retry-After"]) >= 1  # even the right password waits
    # The real owner, from another address, is not locked out.
    assert _post_login_from(served, "127.0.0.2", PASSWORD).status == 302
    # Once the delay has passed, the right password works from the guesser's address too.
    db = open_db(db_path)
    earlier = (datetime.now(UTC) - timedelta(minutes=10)).isoformat(timespec="seconds").replace("+00:00", "Z")
    db.execute("UPDATE login_failures SET at = ?", [earlier])
    db.close()
    assert _post_login_from(served, "127.0.0.1", PASSWORD).status == 302


def test_delays_grow_and_stay_bounded():
    delays = [throttle_delay(n) for n in range(0, 30)]
    assert delays[:3] == [0, 0, 0]
    assert all(b >= a for a, b in zip(delays, delays[1:], strict=False)) and delays[4] > delays[3] > 0
    assert max(delays) <= 15 * 60


def test_first_start_password_goes_to_an_owner_only_file_when_no_terminal(tmp_path):
    db_path = tmp_path / "fresh.db"
    proc = subprocess.Popen([sys.executable, "-m", "canary", "--db", str(db_path), "serve", "--port", "0",
                             "--callback-port", "0"], stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            cwd=REPO, stdin=subprocess.DEVNULL)
    lines: list[str] = []

    def console_on() -> bool:
        assert proc.stderr is not None
        lines.append(read_line(proc.stderr, timeout=20))
        return "console on" in lines[-1] or lines[-1] == ""  # "" : serve ended, the asserts below say why

    try:
        wait_for(console_on, timeout=20, interval=0, message=lambda: "".join(lines))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    output = "".join(lines)
    secret_file = tmp_path / "fresh.db.admin-password"
    assert secret_file.exists(), output
    assert stat.S_IMODE(os.stat(secret_file).st_mode) == 0o600
    password = secret_file.read_text().strip().rsplit(" ", 1)[-1]
    assert len(password) >= 12 and password not in output
    assert str(secret_file) in output
    # Served by waitress, not the development server.
    assert "development server" not in output.lower()


@pytest.mark.parametrize("header", ["Server"])
def test_console_is_served_by_waitress(served, header):
    resp = requests.get(served + "/auth/login", timeout=10)
    assert "Werkzeug" not in resp.headers.get(header, "")


def test_idle_sessions_expire_and_are_cleared(db_path):
    from canary.web.users import open_session, session_user

    db = open_db(db_path)
    add_user(db, "rssi", PASSWORD)
    old, fresh = open_session(db, "rssi"), open_session(db, "rssi")
    long_ago = (datetime.now(UTC) - timedelta(hours=13)).isoformat(timespec="seconds").replace("+00:00", "Z")
    db.execute("UPDATE web_sessions SET seen_at = ? WHERE rowid = 1", [long_ago])
    assert session_user(db, old) is None and session_user(db, fresh) == "rssi"
    assert session_user(db, "made-up") is None and session_user(db, None) is None
    assert db.execute("SELECT COUNT(*) FROM web_sessions").fetchone()[0] == 1
    db.close()
