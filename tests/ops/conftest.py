"""Fixtures of the operations tests: a real `canary serve` process on loopback ports, a backup passphrase."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.cli import ROOT
from tests.support.ports import free_port, wait_for_port

PASSPHRASE = "correct horse battery staple"


@dataclass
class Served:
    process: subprocess.Popen[str]
    console_port: int
    callback_port: int

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        _, stderr = self.process.communicate(timeout=30)
        return stderr


@pytest.fixture
def passphrase(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("CANARY_BACKUP_PASSPHRASE", PASSPHRASE)
    return PASSPHRASE


@pytest.fixture
def serve() -> Iterator[Callable[..., Served]]:
    """Start `canary serve` on a registry with free loopback ports; every one started is stopped after the test."""
    started: list[Served] = []

    def _start(db_path: Path, *extra: str, access_logs: bool = False) -> Served:
        console_port, callback_port = free_port(), free_port()
        watch_logs = [] if access_logs else ["--no-access-logs"]
        process = subprocess.Popen(
            [sys.executable, "-m", "canary", "--db", str(db_path), "serve", "--port", str(console_port),
             "--callback-host", "127.0.0.1", "--callback-port", str(callback_port), *watch_logs, *extra],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        served = Served(process, console_port, callback_port)
        started.append(served)
        wait_for_port(console_port, process)
        wait_for_port(callback_port, process)
        return served

    yield _start
    for served in started:
        if served.process.poll() is None:
            served.stop()
