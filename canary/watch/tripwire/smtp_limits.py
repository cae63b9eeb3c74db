"""Per-client rate limits of the SMTP receiver, and the flood windows they open.

A client (an IPv4 address, or an IPv6 /64: one host usually holds a whole /64) may open so many
connections and start so many messages (MAIL commands) per sliding minute; beyond that it gets a
temporary error and nothing is stored. Only refused attempts count as a flood: the first messages of
any client always go through, so a sighting is never dropped for being first. A flood window opens at
the first refusal and closes when the client has been quiet for a minute or the window reaches
``flood_window`` seconds; each window is recorded once (see ``smtp.CanaryMailHandler``).

Pure bookkeeping, driven by one event loop thread; the clock is a parameter.
"""

from __future__ import annotations

import ipaddress
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlite_utils

from canary.settings import get_int
from canary.store.events import utcnow
from canary.watch.tripwire.noise import Network, networks_setting, parse_ip

RATE_WINDOW = 60.0  # seconds: the limits are per minute


@dataclass(frozen=True)
class RateLimits:
    messages_per_minute: int = 30
    connections_per_minute: int = 60
    flood_window: float = 3600.0
    exempt: tuple[Network, ...] = ()

    @classmethod
    def from_settings(cls, db: sqlite_utils.Database) -> RateLimits:
        return cls(
            messages_per_minute=max(0, get_int(db, "tripwire.smtp_rate_messages")),
            connections_per_minute=max(0, get_int(db, "tripwire.smtp_rate_connections")),
            flood_window=float(max(60, get_int(db, "tripwire.smtp_flood_window"))),
            exempt=networks_setting(db, "tripwire.smtp_rate_exempt"),
        )


@dataclass
class Flood:
    """One client over its limits, from the first refusal until it calms down."""

    client: str
    reason: str  # the limit first exceeded: "messages" or "connections"
    started_at: str  # wall clock, for the record
    started: float  # monotonic
    last_refused: float
    refused_messages: int = 0
    refused_connections: int = 0
    last_refused_at: str | None = None
    closed: bool = False
    event_id: int | None = None

    def summary(self, limits: RateLimits) -> dict[str, Any]:
        return {
            "client": self.client, "reason": self.reason, "started_at": self.started_at,
            "last_refused_at": self.last_refused_at, "closed": self.closed, "refused_messages": self.refused_messages,
            "refused_connections": self.refused_connections,
            "limits": {"messages_per_minute": limits.messages_per_minute,
                       "connections_per_minute": limits.connections_per_minute},
        }


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    flood: Flood | None = None  # the open flood window of a refused client
    opened: bool = False  # this refusal opened the window (record it now)


ALLOWED = Verdict(True)


@dataclass
class _Client:
    connections: deque[float] = field(default_factory=deque)
    messages: deque[float] = field(default_factory=deque)
    flood: Flood | None = None


class ClientRateLimiter:
    def __init__(self, limits: RateLimits, clock: Callable[[], float] = time.monotonic):
        self.limits = limits
        self.clock = clock
        self._clients: dict[str, _Client] = {}
        self._closed: list[Flood] = []

    def client_key(self, peer: str | None) -> str | None:
        """The bucket of a peer address; None for exempt or unparsable peers (not limited)."""
        address = parse_ip(peer)
        if address is None:
            return None
        for network in self.limits.exempt:
            if address.version == network.version and address in network:
                return None
        if address.version == 6:
            return str(ipaddress.ip_network(f"{address}/64", strict=False))
        return str(address)

    def connection(self, peer: str | None) -> Verdict:
        return self._attempt(peer, "connections", self.limits.connections_per_minute)

    def message(self, peer: str | None) -> Verdict:
        return self._attempt(peer, "messages", self.limits.messages_per_minute)

    def take_closed(self) -> list[Flood]:
        """Flood windows closed since the last call (by ``expire`` or by a new window replacing them)."""
        closed, self._closed = self._closed, []
        return closed

    def expire(self) -> list[Flood]:
        """Close the windows of clients that calmed down, forget idle clients; return what closed."""
        now = self.clock()
        for key, client in list(self._clients.items()):
            if client.flood is not None and self._over(client.flood, now):
                self._close(client)
            _prune(client.connections, now)
            _prune(client.messages, now)
            if client.flood is None and not client.connections and not client.messages:
                del self._clients[key]
        return self.take_closed()

    def close_all(self) -> list[Flood]:
        for client in self._clients.values():
            if client.flood is not None:
                self._close(client)
        self._clients.clear()
        return self.take_closed()

    def _attempt(self, peer: str | None, kind: str, limit: int) -> Verdict:
        key = self.client_key(peer)
        if key is None or limit <= 0:
            return ALLOWED
        now = self.clock()
        client = self._clients.setdefault(key, _Client())
        stamps = client.connections if kind == "connections" else client.messages
        _prune(stamps, now)
        if len(stamps) < limit:
            stamps.append(now)
            return ALLOWED
        opened = False
        if client.flood is not None and self._over(client.flood, now):
            self._close(client)
        if client.flood is None:
            client.flood = Flood(client=key, reason=kind, started_at=utcnow(), started=now, last_refused=now)
            opened = True
        flood = client.flood
        flood.last_refused = now
        flood.last_refused_at = utcnow()
        if kind == "connections":
            flood.refused_connections += 1
        else:
            flood.refused_messages += 1
        return Verdict(False, flood, opened)

    def _over(self, flood: Flood, now: float) -> bool:
        return now - flood.last_refused >= RATE_WINDOW or now - flood.started >= self.limits.flood_window

    def _close(self, client: _Client) -> None:
        assert client.flood is not None
        client.flood.closed = True
        self._closed.append(client.flood)
        client.flood = None


def _prune(stamps: deque[float], now: float) -> None:
    while stamps and now - stamps[0] >= RATE_WINDOW:
        stamps.popleft()
