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
from canary.settings import get_setting

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class TargetPolicy:
    allowed: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    allow_private: bool = False

    @classmethod
    def from_settings(cls, db: sqlite_utils.Database) -> TargetPolicy:
        networks = []
        for text in get_setting(db, "alert.allowed_target_cidrs"):
            try:
                networks.append(ipaddress.ip_network(text, strict=False))
            except ValueError as exc:
                raise CanaryError(f"setting alert.allowed_target_cidrs: {text!r} is not an address range") from exc
        return cls(tuple(networks), bool(get_setting(db, "alert.allow_private_targets")))

    def refusal(self, address: IPAddress) -> str | None:
        """Why ``address`` may not be contacted, or None when it may."""
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        if any(address in network for network in self.allowed):
            return None
        if address.is_link_local or address.is_multicast or address.is_unspecified:
            return "link-local (cloud metadata), multicast or unspecified"
        if address.is_loopback or address.is_private:
            return None if self.allow_private else ("loopback" if address.is_loopback else "private")
        if address.is_global:
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
