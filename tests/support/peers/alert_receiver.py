"""Real peers and helpers for the alert tests: an HTTP receiver that dedupes on the idempotency key,
waiting for a condition, and storing watcher-like events."""

from __future__ import annotations

import hashlib
import hmac
import json
import ssl
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import sqlite_utils

from canary.store.events import record_event


class Receiver:
    """A webhook receiver that can go down (port closed) and come back on the same port.

    It counts every request per idempotency key (``hits``) and keeps the first body per key
    (``received``), as a receiver that deduplicates would.
    """

    def __init__(self, tls: ssl.SSLContext | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.tls = tls
        self.host = host
        self.location: str | None = None  # answer with this Location header (a redirect)
        self.hits: Counter[str] = Counter()
        self.received: dict[str, dict[str, Any]] = {}
        self.headers: dict[str, dict[str, str]] = {}
        self.raw: dict[str, bytes] = {}
        self.arrival: dict[str, float] = {}
        self.delay = 0.0  # seconds before answering: a slow receiver, to kill a sender mid-request
        self.delays: dict[str, float] = {}  # per idempotency key, instead of ``delay``
        self.status = 200
        self.lock = threading.Lock()
        self.port = port
        self._server: ThreadingHTTPServer | None = None
        self.up()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # http.server API
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                if len(body) < length:
                    return  # the sender died mid-request: nothing arrived, as for any real receiver
                key = self.headers.get("Idempotency-Key", "")
                with receiver.lock:
                    receiver.hits[key] += 1
                    if key not in receiver.received:
                        receiver.received[key] = json.loads(body)
                        receiver.headers[key] = dict(self.headers.items())
                        receiver.raw[key] = body
                        receiver.arrival[key] = time.time()
                if delay := receiver.delays.get(key, receiver.delay):
                    time.sleep(delay)
                self.send_response(receiver.status)
                if receiver.location:
                    self.send_header("Location", receiver.location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        return Handler

    def up(self) -> None:
        server = ThreadingHTTPServer((self.host, self.port), self._handler())
        server.daemon_threads = True
        if self.tls is not None:
            server.socket = self.tls.wrap_socket(server.socket, server_side=True)
        self.port = server.server_address[1]
        self._server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()

    def down(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        return self.url_for(self.host)

    def url_for(self, name: str) -> str:
        """This receiver's URL with another host name (that a test resolver maps to it)."""
        return f"{'jsons' if self.tls else 'json'}://{name}:{self.port}/hook"

    @property
    def total(self) -> int:
        return sum(self.hits.values())

    def verified(self, key: str, secret: str) -> bool:
        expected = "sha256=" + hmac.new(secret.encode(), self.raw[key], hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, self.headers[key].get("X-Canary-Signature", ""))



def hit(db: sqlite_utils.Database, canary_id: str, channel: str = "http", severity: str = "high",
        group: str | None = None, **fields: Any) -> int:
    """Store an event the way a watcher does."""
    details = dict(fields.pop("details", {}) or {})
    if group is not None:
        details["group"] = group
    event_id = record_event(db, channel=channel, canary_id=canary_id, severity=severity, details=details, **fields)
    assert event_id is not None
    return event_id


class Workers:
    """The alert services exactly as ``canary serve`` gets them (correlation and delivery threads)."""

    def __init__(self, db_path: Any) -> None:
        from canary.alert.services import services
        from canary.serve import ServeContext

        self.services = services(ServeContext(db_path=db_path), {"alerts": True})
        assert [s.name for s in self.services] == ["alert-correlation", "alert-delivery"]

    def __enter__(self) -> Workers:
        for service in self.services:
            service.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for service in reversed(self.services):
            service.stop()
