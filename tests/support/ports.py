"""Ports on the loopback for peers and processes of the tests.

Prefer port 0 and reading the bound port back (our listeners and ``canary serve --port 0`` say it). A
number chosen in advance (``free_port``) is only for programs that cannot report theirs (MariaDB,
PostgreSQL, Squid, a second ``canary serve`` given several ports): another process may take it in the
meantime, so the test waits for *that* program to listen on it (``wait_for_port``) and fails clearly.
"""

from __future__ import annotations

import socket
import subprocess

from tests.support.wait import wait_for


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port nothing listens on right now (TCP by default, ``socket.SOCK_DGRAM`` for UDP)."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def closed_port() -> int:
    """A loopback port nobody listens on, for a test of a refused connection."""
    return free_port()


def accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return False
    return True


def wait_for_port(port: int, process: subprocess.Popen | None = None, timeout: float = 30.0) -> None:
    """Until something accepts TCP connections on ``port``; AssertionError if ``process`` exits first."""

    def listening() -> bool:
        if process is not None and process.poll() is not None:
            detail = process.stderr.read() if process.stderr else ""
            raise AssertionError(f"the process exited (status {process.returncode}) before listening: {detail}")
        return accepts(port)

    wait_for(listening, timeout=timeout, interval=0.1, message=f"nothing listens on 127.0.0.1:{port}")
