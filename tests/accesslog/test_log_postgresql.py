"""An audit table in PostgreSQL (same format, ``sql+postgresql://``), on a real server."""

from __future__ import annotations

from datetime import datetime, timedelta

from canary.watch.accesslog.sources import add_source, get_source
from canary.watch.accesslog.sqlpoller import SqlPoller, run_once
from tests.support.accesslog import SYSTEM, access_events, plant
from tests.support.peers.sql import PG_USER_LOG


def test_postgresql_audit_table_burst_and_wrong_password(db, add_hand_canaries, postgresql, monkeypatch) -> None:
    ours = add_hand_canaries(SYSTEM, 5)
    ids = plant(db, ours)
    postgresql.run("CREATE DATABASE ehr")
    postgresql.run(PG_USER_LOG, database="ehr")
    postgresql.run("CREATE ROLE canary_ro LOGIN PASSWORD 'pg-ro-secret'")
    postgresql.run("GRANT SELECT ON user_log TO canary_ro", database="ehr")
    start = datetime(2026, 11, 14, 9, 30)
    for n, canary in enumerate(ours):
        postgresql.run("INSERT INTO user_log (user_id, date, type, object_class, object_id, ip_address) "
                       "VALUES (%s, %s, 'read', 'CPatient', %s, '10.9.8.7')",
                       [31, start + timedelta(seconds=n), ids[canary["id"]]], database="ehr")
    add_source(db, SYSTEM, f"sql+postgresql://canary_ro@127.0.0.1:{postgresql.port}/ehr?table=public.user_log",
               None, name="pg-audit")
    monkeypatch.setenv("CANARY_SQL_PASSWORD_PG_AUDIT", "wrong")
    poller = SqlPoller(db, get_source(db, "pg-audit"))
    assert run_once(db, poller, "test") is None
    error = get_source(db, "pg-audit")["last_error"]
    assert "password authentication failed" in error and "\n" not in error and "wrong" not in error

    monkeypatch.setenv("CANARY_SQL_PASSWORD_PG_AUDIT", "pg-ro-secret")
    result = run_once(db, poller, "test")
    assert result is not None and (result.lines, result.events, result.critical) == (5, 5, 3)
    events = access_events(db)
    assert {e["source"] for e in events} == {"10.9.8.7"} and events[0]["time"] == "2026-11-14T08:30:00.000Z"
    assert get_source(db, "pg-audit")["last_error"] is None
    again = run_once(db, poller, "test")
    assert again is not None and again.lines == 0  # nothing read twice
