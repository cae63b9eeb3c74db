"""The lock that tells a running ``canary serve`` is using a registry.

``serve`` holds a shared ``flock`` on ``<registry>.serve-lock`` for its whole life (several serves of
one registry may share it); ``canary restore`` asks for it exclusively and without waiting, so it refuses
to replace a registry under a running serve. The kernel drops the lock when the process dies, even by
``kill -9``, so a crash never leaves a stale lock behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from canary.errors import CanaryError
from canary.files import open_private


def lock_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".serve-lock")


def _open(db_path: Path) -> int:
    return open_private(lock_path(db_path))


class ServeLock:
    """Held (shared) by ``canary serve`` from start to stop."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = _open(self.db_path)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            os.close(fd)
            raise CanaryError(f"registry {self.db_path} is being restored; start serve once the restore is over") \
                from exc
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the lock
            self._fd = None


@contextlib.contextmanager
def no_serve_running(db_path: Path) -> Iterator[None]:
    """Hold the registry exclusively for the block; refuse at once when a serve uses it."""
    fd = _open(db_path)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise CanaryError(f"registry {db_path} is in use by a running 'canary serve'; stop it before "
                              "restoring") from exc
        yield
    finally:
        os.close(fd)
