"""Where a canary goes: a target URL read into a channel, a canonical address and its options."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from canary.errors import CanaryError
from canary.plant.channels import SCHEMES
from canary.plant.channels.base import Target


def parse_target(url: str) -> Target:
    """Read ``mllp(s)://host:port``, ``http(s)://host/.../fhir`` or ``file:///path`` into a Target."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise CanaryError(f"invalid target URL {url!r}: {exc}") from exc
    query = dict(parse_qsl(parts.query))
    if parts.username or parts.password:
        raise CanaryError("target URLs must not carry credentials; use --token-env for FHIR bearer tokens")
    channel = SCHEMES.get(parts.scheme.lower())
    if channel is None:
        raise CanaryError(f"unsupported target {url!r}: use mllp://, mllps:// (MLLP over TLS), http(s):// (FHIR) "
                          f"or file://")
    return channel.parse_target(url, parts, port, query)
