"""The documented deployment is as safe as loopback: `canary serve` behind the shipped nginx site.

Behind a reverse proxy every request reaches waitress from the proxy's address. Unless the console
believes the proxy's X-Forwarded-For, five wrong passwords from anybody lock the real admin out of
every address (throttling keys on the client address), and over TLS its cookie lacks ``Secure``.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import ssl
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlencode

import pytest

from canary.store import open_db
from canary.web import create_app
from canary.web.users import add_user
from tests.support.accounts import PASSWORD, REPO, ROLE_USERS
from tests.support.certs import self_signed_pair
from tests.support.ports import free_port, wait_for_port

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
ADMIN = ROLE_USERS["admin"]
ATTACKER = "127.0.0.2"  # another machine of the internal network, as nginx sees it
DEPLOY = REPO / "deploy"


def _admin(db_path: Path) -> None:
    db = open_db(db_path)
    add_user(db, ADMIN, PASSWORD, "admin")
    db.close()


def _site(tmp_path: Path, console: int, callbacks: int, http_port: int, https_port: int) -> Path:
    """The shipped site, with test certificates, the name ``localhost``, free ports and serve's ports."""
    site = (DEPLOY / "nginx" / "canary.conf").read_text()
    for name in ("console", "callbacks"):
        crt, key = self_signed_pair(tmp_path, name)
        site = site.replace(f"/etc/nginx/certs/{name}.crt", str(crt)).replace(f"/etc/nginx/certs/{name}.key", str(key))
    site = site.replace("console.canary.chu.example.fr", "localhost")
    site = site.replace("127.0.0.1:8080", f"127.0.0.1:{console}").replace("127.0.0.1:8081", f"127.0.0.1:{callbacks}")
    site = re.sub(r"^\s*listen \[::\].*$", "", site, flags=re.M)  # the test host may have no IPv6
    site = site.replace("listen 443", f"listen 127.0.0.1:{https_port}")
    site = site.replace("listen 80", f"listen 127.0.0.1:{http_port}")
    (tmp_path / "canary.conf").write_text(site)
    conf = tmp_path / "nginx.conf"
    conf.write_text(f"pid {tmp_path}/nginx.pid;\nerror_log stderr;\ndaemon off;\nevents {{}}\n"
                    f"http {{\n  access_log off;\n  include {tmp_path}/canary.conf;\n}}\n")
    return conf


def _post_login(port: int, source: str, password: str) -> http.client.HTTPResponse:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    connection = http.client.HTTPSConnection("localhost", port, context=context, source_address=(source, 0),
                                             timeout=30)
    connection.request("POST", "/auth/login", body=urlencode({"username": ADMIN, "password": password}),
                       headers={"Content-Type": "application/x-www-form-urlencoded"})
    answer = connection.getresponse()
    answer.read()
    connection.close()
    return answer


@pytest.mark.skipif(NGINX is None, reason="nginx not installed")
def test_behind_the_documented_nginx_a_guesser_does_not_lock_the_admin_out(db_path, tmp_path):
    _admin(db_path)
    console, callbacks, http_port, https_port = (free_port() for _ in range(4))
    env = dict(os.environ, CANARY_WEB_TRUSTED_PROXIES="127.0.0.1/32")  # what canary.env.example sets
    serve = subprocess.Popen([sys.executable, "-m", "canary", "--db", str(db_path), "serve", "--port", str(console),
                              "--callback-port", str(callbacks), "--no-access-logs", "--no-alerts"],
                             cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    nginx = subprocess.Popen([str(NGINX), "-p", str(tmp_path), "-c",
                              str(_site(tmp_path, console, callbacks, http_port, https_port)), "-e", "stderr"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_port(console, serve)
        wait_for_port(https_port, nginx)
        answers = [_post_login(https_port, ATTACKER, "not the password at all").status for _ in range(5)]
        assert answers[0] == 401 and answers[-1] == 429, answers  # the guesser is slowed down...
        signed_in = _post_login(https_port, "127.0.0.1", PASSWORD)  # ...the admin, elsewhere, is not
        assert signed_in.status == 302, signed_in.status
        cookie = signed_in.getheader("Set-Cookie") or ""
        assert "session=" in cookie and "Secure" in cookie.split(";", 1)[1], cookie
        db = open_db(db_path)
        sources = {row[0] for row in db.execute("SELECT source FROM login_failures").fetchall()}
        db.close()
        assert sources == {ATTACKER}  # the real client, not the proxy
    finally:
        nginx.terminate()
        serve.terminate()
        nginx.wait(timeout=20)
        serve.wait(timeout=20)


def test_forwarded_headers_are_believed_from_trusted_proxies_only(db_path, monkeypatch):
    _admin(db_path)
    monkeypatch.setenv("CANARY_WEB_TRUSTED_PROXIES", "10.0.0.5/32")
    app = create_app({"DATABASE": str(db_path), "TESTING": True})
    client = app.test_client()
    forged = {"X-Forwarded-For": "198.51.100.9", "X-Forwarded-Proto": "https"}
    form = {"username": ADMIN, "password": "wrong password, twelve+"}
    client.post("/auth/login", data=form, headers=forged, environ_base={"REMOTE_ADDR": "192.0.2.50"})
    client.post("/auth/login", data=form, headers=forged, environ_base={"REMOTE_ADDR": "10.0.0.5"})
    db = open_db(db_path)
    sources = sorted(row[0] for row in db.execute("SELECT source FROM login_failures").fetchall())
    db.close()
    assert sources == ["192.0.2.50", "198.51.100.9"]  # a stranger's header is ignored, the proxy's believed
    signed_in = client.post("/auth/login", data={"username": ADMIN, "password": PASSWORD}, headers=forged,
                            environ_base={"REMOTE_ADDR": "10.0.0.5"})
    assert "Secure" in signed_in.headers["Set-Cookie"]
    direct = app.test_client().post("/auth/login", data={"username": ADMIN, "password": PASSWORD}, headers=forged,
                                    environ_base={"REMOTE_ADDR": "192.0.2.50"})
    assert "Secure" not in direct.headers["Set-Cookie"]  # plain HTTP, whatever the stranger claims
