"""Caps for TCP listeners facing the internet: connections open at once per address and in all (past
them a new connection is closed at once, before a thread is spent on it), and accept errors (out of
descriptors: Errno 24/23) paced, counted and logged once a minute, instead of the tight retry loop
``socketserver`` and waitress would spin in, which would take a core from every other listener.

Three shapes: :class:`PacedAcceptMixin` (accept errors only, for a ``socketserver`` server with caps
of its own, e.g. ICAP), :class:`CappedTCPServerMixin` (both, for a ``socketserver`` server) and
:class:`CappedWSGIServer` (both, for waitress: the HTTP callback listener)."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections import Counter
from typing import Any

from waitress.adjustments import Adjustments
from waitress.server import TcpWSGIServer

from canary.throttled_log import OncePerMinute

# After a failed accept: the connection waits in the backlog, the listener retries 20 times a second
# at most (a tight loop took a whole core while descriptors were short).
ACCEPT_PAUSE_SECONDS = 0.05


class ListenerTally:
    """What one listener refused and failed to accept since it started, with the log lines for them
    (one a minute at most, with the count)."""

    def __init__(self, name: str, logger: logging.Logger, *, every: float = 60.0) -> None:
        self.name = name
        self.refused = 0
        self.accept_errors = 0
        self._lock = threading.Lock()
        self._refusals = OncePerMinute(logger, f"{name}: connections closed over the limits", every=every)
        self._failures = OncePerMinute(logger, f"{name}: connections not accepted", every=every)

    def refusal(self, detail: str) -> None:
        with self._lock:
            self.refused += 1
        self._refusals.note(detail)

    def accept_error(self, exc: OSError) -> None:
        with self._lock:
            self.accept_errors += 1
        self._failures.note(f"{exc.strerror or exc} (errno {exc.errno})")

    def as_dict(self) -> dict[str, int]:
        with self._lock:
            return {"refused": self.refused, "accept_errors": self.accept_errors}


class ServedListener:
    """What /readyz and /metrics ask of a listener service running one server in one thread
    (``_server`` with a ``tally``, ``_thread``): whether it serves, and what its caps refused."""

    _server: Any
    _thread: threading.Thread | None

    def ready(self) -> str | None:
        """None while bound and serving, else why not (/readyz, canary_listener_up)."""
        alive = self._server is not None and self._thread is not None and self._thread.is_alive()
        return None if alive else "not serving"

    def connection_tally(self) -> dict[str, int]:
        """Connections refused over the caps and failed accepts since start (/metrics)."""
        server = self._server
        return server.tally.as_dict() if server is not None else {"refused": 0, "accept_errors": 0}


class PacedAcceptMixin:
    """Mix in before a ``socketserver`` TCP server; set ``cap_log`` (a logger) and ``cap_name``."""

    cap_log = logging.getLogger("canary")
    cap_name = "listener"
    accept_pause = ACCEPT_PAUSE_SECONDS

    @property
    def tally(self) -> ListenerTally:
        tally = self.__dict__.get("_tally")
        if tally is None:
            tally = self.__dict__["_tally"] = ListenerTally(self.cap_name, self.cap_log)
        return tally

    def get_request(self) -> tuple[socket.socket, Any]:
        try:
            request: tuple[socket.socket, Any] = super().get_request()  # type: ignore[misc]
            return request
        except OSError as exc:
            self.tally.accept_error(exc)
            time.sleep(self.accept_pause)  # socketserver would retry at once, in a tight loop
            raise


class CappedTCPServerMixin(PacedAcceptMixin):
    """Mix in before ``socketserver.ThreadingTCPServer``; set ``max_connections``, ``max_per_client``,
    ``cap_log`` and ``cap_name`` on the class or the instance."""

    max_connections = 256
    max_per_client = 16

    def _open(self) -> tuple[dict[str, int], threading.Lock]:
        state = self.__dict__.get("_open_state")
        if state is None:
            state = self.__dict__["_open_state"] = ({}, threading.Lock())
        return state

    def process_request(self, request: Any, client_address: Any) -> None:
        counts, lock = self._open()
        client = str(client_address[0])
        with lock:
            mine, total = counts.get(client, 0), sum(counts.values())
            refused = mine >= self.max_per_client or total >= self.max_connections
            if not refused:
                counts[client] = mine + 1
        if refused:
            self.tally.refusal(f"{client}: {mine} open from it, {total} in all")
            with contextlib.suppress(OSError):
                request.close()
            return
        super().process_request(request, client_address)  # type: ignore[misc]

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)  # type: ignore[misc]
        finally:
            counts, lock = self._open()
            client = str(client_address[0])
            with lock:
                left = counts.get(client, 1) - 1
                if left > 0:
                    counts[client] = left
                else:
                    counts.pop(client, None)


class _ChannelsByClient(dict[int, Any]):
    """waitress's ``active_channels`` (descriptor -> channel), also counting channels per address:
    waitress removes a closed channel from it, which is where the count goes down."""

    def __init__(self) -> None:
        super().__init__()
        self.client_of: dict[int, str] = {}
        self.per_client: Counter[str] = Counter()

    def track(self, fd: int, client: str) -> None:
        self.client_of[fd] = client
        self.per_client[client] += 1

    def __delitem__(self, fd: int) -> None:
        super().__delitem__(fd)
        client = self.client_of.pop(fd, None)
        if client is not None:
            self.per_client[client] -= 1
            if self.per_client[client] <= 0:
                del self.per_client[client]


def _idle(channel: Any) -> bool:
    """Nothing in flight: no request being answered, nothing left to send (a half-sent request is idle)."""
    return not channel.requests and not channel.total_outbufs_len


class CappedWSGIServer(TcpWSGIServer):
    """waitress's TCP server with caps checked as a connection is accepted, in the loop thread.

    Past ``max_per_client`` a new connection from that address is closed at once. Past
    ``max_connections`` in all, the oldest idle connection of the address holding the most is closed
    to make room (waitress would stop accepting instead: idle connections held by a flood then lock
    every visitor out until they time out); if nothing is idle, the new one is closed. A failed
    accept is counted and paced."""

    _map: dict[int, Any]  # waitress's socket map, and the bound address (untyped in its stubs)
    effective_host: str
    effective_port: str

    def __init__(self, application: Any, *, max_connections: int, max_per_client: int, name: str,
                 logger: logging.Logger, **adjustments: Any) -> None:
        self.max_connections = max_connections
        self.max_per_client = max_per_client
        self.tally = ListenerTally(name, logger)
        # waitress's own limit (it stops accepting) stays out of the way of ours; its map also holds
        # the listening socket and the wake-up pipe.
        adj = Adjustments(connection_limit=max_connections + 8, **adjustments)
        super().__init__(application, map={}, adj=adj)
        self._channels = _ChannelsByClient()
        self.active_channels = self._channels  # type: ignore[assignment]  # waitress keeps it up to date
        if len(adj.listen) > 1:  # a name with several addresses: one is listened on, and said
            logger.warning("%s: %s resolves to %d addresses; listening on %s only (give one address)", name,
                           adjustments.get("host"), len(adj.listen), adj.listen[0][3][0])

    def handle_accept(self) -> None:
        try:
            pair = self.accept()
        except OSError as exc:
            self.tally.accept_error(exc)
            time.sleep(ACCEPT_PAUSE_SECONDS)  # in the loop thread: at most 20 retries a second
            return
        if pair is None:
            return
        conn, addr = pair
        try:
            self.set_socket_options(conn)
        except OSError:  # the peer already left
            conn.close()
            return
        addr = self.fix_addr(addr)
        client = str(addr[0])
        if not self._room_for(client):
            with contextlib.suppress(OSError):
                conn.close()
            return
        channel: Any = self.channel_class(self, conn, addr, self.adj, map=self._map)
        self._channels.track(channel._fileno, client)

    def _room_for(self, client: str) -> bool:
        channels = self._channels
        mine = channels.per_client.get(client, 0)
        if mine >= self.max_per_client:
            self.tally.refusal(f"{client}: {mine} open from it")
            return False
        if len(channels) < self.max_connections:
            return True
        idle = [channel for channel in list(channels.values()) if _idle(channel)]
        if not idle:
            self.tally.refusal(f"{client}: {len(channels)} open in all, none idle")
            return False
        victim = max(idle, key=lambda ch: (channels.per_client.get(channels.client_of.get(ch._fileno, ""), 0),
                                           -ch.last_activity))
        self.tally.refusal(f"an idle connection of {channels.client_of.get(victim._fileno)} closed to make "
                           f"room for {client} ({len(channels)} open in all)")
        victim.handle_close()
        return True

