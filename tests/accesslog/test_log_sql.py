"""Mediboard's ``user_log`` read from a real MariaDB server: ids, burst, restarts, kill -9, bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils
from apscheduler.schedulers.background import BackgroundScheduler

from canary.watch.accesslog.sources import add_source, get_position, get_source
from canary.watch.accesslog.sqlpoller import SqlPoller, run_once
from canary.watch.accesslog.supervisor import AccessLogSupervisor
from tests.support.accesslog import SYSTEM, access_events, mediboard_line, plant
from tests.support.peers.sql import ID_SANTE400, USER_LOG, MariaDB
from tests.support.wait import wait_for

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "s3cret-ro"
START = datetime(2026, 11, 14, 9, 30, 0)


@pytest.fixture
def ehr(mariadb: MariaDB) -> Iterator[dict[str, Any]]:
    """A fresh Mediboard database with its audit table and a read-only account for canary."""
    name = f"mb_{uuid.uuid4().hex[:8]}"
    user = f"ro_{name[3:]}"
    mariadb.run(f"CREATE DATABASE {name}")
    mariadb.run(USER_LOG, database=name)
    mariadb.run(ID_SANTE400, database=name)
    mariadb.run(f"CREATE USER '{user}'@'127.0.0.1' IDENTIFIED BY '{PASSWORD}'")
    mariadb.run(f"GRANT SELECT ON {name}.user_log TO '{user}'@'127.0.0.1'")
    mariadb.run(f"GRANT SELECT ON {name}.id_sante400 TO '{user}'@'127.0.0.1'")
    url = f"sql+mysql://{user}@127.0.0.1:{mariadb.port}/{name}?table=user_log"
    yield {"db": name, "user": user, "url": url, "env": f"CANARY_SQL_PASSWORD_{SYSTEM.upper().replace('-', '_')}"}
    mariadb.run(f"DROP USER '{user}'@'127.0.0.1'")
    mariadb.run(f"DROP DATABASE IF EXISTS {name}")


@pytest.fixture
def password(ehr: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ehr["env"], PASSWORD)


def write_rows(mariadb: MariaDB, ehr: dict[str, Any], rows: list[tuple[int, str, str, int]],
               start: int = 0) -> None:
    """(user_id, type, object_class, object_id) rows, one second apart, from 10.2.3.4 (packed, as Mediboard)."""
    conn = mariadb.admin(ehr["db"])
    try:
        with conn.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO user_log (user_id, date, type, object_class, object_id, ip_address, fields) "
                "VALUES (%s, %s, %s, %s, %s, INET6_ATON('10.2.3.4'), 'nom prenom')",
                [(u, START + timedelta(seconds=start + i), t, c, o) for i, (u, t, c, o) in enumerate(rows)])
    finally:
        conn.close()


def test_planted_ids_and_ipp_lookup_name_canaries_other_rows_do_not(db, canaries, mariadb, ehr, password) -> None:
    ids = plant(db, canaries[:1]) | plant(db, canaries[1:2], first_id=8000, guid=True)
    mariadb.run("INSERT INTO id_sante400 (object_class, object_id, tag, id400) VALUES ('CPatient', 9100, "
                "'tag_ipp', %s)", [canaries[3]["ipp"]], database=ehr["db"])
    add_source(db, SYSTEM, ehr["url"], "mediboard-sql",
               ipp_query="SELECT object_id, id400 FROM id_sante400 WHERE object_class = 'CPatient' "
                         "AND tag = 'tag_ipp' AND object_id IN ({ids})")
    write_rows(mariadb, ehr, [
        (12, "read", "CPatient", ids[canaries[0]["id"]]),
        (12, "store", "CSejour", ids[canaries[0]["id"]]),   # same number, not a patient: no event
        (12, "read", "CPatient", ids[canaries[1]["id"]]),   # planted under Mediboard's guid CPatient-8000
        (12, "read", "CPatient", 9100),                      # through the IPP lookup
        (12, "read", "CPatient", int(canaries[4]["ipp"])),   # an object id that happens to equal an IPP: no
        (13, "read", "CPatient", 1),                         # a real patient
    ])
    poller = SqlPoller(db, get_source(db, SYSTEM))
    result = poller.poll()
    assert (result.lines, result.matched, result.events) == (6, 3, 3)
    first, guid, second = access_events(db)
    assert first["canary_id"] == canaries[0]["id"] and first["details"]["id_kind"] == "external_id"
    assert guid["canary_id"] == canaries[1]["id"] and guid["details"]["id_kind"] == "external_id"
    assert second["canary_id"] == canaries[3]["id"] and second["details"]["id_kind"] == "ipp"
    assert first["account"] == "12" and first["action"] == "read" and first["source"] == "10.2.3.4"
    assert first["time"] == "2026-11-14T08:30:00.000Z"  # DATETIME in Europe/Paris
    assert first["details"]["row"] == 1 and first["details"]["table"] == "user_log"
    assert json.loads(get_position(db, SYSTEM)["cursor"]) == {"last_key": 6}
    assert poller.poll().lines == 0  # nothing read twice
    source = get_source(db, SYSTEM)
    assert (source["lines"], source["events"], source["last_error"]) == (6, 3, None)


def test_batches_resume_after_the_last_stored_key(db, canaries, mariadb, ehr, password) -> None:
    ids = plant(db, canaries)
    add_source(db, SYSTEM, ehr["url"], None)
    write_rows(mariadb, ehr, [(20 + i, "read", "CPatient", ids[c["id"]]) for i, c in enumerate(canaries)])
    assert SqlPoller(db, get_source(db, SYSTEM), batch_rows=4).poll().events == 6
    write_rows(mariadb, ehr, [(30, "read", "CPatient", ids[canaries[0]["id"]])], start=60)
    again = SqlPoller(db, get_source(db, SYSTEM), batch_rows=4)  # a restarted service
    assert (again.poll().lines, len(access_events(db))) == (1, 7)
    assert get_source(db, SYSTEM)["lines"] == 7


def test_wrong_password_then_dropped_table_one_line_each_nothing_lost(cli, db, db_path, canaries, mariadb, ehr,
                                                                      monkeypatch, tmp_path) -> None:
    ids = plant(db, canaries[:1])
    add_source(db, SYSTEM, ehr["url"], "mediboard-sql")
    log = tmp_path / "access.log"
    add_source(db, SYSTEM, f"file://{log}", "mediboard", name="mb-file")
    write_rows(mariadb, ehr, [(5, "read", "CPatient", ids[canaries[0]["id"]])])
    monkeypatch.setenv(ehr["env"], "wrong")
    supervisor = AccessLogSupervisor(db_path, BackgroundScheduler(), poll_interval=0.05)
    supervisor.start()
    try:
        error = wait_for(lambda: get_source(db, SYSTEM)["last_error"])
        assert "Access denied" in error and PASSWORD not in error and "\n" not in error
        assert ehr["user"] in error and f"127.0.0.1:{mariadb.port}" in error
        # The other sources keep running.
        log.write_text(mediboard_line(canaries[1]["ipp"]) + "\n")
        wait_for(lambda: [e for e in access_events(db) if e["canary_id"] == canaries[1]["id"]])
    finally:
        supervisor.stop()
    assert get_position(db, SYSTEM) is None and get_source(db, SYSTEM)["lines"] == 0
    listed = {s["name"]: s for s in json.loads(cli("logs", "list", "--json").output)}
    assert "Access denied" in listed[SYSTEM]["last_error"] and listed["mb-file"]["events"] == 1

    monkeypatch.setenv(ehr["env"], PASSWORD)
    poller = SqlPoller(db, get_source(db, SYSTEM))
    assert run_once(db, poller, "test") is not None
    assert get_source(db, SYSTEM)["last_error"] is None
    mariadb.run("DROP TABLE user_log", database=ehr["db"])
    assert run_once(db, poller, "test") is None
    error = get_source(db, SYSTEM)["last_error"]
    assert "user_log" in error and "doesn't exist" in error and "\n" not in error
    assert json.loads(get_position(db, SYSTEM)["cursor"]) == {"last_key": 1}
    assert len([e for e in access_events(db) if e["canary_id"] == canaries[0]["id"]]) == 1


@pytest.mark.parametrize("url, fmt, message", [
    ("sql+mysql://ro:pw@127.0.0.1/mb?table=user_log", None, "never goes in --from"),
    ("sql+mysql://ro@127.0.0.1/mb?table=user_log;drop", None, "is not a table name"),
    ("sql+mysql://ro@127.0.0.1/mb", None, "is not a table name"),
    ("sql+mysql://ro@127.0.0.1/mb?table=user_log&passwd=x", None, "unknown parameter"),
    ("sql+oracle://ro@127.0.0.1/mb?table=user_log", None, "invalid --from"),
    ("sql+mysql://ro@127.0.0.1/mb?table=user_log", "mediboard", "read with --format mediboard-sql"),
])
def test_bad_database_sources_are_refused_in_one_line(cli, db, canaries, url, fmt, message) -> None:
    args = ["logs", "add", SYSTEM, "--from", url] + (["--format", fmt] if fmt else [])
    result = cli(*args)
    assert result.exit_code == 1
    assert message in result.output and len(result.output.strip().splitlines()) == 1
    assert db.execute("SELECT COUNT(*) FROM accesslog_sources").fetchone()[0] == 0


def test_ipp_query_and_format_checks(cli, db, canaries, tmp_path) -> None:
    url = "sql+postgresql://ro@127.0.0.1/mb?table=user_log"
    refused = cli("logs", "add", SYSTEM, "--from", url, "--ipp-query", "SELECT 1")
    assert refused.exit_code == 1 and "{ids}" in refused.output
    refused = cli("logs", "add", SYSTEM, "--from", f"file://{tmp_path}/a", "--format", "mediboard-sql")
    assert refused.exit_code == 1 and "reads a database table" in refused.output
    cli("logs", "add", SYSTEM, "--from", url, "--every", "30s")
    source = get_source(db, SYSTEM)
    assert (source["kind"], source["format"], source["every"]) == ("sql", "mediboard-sql", 30)


# --- canary serve, as an operator runs it ----------------------------------------------------------

def _serve(db_path: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "canary", "--db", str(db_path), "serve", "--host", "127.0.0.1", "--port", "0",
         "--callback-port", "0"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def test_serve_burst_of_50_reads_is_one_critical_alert_and_kill_9_loses_nothing(
        db, db_path, add_hand_canaries, mariadb, ehr) -> None:
    ours = add_hand_canaries(SYSTEM, 50)
    ids = plant(db, ours)
    add_source(db, SYSTEM, ehr["url"], "mediboard-sql", every="1s")
    env = {ehr["env"]: PASSWORD}
    rows = [(77, "read", "CPatient", ids[c["id"]]) for c in ours]
    serve = _serve(db_path, env)
    try:
        write_rows(mariadb, ehr, rows[:20])
        wait_for(lambda: len(access_events(db)) >= 20, timeout=60)
        write_rows(mariadb, ehr, rows[20:35], start=20)
        serve.send_signal(signal.SIGKILL)  # mid-burst: rows 21-35 may or may not be stored yet
        serve.wait(timeout=30)
        write_rows(mariadb, ehr, rows[35:], start=35)  # written while serve is down
        serve = _serve(db_path, env)
        wait_for(lambda: len(access_events(db)) >= 50, timeout=60)
        wait_for(lambda: db.execute("SELECT COUNT(*) FROM alerts WHERE channel = 'access-log' AND count >= 50")
                 .fetchone()[0], timeout=60)
    finally:
        serve.send_signal(signal.SIGTERM)
        _, stderr = serve.communicate(timeout=30)
    events = access_events(db)
    assert sorted(e["details"]["row"] for e in events) == list(range(1, 51))  # each row once, none lost
    assert {e["account"] for e in events} == {"77"}
    assert [e["severity"] for e in events[:2]] == ["high", "high"]
    assert {e["severity"] for e in events[2:]} == {"critical"}
    alerts = list(db.query("SELECT * FROM alerts WHERE channel = 'access-log'"))
    assert len(alerts) == 1 and alerts[0]["severity"] == "critical" and alerts[0]["count"] == 50
    source = get_source(db, SYSTEM)
    assert (source["lines"], source["events"], source["last_error"]) == (50, 50, None)  # nothing read twice
    assert serve.returncode == 0, stderr



def test_upgrading_a_registry_keeps_its_sources_and_positions(tmp_path) -> None:
    import sqlite3

    from canary.store import open_db
    from canary.store.migrations import all_migrations

    path = tmp_path / "old.db"
    old = sqlite_utils.Database(sqlite3.connect(path))
    old.execute("PRAGMA foreign_keys=ON")
    old.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    for name, migration in all_migrations():
        if name != "accesslog-002-sql-sources":
            migration(old)
            old.execute("INSERT INTO _migrations VALUES (?, '2026-01-01')", [name])
    old.execute("INSERT INTO systems (name, kind, created_at) VALUES ('ehr-a', 'ehr', '2026-01-01')")
    old.execute("""INSERT INTO accesslog_sources (name, system, kind, url, format, created_at, lines)
                   VALUES ('ehr-a', 'ehr-a', 'file', 'file:///var/log/a.log', 'mediboard', '2026-01-01', 42)""")
    old.execute("""INSERT INTO accesslog_positions (source, path, inode, device, offset, updated_at)
                   VALUES ('ehr-a', '/var/log/a.log', 11, 22, 4096, '2026-01-01')""")
    old.conn.commit()
    old.close()
    db = open_db(path)
    try:
        assert get_source(db, "ehr-a")["lines"] == 42 and get_source(db, "ehr-a")["options"] == {}
        assert get_position(db, "ehr-a")["offset"] == 4096
        add_source(db, "ehr-a", "sql+mysql://ro@127.0.0.1/mb?table=user_log", None, name="ehr-a-sql")
        assert get_source(db, "ehr-a-sql")["kind"] == "sql"
    finally:
        db.close()


def test_a_row_committed_after_a_later_key_was_read_is_not_skipped(db, canaries, mariadb, ehr, password) -> None:
    ids = plant(db, canaries[:2])
    add_source(db, SYSTEM, ehr["url"], "mediboard-sql")
    poller = SqlPoller(db, get_source(db, SYSTEM))
    slow = mariadb.admin(ehr["db"])
    slow.autocommit(False)
    try:
        with slow.cursor() as cursor:  # an EHR transaction takes key 1 and has not committed yet...
            cursor.execute("INSERT INTO user_log (user_id, date, type, object_class, object_id) "
                           "VALUES (8, '2026-11-14 09:30:00', 'read', 'CPatient', %s)", [ids[canaries[0]["id"]]])
        write_rows(mariadb, ehr, [(9, "read", "CPatient", ids[canaries[1]["id"]])])  # ...while key 2 commits
        assert poller.poll().events == 1
        assert json.loads(get_position(db, SYSTEM)["cursor"])["gaps"].keys() == {"1"}
        slow.commit()
    finally:
        slow.close()
    assert poller.poll().events == 1  # key 1, found again
    assert sorted(e["details"]["row"] for e in access_events(db)) == [1, 2]
    assert "gaps" not in json.loads(get_position(db, SYSTEM)["cursor"])
    assert poller.poll().lines == 0 and get_source(db, SYSTEM)["lines"] == 2


def test_a_key_never_committed_is_given_up_after_the_grace_time(db, canaries, mariadb, ehr, password) -> None:
    from canary.settings import set_setting

    set_setting(db, "accesslog.sql_gap_seconds", "0")
    ids = plant(db, canaries[:1])
    add_source(db, SYSTEM, ehr["url"], "mediboard-sql")
    mariadb.run("INSERT INTO user_log (user_id, date, type, object_class, object_id) VALUES "
                "(1, NOW(), 'read', 'CPatient', 1)", database=ehr["db"])
    mariadb.run("DELETE FROM user_log", database=ehr["db"])  # key 1 is a hole, as after a rollback
    write_rows(mariadb, ehr, [(9, "read", "CPatient", ids[canaries[0]["id"]])])
    poller = SqlPoller(db, get_source(db, SYSTEM))
    assert poller.poll().events == 1
    poller.poll()
    assert json.loads(get_position(db, SYSTEM)["cursor"]) == {"last_key": 2}
