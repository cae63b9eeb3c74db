"""Sending one message to one destination. Each sender raises ``DeliveryError`` unless the peer accepted it.

Every message carries its idempotency key (header ``Idempotency-Key`` and field ``idempotency_key``,
CEF ``externalId``, a ``ref:`` line in chat and mail text) so a receiver can drop a repeat: delivery is
at least once.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import socket
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests

from canary.alert.destinations import Destination, network_targets
from canary.alert.pinned import PinnedHTTP
from canary.alert.ssrf import Resolver, TargetPolicy, check_target, system_resolver
from canary.alert.text import strip_controls
from canary.alert.window import parse_time
from canary.errors import CanaryError

SIGNATURE_HEADER = "X-Canary-Signature"
HTTP_SCHEMES = {"json": "http", "jsons": "https", "hmac": "http", "hmacs": "https"}
APPRISE_HEADER_SCHEMES = ("mailto", "mailtos", "form", "forms", "xml", "xmls")
CEF_SEVERITY = {"info": 1, "low": 3, "medium": 5, "high": 8, "critical": 10}
SYSLOG_SEVERITY = {"info": 6, "low": 5, "medium": 4, "high": 3, "critical": 2}
SYSLOG_FACILITY_LOCAL4 = 20
NOTICE_CEF_SEVERITY, NOTICE_SYSLOG_SEVERITY = 1, 6  # a state change is news, not a page: lowest, informational


class DeliveryError(Exception):
    """The destination did not accept the message; it will be retried."""


def body_bytes(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def signature(secret: str, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of the exact body bytes with the destination's secret."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def plain_text(payload: dict[str, Any]) -> str:
    text = payload.get("text") or {}
    return f"{text.get('fr', '')}\n\n{text.get('en', '')}\n\nref: {payload['idempotency_key']}"


def send(destination: Destination, payload: dict[str, Any], *, policy: TargetPolicy, timeout: float,
         http: PinnedHTTP | None = None, resolver: Resolver = system_resolver) -> None:
    """Deliver ``payload`` (an alert view plus ``idempotency_key``) to ``destination``.

    The host is resolved and checked once, here (DNS may have changed since 'notify add'); webhooks and
    syslog then connect to exactly those addresses. apprise makes its own connections and resolves
    the name again (see docs/alert.md, SSRF).
    """
    addresses: list[str] = []
    try:
        for target in network_targets(destination.url, destination.kind):
            addresses = check_target(policy, *target, resolver=resolver)  # one target for those we connect
    except CanaryError as exc:
        raise DeliveryError(str(exc)) from exc
    try:
        if destination.kind in ("webhook", "signed-webhook"):
            own_client = http is None
            client = http or PinnedHTTP()
            try:
                _send_http(destination, payload, timeout, client, addresses)
            finally:
                if own_client:
                    client.close()
        elif destination.kind == "syslog":
            _send_syslog(destination, payload, timeout, addresses)
        elif destination.kind == "jsonl":
            _append_jsonl(destination, payload)
        else:
            _send_apprise(destination, payload)
    except DeliveryError as exc:
        raise DeliveryError(scrub(str(exc), destination)) from exc


def scrub(text: str, destination: Destination) -> str:
    """Remove the URL's credentials and query (tokens) from an error kept in the registry and the logs."""
    parts = urlsplit(destination.url)
    for secret in (parts.password, parts.username, parts.query, destination.secret):
        if secret and len(secret) >= 3:
            text = text.replace(secret, "***")
    return text


