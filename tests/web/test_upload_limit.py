"""Upload scans at once are bounded even when the requests arrive together (the check and the claim are
one transaction), and a refused upload leaves no sweep row behind."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from pathlib import Path

from canary.errors import CanaryError
from canary.store import open_db
from canary.web.actions import MAX_UPLOAD_SCANS, start_upload_scan
from canary.web.audit import Actor
from tests.support.wait import wait_for


def test_uploads_arriving_together_never_exceed_the_limit(db, db_path, add_hand_canaries) -> None:
    add_hand_canaries("ehr-a", 1)
    callers = MAX_UPLOAD_SCANS + 2
    release = threading.Event()
    saving, refused, scans = [], [], []
    lock = threading.Lock()

    def save(path: Path) -> None:
        path.write_text("nom;prenom\nDUPONT;JEAN\n")
        with lock:
            saving.append(path)
        assert release.wait(20)  # every caller is past the check before any scan runs

    def upload(i: int) -> None:
        own = open_db(db_path)
        try:
            scans.append(start_upload_scan(own, str(db_path), Actor("rssi", "analyst", "api"), f"dump{i}.csv", save))
        except CanaryError as exc:
            with lock:
                refused.append(str(exc))
        finally:
            own.close()

    threads = [threading.Thread(target=upload, args=(i,)) for i in range(callers)]
    for thread in threads:
        thread.start()
    wait_for(lambda: len(saving) + len(refused) == callers, timeout=20)
    release.set()
    for thread in threads:
        thread.join(20)
    for scan in scans:
        scan.wait()
    assert len(saving) == MAX_UPLOAD_SCANS and len(refused) == callers - MAX_UPLOAD_SCANS
    assert all("still running" in message for message in refused)
    rows = db.execute("SELECT status FROM sweeps WHERE feed = 'upload'").fetchall()
    assert sorted(r[0] for r in rows) == ["ok"] * MAX_UPLOAD_SCANS


def test_an_upload_that_cannot_be_saved_leaves_a_failed_sweep_and_no_file(db, db_path, add_hand_canaries) -> None:
    add_hand_canaries("ehr-a", 1)
    kept: list[Path] = []

    def save(path: Path) -> None:
        kept.append(path)
        path.write_bytes(b"partial")
        raise OSError(28, "No space left on device")

    try:
        start_upload_scan(db, str(db_path), Actor("rssi", "analyst", "api"), "dump.csv", save)
    except OSError:
        pass
    else:
        raise AssertionError("the failed save must be raised")
    assert not kept[0].parent.exists()
    rows = db.execute("SELECT status FROM sweeps WHERE feed = 'upload'").fetchall()
    assert [r[0] for r in rows] in ([], ["failed"])


def test_scans_left_running_by_a_killed_process_do_not_block_uploads(db, db_path, add_hand_canaries) -> None:
    add_hand_canaries("ehr-a", 1)
    # A console killed in the middle of MAX_UPLOAD_SCANS scans: a real process, gone.
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    for _ in range(MAX_UPLOAD_SCANS):
        db.execute("INSERT INTO sweeps (feed, sources, started_at, status, runner_host, runner_pid) "
                   "VALUES ('upload', '[]', '2026-12-01T10:00:00Z', 'running', ?, ?)", [socket.gethostname(), dead.pid])
    # Another host's scan cannot be checked from here: it still counts.
    db.execute("INSERT INTO sweeps (feed, sources, started_at, status, runner_host, runner_pid) "
               "VALUES ('upload', '[]', '2026-12-01T10:00:00Z', 'running', 'dmz-1', 1)")
    db.conn.commit()
    scan = start_upload_scan(db, str(db_path), Actor("rssi", "analyst", "api"), "dump.csv",
                             lambda path: path.write_text("nom;prenom\nDUPONT;JEAN\n"))
    scan.wait()
    rows = db.execute("SELECT status, error FROM sweeps WHERE runner_pid = ?", [dead.pid]).fetchall()
    assert [r[0] for r in rows] == ["failed"] * MAX_UPLOAD_SCANS
    assert all(f"{socket.gethostname()}:{dead.pid}" in r[1] and "interrupted" in r[1] for r in rows)
    assert db.execute("SELECT status FROM sweeps WHERE runner_host = 'dmz-1'").fetchone()[0] == "running"
