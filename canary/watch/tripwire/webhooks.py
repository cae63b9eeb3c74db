"""Inbound call and SMS webhooks as VoIP providers send them: payload reading and signatures.

Two signature schemes are accepted, both keyed on ``tripwire.webhook_secret``:

- ``X-Signature: sha256=<hex>``: HMAC-SHA256 of the raw request body (generic providers, scripts);
- ``X-Twilio-Signature``: Twilio's scheme, base64 HMAC-SHA1 of the public URL followed by the sorted
  form parameters (name then value), so a Twilio number can point straight at the listener.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

_FROM_KEYS = ("from", "caller", "msisdn", "sender", "from_number")
_TO_KEYS = ("to", "called", "recipient", "to_number")
_BODY_KEYS = ("body", "text", "message", "content")
_STATUS_KEYS = ("callstatus", "call_status", "smsstatus", "messagestatus", "status")
_ID_KEYS = ("callsid", "messagesid", "smssid", "message_uuid", "uuid", "call_id", "messageid", "message_id", "id")
_MAX_BODY = 2000


def hmac_sha256_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def twilio_signature(secret: str, url: str, params: list[tuple[str, str]]) -> str:
    data = url + "".join(f"{key}{value}" for key, value in sorted(params, key=lambda kv: kv[0]))
    return base64.b64encode(hmac.new(secret.encode(), data.encode(), hashlib.sha1).digest()).decode()


def signature_ok(secret: str, *, body: bytes, headers: Any, url: str, form: list[tuple[str, str]]) -> bool:
    """True if the request carries a valid signature under ``secret`` (never with an empty secret)."""
    if not secret:
        return False
    given = headers.get("X-Signature")
    if given:
        expected = hmac_sha256_signature(secret, body)
        if not given.startswith("sha256="):
            given = "sha256=" + given
        return hmac.compare_digest(given.strip().lower(), expected)
    given = headers.get("X-Twilio-Signature")
    if given:
        return hmac.compare_digest(given.strip(), twilio_signature(secret, url, form))
    return False


def read_payload(fields: dict[str, Any]) -> dict[str, str | None]:
    """from / to / body / status / provider_id out of whatever names the provider uses."""
    lowered = {str(k).lower(): v for k, v in fields.items()}

    def first(keys: tuple[str, ...]) -> str | None:
        for key in keys:
            value = lowered.get(key)
            if isinstance(value, dict):  # nested {"number": ...} as some JSON providers send
                value = value.get("number") or value.get("phone_number")
            if value not in (None, ""):
                return str(value)
        return None

    body = first(_BODY_KEYS)
    return {
        "from": first(_FROM_KEYS),
        "to": first(_TO_KEYS),
        "body": body[:_MAX_BODY] if body else None,
        "status": first(_STATUS_KEYS),
        "provider_id": first(_ID_KEYS),
    }
