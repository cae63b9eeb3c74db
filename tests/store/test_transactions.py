"""The registry's own guarantees, tested directly: nested transactions, rollback, migrations applied once when
several processes open a fresh registry together, and owner-only files whatever the umask."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest

from canary.store import open_db
from canary.store.migrations import all_migrations
from canary.store.tx import write_transaction
from tests.support.cli import ROOT
from tests.support.processes import read_line


def _values(db) -> list[int]:
    return [row[0] for row in db.execute("SELECT x FROM t ORDER BY x").fetchall()]


@pytest.fixture
def table_db(db):
    db.execute("CREATE TABLE t (x INTEGER)")
    db.conn.commit()
    return db


def test_a_nested_write_transaction_joins_the_outer_one_and_fails_with_it(table_db) -> None:
    with pytest.raises(RuntimeError), write_transaction(table_db):
        table_db.execute("INSERT INTO t VALUES (1)")
        with write_transaction(table_db):
            table_db.execute("INSERT INTO t VALUES (2)")
        raise RuntimeError("after the inner block")
    assert _values(table_db) == []  # the inner block's write went with the outer rollback
    assert not table_db.conn.in_transaction


def test_an_inner_block_that_fails_alone_keeps_the_outer_writes(table_db) -> None:
    with write_transaction(table_db):
        table_db.execute("INSERT INTO t VALUES (1)")
        with pytest.raises(ValueError), table_db.atomic():  # a savepoint inside the outer transaction
            table_db.execute("INSERT INTO t VALUES (2)")
            raise ValueError("inner only")
        table_db.execute("INSERT INTO t VALUES (3)")
    assert _values(table_db) == [1, 3]


def test_a_write_transaction_excludes_other_writers_until_it_ends(table_db, db_path) -> None:
    other = open_db(db_path)
    other.conn.execute("PRAGMA busy_timeout = 50")
    try:
        with write_transaction(table_db):
            table_db.execute("INSERT INTO t VALUES (1)")
            with pytest.raises(Exception, match="locked"):
                other.execute("INSERT INTO t VALUES (2)")
        other.execute("INSERT INTO t VALUES (2)")
        other.conn.commit()
    finally:
        other.close()
    assert _values(table_db) == [1, 2]


# Every child imports first and says so, then all open the registry when the test says "go".
OPEN_AT_ONCE = """
import sys
from canary.store import open_db
print("ready", flush=True)
sys.stdin.readline()
open_db(sys.argv[1]).close()
"""


def test_processes_opening_a_fresh_registry_together_apply_each_migration_once(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"
    children = [subprocess.Popen([sys.executable, "-c", OPEN_AT_ONCE, str(path)], cwd=ROOT, stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    for child in children:
        assert child.stdout is not None and read_line(child.stdout, timeout=60) == "ready\n"
    for child in children:
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    errors = [child.communicate(timeout=60)[1] for child in children]
    assert [child.returncode for child in children] == [0, 0, 0, 0], errors
    db = open_db(path)
    try:
        names = [row[0] for row in db.execute("SELECT name FROM _migrations ORDER BY rowid").fetchall()]
    finally:
        db.close()
    assert names == [name for name, _ in all_migrations()]  # each once, in order


CREATE_UNDER_UMASK = """
import os, stat, sys
os.umask(int(sys.argv[2], 8))
from canary.store import open_db
db = open_db(sys.argv[1])
db.execute("CREATE TABLE t (x)")
db.execute("INSERT INTO t VALUES (1)")
db.conn.commit()
# While the registry is open its WAL side files exist: their modes too.
for side in ("", "-wal", "-shm"):
    print(side or "db", oct(stat.S_IMODE(os.stat(sys.argv[1] + side).st_mode)))
db.close()
"""


@pytest.mark.parametrize("umask", ["000", "022", "077"])
def test_the_registry_is_owner_only_whatever_the_umask_of_its_process(tmp_path: Path, umask: str) -> None:
    path = tmp_path / "r.db"
    # In a child process: the umask is process-wide, this one's must not change.
    done = subprocess.run([sys.executable, "-c", CREATE_UNDER_UMASK, str(path), umask], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:3] == ["db 0o600", "-wal 0o600", "-shm 0o600"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
