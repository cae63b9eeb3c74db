"""`canary backup` / `canary restore`: consistent online copies, everything back, bad input refused cleanly."""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
from pathlib import Path

import requests

from canary.alert.correlate import correlate_all
from canary.alert.destinations import add_destination
from canary.settings import set_setting
from canary.store import open_db
from canary.store.events import list_events, record_event
from tests.support.cli import run_canary
from tests.support.wait import wait_for


def _dump(path: Path) -> dict[str, list[tuple]]:
    """Every row of every table (sqlite_sequence included), in a stable order."""
    conn = sqlite3.connect(str(path))
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {t: sorted(conn.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr) for t in tables}
    finally:
        conn.close()


def _one_line_error(result) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_everything_comes_back_in_a_fresh_directory(db, db_path, add_hand_canaries, tmp_path, passphrase):
    canaries = add_hand_canaries(count=4)
    set_setting(db, "pool.mail_domains", "mail.example.fr")
    set_setting(db, "tripwire.base_url", "https://portail-patient.example.fr")
    for i, canary in enumerate(canaries[:3]):
        record_event(db, channel="http", canary_id=canary["id"], severity="high", source="203.0.113.7",
                     details={"path": f"/x/{i}"})
    correlate_all(db)
    assert db.execute("SELECT COUNT(*) FROM alerts").fetchone()[0] == 3
    backup_file = tmp_path / "registry.bak"

    made = run_canary(db_path, "backup", str(backup_file))
    assert made.returncode == 0, made.stderr
    assert "4 canaries, 3 events, 3 alerts" in made.stdout
    assert stat.S_IMODE(backup_file.stat().st_mode) == 0o600
    assert b"portail-patient" not in backup_file.read_bytes()  # sealed, not merely compressed

    fresh = tmp_path / "elsewhere"
    fresh.mkdir()
    restored_path = fresh / "canary.db"
    done = run_canary(restored_path, "restore", str(backup_file))
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(restored_path.stat().st_mode) == 0o600
    before, after = _dump(db_path), _dump(restored_path)
    assert set(before) == set(after)
    for table in ("canaries", "markers", "events", "alerts", "settings", "alert_events", "_migrations"):
        assert after[table] == before[table] and before[table], table
    # What only a restore adds: the backup's time and the restore itself (a new key generation).
    assert after.pop("backup_taken")[0][1] <= after.pop("restores")[0][2]
    assert before.pop("backup_taken") == [] and before.pop("restores") == []
    after["sqlite_sequence"].remove(("restores", 1))
    # ... and its entry in the audit log: who restored, from the CLI (the backup's own log had none)
    (entry,) = after.pop("web_audit")
    assert entry[3:6] == ("cli", None, "restore") and before.pop("web_audit") == []
    assert after == before
    assert "restored from a backup of 20" in done.stdout


def test_backup_while_another_connection_writes_is_one_consistent_state(db, db_path, add_hand_canaries,
                                                                       tmp_path, passphrase):
    canary = add_hand_canaries(count=1)[0]
    stop = threading.Event()
    written: list[int] = []

    def writer() -> None:
        conn = open_db(db_path, migrate_schema=False)
        try:
            while not stop.is_set():
                with conn.atomic():  # two rows per transaction: a copy must hold both or neither
                    for _ in range(2):
                        event_id = record_event(conn, channel="dns", canary_id=canary["id"], severity="medium")
                        written.append(int(event_id or 0))
        finally:
            conn.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        wait_for(lambda: len(written) >= 50, timeout=30, interval=0.01)
        backups = []
        for n in range(2):
            backup_file = tmp_path / f"during-{n}.bak"
            result = run_canary(db_path, "backup", str(backup_file))
            assert result.returncode == 0, result.stderr
            backups.append(backup_file)
    finally:
        stop.set()
        thread.join()
    source_rows = {e["id"]: e for e in list_events(db)}
    for n, backup_file in enumerate(backups):
        restored = tmp_path / f"restored-{n}.db"
        assert run_canary(restored, "restore", str(backup_file)).returncode == 0
        restored_db = open_db(restored)
        try:
            ids = [e["id"] for e in list_events(restored_db)]
            assert restored_db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            # A prefix of what was written, whole transactions only, every row as written.
            assert ids == list(range(1, len(ids) + 1)) and len(ids) % 2 == 0 and len(ids) >= 50
            assert all(source_rows[e["id"]] == e for e in list_events(restored_db))
        finally:
            restored_db.close()
    assert len(source_rows) > len(ids)  # the writer went on after the last copy


