"""A delivery error as one line an operator can act on, instead of the HTTP library's nested repr.

``ConnectionError: HTTPConnectionPool(host='127.0.0.1', port=9): Max retries exceeded ... [Errno 111]
Connection refused`` becomes ``connection refused by 127.0.0.1:9 (nothing listens there)``. Short errors
of our own (``HTTP 500``, ``redirect refused``) are kept as they are.
"""

from __future__ import annotations

import re

MAX_LENGTH = 200
_HOST_PORT = re.compile(r"host='([^']+)', port=(\d+)")
_ERRNO = re.compile(r"\[Errno -?\d+\] ([^\"')]+)")
# (what the library says, what the operator reads): the first that matches wins
_KNOWN = (
    (re.compile(r"Connection refused", re.I), "connection refused by {where} (nothing listens there)"),
    (re.compile(r"timed out|Timeout", re.I), "no answer from {where} in time (timeout)"),
    (re.compile(r"Name or service not known|nodename nor servname|getaddrinfo failed|NameResolution", re.I),
     "cannot resolve the host of {where}"),
    (re.compile(r"CERTIFICATE_VERIFY_FAILED|certificate verify failed", re.I),
     "TLS certificate of {where} refused (unknown issuer, expired or wrong name)"),
    (re.compile(r"SSLError|SSL:", re.I), "TLS failed with {where}"),
    (re.compile(r"Network is unreachable|No route to host", re.I), "no route to {where}"),
    (re.compile(r"Connection reset|RemoteDisconnected|Connection aborted", re.I),
     "{where} closed the connection before answering"),
)


def readable_error(text: str | None) -> str | None:
    """One line saying what failed and where; None stays None."""
    if text is None:
        return None
    one_line = " ".join(text.split())
    if len(one_line) <= 80 and "(" not in one_line:
        return one_line
    found = _HOST_PORT.search(one_line)
    where = f"{found.group(1)}:{found.group(2)}" if found else "the destination"
    for pattern, words in _KNOWN:
        if pattern.search(one_line):
            return words.format(where=where)
    inner = _ERRNO.findall(one_line)
    shown = f"{inner[-1].strip()} ({where})" if inner else one_line
    return shown if len(shown) <= MAX_LENGTH else shown[:MAX_LENGTH - 1] + "…"
