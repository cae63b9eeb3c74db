"""Caps for a ``socketserver`` TCP listener facing the internet: connections open at once per address
and in all (past them a new connection is closed at once, before a thread is spent on it), and accept
errors (out of descriptors: Errno 24) logged once a minute with a count, with a short pause instead of
the tight retry loop ``socketserver`` would spin in, which would starve the other listeners."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from typing import Any

from canary.throttled_log import OncePerMinute


class CappedTCPServerMixin:
    """Mix in before ``socketserver.ThreadingTCPServer``; set ``max_connections``, ``max_per_client``
    and ``cap_log`` (a logger) on the class or the instance."""

    max_connections = 256
    max_per_client = 16
    cap_log = logging.getLogger("canary")
    cap_name = "listener"

    def _caps(self) -> tuple[dict[str, int], threading.Lock, OncePerMinute, OncePerMinute]:
        state = self.__dict__.get("_cap_state")
        if state is None:
            state = ({}, threading.Lock(),
                     OncePerMinute(self.cap_log, f"{self.cap_name}: connections closed over the limits"),
                     OncePerMinute(self.cap_log, f"{self.cap_name}: connections not accepted"))
            self.__dict__["_cap_state"] = state
        return state

    def get_request(self) -> tuple[socket.socket, Any]:
        try:
            request: tuple[socket.socket, Any] = super().get_request()  # type: ignore[misc]
            return request
        except OSError as exc:
            self._caps()[3].note(f"{exc.strerror or exc} (errno {exc.errno})")
            time.sleep(0.05)  # the connection waits in the backlog; no busy loop meanwhile
            raise

    def process_request(self, request: Any, client_address: Any) -> None:
        counts, lock, refusals, _ = self._caps()
        client = str(client_address[0])
        with lock:
            mine, total = counts.get(client, 0), sum(counts.values())
            refused = mine >= self.max_per_client or total >= self.max_connections
            if not refused:
                counts[client] = mine + 1
        if refused:
            refusals.note(f"{client}: {mine} open from it, {total} in all")
            with contextlib.suppress(OSError):
                request.close()
            return
        super().process_request(request, client_address)  # type: ignore[misc]

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)  # type: ignore[misc]
        finally:
            counts, lock, _, _ = self._caps()
            client = str(client_address[0])
            with lock:
                left = counts.get(client, 1) - 1
                if left > 0:
                    counts[client] = left
                else:
                    counts.pop(client, None)
