"""Sending one message to one destination. Each kind's sender raises ``DeliveryError`` unless the peer
accepted it.

Every message carries its idempotency key (header ``Idempotency-Key`` and field ``idempotency_key``,
CEF ``externalId``, a ``ref:`` line in chat and mail text) so a receiver can drop a repeat: delivery is
at least once.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from canary.alert.destinations import Destination
from canary.alert.kinds.base import Delivery, DeliveryError
from canary.alert.pinned import PinnedHTTP
from canary.alert.ssrf import Resolver, TargetPolicy, check_target, system_resolver
from canary.errors import CanaryError

__all__ = ["DeliveryError", "scrub", "send"]


def send(destination: Destination, payload: dict[str, Any], *, policy: TargetPolicy, timeout: float,
         http: PinnedHTTP | None = None, resolver: Resolver = system_resolver) -> None:
    """Deliver ``payload`` (an alert view plus ``idempotency_key``) to ``destination``.

    The host is resolved and checked once, here (DNS may have changed since 'notify add'); webhooks and
    syslog then connect to exactly those addresses. apprise makes its own connections and resolves
    the name again (see docs/alert.md, SSRF).
    """
    kind = destination.handler
    addresses: list[str] = []
    try:
        for target in kind.network_targets(destination.url):
            addresses = check_target(policy, *target, resolver=resolver)  # one target for those we connect
    except CanaryError as exc:
        raise DeliveryError(str(exc)) from exc
    try:
        kind.send(Delivery(destination.url, destination.secret, payload, addresses, timeout, http))
    except DeliveryError as exc:
        raise DeliveryError(scrub(str(exc), destination)) from exc


def scrub(text: str, destination: Destination) -> str:
    """Remove the URL's credentials and query (tokens) from an error kept in the registry and the logs."""
    parts = urlsplit(destination.url)
    for secret in (parts.password, parts.username, parts.query, destination.secret):
        if secret and len(secret) >= 3:
            text = text.replace(secret, "***")
    return text
