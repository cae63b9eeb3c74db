"""Undoing what HTTP and MIME put around a body, as the receiving server or mail client would.

A web server accepts ``Content-Encoding: gzip, deflate, br, zstd`` (listed in the order they were
applied, so undone in reverse), deflate written as zlib or as raw deflate; a mail client reads a
``Content-Transfer-Encoding`` however it is spelt (``base64 ``, ``"base64"``, ``base64 (comment)``).
Decoding streams from one file to another and stops at a bound, so a small bomb cannot fill the disk.
"""

from __future__ import annotations

import binascii
import re
import zlib
from collections.abc import Callable
from typing import BinaryIO, cast

PIECE = 256 * 1024


class DecodingError(ValueError):
    """The body is not what its encoding says, or it expands past its bound; the message says which."""


def content_codings(header: str) -> list[str]:
    """``Content-Encoding: gzip, br`` -> ["br", "gzip"]: the order to undo them in; identity dropped."""
    codings = [c.strip().lower() for c in header.split(",") if c.strip()]
    return [c for c in reversed(codings) if c not in ("identity", "")]


def transfer_encoding(value: str | None) -> str:
    """A MIME Content-Transfer-Encoding as mail clients read it: quotes, comments, blanks and case aside."""
    text = re.sub(r"\([^()]*\)", " ", value or "")
    return text.replace('"', " ").replace("'", " ").strip().lower().split(" ")[0] if text.strip() else ""


def _decompressor(coding: str) -> Callable[[bytes], bytes] | None:
    if coding in ("gzip", "x-gzip"):
        return zlib.decompressobj(zlib.MAX_WBITS | 16).decompress
    if coding == "deflate":
        return _Deflate().decompress
    if coding == "br":
        import brotli  # type: ignore[import-untyped]

        return cast(Callable[[bytes], bytes], brotli.Decompressor().process)
    if coding == "zstd":
        try:
            from compression import zstd  # type: ignore[import-not-found]  # Python 3.14
        except ImportError:
            from backports import zstd
        return cast(Callable[[bytes], bytes], zstd.ZstdDecompressor().decompress)
    return None


class _Deflate:
    """deflate as servers accept it: zlib-wrapped (RFC 9110) or raw (what some clients send)."""

    def __init__(self) -> None:
        self.inner: zlib._Decompress | None = None

    def decompress(self, data: bytes) -> bytes:
        if self.inner is None:
            wrapped = len(data) >= 2 and (data[0] & 0x0F) == 8 and (data[0] << 8 | data[1]) % 31 == 0
            self.inner = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
        return self.inner.decompress(data)


def decode_content(source: BinaryIO, out: BinaryIO, codings: list[str], limit: int) -> bool:
    """``source`` through each of ``codings`` (in order) into ``out``, at most ``limit`` bytes written.

    False when a coding is unknown (the body is left to be read as it is); DecodingError when the data is
    corrupt or expands past ``limit``."""
    steps = [_decompressor(c) for c in codings]
    if not steps or any(step is None for step in steps):
        return False
    written = 0
    try:
        while block := source.read(PIECE):
            for step in steps:
                assert step is not None
                block = step(block)
            written += len(block)
            if written > limit:
                raise DecodingError(f"expands past {limit} bytes (Content-Encoding {', '.join(reversed(codings))})")
            out.write(block)
    except (zlib.error, OSError, EOFError, ValueError) as exc:
        if isinstance(exc, DecodingError):
            raise
        raise DecodingError(f"{exc.__class__.__name__}: {exc}") from exc
    except Exception as exc:  # brotli.error and zstd errors have no common base
        raise DecodingError(f"{exc.__class__.__name__}: {exc}") from exc
    return True


def decode_transfer(data: bytes, encoding: str) -> bytes | None:
    """A MIME part's body under its (normalised) transfer encoding; None if not base64/quoted-printable."""
    if encoding == "base64":
        return binascii.a2b_base64(_base64_text(data))
    if encoding == "quoted-printable":
        return binascii.a2b_qp(data)
    return None


def _base64_text(data: bytes) -> bytes:
    """Base64 characters only, padded: what lenient decoders (mail clients) keep."""
    kept = re.sub(rb"[^A-Za-z0-9+/]", b"", data)
    return kept + b"=" * (-len(kept) % 4) if len(kept) % 4 != 1 else kept[:-1]
