"""Writing files so that a reader never sees half of one."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


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
