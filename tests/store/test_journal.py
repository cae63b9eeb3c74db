"""The journal on its own: private, bounded, torn lines ignored, replay exactly once across a crash."""

from __future__ import annotations

import os
import stat

import pytest

from canary.store.journal import Journal, JournalError, journal_path


def _apply_into(table: list):
    def apply(db, entry):
        db.execute("INSERT INTO settings (key, value, updated_at) VALUES (?, '1', 'now')", [entry["id"]])
        table.append(entry["id"])
    return apply


def test_entries_survive_reopening_and_a_torn_last_line_is_ignored(db_path):
    path = journal_path(db_path, "test")
    journal = Journal(path, 64 << 10)
    journal.append([{"id": "a", "x": 1}, {"id": "b", "x": 2}])
    journal.close()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert os.path.getsize(path) == 64 << 10  # the bound is reserved up front
    with open(path, "r+b") as raw:  # a crash in the middle of a write: never acknowledged
        raw.seek(path.read_bytes().index(b"\0"))
        raw.write(b'{"id": "c", "x"')
    journal = Journal(path, 64 << 10)
    assert [e["id"] for e in journal.entries()] == ["a", "b"]
    journal.append([{"id": "d"}])
    assert [e["id"] for e in journal.entries()] == ["a", "b", "d"]
    journal.close()


def test_a_full_journal_refuses_and_keeps_what_it_had(db_path):
    journal = Journal(journal_path(db_path, "test"), 100)
    journal.append([{"id": "a"}])
    with pytest.raises(JournalError, match="full"):
        journal.append([{"id": "b", "pad": "x" * 200}])
    assert [e["id"] for e in journal.entries()] == ["a"]
    journal.close()


def test_replay_is_exactly_once_even_when_the_file_was_not_cleared(db, db_path):
    journal = Journal(journal_path(db_path, "test"), 64 << 10)
    entries = [{"id": f"e{i}"} for i in range(7)]
    journal.append(entries)
    first: list = []
    assert journal.replay(db, _apply_into(first), batch=3) == 7
    assert first == [e["id"] for e in entries] and not journal.has_entries()
    journal.append(entries)  # as if a crash had happened between the registry commit and the clearing
    again: list = []
    assert journal.replay(db, _apply_into(again)) == 0
    assert again == []
    journal.close()


def test_an_entry_that_can_never_be_stored_is_reported_and_does_not_block_the_others(db, db_path, caplog):
    journal = Journal(journal_path(db_path, "test"), 64 << 10)
    journal.append([{"id": "ok-1"}, {"id": "broken"}, {"id": "ok-2"}])
    stored: list = []

    def apply(db, entry):
        if entry["id"] == "broken":
            raise KeyError("payload")
        _apply_into(stored)(db, entry)

    assert journal.replay(db, apply) == 2
    assert stored == ["ok-1", "ok-2"] and not journal.has_entries()
    assert any("broken" in r.getMessage() and r.levelname == "ERROR" for r in caplog.records)
    journal.close()


def test_the_loss_report_after_a_replay_cut_short_counts_everything_journalled(db, db_path):
    """3,000 entries journalled; a replay stores 500 of them and dies; the next run must still report
    3,000 journalled (it reported 2,500: only what it replayed itself)."""
    import sqlite3

    from canary.store.events import list_events
    from canary.store.journal import Degradation, record_degradation

    path = journal_path(db_path, "test")
    journal = Journal(path, 4 << 20)
    journal.append([{"id": f"e{i}"} for i in range(3000)])
    stored: list = []

    def dies_at_600(db, entry):
        if len(stored) == 600:
            raise sqlite3.OperationalError("database is locked")  # the run ends here, as by a kill
        _apply_into(stored)(db, entry)

    with pytest.raises(sqlite3.OperationalError):
        journal.replay(db, dies_at_600, batch=500)
    journal.close()
    assert len(stored) == 600  # 500 committed, 100 rolled back with their batch

    restarted = Journal(path, 4 << 20)  # the next run: nothing in memory about the first one
    fresh = Degradation()
    replayed = restarted.replay(db, _apply_into([]), batch=500,
                                before_commit=lambda d, n, held: record_degradation(d, "test", fresh, n, held))
    restarted.close()
    assert replayed == 2500
    [event] = list_events(db, channel="watch")
    assert event["details"]["journalled"] == 3000
    assert event["details"]["replayed"] == 2500 and event["details"]["stored_before_a_restart"] == 500
    assert event["source"] == "test: 3000 journalled, 0 lost"
