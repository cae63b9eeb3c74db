"""Request bodies are bounded by route class before they are read: nothing anonymous is spooled to disk.

Measured against a real `canary serve`: a 300 MB ``POST /auth/login`` is answered 413 as soon as its
headers arrive (the test sends only a few bytes of the body), and a chunked body is cut off once it passes
the form limit, long before the upload limit.
"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import requests

from canary.web.bodies import FORM_LIMIT, body_limit


def _status(reply: bytes) -> int:
    return int(reply.split(b" ", 2)[1])


def _ask(base: str, head: bytes, body: bytes) -> bytes:
    parts = urlsplit(base)
    with socket.create_connection((parts.hostname, parts.port), timeout=15) as sock:
        sock.sendall(head + body)
        reply = b""
        try:
            while b"\r\n" not in reply:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                reply += chunk
        except ConnectionResetError:
            pass
    return reply


def test_an_anonymous_huge_login_body_is_refused_before_it_is_read(served):
    head = (b"POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: 314572800\r\n\r\n")
    reply = _ask(served, head, b"username=admin&password=")
    assert reply and _status(reply) == 413, reply[:200]


def test_a_chunked_body_is_cut_off_at_the_form_limit(served):
    head = b"POST /auth/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunk = b"a" * 65536
    body = b"".join(b"%x\r\n" % len(chunk) + chunk + b"\r\n" for _ in range(FORM_LIMIT // len(chunk) + 2))
    reply = _ask(served, head, body)
    assert reply and _status(reply) == 413, reply[:200]


def test_ordinary_requests_and_the_upload_route_keep_working(served):
    assert requests.post(f"{served}/auth/login", data={"username": "x", "password": "y" * 20},
                         timeout=10).status_code == 401
    assert body_limit("POST", "/api/v1/scans", 100 * 2**20) > 100 * 2**20
    assert body_limit("POST", "/auth/login", 100 * 2**20) == FORM_LIMIT
