"""The console's listener under a flood: idle connections past its room make way for a new client,
and an accept that fails (out of descriptors) is paced, counted and logged once, not a traceback per
try in a loop that took a core from every listener of the process."""

from __future__ import annotations

import http.client
import logging
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from waitress import wasyncore

from canary.socket_caps import ACCEPT_PAUSE_SECONDS
from canary.web.serving import console_server
from tests.support.descriptors import out_of_descriptors
from tests.support.wait import wait_for


@pytest.fixture
def console(app) -> Iterator[Any]:
    server = console_server(app, "127.0.0.1", 0)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield server
    server.trigger.pull_trigger(lambda: wasyncore.close_all(server._map))
    thread.join(5)
    server.task_dispatcher.shutdown()


def _healthz(port: int, source: str = "127.0.0.1") -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5, source_address=(source, 0))
    try:
        conn.request("GET", "/healthz")
        return conn.getresponse().status
    finally:
        conn.close()


def test_console_accept_errors_are_paced_counted_and_logged_once(console, caplog):
    caplog.set_level(logging.INFO)
    port = int(console.effective_port)
    with out_of_descriptors() as descriptors:
        descriptors.free(1)
        waiting = socket.create_connection(("127.0.0.1", port), timeout=5)  # the last free descriptor
        began = time.monotonic()
        first = wait_for(lambda: console.tally.as_dict()["accept_errors"])
        failures = wait_for(lambda: (n := console.tally.as_dict()["accept_errors"]) >= first + 3 and n)
        elapsed = time.monotonic() - began
    assert failures <= elapsed / ACCEPT_PAUSE_SECONDS + 2, (failures, elapsed)  # a pause after each
    waiting.sendall(b"GET /healthz HTTP/1.1\r\nHost: console\r\nConnection: close\r\n\r\n")
    assert waiting.recv(64).startswith(b"HTTP/1.1 200")
    waiting.close()
    lines = [r for r in caplog.records if "not accepted" in r.getMessage() or "accept()" in r.getMessage()]
    assert len(lines) == 1 and "errno 24" in lines[0].getMessage() and lines[0].exc_info is None


def test_a_full_console_makes_room_for_healthz(console):
    """Idle connections up to the console's room (behind a proxy every client has the proxy's address:
    no per-address cap here) do not lock /healthz out: the oldest idle one is closed for it."""
    port = int(console.effective_port)
    console.max_connections = 20  # the room, made small for the test (1,000 in service)
    idle = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(20)]
    try:
        assert _healthz(port, "127.0.0.2") == 200
        assert idle[0].recv(16) == b""  # the oldest idle connection made way
    finally:
        for conn in idle:
            conn.close()
