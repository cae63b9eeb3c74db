"""Who may do what: every route of the console and the API, walked from the Flask URL map."""

from __future__ import annotations

import re

import pytest

from canary.store import open_db
from canary.web.roles import ROLES, below
from canary.web.tokens import create_token

# Routes anyone may reach: signing in, the package's static files, and the probes of canary.ops.health
# (process up, ready, metrics: counts only, never a registry value).
PUBLIC = {"auth.login", "static", "health.healthz", "health.readyz", "health.metrics",
          "api.openapi"}  # the API's description: routes only, never a registry value
SAMPLE_ARGS = {"alert_id": 1, "canary_id": "c0000001", "name": "x", "token_id": 1, "action": "ack",
               "destination_id": 1, "fmt": "pdf", "planting_id": 1, "sweep_id": 1}


def _url(rule) -> str:
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", lambda m: str(SAMPLE_ARGS[m.group(1)]), rule.rule)


def _guarded_routes(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint in PUBLIC:
            continue
        view = app.view_functions[rule.endpoint]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method, view


def test_every_route_states_the_role_it_needs(app):
    routes = list(_guarded_routes(app))
    assert len(routes) > 30
    missing = [rule.rule for rule, _, view in routes if getattr(view, "required_role", None) not in ROLES]
    assert missing == []


def test_anonymous_is_refused_everywhere(app, client):
    with client.session_transaction() as session:
        session["csrf"] = "test-form-token"
    for rule, method, _view in _guarded_routes(app):
        resp = client.open(_url(rule), method=method, data={"csrf": "test-form-token"},
                           headers={"Authorization": "Bearer cnry_not-a-token"})
        if rule.rule.startswith("/api/"):
            assert resp.status_code == 401, (method, rule.rule, resp.status_code)
            assert resp.is_json
        else:
            assert resp.status_code == 302 and "/auth/login" in resp.headers["Location"], (method, rule.rule)


def test_console_refuses_each_role_below_the_one_a_page_needs(app, sign_in):
    clients = {role: sign_in(role) for role in ROLES}
    checked = 0
    for rule, method, view in _guarded_routes(app):
        if rule.rule.startswith("/api/"):
            continue
        for role in below(view.required_role):
            resp = clients[role].open(_url(rule), method=method, data={"csrf": "test-form-token"})
            assert resp.status_code == 403, (role, method, rule.rule, resp.status_code)
            checked += 1
    assert checked >= 10


def test_api_refuses_each_role_below_the_one_an_endpoint_needs(app, db_path):
    db = open_db(db_path)
    secrets = {role: create_token(db, f"t-{role}", role, "test")[1] for role in ROLES}
    db.close()
    client = app.test_client()
    checked = 0
    for rule, method, view in _guarded_routes(app):
        if not rule.rule.startswith("/api/"):
            continue
        for role in below(view.required_role):
            resp = client.open(_url(rule), method=method, json={},
                               headers={"Authorization": f"Bearer {secrets[role]}"})
            assert resp.status_code == 403 and resp.is_json, (role, method, rule.rule, resp.status_code)
            checked += 1
    assert checked >= 15


@pytest.mark.parametrize("role", ROLES)
def test_each_role_reaches_its_own_pages(app, sign_in, role):
    client = sign_in(role)
    for rule, method, view in _guarded_routes(app):
        if method != "GET" or rule.rule.startswith("/api/") or rule.arguments:
            continue
        status = client.get(rule.rule).status_code
        assert (status == 200) == (ROLES.index(role) >= ROLES.index(view.required_role)), (role, rule.rule, status)


def test_the_navigation_shows_administration_to_admins_only(sign_in):
    assert "/audit" in sign_in("admin").get("/").get_data(as_text=True)
    for role in ("viewer", "analyst"):
        page = sign_in(role).get("/").get_data(as_text=True)
        assert "/audit" not in page and "/settings" not in page
