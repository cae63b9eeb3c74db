"""Files the service writes so that a reader never sees half of one, and private files it only reads."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

from canary.errors import CanaryError


def open_private(path: str | os.PathLike[str], flags: int = os.O_RDWR) -> int:
    """Open ``path``, creating it owner-only (0600) if it does not exist; the descriptor.

    The mode is given to open(2) itself rather than by narrowing the umask: the umask belongs to the
    whole process, and a thread of ``serve`` narrowing it would give that umask to every file and
    every child process created meanwhile by the other threads.
    """
    return os.open(path, flags | os.O_CREAT | os.O_CLOEXEC, 0o600)


def create_private(path: str | os.PathLike[str]) -> None:
    """Create ``path`` empty and owner-only if it does not exist yet (SQLite then gives its -wal and -shm
    files the same mode as the database file).

    An existing file is never opened here: closing any descriptor of a file drops every POSIX lock the
    process holds on it, SQLite's own included (another connection of this process would lose its locks).
    """
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))


def write_atomic(path: Path, text: str, encoding: str = "utf-8", *, new_mode: int | None = None,
                 keep_attributes: bool = False) -> None:
    """Write via a temporary file in the same folder and rename: never a half-written file.

    The file is private (0600) unless ``new_mode`` says otherwise; with ``keep_attributes`` a file
    that already exists keeps its mode, group (and owner, when allowed), so whoever read it still can.
    """
    write_atomic_bytes(path, text.encode(encoding), new_mode=new_mode, keep_attributes=keep_attributes)


def write_atomic_bytes(path: Path, data: bytes, *, new_mode: int | None = None, keep_attributes: bool = False) -> None:
    """The bytes version of :func:`write_atomic` (documents, kept mail)."""
    path = Path(path).resolve()
    existing = path.stat() if keep_attributes and path.exists() else None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:  # name the file the operator asked for, not our temporary one
        raise type(exc)(exc.errno, exc.strerror, str(path)) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if existing is not None:
                _copy_attributes(handle.fileno(), existing)
            elif new_mode is not None:
                os.fchmod(handle.fileno(), new_mode)
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _copy_attributes(fd: int, existing: os.stat_result) -> None:
    """Owner and group of the replaced file (owner only as root), then its mode (chown may clear setgid)."""
    try:
        os.fchown(fd, existing.st_uid, existing.st_gid)
    except PermissionError:
        with contextlib.suppress(PermissionError):
            os.fchown(fd, -1, existing.st_gid)  # a member of the group may give it
    os.fchmod(fd, stat.S_IMODE(existing.st_mode))


def require_owner_only(path: str | Path, label: str) -> None:
    """Refuse a private key that other users can read: it is already leaked (ssh refuses it too).

    ``label`` names where the path came from (a setting, an option) in the one-line error.
    """
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise CanaryError(f"{label} {path}: cannot read it ({exc.strerror or exc})") from exc
    if not stat.S_ISREG(mode):
        raise CanaryError(f"{label} {path}: not a regular file")
    if mode & 0o077:
        raise CanaryError(f"{label} {path}: other users may read it (mode {stat.S_IMODE(mode):04o}); make it "
                          "readable only by canary's user (chmod 600) / clé lisible par d'autres utilisateurs")
