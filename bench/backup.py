"""Backup and restore benchmark: a registry of a hospital group after years, sealed and restored.

    python3 bench/backup.py [--canaries 20000] [--events 200000]

Builds a registry (generated canaries with their markers, events with JSON details), then times
``canary.ops.backup.take_backup`` (online copy, integrity check, zlib, scrypt + Fernet, atomic write)
and ``restore_backup`` (unseal, integrity check, write, migrations), and prints the sizes. Printed beside
them, measured in the same run: SQLite's backup API straight to a file (no check, no compression, no
encryption), the floor any consistent online copy pays. Then the same backup while a writer stores
events, with the writer's throughput during the copy.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from canary.ops.backup import restore_backup, take_backup  # noqa: E402
from canary.ops.sealing import BackupKey  # noqa: E402
from canary.store import open_db  # noqa: E402
from canary.store.events import record_event  # noqa: E402
from canary.store.registry import add_canaries, add_system  # noqa: E402
from tests.support.records import make_record  # noqa: E402

KEY = BackupKey("passphrase", b"a benchmark passphrase", "bench")


def _letters(i: int) -> str:
    """A distinct surname per canary (markers are unique): 0 -> BA, 1 -> BB, ..."""
    out = ""
    while True:
        i, rest = divmod(i, 26)
        out = chr(65 + rest) + out
        if i == 0:
            return "B" + out


def populate(path: Path, canaries: int, events: int) -> list[str]:
    db = open_db(path)
    add_system(db, "ehr-chu", "ehr", establishment="CHU")
    ids = []
    for start in range(0, canaries, 2000):
        batch = []
        for i in range(start, min(canaries, start + 2000)):
            cid = f"c{i:08d}"
            record = make_record(i, ipp=f"{50000000 + i}", email=f"p{i}@mail.example.fr", phones=[], nir=None,
                                 birth_name=_letters(i))
            batch.append({"id": cid, "system": "ehr-chu", "generation": 1, "created_at": "2026-01-01T00:00:00Z",
                          "token": f"t{i:019d}", **record})
            ids.append(cid)
        add_canaries(db, batch)
    with db.atomic():
        for n in range(events):
            record_event(db, channel=("http", "dns", "access-log", "leak")[n % 4], canary_id=ids[n % len(ids)],
                         severity="high", source=f"203.0.113.{n % 250}", account=f"user{n % 40}",
                         details={"path": f"/mon-espace/documents/{n}", "user_agent": "Mozilla/5.0 (X11; Linux)"})
    db.close()
    return ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--canaries", type=int, default=20000)
    parser.add_argument("--events", type=int, default=200000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        registry = folder / "canary.db"
        t0 = time.perf_counter()
        ids = populate(registry, args.canaries, args.events)
        size = registry.stat().st_size + Path(f"{registry}-wal").stat().st_size if Path(f"{registry}-wal").exists() \
            else registry.stat().st_size
        print(f"registry: {args.canaries} canaries, {args.events} events, {size / 1e6:.1f} MB "
              f"(built in {time.perf_counter() - t0:.1f} s)")

        import sqlite3

        t0 = time.perf_counter()
        source, plain = sqlite3.connect(str(registry)), sqlite3.connect(str(folder / "plain.db"))
        source.backup(plain)
        source.close()
        plain.close()
        reference = time.perf_counter() - t0

        t0 = time.perf_counter()
        summary = take_backup(registry, folder / "sealed.bak", KEY)
        backup_time = time.perf_counter() - t0
        t0 = time.perf_counter()
        restore_backup(folder / "sealed.bak", folder / "restored.db", KEY, force=False)
        restore_time = time.perf_counter() - t0
        print(f"backup : {backup_time:.2f} s, sealed file {summary.size / 1e6:.1f} MB "
              f"({summary.size / size:.0%} of the registry)")
        print(f"restore: {restore_time:.2f} s")
        print(f"reference, sqlite3 backup API to a plain file: {reference:.2f} s")

        stop, written = threading.Event(), [0]

        def writer() -> None:
            db = open_db(registry, migrate_schema=False)
            while not stop.is_set():
                record_event(db, channel="dns", canary_id=ids[written[0] % len(ids)], severity="medium")
                written[0] += 1
            db.close()

        thread = threading.Thread(target=writer)
        thread.start()
        time.sleep(1.0)
        before, t0 = written[0], time.perf_counter()
        time.sleep(1.0)
        idle_rate = (written[0] - before) / (time.perf_counter() - t0)
        before, t0 = written[0], time.perf_counter()
        take_backup(registry, folder / "during.bak", KEY)
        during = time.perf_counter() - t0
        busy_rate = (written[0] - before) / during
        stop.set()
        thread.join()
        print(f"backup while a writer stores events: {during:.2f} s; writer {busy_rate:,.0f} events/s during "
              f"the backup vs {idle_rate:,.0f} events/s just before (same process, {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
