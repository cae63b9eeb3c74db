"""Behind a reverse proxy: who the client is, and whether it came over TLS, only when a trusted proxy says so.

Every request through nginx reaches waitress from the proxy's address. Left at that, login throttling
(keyed on the client address) lets anybody's five wrong passwords lock the real admin out, and the
session cookie misses ``Secure`` although the browser spoke TLS. Requests from an address in
``web.trusted_proxies`` go through werkzeug's ``ProxyFix`` (one hop of ``X-Forwarded-For`` and
``X-Forwarded-Proto``); from anywhere else those headers are removed, so nobody can claim an address or
TLS by sending them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from werkzeug.middleware.proxy_fix import ProxyFix

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_FORWARDED = ("HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_HOST", "HTTP_X_FORWARDED_PORT",
              "HTTP_X_FORWARDED_PREFIX", "HTTP_FORWARDED")


class TrustedProxies:
    """WSGI middleware: ``ProxyFix`` for requests whose peer is in ``networks``, forwarded headers dropped
    for the others."""

    def __init__(self, app: Any, networks: Iterable[Network]) -> None:
        self.app = app
        self.networks = tuple(networks)
        self.fixed = ProxyFix(app, x_for=1, x_proto=1, x_host=0, x_port=0, x_prefix=0)

    def trusted(self, peer: str) -> bool:
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False
        address = getattr(address, "ipv4_mapped", None) or address
        return any(address.version == n.version and address in n for n in self.networks)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if self.trusted(str(environ.get("REMOTE_ADDR") or "")):
            return self.fixed(environ, start_response)
        for key in _FORWARDED:
            environ.pop(key, None)
        return self.app(environ, start_response)


def parse_networks(texts: Iterable[str], setting: str) -> list[Network]:
    """CIDRs of a list setting; a bad one is an operator error naming the setting."""
    from canary.errors import CanaryError

    out = []
    for text in texts:
        try:
            out.append(ipaddress.ip_network(text.strip(), strict=False))
        except ValueError as exc:
            raise CanaryError(f"{setting}: {text!r} is not an address or network (e.g. 127.0.0.1/32)") from exc
    return out
