"""Refusing notification targets inside the hospital network or the host itself (SSRF).

A notification URL is operator input that makes this process connect somewhere. Unless the operator
allowed it explicitly, the host must resolve only to public (globally routable) addresses: no
loopback, private, link-local (cloud metadata at 169.254.169.254), multicast or reserved ranges.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass

import sqlite_utils

from canary.errors import CanaryError
from canary.settings import get_bool, get_list

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


NAT64_WELL_KNOWN = ipaddress.ip_network("64:ff9b::/96")
NAT64_LOCAL_USE = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215: the IPv4 sits where the site chose
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
IPV4_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")  # RFC 2765 (SIIT): ::ffff:0:a.b.c.d
SITE_LOCAL = ipaddress.ip_network("fec0::/10")  # deprecated, but still routed inside some sites


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one reaches, for the forms that carry one: IPv4-mapped (``::ffff:a.b.c.d``),
    IPv4-translated (``::ffff:0:a.b.c.d``), NAT64 (``64:ff9b::a.b.c.d``), 6to4 (``2002:AABB:CCDD::``),
    Teredo (the client's address, ``2001:0::/32``) and IPv4-compatible (``::a.b.c.d``).

    Such an address is judged as that IPv4: a NAT64 gateway or a 6to4 relay would carry the connection there.
    """
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped:
        return address.ipv4_mapped
    if address.sixtofour:
        return address.sixtofour
    if address.teredo:
        return address.teredo[1]
    if address in IPV4_TRANSLATED or address in NAT64_WELL_KNOWN or (address in IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


@dataclass(frozen=True)
class TargetPolicy:
    allowed: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    allow_private: bool = False

    @classmethod
    def from_settings(cls, db: sqlite_utils.Database) -> TargetPolicy:
        networks = []
        for text in get_list(db, "alert.allowed_target_cidrs"):
            try:
                networks.append(ipaddress.ip_network(text, strict=False))
            except ValueError as exc:
                raise CanaryError(f"setting alert.allowed_target_cidrs: {text!r} is not an address range") from exc
        return cls(tuple(networks), get_bool(db, "alert.allow_private_targets"))

    def refusal(self, address: IPAddress) -> str | None:
        """Why ``address`` may not be contacted, or None when it may."""
        address = embedded_ipv4(address) or address
        if any(address in network for network in self.allowed):
            return None
        if address in NAT64_LOCAL_USE:
            return None if self.allow_private else "local-use NAT64 (may reach any IPv4)"
        if address.is_link_local or address.is_multicast or address.is_unspecified:
            return "link-local (cloud metadata), multicast or unspecified"
        if address.is_loopback or address.is_private:
            return None if self.allow_private else ("loopback" if address.is_loopback else "private")
        if isinstance(address, ipaddress.IPv6Address) and address in SITE_LOCAL:
            return None if self.allow_private else "site-local"
        if address.is_global and not address.is_reserved:
            return None
        return "reserved or not globally routable"


Resolver = Callable[[str, int], list[str]]
"""``(host, port) -> addresses`` in preference order; raises ``OSError`` when the name does not resolve."""


def system_resolver(host: str, port: int) -> list[str]:
    """The system's resolver (getaddrinfo), addresses in the order it prefers them."""
    infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))  # IP sockaddrs: the host is always a str


def check_target(policy: TargetPolicy, host: str, port: int | None,
                 resolver: Resolver = system_resolver) -> list[str]:
    """Resolve ``host`` once and refuse it unless every address is allowed; return the addresses.

    Callers that connect themselves must connect to these addresses, not resolve the name again
    (see canary.alert.pinned): a second answer may differ (DNS rebinding).
    """
    if not host:
        raise CanaryError("notification URL has no host")
    try:
        addresses = resolver(host.strip("[]"), port or 0)
    except (OSError, UnicodeError) as exc:
        raise CanaryError(f"cannot resolve notification host {host!r}: {exc}") from exc
    if not addresses:
        raise CanaryError(f"cannot resolve notification host {host!r}: no address")
    for text in addresses:
        try:
            address = ipaddress.ip_address(text.split("%")[0])
        except ValueError as exc:
            raise CanaryError(f"resolver gave {text!r} for {host!r}: not an IP address") from exc
        reason = policy.refusal(address)
        if reason:
            raise CanaryError(
                f"refused notification target {host} ({text}): {reason} address; allow it explicitly with "
                "'canary config set alert.allowed_target_cidrs ...' or alert.allow_private_targets"
            )
    return addresses
