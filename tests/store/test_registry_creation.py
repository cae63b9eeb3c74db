"""Only creating commands create a registry: a mistyped --db or the wrong folder is an error, not an empty registry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from canary.cli import get_cli


def run(db: Path, *args: str):
    return CliRunner().invoke(get_cli(), ["--db", str(db), *args], catch_exceptions=False)


@pytest.mark.parametrize("args", [
    ("scan", "leak.sql.gz"), ("config", "set", "pool.mail_domains", "messagerie-famille.fr"), ("config", "list"),
    ("events",), ("alerts",), ("list",), ("lint",), ("system", "list"), ("notify", "list"), ("plants",),
    ("sweep",), ("doctor",), ("feed", "list"), ("logs", "list"), ("user", "add", "x", "--password-stdin"),
])
def test_other_commands_refuse_a_missing_registry(tmp_path, args):
    db = tmp_path / "canry.db"
    result = run(db, *args)
    assert result.exit_code == 1, result.output
    (line,) = result.output.strip().splitlines()
    assert line == f"error: no registry at {db}; create one with 'canary init' (or check --db / CANARY_DB)"
    assert not db.exists() and not list(tmp_path.iterdir())


def test_init_creates_once_and_is_idempotent(tmp_path):
    db = tmp_path / "canary.db"
    first = run(db, "init")
    assert first.exit_code == 0 and "created" in first.output and db.exists()
    assert oct(db.stat().st_mode & 0o777) == "0o600"
    again = run(db, "init")
    assert again.exit_code == 0 and "already" in again.output
    assert run(db, "config", "set", "pool.mail_domains", "messagerie-famille.fr").exit_code == 0


def test_system_add_creates_the_registry(tmp_path):
    db = tmp_path / "canary.db"
    assert run(db, "system", "add", "ehr-a", "--kind", "ehr").exit_code == 0
    assert json.loads(run(db, "system", "list", "--json").output)[0]["name"] == "ehr-a"


def test_scan_refuses_a_registry_without_active_canary(tmp_path):
    db = tmp_path / "canary.db"
    run(db, "init")
    dump = tmp_path / "leak.csv"
    dump.write_text("nom;prenom\nDUPONT;Marie\n", encoding="utf-8")
    result = run(db, "scan", str(dump))
    assert result.exit_code == 1
    (line,) = result.output.strip().splitlines()
    assert line.startswith(f"error: registry {db} has no active canary")
