"""No canary oracle: nothing an anonymous client can read on the console port moves with one sighting.

An attacker who holds a candidate record opens its callback URL and compares what the console's public
probes say before and after: any difference tells a canary from a real patient. Every route of the
console that needs no login is read before a fake token is opened, after it, and after a real one.
"""

from __future__ import annotations

import re

import requests

from canary.store import open_db
from canary.web import create_app
from canary.web.tokens import create_token
from canary.web.users import add_user
from tests.support.wait import wait_for

# Values drawn afresh for each answer (CSP nonce), not state of the registry.
_PER_RESPONSE = re.compile(r"nonce[-=\"]+[A-Za-z0-9_-]+")


def _anonymous_paths(db_path) -> list[str]:
    """Every GET route of the console app that states no role (the public ones), without parameters."""
    app = create_app({"DATABASE": str(db_path), "TESTING": True})
    paths = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        if "GET" in (rule.methods or ()) and not rule.arguments and not hasattr(view, "required_role"):
            paths.append(rule.rule)
    return sorted(paths)


def _public_view(base: str, paths: list[str]) -> dict[str, tuple[int, str]]:
    out = {}
    for path in paths:
        answer = requests.get(base + path, timeout=10, allow_redirects=False)
        out[path] = (answer.status_code, _PER_RESPONSE.sub("nonce", answer.text))
    return out


def test_no_anonymous_endpoint_tells_a_real_token_from_a_fake_one(db, db_path, add_hand_canaries, serve):
    canary = add_hand_canaries(count=1)[0]
    served = serve(db_path)
    base = f"http://127.0.0.1:{served.console_port}"
    paths = _anonymous_paths(db_path)
    assert {"/healthz", "/readyz", "/metrics", "/auth/login"} <= set(paths)
    before = _public_view(base, paths)
    callback = f"http://127.0.0.1:{served.callback_port}"
    fake = "".join(reversed(canary["token"]))
    assert requests.get(f"{callback}/{fake}.gif", timeout=10).status_code == 200
    assert _public_view(base, paths) == before
    assert requests.get(f"{callback}/{canary['token']}.gif", timeout=10).status_code == 200
    wait_for(lambda: db.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 1, message="no sighting")
    assert _public_view(base, paths) == before
    # The metrics are there for a scraper that holds an API token, not for anybody.
    assert before["/metrics"][0] == 401 and "canary_" not in before["/metrics"][1]
    served.stop()


def test_metrics_need_an_api_token(db_path):
    db = open_db(db_path)
    add_user(db, "rssi", "un mot de passe solide", "admin")
    _, secret = create_token(db, "prometheus", "viewer", "test")
    db.close()
    client = create_app({"DATABASE": str(db_path), "TESTING": True}).test_client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer cnry_wrong"}).status_code == 401
    scraped = client.get("/metrics", headers={"Authorization": f"Bearer {secret}"})
    assert scraped.status_code == 200 and "canary_events_recorded_total 0.0" in scraped.get_data(as_text=True)
