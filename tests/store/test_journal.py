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
