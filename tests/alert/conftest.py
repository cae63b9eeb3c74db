"""Fixtures of the alert tests: real peers on 127.0.0.1 (ephemeral ports) and fast settings."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
import sqlite_utils

from canary.alert.delivery import DeliveryWorker
from canary.settings import set_setting
from tests.support.peers.alert_receiver import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.down()


@pytest.fixture
def fast_alerts(db: sqlite_utils.Database) -> sqlite_utils.Database:
    """Settings for quick tests: loopback receivers explicitly allowed, short retries and polls, no rate limit."""
    set_setting(db, "alert.allowed_target_cidrs", "127.0.0.1/32")
    set_setting(db, "alert.retry_base_seconds", "0.05")
    set_setting(db, "alert.retry_max_seconds", "0.3")
    set_setting(db, "alert.poll_seconds", "0.05")
    set_setting(db, "alert.rate_per_minute", "0")
    set_setting(db, "alert.lease_seconds", "2")
    return db


@pytest.fixture
def delivery(db: sqlite_utils.Database) -> Iterator[DeliveryWorker]:
    """A delivery worker on the test's registry, driven pass by pass with ``run_once()``."""
    worker = DeliveryWorker(db)
    yield worker
    worker.close()


@pytest.fixture
def udp_listener() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5)
    yield sock
    sock.close()
