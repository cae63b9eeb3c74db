"""Request bodies bounded before they are read, by route class, in waitress itself.

waitress reads a whole request body (spooling it to a temporary file past a few hundred KB) before the
application sees the request, so Flask's ``MAX_CONTENT_LENGTH`` comes too late: an anonymous 300 MB
``POST /auth/login`` would sit on the server's disk first. The parser below chooses the limit as soon as
the request line is read: the upload routes get the upload limit (``web.upload_max_mb``), every other
route ``FORM_LIMIT``. A declared ``Content-Length`` over it is answered 413 before any byte of the body is
read; a chunked body is cut off (413) once it passes the limit.
"""

from __future__ import annotations

from typing import Any, cast

from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser

# Forms and JSON: seeding, settings, notes. Far above what any of them sends.
FORM_LIMIT = 1024 * 1024
# Multipart framing around an uploaded file (boundaries, part headers, the CSRF field).
MULTIPART_MARGIN = 64 * 1024
UPLOAD_ROUTES = frozenset({"/scan", "/api/v1/scans"})


class _Limited:
    """waitress's adjustments with another ``max_request_body_size`` (the rest delegated)."""

    def __init__(self, adj: Any, limit: int) -> None:
        self._adj = adj
        self.max_request_body_size = limit

    def __getattr__(self, name: str) -> Any:
        return getattr(self._adj, name)


def _text(value: Any) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)


def body_limit(method: str, path: str, upload_bytes: int) -> int:
    """The largest body a request may carry, by its route class."""
    if method == "POST" and path.rstrip("/") in UPLOAD_ROUTES:
        return upload_bytes + MULTIPART_MARGIN
    return FORM_LIMIT


def bounded_channel(upload_bytes: int) -> type[HTTPChannel]:
    """A waitress channel class whose requests are bounded by route class (see module doc)."""

    class BoundedParser(HTTPRequestParser):
        def parse_header(self, header_plus: bytes) -> None:
            super().parse_header(header_plus)
            limit = body_limit(_text(getattr(self, "command", "")), _text(getattr(self, "path", "")), upload_bytes)
            self.adj = cast(Any, _Limited(self.adj, limit))

    class BoundedChannel(HTTPChannel):
        parser_class = BoundedParser

    return BoundedChannel