def test_bad_backups_are_refused_in_one_line_and_nothing_is_written(db, db_path, add_hand_canaries, tmp_path,
                                                                   passphrase):
    add_hand_canaries(count=2)
    good = tmp_path / "good.bak"
    assert run_canary(db_path, "backup", str(good)).returncode == 0
    truncated = tmp_path / "truncated.bak"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    flipped = tmp_path / "flipped.bak"
    data = bytearray(good.read_bytes())
    data[-40] ^= 0x01
    flipped.write_bytes(bytes(data))
    not_backup = tmp_path / "notes.txt"
    not_backup.write_text("hello\n")
    target = tmp_path / "new" / "canary.db"
    target.parent.mkdir()

    assert "is truncated" in _one_line_error(run_canary(target, "restore", str(truncated)))
    header_only = tmp_path / "header-only.bak"
    header_only.write_bytes(good.read_bytes()[:20])
    assert "is truncated" in _one_line_error(run_canary(target, "restore", str(header_only)))
    assert "is damaged" in _one_line_error(run_canary(target, "restore", str(flipped)))
    assert "is not a canary backup" in _one_line_error(run_canary(target, "restore", str(not_backup)))
    wrong = run_canary(target, "restore", str(good), env={"CANARY_BACKUP_PASSPHRASE": "not the right phrase"})
    assert "wrong passphrase" in _one_line_error(wrong)
    assert "no backup key" in _one_line_error(run_canary(target, "restore", str(good),
                                                         env={"CANARY_BACKUP_PASSPHRASE": ""}))
    assert not target.exists() and sorted(p.name for p in target.parent.iterdir()) == []

    # Onto a live registry: refused without --force, and the registry is untouched.
    before = _dump(db_path)
    refused = _one_line_error(run_canary(db_path, "restore", str(good)))
    assert "already exists" in refused and "--force" in refused
    assert _dump(db_path) == before
    # A short passphrase is refused when sealing, before anything is written.
    short = run_canary(db_path, "backup", str(tmp_path / "short.bak"), env={"CANARY_BACKUP_PASSPHRASE": "short"})
    assert "shorter than 12" in _one_line_error(short) and not (tmp_path / "short.bak").exists()
    assert "no registry at" in _one_line_error(run_canary(tmp_path / "none.db", "backup", str(tmp_path / "x.bak")))
    assert not (tmp_path / "none.db").exists()


def test_key_file_must_be_private_and_is_needed_to_restore(db, db_path, add_hand_canaries, tmp_path, monkeypatch):
    monkeypatch.delenv("CANARY_BACKUP_PASSPHRASE", raising=False)
    add_hand_canaries(count=1)
    key = tmp_path / "backup.key"
    key.write_text("an-operator-generated-key-of-enough-length\n")
    key.chmod(0o644)
    backup_file = tmp_path / "k.bak"
    assert "other users may read it" in _one_line_error(
        run_canary(db_path, "backup", str(backup_file), "--key-file", str(key)))
    key.chmod(0o600)
    made = run_canary(db_path, "backup", str(backup_file), "--key-file", str(key))
    assert made.returncode == 0 and "sealed with a key file" in made.stdout
    target = tmp_path / "r.db"
    wrong = run_canary(target, "restore", str(backup_file), env={"CANARY_BACKUP_PASSPHRASE": "some passphrase here"})
    assert "it was sealed with a key file" in _one_line_error(wrong)
    restored = run_canary(target, "restore", str(backup_file), env={"CANARY_BACKUP_KEY_FILE": str(key)})
    assert restored.returncode == 0, restored.stderr
    assert _dump(target)["canaries"] == _dump(db_path)["canaries"]


