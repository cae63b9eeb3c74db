"""Disk full, for real: the registry on a 2 MB tmpfs filled to the last byte while hits arrive."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from canary.settings import set_setting
from tests.support.events import events_of
from tests.support.wait import wait_for


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MB tmpfs (root only: skipped where mounting is not permitted)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(mount)],
                          capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.fixture
def db_path(small_disk: Path, request) -> Path:
    return small_disk / "canary.db"


def _fill(folder: Path) -> Path:
    """Take every free byte of the filesystem."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1 << 16, 4096, 512, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\xff" * size)
    finally:
        os.close(fd)
    return filler


def test_hits_answered_while_the_disk_is_full_are_stored_once_there_is_room(
        start_listeners, canaries, db, db_path, small_disk):
    set_setting(db, "journal.max_bytes", str(64 << 10))
    listeners = start_listeners()
    base = f"http://127.0.0.1:{listeners['CallbackService'].port}"
    filler = _fill(small_disk)
    answers = [requests.get(f"{base}/mon-espace/documents/{canaries[0]['token']}?n={i}", timeout=10).status_code
               for i in range(40)]
    assert answers == [200] * 40
    filler.unlink()
    wait_for(lambda: len(events_of(db_path, "watch")) == 1)
    events = events_of(db_path, "http")
    assert sorted(int(e["details"]["path"].rpartition("=")[2]) for e in events) == list(range(40))
    [degraded] = events_of(db_path, "watch")
    assert degraded["details"]["lost"] == 0 and degraded["details"]["journalled"] >= 1
    assert "full" in degraded["details"]["reason"]
