"""Files the service writes so that a reader never sees half of one, and private files it only reads."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from canary.errors import CanaryError


def write_atomic(path: Path, text: str, encoding: str = "utf-8") -> None:
    """Write via a temporary file in the same folder and rename: never a half-written file."""
    write_atomic_bytes(path, text.encode(encoding))


def write_atomic_bytes(path: Path, data: bytes) -> None:
    """The bytes version of :func:`write_atomic` (documents, kept mail)."""
    path = Path(path).resolve()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
