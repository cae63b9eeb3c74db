"""``canary backup`` and ``canary restore``: the registry is the one thing that cannot be rebuilt.

A backup is an online copy taken with SQLite's backup API in one step: a read transaction, so a
running ``serve`` keeps writing (WAL) while the copy sees one consistent state. The copy goes to
memory, is checked, then sealed (canary.ops.sealing) and written atomically, owner-only. The plain
registry never touches the disk outside the registry file itself.

A restore unseals and checks the image in memory first (integrity, a canary registry, no migration
unknown to this version), refuses while a serve runs (canary.ops.lock) and, without ``--force``,
refuses to replace an existing registry. With ``--force`` the replaced registry is kept beside it
(``<name>.replaced-<time>``, with its WAL), never deleted.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlite_utils

from canary.errors import CanaryError
from canary.files import require_owner_only, write_atomic_bytes
from canary.ops.lock import no_serve_running
from canary.ops.sealing import BackupKey, seal, unseal
from canary.settings import all_settings, get_str
from canary.store import open_db
from canary.store.migrations import all_migrations
from canary.store.restores import record_restore, restore_notice, stamp_backup

PASSPHRASE_ENV = "CANARY_BACKUP_PASSPHRASE"
MIN_PASSPHRASE = 12
_SUMMARY_TABLES = ("canaries", "events", "alerts")


@dataclass(frozen=True)
class BackupSummary:
    path: Path
    size: int
    counts: dict[str, int]
    key: BackupKey

    def line(self, verb: str) -> str:
        counts = ", ".join(f"{n} {table}" for table, n in self.counts.items())
        return f"{verb} {self.path} ({counts}; {self.size} bytes, sealed with a {self.key.kind})"


def backup_key(key_file: Path | None, db: sqlite_utils.Database | None = None, *, sealing: bool) -> BackupKey:
    """The key to seal or open a backup: ``--key-file``, else setting backup.key_file, else the passphrase."""
    where = "--key-file"
    if key_file is None:
        configured = get_str(db, "backup.key_file") if db is not None else \
            os.environ.get(all_settings()["backup.key_file"].env_var, "")
        if configured:
            key_file, where = Path(configured), "setting backup.key_file"
    if key_file is not None:
        require_owner_only(key_file, f"backup key file ({where})")
        secret = key_file.read_bytes().strip()
        if len(secret) < 16:
            raise CanaryError(f"backup key file {key_file} holds fewer than 16 bytes; make one with "
                              "'head -c 32 /dev/urandom | base64 > FILE; chmod 600 FILE'")
        return BackupKey("key file", secret, str(key_file))
    passphrase = os.environ.get(PASSPHRASE_ENV, "")
    if not passphrase:
        raise CanaryError(f"no backup key: set {PASSPHRASE_ENV}, or give --key-file (or setting backup.key_file)")
    if sealing and len(passphrase) < MIN_PASSPHRASE:
        raise CanaryError(f"{PASSPHRASE_ENV} is shorter than {MIN_PASSPHRASE} characters; choose a longer one")
    return BackupKey("passphrase", passphrase.encode(), PASSPHRASE_ENV)


def _counts(conn: sqlite3.Connection) -> dict[str, int]:
    return {table: int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]) for table in _SUMMARY_TABLES}


def _is_registry(conn: sqlite3.Connection) -> bool:
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    return {"_migrations", "canaries", "markers", "events", "settings"} <= tables


def take_backup(db_path: Path, dest: Path, key: BackupKey) -> BackupSummary:
    """Copy the registry consistently while others write, seal it and write ``dest`` (mode 0600) atomically."""
    if not db_path.is_file():
        raise CanaryError(f"no registry at {db_path}")
    if not dest.parent.is_dir():
        raise CanaryError(f"cannot write backup {dest}: folder {dest.parent} does not exist")
    if dest.resolve() == db_path.resolve():
        raise CanaryError("the backup file cannot be the registry itself")
    source = sqlite3.connect(str(db_path), timeout=30)
    memory = sqlite3.connect(":memory:")
    try:
        source.execute("PRAGMA busy_timeout=30000")
        if not _is_registry(source):
            raise CanaryError(f"{db_path} is not a canary registry")
        source.backup(memory)  # all pages in one step: one read transaction, one consistent state
        _check_image(memory, str(db_path))
        if memory.execute("SELECT 1 FROM sqlite_master WHERE name = 'backup_taken'").fetchone():
            stamp_backup(memory)  # in the copy only: a restore can say how old it is
            memory.commit()
        counts = _counts(memory)
        image = bytearray(memory.serialize())
    finally:
        memory.close()
        source.close()
    # Bytes 18-19 say WAL; an image read back from memory must say rollback journal (open_db sets WAL again).
    image[18:20] = b"\x01\x01"
    sealed = seal(bytes(image), key, os.urandom(16))
    write_atomic_bytes(dest, sealed)  # the temporary file is created 0600 and renamed in place
    os.chmod(dest, 0o600)
    return BackupSummary(dest, len(sealed), counts, key)


def _check_image(conn: sqlite3.Connection, label: str) -> None:
    try:
        problems = [row[0] for row in conn.execute("PRAGMA integrity_check").fetchall()]
    except sqlite3.DatabaseError as exc:
        raise CanaryError(f"{label}: the registry copy is unreadable ({exc})") from exc
    if problems != ["ok"]:
        raise CanaryError(f"{label}: the registry copy fails its integrity check ({problems[0]})")
    if not _is_registry(conn):
        raise CanaryError(f"{label} does not hold a canary registry")


def read_backup(src: Path, key: BackupKey) -> bytes:
    """The checked registry image of a backup file (nothing is written)."""
    try:
        sealed = src.read_bytes()
    except OSError as exc:
        raise CanaryError(f"cannot read backup {src}: {exc.strerror or exc}") from exc
    image = unseal(sealed, key, str(src))
    memory = sqlite3.connect(":memory:")
    try:
        try:
            memory.deserialize(image)
        except sqlite3.DatabaseError as exc:
            raise CanaryError(f"backup {src} does not hold a SQLite registry ({exc})") from exc
        _check_image(memory, f"backup {src}")
        known = {name for name, _fn in all_migrations()}
        unknown = sorted({row[0] for row in memory.execute("SELECT name FROM _migrations")} - known)
        if unknown:
            raise CanaryError(f"backup {src} comes from a newer canary (unknown migrations: {', '.join(unknown)}); "
                              "restore it with that version")
    finally:
        memory.close()
    return image


def restore_backup(src: Path, db_path: Path, key: BackupKey, *,
                   force: bool) -> tuple[BackupSummary, Path | None, str]:
    """Check ``src``, then make it the registry at ``db_path``; return a summary, where the old one went
    and the line saying how old the backup is (what came after it is gone)."""
    if not db_path.parent.is_dir():
        raise CanaryError(f"cannot restore to {db_path}: folder {db_path.parent} does not exist")
    image = read_backup(src, key)  # before any lock or write: a bad backup changes nothing
    with no_serve_running(db_path):
        if db_path.exists() and not force:
            raise CanaryError(f"registry {db_path} already exists; restore refuses to replace it without --force "
                              "(the replaced registry is then kept beside it)")
        fd, tmp = tempfile.mkstemp(prefix=f".{db_path.name}.restore.", dir=db_path.parent)  # created 0600
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(image)
                handle.flush()
                os.fsync(handle.fileno())
            kept = _set_aside(db_path) if db_path.exists() else None
            os.replace(tmp, db_path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        db = open_db(db_path)  # WAL again, owner-only, and migrations of this version applied
        try:
            counts = _counts(db.conn)
            # A new generation: ids handed out after the backup are handed out again, so identifiers
            # made from them (alert idempotency keys) take the generation too.
            restore = record_restore(db, str(src))
        finally:
            db.close()
    return BackupSummary(db_path, len(image), counts, key), kept, restore_notice(restore)


def _set_aside(db_path: Path) -> Path:
    """Move the registry being replaced (and its WAL) to ``<name>.replaced-<time>``: nothing is lost."""
    with contextlib.suppress(sqlite3.DatabaseError):
        conn = sqlite3.connect(str(db_path), timeout=5)
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    kept = db_path.with_name(f"{db_path.name}.replaced-{stamp}")
    for suffix in ("-wal", "-shm"):  # the side files first: the new registry must never meet the old WAL
        side = Path(f"{db_path}{suffix}")
        if side.exists():
            os.replace(side, Path(f"{kept}{suffix}"))
    os.replace(db_path, kept)
    return kept
