"""Fixtures of the access-log tests: a Mediboard system with hand-made canaries."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support.accesslog import SYSTEM
from tests.support.peers.sql import MariaDB, PostgreSQL, running_mariadb, running_postgresql


@pytest.fixture
def canaries(add_hand_canaries: Callable[..., list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Six canaries of ehr-mediboard (IPP 40000000...) and two of lab-sil."""
    ours = add_hand_canaries(SYSTEM, 6)
    add_hand_canaries("lab-sil", 2, kind="lab")
    return ours


@pytest.fixture(scope="module")
def mariadb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MariaDB]:
    """A real MariaDB server for the module's tests (socket + loopback port, temporary data directory)."""
    with running_mariadb(tmp_path_factory.mktemp("mariadb")) as server:
        yield server


@pytest.fixture(scope="module")
def postgresql(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgreSQL]:
    """A real PostgreSQL server for the module's tests (socket + loopback port, temporary data directory)."""
    with running_postgresql(tmp_path_factory.mktemp("postgresql")) as server:
        yield server
