"""Every answer of the callback listener looks like the portal, whatever the method and the path.

Raw requests over loopback (http.client) so that any method can be sent, TRACE and made-up ones included.
"""

from __future__ import annotations

import http.client
import socket

import pytest

from canary.store.events import list_events

# The date, the length (a GIF, a page) and "Connection: close" after a request the listener refuses to read.
VARYING = {"date", "content-length", "connection"}


def _send(port: int, method: str, path: str, body: bytes | None = None,
          headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def _portal_headers(headers: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k not in VARYING}


REQUESTS = [
    ("POST", "/hooks/call", b"To=%2B33612345678", {"Content-Type": "application/x-www-form-urlencoded"}),
    ("POST", "/hooks/sms", b'{"to": "+33612345678"}', {"Content-Type": "application/json"}),
    ("TRACE", "/mon-espace/documents/x", None, {}),
    ("PROPFIND", "/", None, {}),
    ("FOO", "/connexion", None, {}),
    ("DELETE", "/hooks/call", None, {}),
    ("GET", "/hooks/sms", None, {}),
    ("OPTIONS", "/", None, {}),
    ("PUT", "/a/b/c", b"x", {}),
    ("CONNECT", "/", None, {}),
]


def test_every_method_and_path_gets_the_portal_headers_and_page(start_listeners, canaries):
    port = start_listeners()["CallbackService"].port
    status, reference_headers, reference = _send(port, "GET", "/anything")
    assert status == 200 and b"Espace patient" in reference
    expected = _portal_headers(reference_headers)
    for method, path, body, headers in REQUESTS:
        status, got_headers, got = _send(port, method, path, body, headers)
        assert _portal_headers(got_headers) == expected, (method, path, got_headers)
        assert got == reference, (method, path, status, got[:200])
        assert status in (200, 403), (method, path, status)
    # A request too large for the listener still gets the portal's headers and page.
    status, got_headers, got = _send(port, "POST", "/connexion", b"x" * (100 * 1024))
    assert _portal_headers(got_headers) == expected and got == reference
    # So does one the HTTP parser refuses (a header without a colon).
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n")
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    head, _, page = raw.partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0].endswith(b" 400 Bad Request") and page == reference
    assert b"Cache-Control: no-store" in head
    assert b"waitress" not in raw.lower()


@pytest.mark.parametrize("method", ["TRACE", "PROPFIND", "FOO", "PATCH", "POST", "DELETE", "OPTIONS"])
def test_a_token_records_a_hit_whatever_the_method(start_listeners, canaries, db, method):
    port = start_listeners()["CallbackService"].port
    token = canaries[0]["token"]
    _send(port, method, f"/mon-espace/documents/{token}")
    [event] = list_events(db, channel="http")
    assert event["canary_id"] == canaries[0]["id"] and event["details"]["method"] == method
