import os
import sqlite3
import stat

import pytest

from canary.errors import CanaryError
from canary.normalize import fold, nir_key, phone_key
from canary.store import open_db
from canary.store.events import list_events, record_event
from canary.store.markers import markers_for
from canary.store.migrations import migrate
from canary.store.registry import add_canaries, add_system, find_by_marker, get_canary, list_systems
from tests.support.records import make_record


def test_registry_file_is_private_and_wal(db_path, db):
    assert stat.S_IMODE(os.stat(db_path).st_mode) == 0o600
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1


def test_migrations_apply_once(db):
    assert migrate(db) == []
    names = [r[0] for r in db.execute("SELECT name FROM _migrations")]
    assert "core-001-tables" in names


def test_not_a_database_is_a_clear_error(tmp_path):
    bogus = tmp_path / "bogus.db"
    bogus.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(CanaryError, match="bogus.db"):
        open_db(bogus)


def test_system_validation(db):
    add_system(db, "ehr-mediboard", "ehr", establishment="Clinique des Lilas", finess="690000000")
    with pytest.raises(CanaryError, match="already exists"):
        add_system(db, "ehr-mediboard", "ehr")
    with pytest.raises(CanaryError, match="kind"):
        add_system(db, "x", "mainframe")
    with pytest.raises(CanaryError, match="FINESS"):
        add_system(db, "y", "lab", finess="12")
    with pytest.raises(CanaryError, match="invalid system name"):
        add_system(db, "Bad Name", "lab")
    assert [s["name"] for s in list_systems(db)] == ["ehr-mediboard"]


def test_markers_are_normalised_and_unique(db, add_hand_canaries):
    canaries = add_hand_canaries(count=2)
    first = canaries[0]
    assert find_by_marker(db, "phone", phone_key("06 12 34 00 00")) == first["id"]
    assert find_by_marker(db, "nir", nir_key(first["nir"])) == first["id"]
    assert find_by_marker(db, "email", first["email"].upper().lower()) == first["id"]
    # A second canary reusing the first one's NIR is refused and nothing of it is written.
    clone = dict(first, id="clone00001", token="tok-clone", phones=[], email=None, ipp="1")
    with pytest.raises(CanaryError, match="nir"):
        add_canaries(db, [clone])
    with pytest.raises(Exception, match="unknown canary"):
        get_canary(db, "clone00001")


def test_markers_for_covers_every_identifier():
    record = make_record(3, used_name="LEROY")
    kinds = {kind for kind, _ in markers_for(record, "tok123")}
    assert {"nir", "nir13", "phone", "email", "ipp", "token", "name_birth"} <= kinds
    name_births = [v for k, v in markers_for(record) if k == "name_birth"]
    assert len(name_births) == 2 and any(v.startswith("LEROY|") for v in name_births)


def test_normalisation():
    assert fold("Hélène-Marie  d'Œuvray") == "HELENE MARIE D OEUVRAY"
    for spelling in ("0612345678", "06 12 34 56 78", "06.12.34.56.78", "+33 6 12 34 56 78", "+33612345678",
                     "0033612345678", "0033 6 12 34 56 78"):
        assert phone_key(spelling) == "612345678", spelling
    assert phone_key("+262 692 12 34 56") == "692123456"
    assert phone_key("06123456789") is None  # digits inside a longer number are not this phone
    assert nir_key("2 84 05 2A 004 123 45") == "284052A00412345"
    assert nir_key("1234") is None


def test_events_commit_dedupe_and_name_the_system(db, add_hand_canaries, db_path):
    canary = add_hand_canaries(system="lab-sil", count=1, kind="lab")[0]
    first = record_event(db, channel="http", canary_id=canary["id"], source="203.0.113.9", severity="high",
                         dedup_key="req-1")
    again = record_event(db, channel="http", canary_id=canary["id"], source="203.0.113.9", dedup_key="req-1")
    assert first is not None and again is None
    # Visible to another connection at once: callers may answer their peer right after.
    other = sqlite3.connect(db_path)
    assert other.execute("SELECT system FROM events WHERE id = ?", [first]).fetchone()[0] == "lab-sil"
    other.close()
    rows = list_events(db, system="lab-sil")
    assert len(rows) == 1 and rows[0]["severity"] == "high"
    with pytest.raises(CanaryError, match="severity"):
        record_event(db, channel="http", severity="urgent")
    with pytest.raises(CanaryError, match="unknown canary"):
        record_event(db, channel="http", canary_id="nope")


def test_private_files_never_narrow_the_process_umask(tmp_path, monkeypatch):
    """The umask is process-wide: a serve thread narrowing it would hand 077 to files and child
    processes that other threads create meanwhile (seen: a Postfix started by a test refused its queue)."""
    import os
    import stat

    from canary.store import open_db
    from canary.store.journal import Journal

    def refuse(_mask: int) -> int:
        raise AssertionError("os.umask called")

    monkeypatch.setattr(os, "umask", refuse)
    db = open_db(tmp_path / "r.db")
    db.execute("CREATE TABLE t (x)")
    db.conn.commit()
    journal = Journal(tmp_path / "r.db.journal-test", max_bytes=4096)
    for path in (tmp_path / "r.db", tmp_path / "r.db-wal", tmp_path / "r.db.journal-test"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    journal.close()
    db.close()