def _send_http(destination: Destination, payload: dict[str, Any], timeout: float, http: PinnedHTTP,
               addresses: list[str]) -> None:
    parts = urlsplit(destination.url)
    url = urlunsplit((HTTP_SCHEMES[parts.scheme.lower()], parts.netloc, parts.path or "/", parts.query, ""))
    body = body_bytes(payload)
    headers = {"Content-Type": "application/json; charset=utf-8", "Idempotency-Key": payload["idempotency_key"],
               "User-Agent": "canary-alert"}
    if destination.kind == "signed-webhook":
        headers[SIGNATURE_HEADER] = signature(destination.secret or "", body)
    try:
        response = http.post(url, addresses, data=body, headers=headers, timeout=timeout)
    except requests.RequestException as exc:
        raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc
    if response.is_redirect:  # not followed: the next hop was never checked
        raise DeliveryError(f"HTTP {response.status_code}: redirect refused (not followed)")
    if not 200 <= response.status_code < 300:
        raise DeliveryError(f"HTTP {response.status_code}")


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
        extension.update({"act": notice["to"], "suser": notice.get("by")})
        title, cef_severity = f"Alert {notice['to']}", NOTICE_CEF_SEVERITY
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


def _send_syslog(destination: Destination, payload: dict[str, Any], timeout: float, addresses: list[str]) -> None:
    """To the checked addresses (IP literals), never to the name resolved again."""
    parts = urlsplit(destination.url)
    host, port = parts.hostname or "", parts.port or 514
    message = syslog_message(payload)
    error: OSError | None = None
    for address in addresses:
        try:
            if parts.scheme.lower() == "syslog+tcp":
                with socket.create_connection((address, port), timeout=timeout) as sock:
                    sock.sendall(message + b"\n")
            else:
                family = socket.AF_INET6 if ":" in address else socket.AF_INET
                with socket.socket(family, socket.SOCK_DGRAM) as sock:
                    sock.settimeout(timeout)
                    sock.sendto(message, (address, port))
            return
        except OSError as exc:
            error = exc
    raise DeliveryError(f"syslog {host}:{port}: {error or 'no checked address'}")


def _append_jsonl(destination: Destination, payload: dict[str, Any]) -> None:
    path = urlsplit(destination.url).path
    line = body_bytes(payload) + b"\n"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    except OSError as exc:
        raise DeliveryError(f"cannot open {path}: {exc}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # whole lines even with several workers appending
        os.write(fd, line)
        os.fsync(fd)
    except OSError as exc:
        raise DeliveryError(f"cannot write {path}: {exc}") from exc
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _apprise_url(url: str, key: str) -> str:
    scheme = url.split("://", 1)[0].lower()
    if scheme not in APPRISE_HEADER_SCHEMES:
        return url
    return url + ("&" if "?" in url else "?") + f"+Idempotency-Key={key}"


def _send_apprise(destination: Destination, payload: dict[str, Any]) -> None:
    import apprise  # loading every plugin is slow; only delivery needs it

    # Redirects are never followed (the next hop was never checked against the SSRF policy): off for the
    # whole asset, and again on each plugin, whatever a "redirect=yes" in the URL asked for.
    notifier = apprise.Apprise(asset=apprise.AppriseAsset(http_redirects=False))
    if not notifier.add(_apprise_url(destination.url, payload["idempotency_key"])):
        raise DeliveryError("apprise refused the URL")
    for plugin in notifier:
        plugin.redirects = False
    notice = payload.get("notice")
    if notice:  # a state change: never the alarm colour of the page it follows
        notify_type = apprise.NotifyType.SUCCESS if notice["to"] == "resolved" else apprise.NotifyType.INFO
    else:
        notify_type = {"critical": apprise.NotifyType.FAILURE, "high": apprise.NotifyType.FAILURE,
                       "medium": apprise.NotifyType.WARNING}.get(payload["severity"], apprise.NotifyType.INFO)
    problems: list[str] = []

    def keep_warnings(entry: Any, _plugin: Any) -> None:
        if entry.level in ("WARNING", "ERROR", "CRITICAL"):
            problems.append(str(entry.message))

    ok = notifier.notify(body=plain_text(payload), title=payload.get("title", ""), notify_type=notify_type,
                         log_callback=keep_warnings)
    if not ok:
        raise DeliveryError(problems[-1][:300] if problems else "apprise: delivery failed")
