"""Telling hits nobody meant (previewers, scanners, resolver echoes) from a person using a canary."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlite_utils

from canary.errors import CanaryError
from canary.settings import get_bool, get_int, get_list
from canary.watch.tripwire.pages import DOCUMENT_PICTURE

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class NoisePolicy:
    scanner_user_agents: tuple[str, ...] = ()
    automated_user_agents: tuple[str, ...] = ()
    scanner_networks: tuple[Network, ...] = ()
    dns_echo_seconds: int = 24 * 3600
    dns_burst_seconds: int = 10

    @classmethod
    def from_settings(cls, db: sqlite_utils.Database) -> NoisePolicy:
        return cls(
            scanner_user_agents=tuple(s.lower() for s in get_list(db, "tripwire.scanner_user_agents") if s),
            automated_user_agents=tuple(s.lower() for s in get_list(db, "tripwire.automated_user_agents") if s)
            if get_bool(db, "tripwire.automated_are_noise") else (),
            scanner_networks=networks_setting(db, "tripwire.scanner_networks"),
            dns_echo_seconds=get_int(db, "tripwire.dns_echo_hours") * 3600,
            dns_burst_seconds=get_int(db, "tripwire.dns_burst_seconds"),
        )


def networks_setting(db: sqlite_utils.Database, name: str) -> tuple[Network, ...]:
    """A list setting of addresses or CIDRs, parsed; a bad entry is an operator error naming the setting."""
    networks = []
    for text in get_list(db, name):
        try:
            networks.append(ipaddress.ip_network(text.strip(), strict=False))
        except ValueError as exc:
            raise CanaryError(f"{name}: {text!r} is not an address or network (e.g. 10.0.0.0/8)") from exc
    return tuple(networks)


def parse_ip(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not text:
        return None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    return getattr(address, "ipv4_mapped", None) or address


def noise_reason(db: sqlite_utils.Database, policy: NoisePolicy, *, channel: str, canary_id: str,
                 source_ip: str | None, user_agent: str | None, hint: str | None, time: str,
                 path_kind: str | None = None, client_hints: str | None = None) -> str | None:
    """Why this hit looks automated (a short tag stored in details.noise), or None for a real use.

    A document picture is fetched only by a program opening the document, and Word's own user agent
    (``ms-office``) is also a previewer's: previewer user agents never apply to those paths. Headless
    browsers, sandboxes and HTTP libraries do, on every path (a sandbox detonating an attachment fetches
    its pictures), and so do network ranges (a mail gateway's sandbox opening attachments).
    """
    if hint:
        return hint
    agent = (user_agent or "").lower()
    hints = (client_hints or "").lower()
    for fragment in policy.automated_user_agents:
        if fragment in agent or fragment in hints:
            return f"automated-fetcher:{fragment}"
    if agent and path_kind != DOCUMENT_PICTURE:
        for fragment in policy.scanner_user_agents:
            if fragment in agent:
                return f"previewer-user-agent:{fragment}"
    address = parse_ip(source_ip)
    if address is not None:
        for network in policy.scanner_networks:
            if address.version == network.version and address in network:
                return f"scanner-network:{network}"
    if channel == "dns":
        return _dns_repeat(db, policy, canary_id, address, time)
    return None


def _dns_repeat(db: sqlite_utils.Database, policy: NoisePolicy, canary_id: str,
                address: ipaddress.IPv4Address | ipaddress.IPv6Address | None, time: str) -> str | None:
    """Resolvers fan one lookup out over several queries and re-query cached names hours later."""
    now = _parse_time(time)
    since = _format_time(now - timedelta(seconds=max(policy.dns_echo_seconds, policy.dns_burst_seconds)))
    burst_since = _format_time(now - timedelta(seconds=policy.dns_burst_seconds))
    rows = db.execute(
        "SELECT time, source FROM events WHERE canary_id = ? AND channel = 'dns' AND time >= ? "
        "ORDER BY id DESC LIMIT 200",
        [canary_id, since],
    ).fetchall()
    network = _resolver_network(address)
    for earlier_time, earlier_source in rows:
        if earlier_time >= burst_since:
            return "dns-burst"
        if network is not None and _resolver_network(parse_ip(earlier_source)) == network:
            return "dns-echo"
    return None


def _resolver_network(address: Any) -> Network | None:
    if address is None:
        return None
    prefix = 24 if address.version == 4 else 48
    return ipaddress.ip_network(f"{address}/{prefix}", strict=False)


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


_EXPLANATIONS = {
    "automated-fetcher": "a headless browser, a sandbox or an HTTP library fetched it ({detail} in its user agent or "
                         "client hints): no person opened the canary. Graded low by tripwire.automated_user_agents; "
                         "set tripwire.automated_are_noise to false to grade these high",
    "previewer-user-agent": "a link previewer or mail scanner ({detail} in its user agent), setting "
                            "tripwire.scanner_user_agents",
    "scanner-network": "from a mail scanner or fetch proxy network ({detail}), setting tripwire.scanner_networks",
    "head-request": "a HEAD request: link checkers ask whether a URL exists, people's readers do not",
    "prefetch": "a prefetch or preview request (Purpose/Sec-Purpose header): nobody opened it yet",
    "dns-burst": "a repeat of a lookup within tripwire.dns_burst_seconds: resolvers fan one lookup out",
    "dns-echo": "a repeat from the same resolver network within tripwire.dns_echo_hours: a cache refresh",
}


def explain(noise: str) -> str:
    """One sentence saying why a hit was graded as noise (stored beside the tag in details.noise_explained)."""
    kind, _, detail = noise.partition(":")
    text = _EXPLANATIONS.get(kind)
    if text is None:
        return f"graded as noise: {noise}"
    if kind == "automated-fetcher":
        detail = next((f for f in _original_case(detail)), detail)
    return text.format(detail=f"'{detail}'")


def _original_case(fragment: str) -> list[str]:
    """The fragment as the operator's list spells it (tags are lower case), for the explanation."""
    from canary.watch.tripwire.settings import DEFAULT_AUTOMATED_USER_AGENTS

    return [f for f in DEFAULT_AUTOMATED_USER_AGENTS if f.lower() == fragment]