def test_restore_with_force_keeps_the_replaced_registry(db, db_path, add_hand_canaries, tmp_path, passphrase):
    add_hand_canaries(count=2)
    backup_file = tmp_path / "two.bak"
    assert run_canary(db_path, "backup", str(backup_file)).returncode == 0
    add_hand_canaries(count=3)
    db.close()
    done = run_canary(db_path, "restore", str(backup_file), "--force")
    assert done.returncode == 0, done.stderr
    kept = Path(done.stdout.strip().splitlines()[-1].rsplit(" ", 1)[-1])
    assert kept.name.startswith("canary.db.replaced-")
    assert len(_dump(db_path)["canaries"]) == 2 and len(_dump(kept)["canaries"]) == 5
    assert stat.S_IMODE(os.stat(kept).st_mode) == 0o600


def test_token_issued_before_the_backup_fires_after_the_restore(db, db_path, add_hand_canaries, tmp_path,
                                                               passphrase, serve):
    set_setting(db, "tripwire.base_url", "https://portail-patient.example.fr")
    canaries = add_hand_canaries(count=2)
    first = serve(db_path)
    hit = requests.get(f"http://127.0.0.1:{first.callback_port}/{canaries[0]['token']}.gif", timeout=10)
    assert hit.status_code == 200
    backup_file = tmp_path / "live.bak"
    made = run_canary(db_path, "backup", str(backup_file))  # while serve runs
    assert made.returncode == 0, made.stderr
    refused = _one_line_error(run_canary(db_path, "restore", str(backup_file), "--force"))
    assert "in use by a running 'canary serve'" in refused
    # The refused restore changed nothing: serve runs on, its registry answers as before.
    assert first.process.poll() is None
    assert requests.get(f"http://127.0.0.1:{first.console_port}/readyz", timeout=10).status_code == 200
    first.stop()

    fresh = tmp_path / "restored"
    fresh.mkdir()
    restored_path = fresh / "canary.db"
    assert run_canary(restored_path, "restore", str(backup_file)).returncode == 0
    second = serve(restored_path)
    try:
        fired = requests.get(f"http://127.0.0.1:{second.callback_port}/{canaries[1]['token']}.gif", timeout=10)
        assert fired.status_code == 200
        restored = open_db(restored_path)
        try:
            events = wait_for(lambda: _when_two(list_events(restored)), timeout=10, interval=0.1,
                              message=lambda: str(list_events(restored)))
        finally:
            restored.close()
    finally:
        second.stop()
    assert [(e["channel"], e["canary_id"]) for e in events] == [("http", canaries[0]["id"]),
                                                                 ("http", canaries[1]["id"])]


def test_a_restored_registry_never_reuses_an_idempotency_key(db, db_path, add_hand_canaries, tmp_path, passphrase):
    add_destination(db, f"jsonl://{tmp_path / 'siem.jsonl'}")
    canaries = add_hand_canaries("ehr-a", 4)
    record_event(db, channel="http", severity="high", canary_id=canaries[0]["id"], details={"group": "g0"})
    correlate_all(db)
    backup = tmp_path / "registry.bak"
    assert run_canary(db_path, "backup", str(backup)).returncode == 0
    # After the backup: a new alert, paged; then the registry is lost and restored.
    record_event(db, channel="http", severity="high", canary_id=canaries[1]["id"], details={"group": "g1"})
    correlate_all(db)
    before = {row[0] for row in db.execute("SELECT idempotency_key FROM alert_outbox")}
    db.close()
    restored = run_canary(db_path, "restore", str(backup), "--force")
    assert restored.returncode == 0, restored.stderr
    assert "restored from a backup of " in restored.stdout
    assert "events and alerts after it are gone" in restored.stdout
    again = open_db(db_path)
    try:
        # A different alert, given the id the lost one had: it must not carry that alert's key.
        record_event(again, channel="http", severity="high", canary_id=canaries[2]["id"], details={"group": "g2"})
        correlate_all(again)
        after = {row[0] for row in again.execute("SELECT idempotency_key FROM alert_outbox")}
    finally:
        again.close()
    new_keys = after - before
    assert new_keys and not (new_keys & before)
    assert len(after) == 2
    doctor = run_canary(db_path, "doctor", "--json")
    assert "restored from a backup of " in doctor.stdout


def _when_two(events: list[dict]) -> list[dict] | None:
    return events if len(events) == 2 else None
