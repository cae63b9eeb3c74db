"""A local file: ``jsonl:///absolute/path.jsonl``, one alert object per line, appended and fsynced.

No network: nothing to check against the SSRF policy. From the console or the API the file must lie
under ``alert.jsonl_folder`` (the host chose it).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from urllib.parse import urlsplit

import sqlite_utils

from canary.alert.kinds.base import (
    Delivery,
    DeliveryError,
    DestinationKind,
    NetworkTarget,
    always_notices,
    body_bytes,
    plain_redact,
)
from canary.errors import CanaryError
from canary.settings import get_str


def check_url(url: str) -> None:
    path = urlsplit(url).path
    if not path.startswith("/") or path.endswith("/"):
        raise CanaryError("jsonl:// needs an absolute file path, e.g. jsonl:///var/log/canary/alerts.jsonl")


def no_network(_url: str) -> list[NetworkTarget]:
    return []


def check_remote_add(db: sqlite_utils.Database, url: str) -> None:
    """The service can write anywhere it may: an admin token must not be enough to choose where."""
    folder = get_str(db, "alert.jsonl_folder")
    path = os.path.normpath(urlsplit(url).path)
    if not folder or os.path.commonpath([path, os.path.normpath(folder)]) != os.path.normpath(folder):
        raise CanaryError(f"jsonl:// files added from the console or the API must lie under alert.jsonl_folder "
                          f"({folder or 'unset'}); set it, or add this target with 'canary notify add' on the server")


def send(delivery: Delivery) -> None:
    path = urlsplit(delivery.url).path
    line = body_bytes(delivery.payload) + b"\n"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    except OSError as exc:
        raise DeliveryError(f"cannot open {path}: {exc}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # whole lines even with several workers appending
        os.write(fd, line)
        os.fsync(fd)
    except OSError as exc:
        raise DeliveryError(f"cannot write {path}: {exc}") from exc
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


KIND = DestinationKind(
    name="jsonl", schemes=("jsonl",), example="jsonl:///var/log/canary/alerts.jsonl",
    check_url=check_url, network_targets=no_network, redact=plain_redact, send=send,
    takes_notices=always_notices, check_remote_add=check_remote_add, settings=("alert.jsonl_folder",))
