"""What every kind of alert destination provides, and what one delivery hands it.

A destination is one URL; its scheme chooses its kind (a webhook, syslog, a local file, an apprise
service). ``canary.alert.destinations`` (adding, listing, masking) and ``canary.alert.senders``
(delivering) never ask which kind they hold: they call the kind's functions below.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, urlsplit

import sqlite_utils

from canary.alert.pinned import PinnedHTTP
from canary.errors import CanaryError

# (host, port or None): one place the destination makes canary connect to.
NetworkTarget = tuple[str, int | None]
# The settings every kind that connects somewhere reads (canary.alert.ssrf's policy).
SSRF_SETTINGS = ("alert.allow_private_targets", "alert.allowed_target_cidrs")


class DeliveryError(Exception):
    """The destination did not accept the message; it will be retried."""


@dataclass(frozen=True)
class Delivery:
    """One message on its way to one destination."""

    url: str
    # The destination's HMAC secret (signed kinds only).
    secret: str | None
    # An alert view (or a notice) plus its ``idempotency_key``.
    payload: dict[str, Any]
    # The checked addresses of the destination's one network target ([] when it has none): the kind
    # connects to these, never to the name resolved again (DNS rebinding).
    addresses: list[str]
    timeout: float
    # A shared HTTP client, or None for the kind to open (and close) its own.
    http: PinnedHTTP | None = None


@dataclass(frozen=True)
class DestinationKind:
    """One kind of destination: the URLs that choose it and what it does with them."""

    # Stored in alert_destinations.kind and shown by 'canary notify list'.
    name: str
    # URL schemes that choose this kind; () for the kind that takes every other scheme (apprise).
    schemes: tuple[str, ...]
    # An example URL, for the docs and error messages.
    example: str
    # Refuse a malformed URL (CanaryError, one line naming what is wrong), before any SSRF check.
    check_url: Callable[[str], None]
    # Every host (and port) delivery connects to when the URL chooses it; [] for a fixed vendor endpoint
    # or a local file. Each is checked against the SSRF policy at 'notify add' and again at each delivery.
    network_targets: Callable[[str], list[NetworkTarget]]
    # The URL without credentials or tokens, for listings, logs and the console.
    redact: Callable[[str], str]
    # Deliver one message; DeliveryError unless the peer accepted it. 'canary notify test' sends through
    # this same function (a sample alert), so a test proves the real path.
    send: Callable[[Delivery], None]
    # Whether acknowledge/resolve notices go there (an incident service would page again).
    takes_notices: Callable[[str], bool]
    # Further checks when the destination is added from the console or the API (not the host's CLI).
    check_remote_add: Callable[[sqlite_utils.Database, str], None]
    # Settings this kind reads (besides the delivery timeout, rate and retries every kind has).
    settings: tuple[str, ...]
    # A per-destination secret is made at 'notify add' (printed once) and signs every message.
    signed: bool = False


def split_port(parts: SplitResult) -> int | None:
    try:
        return parts.port
    except ValueError as exc:
        raise CanaryError(f"bad port in notification URL: {exc}") from exc


def host_target(url: str) -> list[NetworkTarget]:
    """The URL's own host and port: where a kind that connects itself connects."""
    parts = urlsplit(url)
    return [(parts.hostname or "", split_port(parts))]


def plain_redact(url: str) -> str:
    """scheme://host[:port]/path: user, password, query and fragment left out."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}"


def always_notices(_url: str) -> bool:
    return True


def no_remote_check(_db: sqlite_utils.Database, _url: str) -> None:
    """For a kind the console and the API may add like the host's CLI does."""


def no_url_check(_url: str) -> None:
    """For a kind whose URL the SSRF check (its host, resolved) is enough to refuse."""


def body_bytes(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
