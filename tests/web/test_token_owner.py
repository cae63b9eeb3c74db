"""API tokens belong to an account: they die with it, follow its role, and never mint a token above their own."""

from __future__ import annotations

import json

from canary.store import open_db
from canary.web.users import add_user
from tests.support.accounts import PASSWORD, ROLE_USERS

ADMIN = ROLE_USERS["admin"]


def _mint(client, headers, name: str, role: str = "admin"):
    return client.post("/api/v1/tokens", json={"name": name, "role": role, "days": 5}, headers=headers)


def _console_token(sign_in, role: str = "admin") -> dict[str, str]:
    """A token made in the console's settings page by the account of ``role``: its secret, as a header."""
    client = sign_in(role)
    page = client.post("/tokens", data={"csrf": "test-form-token", "name": f"made-by-{role}", "role": role,
                                        "days": "30"}, follow_redirects=True)
    assert page.status_code == 200, page.status_code
    text = page.get_data(as_text=True)
    secret = text[text.index("cnry_"):].split("<", 1)[0].split()[0].strip()
    return {"Authorization": f"Bearer {secret}"}


def test_disabling_or_removing_the_account_revokes_its_tokens(app, db_path, sign_in, cli):
    db = open_db(db_path)
    add_user(db, "second-admin", PASSWORD, "admin")  # the last admin may not be disabled
    db.close()
    client = app.test_client()
    header = _console_token(sign_in)
    assert client.get("/api/v1/tokens", headers=header).status_code == 200
    listed = json.loads(cli("token", "list", "--json").output)
    assert [t["owner"] for t in listed] == [ADMIN]
    minted = _mint(client, header, "minted-by-token")
    assert minted.status_code == 201 and minted.get_json()["owner"] == ADMIN
    child = {"Authorization": f"Bearer {minted.get_json()['secret']}"}

    assert cli("user", "disable", ADMIN).exit_code == 0
    assert client.get("/api/v1/tokens", headers=header).status_code == 401
    assert client.get("/api/v1/tokens", headers=child).status_code == 401
    assert _mint(client, header, "after-disable").status_code == 401
    listed = json.loads(cli("token", "list", "--json").output)
    assert all(t["revoked_at"] for t in listed)
    # Enabling the account again gives it its sign-in back, not its tokens.
    assert cli("user", "disable", ADMIN, "--enable").exit_code == 0
    assert client.get("/api/v1/tokens", headers=header).status_code == 401

    header = _console_token(sign_in)
    assert client.get("/api/v1/tokens", headers=header).status_code == 200
    assert cli("user", "remove", ADMIN).exit_code == 0
    assert client.get("/api/v1/tokens", headers=header).status_code == 401


def test_a_token_follows_its_owner_role_and_never_mints_above_it(app, db_path, sign_in, cli):
    db = open_db(db_path)
    add_user(db, "second-admin", PASSWORD, "admin")
    db.close()
    client = app.test_client()
    header = _console_token(sign_in)
    # Its owner demoted to analyst: the admin token is an analyst token now, and mints nothing.
    assert cli("user", "role", ADMIN, "analyst").exit_code == 0
    assert client.get("/api/v1/tokens", headers=header).status_code == 403
    assert _mint(client, header, "escalate", "analyst").status_code == 403
    assert client.get("/api/v1/events", headers=header).status_code == 200
    # From the host, a token is made for an account, never above that account's role.
    refused = cli("token", "add", "too-high", "--role", "admin", "--owner", ROLE_USERS["viewer"])
    assert refused.exit_code != 0 and "above" in refused.output
    assert cli("token", "add", "nobody", "--owner", "ghost").exit_code != 0
    made = cli("token", "add", "siem", "--role", "viewer", "--owner", ROLE_USERS["analyst"], "--json")
    assert made.exit_code == 0 and json.loads(made.output)["owner"] == ROLE_USERS["analyst"]
