"""`serve` with a port already taken names the listener and the port, in one line, exit 1."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def taken_port():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    yield sock.getsockname()[1]
    sock.close()


def _serve(db_path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "canary", "--db", str(db_path), "serve", *args],
                          capture_output=True, text=True, cwd=REPO, timeout=60)


def _error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr, stderr
    return lines[0]


def test_console_port_in_use(db_path, taken_port):
    result = _serve(db_path, "--port", str(taken_port), "--callback-port", "0", "--no-access-logs", "--no-sweeps")
    assert result.returncode == 1
    line = _error_line(result.stderr)
    assert "console" in line and f"127.0.0.1:{taken_port}" in line and "in use" in line


def test_callback_port_in_use(db_path, taken_port):
    result = _serve(db_path, "--port", "0", "--callback-port", str(taken_port), "--no-access-logs", "--no-sweeps")
    assert result.returncode == 1
    line = _error_line(result.stderr)
    assert "callback" in line and f"127.0.0.1:{taken_port}" in line and "in use" in line
