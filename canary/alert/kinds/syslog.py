"""Syslog for a SIEM: ``syslog://host[:port]`` (UDP) or ``syslog+tcp://``, one CEF record per message.

RFC 5424 framing, facility local4, sent to the addresses the SSRF check accepted (never the name
resolved again).
"""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from canary.alert.kinds.base import (
    SSRF_SETTINGS,
    Delivery,
    DeliveryError,
    DestinationKind,
    always_notices,
    host_target,
    no_remote_check,
    no_url_check,
    plain_redact,
)
from canary.alert.text import strip_controls
from canary.alert.window import parse_time

DEFAULT_PORT = 514
CEF_SEVERITY = {"info": 1, "low": 3, "medium": 5, "high": 8, "critical": 10}
SYSLOG_SEVERITY = {"info": 6, "low": 5, "medium": 4, "high": 3, "critical": 2}
SYSLOG_FACILITY_LOCAL4 = 20
NOTICE_CEF_SEVERITY, NOTICE_SYSLOG_SEVERITY = 1, 6  # a state change is news, not a page: lowest, informational


def _cef_escape_header(value: str) -> str:
    """CEF header field: backslash and pipe escaped; a header holds no line break (one record per line)."""
    return strip_controls(value.replace("\\", "\\\\").replace("|", "\\|"))


def _cef_escape_value(value: Any) -> str:
    """CEF extension value: backslash and '=' escaped, CR and LF written as \\r and \\n, other controls dropped."""
    text = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
    text = text.replace("\\", "\\\\").replace("=", "\\=").replace("\r", "\\r").replace("\n", "\\n")
    return strip_controls(text)


def _epoch_ms(value: str | None) -> int | None:
    parsed = parse_time(value)
    return int(parsed.timestamp() * 1000) if parsed else None


def cef_line(payload: dict[str, Any]) -> str:
    """One CEF record: the alert's essentials as ArcSight-style extension fields.

    A state-change notice is named ``Alert acknowledged`` / ``Alert resolved``, has severity 1 and adds
    ``act`` (the new state) and ``suser`` (who).
    """
    level = payload["severity"]
    notice = payload.get("notice")
    extension = {
        "externalId": payload["idempotency_key"], "cnt": payload["count"],
        "start": _epoch_ms(payload["first_seen"]), "end": _epoch_ms(payload["last_seen"]),
        "cs1Label": "systems", "cs1": payload["systems"],
        "cs2Label": "establishments", "cs2": payload.get("establishments", []),
        "cs3Label": "accounts", "cs3": payload.get("accounts", []),
        "cs4Label": "canaries", "cs4": payload["canaries"][:20],
        "cs5Label": "window", "cs5": json.dumps(payload.get("window") or {}, separators=(",", ":")),
        "cn1Label": "alertId", "cn1": payload["id"], "msg": (payload.get("text") or {}).get("en", ""),
    }
    title = (payload.get("first_action") or {}).get("en") or payload["channel"]
    cef_severity = CEF_SEVERITY.get(level, 5)
    if notice:
        act = "updated" if notice.get("type") == "update" else notice["to"]
        extension.update({"act": act, "suser": notice.get("by")})
        title, cef_severity = f"Alert {act}", NOTICE_CEF_SEVERITY
    ext = " ".join(f"{k}={_cef_escape_value(v)}" for k, v in extension.items() if v not in (None, "", []))
    return (f"CEF:0|canary|canary|1|{_cef_escape_header(payload['channel'])}|"
            f"{_cef_escape_header(title)}|{cef_severity}|{ext}")


def syslog_message(payload: dict[str, Any]) -> bytes:
    """RFC 5424 syslog framing around the CEF record."""
    level = NOTICE_SYSLOG_SEVERITY if payload.get("notice") else SYSLOG_SEVERITY.get(payload["severity"], 4)
    pri = SYSLOG_FACILITY_LOCAL4 * 8 + level
    stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    host = socket.gethostname() or "-"
    return f"<{pri}>1 {stamp} {host} canary - - - {cef_line(payload)}".encode()


def send(delivery: Delivery) -> None:
    """To the checked addresses (IP literals), never to the name resolved again."""
    parts = urlsplit(delivery.url)
    host, port = parts.hostname or "", parts.port or DEFAULT_PORT
    message = syslog_message(delivery.payload)
    error: OSError | None = None
    for address in delivery.addresses:
        try:
            if parts.scheme.lower() == "syslog+tcp":
                with socket.create_connection((address, port), timeout=delivery.timeout) as sock:
                    sock.sendall(message + b"\n")
            else:
                family = socket.AF_INET6 if ":" in address else socket.AF_INET
                with socket.socket(family, socket.SOCK_DGRAM) as sock:
                    sock.settimeout(delivery.timeout)
                    sock.sendto(message, (address, port))
            return
        except OSError as exc:
            error = exc
    raise DeliveryError(f"syslog {host}:{port}: {error or 'no checked address'}")


KIND = DestinationKind(
    name="syslog", schemes=("syslog", "syslog+tcp"), example="syslog+tcp://siem.example.fr:6514",
    check_url=no_url_check, network_targets=host_target, redact=plain_redact, send=send,
    takes_notices=always_notices, check_remote_add=no_remote_check, settings=SSRF_SETTINGS)
