"""HTTP(S) to the exact addresses the SSRF check accepted: no second DNS lookup (DNS rebinding).

``requests`` resolves the URL's host name again when it connects, so a hostile DNS server could answer
a public address to the check and 127.0.0.1 or 169.254.169.254 to the connection. Here the URL keeps
its host name (hence the ``Host`` header, the TLS SNI and the certificate check against that name)
while the TCP connection goes to the checked addresses only: urllib3 connections whose one connect
step (``_new_conn``) is replaced. Environment proxies are not used: a proxy would resolve the name
itself, beyond the check.
"""

from __future__ import annotations

import os
import socket
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3 import HTTPConnectionPool, PoolManager
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.util.connection import create_connection

SESSIONS_KEPT = 16  # keep-alive sessions per client (one per host, port and checked addresses)


def _connect_pinned(connection: Any, addresses: tuple[str, ...]) -> socket.socket:
    """Connect to the first reachable address of ``addresses`` (IP literals: no name lookup)."""
    if not addresses:
        raise NewConnectionError(connection, "no checked address to connect to")
    error: OSError | None = None
    for address in addresses:
        try:
            return create_connection((address, connection.port), connection.timeout,
                                     source_address=connection.source_address,
                                     socket_options=connection.socket_options)
        except TimeoutError as exc:
            raise ConnectTimeoutError(connection, f"connection to {connection.host} ({address}) timed out "
                                      f"(connect timeout={connection.timeout})") from exc
        except OSError as exc:
            error = exc
    raise NewConnectionError(connection, f"failed to connect to {connection.host} ({', '.join(addresses)}): "
                             f"{error}")


class _PinnedConnect:
    """Mixin for urllib3 connections: the one connect step goes to ``pinned_addresses`` only."""

    def __init__(self, *args: Any, pinned_addresses: tuple[str, ...] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pinned_addresses = pinned_addresses

    def _new_conn(self) -> socket.socket:
        return _connect_pinned(self, self.pinned_addresses)


class PinnedHTTPConnection(_PinnedConnect, HTTPConnection):
    pass


class PinnedHTTPSConnection(_PinnedConnect, HTTPSConnection):
    """TLS on top of the pinned socket; SNI and certificate checks use ``self.host``, the URL's name."""


_CONNECTION_CLASSES: Mapping[str, type[HTTPConnection]] = {"http": PinnedHTTPConnection,
                                                           "https": PinnedHTTPSConnection}


class _PinnedPoolManager(PoolManager):
    def __init__(self, addresses: tuple[str, ...], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.addresses = addresses

    def _new_pool(self, scheme: str, host: str, port: int,
                  request_context: dict[str, Any] | None = None) -> HTTPConnectionPool:
        pool = super()._new_pool(scheme, host, port, request_context)
        pool.ConnectionCls = _CONNECTION_CLASSES[scheme]
        pool.conn_kw["pinned_addresses"] = self.addresses
        return pool


class PinnedAdapter(HTTPAdapter):
    """A requests transport adapter whose connections go only to ``addresses``; never retries, never proxies."""

    def __init__(self, addresses: tuple[str, ...]) -> None:
        self.addresses = addresses  # before super().__init__, which builds the pool manager
        super().__init__(max_retries=0)

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any) -> None:
        self.poolmanager = _PinnedPoolManager(self.addresses, num_pools=connections, maxsize=maxsize,
                                              block=block, **pool_kwargs)

    def send(self, request: requests.PreparedRequest, stream: bool = False, timeout: Any = None,
             verify: bool | str = True, cert: Any = None, proxies: Mapping[str, str] | None = None
             ) -> requests.Response:
        return super().send(request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=None)


def ca_bundle() -> bool | str:
    """What requests itself would verify with: the operator's ``REQUESTS_CA_BUNDLE`` or the system store."""
    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True


class PinnedHTTP:
    """Keep-alive HTTP client, one per sending thread; each request names the addresses it may reach."""

    def __init__(self) -> None:
        self._sessions: OrderedDict[tuple[str, str, int | None, tuple[str, ...]], requests.Session] = OrderedDict()

    def _session(self, url: str, addresses: tuple[str, ...]) -> requests.Session:
        parts = urlsplit(url)
        key = (parts.scheme, (parts.hostname or "").lower(), parts.port, addresses)
        session = self._sessions.get(key)
        if session is None:
            session = requests.Session()
            adapter = PinnedAdapter(addresses)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            self._sessions[key] = session
            while len(self._sessions) > SESSIONS_KEPT:
                self._sessions.popitem(last=False)[1].close()
        self._sessions.move_to_end(key)
        return session

    def post(self, url: str, addresses: list[str] | tuple[str, ...], *, data: bytes, headers: dict[str, str],
             timeout: float) -> requests.Response:
        """POST without following redirects (a redirect could lead anywhere, past the check)."""
        return self._session(url, tuple(addresses)).post(url, data=data, headers=headers, timeout=timeout,
                                                         allow_redirects=False, verify=ca_bundle(), proxies={})

    def close(self) -> None:
        while self._sessions:
            self._sessions.popitem()[1].close()
