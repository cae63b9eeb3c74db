"""Webhooks: an HTTP(S) POST of the alert object itself, signed or not.

``json://`` / ``jsons://host/path`` (HTTP / HTTPS) receive the alert object plus ``idempotency_key``;
``hmac://`` / ``hmacs://`` the same with header ``X-Canary-Signature``, HMAC-SHA256 of the body bytes
with the destination's own secret. Connections go to the addresses the SSRF check accepted (pinned).
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlsplit, urlunsplit

import requests

from canary.alert.kinds.base import (
    SSRF_SETTINGS,
    Delivery,
    DeliveryError,
    DestinationKind,
    always_notices,
    body_bytes,
    host_target,
    no_remote_check,
    plain_redact,
)
from canary.alert.pinned import PinnedHTTP
from canary.errors import CanaryError

SIGNATURE_HEADER = "X-Canary-Signature"
# The scheme a webhook URL is written with -> the one it is sent with.
HTTP_SCHEMES = {"json": "http", "jsons": "https", "hmac": "http", "hmacs": "https"}


def signature(secret: str, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of the exact body bytes with the destination's secret."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def plain_http_hint(url: str) -> str:
    """http(s):// chooses no kind (a bare POST of what?): the error names the webhook URL meant."""
    scheme, rest = url.split("://", 1)
    plain = "https" if scheme.lower() == "https" else "http"
    native = ("jsons" if plain == "https" else "json") + "://" + rest
    return (f"{scheme.lower()}:// names no kind of destination: for a webhook receiving the alert as JSON use "
            f"{plain_redact(native)} ({'hmacs' if plain == 'https' else 'hmac'}:// to have it signed)")


def check_url(url: str) -> None:
    if not urlsplit(url).hostname:
        raise CanaryError(f"notification URL {plain_redact(url)!r} has no host")


def _post(delivery: Delivery, *, signed: bool) -> None:
    own_client = delivery.http is None
    client = delivery.http or PinnedHTTP()
    try:
        _post_with(client, delivery, signed=signed)
    finally:
        if own_client:
            client.close()


def _post_with(http: PinnedHTTP, delivery: Delivery, *, signed: bool) -> None:
    parts = urlsplit(delivery.url)
    url = urlunsplit((HTTP_SCHEMES[parts.scheme.lower()], parts.netloc, parts.path or "/", parts.query, ""))
    body = body_bytes(delivery.payload)
    headers = {"Content-Type": "application/json; charset=utf-8",
               "Idempotency-Key": delivery.payload["idempotency_key"], "User-Agent": "canary-alert"}
    if signed:
        headers[SIGNATURE_HEADER] = signature(delivery.secret or "", body)
    try:
        response = http.post(url, delivery.addresses, data=body, headers=headers, timeout=delivery.timeout)
    except requests.RequestException as exc:
        raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc
    if response.is_redirect:  # not followed: the next hop was never checked
        raise DeliveryError(f"HTTP {response.status_code}: redirect refused (not followed)")
    if not 200 <= response.status_code < 300:
        raise DeliveryError(f"HTTP {response.status_code}")


def send_plain(delivery: Delivery) -> None:
    _post(delivery, signed=False)


def send_signed(delivery: Delivery) -> None:
    _post(delivery, signed=True)


WEBHOOK = DestinationKind(
    name="webhook", schemes=("json", "jsons"), example="jsons://siem.example.fr/canary",
    check_url=check_url, network_targets=host_target, redact=plain_redact, send=send_plain,
    takes_notices=always_notices, check_remote_add=no_remote_check, settings=SSRF_SETTINGS)

SIGNED_WEBHOOK = DestinationKind(
    name="signed-webhook", schemes=("hmac", "hmacs"), example="hmacs://soc.example.fr/hooks/canary",
    check_url=check_url, network_targets=host_target, redact=plain_redact, send=send_signed,
    takes_notices=always_notices, check_remote_add=no_remote_check, settings=SSRF_SETTINGS, signed=True)
