"""Refusing notification targets inside the hospital network or the host itself (SSRF).

A notification URL is operator input that makes this process connect somewhere. Unless the operator
allowed it explicitly, the host must resolve only to public (globally routable) addresses: no
loopback, private, link-local (cloud metadata at 169.254.169.254), multicast or reserved ranges.
"""

from __future__ import annotations

import ipaddress
import socket
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


def check_target(policy: TargetPolicy, host: str, port: int | None) -> list[str]:
    """Resolve ``host`` and refuse it unless every address is allowed; return the addresses."""
    if not host:
        raise CanaryError("notification URL has no host")
    try:
        infos = socket.getaddrinfo(host.strip("[]"), port or 0, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise CanaryError(f"cannot resolve notification host {host!r}: {exc}") from exc
    addresses = sorted({str(info[4][0]) for info in infos})  # IP sockaddrs: the host is always a str
    for text in addresses:
        reason = policy.refusal(ipaddress.ip_address(text.split("%")[0]))
        if reason:
            raise CanaryError(
                f"refused notification target {host} ({text}): {reason} address; allow it explicitly with "
                "'canary config set alert.allowed_target_cidrs ...' or alert.allow_private_targets"
            )
    return addresses
