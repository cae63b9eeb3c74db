"""Accounts, roles and the audit log, through the real `canary user` and `canary token` commands."""

from __future__ import annotations

import sqlite3

import pytest

from canary.store import open_db
from canary.web.audit import list_audit
from canary.web.users import check_user, open_session, session_account

PASSWORD = "un mot de passe solide"


def test_user_commands_walk_an_account_through_its_life(cli, db_path):
    assert cli("user", "add", "claire", "--role", "analyst", "--password-stdin", input=PASSWORD + "\n").exit_code == 0
    listed = cli("user", "list", "--json").output
    assert '"name": "claire"' in listed and '"role": "analyst"' in listed
    db = open_db(db_path)
    assert check_user(db, "claire", PASSWORD).ok
    session = open_session(db, "claire")
    db.close()

    assert cli("user", "role", "claire", "viewer").exit_code == 0
    db = open_db(db_path)
    assert session_account(db, session).role == "viewer"  # the live session sees the new role at once
    db.close()

    assert cli("user", "disable", "claire").exit_code == 0
    db = open_db(db_path)
    assert session_account(db, session) is None and not check_user(db, "claire", PASSWORD).ok
    db.close()

    assert cli("user", "disable", "claire", "--enable").exit_code == 0
    new = "un autre mot de passe"
    assert cli("user", "password", "claire", "--password-stdin", input=new + "\n").exit_code == 0
    db = open_db(db_path)
    assert check_user(db, "claire", new).ok
    actions = [row["action"] for row in list_audit(db)]
    db.close()
    assert actions == ["user.password", "user.enable", "user.disable", "user.role", "user.add"]


@pytest.mark.parametrize("args, message", [
    (("user", "add", "x y", "--password-stdin"), "invalid user name"),
    (("user", "add", "bob", "--password-stdin"), "password too short"),
    (("user", "role", "nobody", "admin"), "unknown user 'nobody'"),
    (("user", "password", "nobody", "--password-stdin"), "unknown user 'nobody'"),
])
def test_bad_input_gets_one_clear_line(cli, args, message):
    result = cli(*args, input="short\n")
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output


def test_an_existing_user_is_not_overwritten_by_add(cli, db_path):
    cli("user", "add", "claire", "--password-stdin", input=PASSWORD + "\n")
    result = cli("user", "add", "claire", "--role", "admin", "--password-stdin", input="un autre mot de passe\n")
    assert result.exit_code == 1 and "already exists" in result.output
    db = open_db(db_path)
    assert check_user(db, "claire", PASSWORD).ok
    assert db.execute("SELECT role FROM users WHERE name = 'claire'").fetchone()[0] == "viewer"
    db.close()


def test_the_last_admin_cannot_be_demoted_or_disabled(cli):
    cli("user", "add", "root", "--role", "admin", "--password-stdin", input=PASSWORD + "\n")
    for args in (("user", "role", "root", "analyst"), ("user", "disable", "root")):
        result = cli(*args)
        assert result.exit_code == 1 and "last active admin" in result.output
    cli("user", "add", "second", "--role", "admin", "--password-stdin", input=PASSWORD + "\n")
    assert cli("user", "role", "root", "analyst").exit_code == 0


def test_the_audit_log_refuses_to_be_rewritten(cli, db_path):
    cli("user", "add", "claire", "--password-stdin", input=PASSWORD + "\n")
    db = open_db(db_path)
    for statement in ("UPDATE web_audit SET who = 'someone else'", "DELETE FROM web_audit"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            db.execute(statement)
    assert [row["who"] for row in list_audit(db)] != ["someone else"]
    db.close()


def test_accounts_made_before_roles_stay_admins(tmp_path):
    """A registry from before the console had roles: its accounts could do everything, and still can."""
    from canary.store.migrations import all_migrations, migrate

    path = tmp_path / "old.db"
    import sqlite_utils

    db = sqlite_utils.Database(sqlite3.connect(path))
    db.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    for name, fn in all_migrations():
        if name.startswith("web-"):
            break
        fn(db)
        db.execute("INSERT INTO _migrations VALUES (?, 'then')", [name])
    db.execute("INSERT INTO users (name, password_hash, created_at) VALUES ('old', 'x', 'then')")
    db.conn.commit()
    assert "web-001-roles-audit-tokens" in migrate(db)
    assert db.execute("SELECT role, disabled_at FROM users").fetchone() == ("admin", None)
    db.close()
