"""Byte-level normalisation for the fast candidate search, and text helpers for verification.

The candidate search runs over a *squeezed* stream: letters upper-cased and stripped of accents,
digits kept, every separator deleted (spaces, dots, hyphens, slashes, quotes, parentheses, commas).
``06 12 34 56 78``, ``+33 (0)6.12.34.56.78``, ``Hélène`` and ``12/03/1965`` then all become plain
runs that a literal multi-pattern matcher finds. The squeezing is one ``bytes.translate`` per block
(C speed); it loses positions, so verification goes back to the real text around a hit.
"""

from __future__ import annotations

import html
import re
from itertools import accumulate
from types import ModuleType

from canary.normalize import fold

# Field and record separators are kept so that neighbouring fields do not run into each other.
RECORD_SEPARATOR = b"\x1e"
INDENT = b"\x1f"  # a line that starts with a space: a field of a pretty-printed record
_KEEP_ASCII = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@\n;|\t" + RECORD_SEPARATOR + INDENT)


def _letter(ch: str) -> bytes:
    """The base letter of ``ch`` (Æ gives A: index patterns are also squeezed from the raw spelling)."""
    folded = fold(ch)
    return folded[:1].encode() if folded[:1].isalnum() else b""


def _build_table(high: dict[int, bytes]) -> tuple[bytes, bytes]:
    """A translate table and the bytes it deletes, for ASCII plus the given high-byte mapping."""
    table = bytearray(range(256))
    delete = bytearray()
    for b in range(256):
        if b < 0x80:
            up = bytes([b]).upper()[0]
            if up in _KEEP_ASCII:
                table[b] = up
            else:
                delete.append(b)
        else:
            mapped = high.get(b, b"")
            if mapped:
                table[b] = mapped[0]
            else:
                delete.append(b)
    return bytes(table), bytes(delete)


def _utf8_high() -> dict[int, bytes]:
    # U+00C0..U+00FF (the accented Latin-1 letters) are C3 80..C3 BF in UTF-8: the lead byte C3 is
    # dropped and the continuation byte mapped to the base letter. Other lead bytes are dropped.
    return {b: _letter(chr(0xC0 + b - 0x80)) for b in range(0x80, 0xC0)}


def _cp1252_high() -> dict[int, bytes]:
    out = {}
    for b in range(0x80, 0x100):
        ch = bytes([b]).decode("cp1252", errors="ignore")
        if ch:
            out[b] = _letter(ch)
    return out


UTF8_TABLE = _build_table(_utf8_high())
CP1252_TABLE = _build_table(_cp1252_high())

# Multi-byte sequences a single-byte table cannot express, rewritten first (only for non-ASCII blocks).
Rewrites = tuple[tuple[bytes, bytes], ...]
_UTF8_REWRITES: Rewrites = ((b"\xc5\x92", b"OE"), (b"\xc5\x93", b"OE"), (b"\xe2\x80\x99", b"'"), (b"\xc2\xa0", b" "),
                            (b"\xe2\x80\xaf", b" "))
_CP1252_REWRITES: Rewrites = ((b"\x8c", b"OE"), (b"\x9c", b"OE"), (b"\xc6", b"AE"), (b"\xe6", b"AE"), (b"\xdf", b"SS"))


# Records inside one line (tuples of an SQL extended insert, objects of a JSON array) keep a boundary,
# so that the weak-pair pre-check looks in one record instead of +/- PAIR_WINDOW bytes of a long line.
# No value of the registry holds these sequences, so no pattern is cut by them.
# An indented line keeps a mark, so that the pair pre-check looks beyond a short line only where the
# line is part of a pretty-printed record (a short CSV row is a whole record).
RECORD_REWRITES = ((b"),(", RECORD_SEPARATOR), (b"), (", RECORD_SEPARATOR), (b"},{", RECORD_SEPARATOR),
                   (b"}, {", RECORD_SEPARATOR), (b"\n ", b"\n" + INDENT))
# Every rewrite of an encoding, for the native core's single pass.
_ALL_REWRITES = {"utf-8": RECORD_REWRITES + _UTF8_REWRITES, "cp1252": RECORD_REWRITES + _CP1252_REWRITES}

_UTF8_LEADS = (b"\xc5", b"\xe2", b"\xc2")  # single bytes: memchr-fast tests
_CP1252_LEADS = tuple(old for old, _new in _CP1252_REWRITES)


def squeeze(data: bytes, encoding: str = "utf-8") -> bytes:
    """The candidate-search form of a block of text in ``encoding`` (utf-8 or cp1252)."""
    # Record boundaries first, then the non-ASCII sequences: no rewrite can then create or cut another
    # (their bytes never overlap, and a non-ASCII rewrite's space can no longer complete "), ("), so
    # this equals the one left-to-right pass of the native core.
    if b")," in data or b"}," in data or b"\n " in data:
        for old, new in RECORD_REWRITES:
            data = data.replace(old, new)
    if encoding == "utf-8":
        table, delete = UTF8_TABLE
        if not data.isascii() and (_UTF8_LEADS[0] in data or _UTF8_LEADS[1] in data or _UTF8_LEADS[2] in data):
            for old, new in _UTF8_REWRITES:
                data = data.replace(old, new)
    else:
        table, delete = CP1252_TABLE
        if not data.isascii() and any(lead in data for lead in _CP1252_LEADS):
            for old, new in _CP1252_REWRITES:
                data = data.replace(old, new)
    return data.translate(table, delete)


def squeeze_slices(data: bytes, encoding: str, cuts: list[int], native: ModuleType | None = None
                   ) -> tuple[bytes, list[int], list[int]]:
    """``squeeze`` of each slice ``data[cuts[i]:cuts[i + 1]]`` (the last to the end), joined; where each
    slice starts in the result; the newlines before each slice, and in all as a last entry (newlines
    survive squeezing one for one). ``cuts`` starts at 0 and increases.

    ``native`` (the compiled core, when built) gives the same bytes several times faster.
    """
    if native is not None:
        table, delete = UTF8_TABLE if encoding == "utf-8" else CP1252_TABLE
        rewrites = _ALL_REWRITES["utf-8" if encoding == "utf-8" else "cp1252"]
        squeezed: tuple[bytes, list[int], list[int]] = native.squeeze_slices(data, table, delete, rewrites, cuts)
        return squeezed
    ends = [*cuts[1:], len(data)] if cuts else []
    parts = [_squeeze_slice(data, a, b, encoding) for a, b in zip(cuts, ends, strict=True)]
    starts = list(accumulate((len(part) for part in parts[:-1]), initial=0)) if parts else []
    newlines = list(accumulate((part.count(b"\n") for part in parts), initial=0))
    return b"".join(parts), starts, newlines


def _squeeze_slice(data: bytes, a: int, b: int, encoding: str) -> bytes:
    # A slice that starts an indented line (its newline ended the slice before) keeps the mark.
    if 0 < a < b and data[a - 1:a + 1] == b"\n ":
        return INDENT + squeeze(data[a + 1:b], encoding)
    return squeeze(data[a:b], encoding)


def squeeze_blocks(data: bytes, encoding: str, block: int, native: ModuleType | None = None
                   ) -> tuple[bytes, list[int], list[int]]:
    """``squeeze_slices`` over slices of ``block`` bytes."""
    return squeeze_slices(data, encoding, list(range(0, len(data), block)), native)


def squeeze_value(value: str) -> bytes:
    """The squeezed form of a registry value, as it would appear in a squeezed stream."""
    return squeeze(fold(value).encode("ascii"))


# --- decoding ----------------------------------------------------------------------------------------

_JSON_ESCAPE = re.compile(rb"\\u([0-9a-fA-F]{4})")
_HTML_ENTITY = re.compile(rb"&(?:#[0-9]{2,7}|#[xX][0-9a-fA-F]{2,6}|[A-Za-z]{2,8});")


def unescape(data: bytes, encoding: str) -> bytes:
    """Resolve JSON ``\\u00e9`` escapes and HTML entities in place (only when the block has any)."""
    # A one-byte test first: it runs at memchr speed, a two-byte needle about 13x slower.
    if b"\\" in data and b"\\u" in data:
        data = _JSON_ESCAPE.sub(lambda m: _encode_char(chr(int(m.group(1), 16)), encoding), data)
    if b"&" in data:
        data = _HTML_ENTITY.sub(lambda m: _encode_char(html.unescape(m.group(0).decode("ascii")), encoding), data)
    return data


def _encode_char(text: str, encoding: str) -> bytes:
    return text.encode(encoding, errors="replace")


def decode(data: bytes, encoding: str) -> str:
    """Text of a verification window; stray cp1252 bytes in a UTF-8 stream are read as cp1252."""
    if encoding == "utf-8":
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            text = data.decode("utf-8", errors="replace")
            return text if text.count("\ufffd") <= 2 else data.decode("cp1252", errors="replace")
    return data.decode("cp1252", errors="replace")


def sniff_encoding(head: bytes) -> str:
    """utf-16 (BOM), utf-8 (valid, BOM or ASCII) or cp1252, from the first block of a stream.

    A UTF-16 BOM is believed only when the content agrees: the digits, separators and newlines of any
    record are ASCII, and ASCII in UTF-16 holds NUL bytes. Two BOM bytes in front of 8-bit text (a
    broken export, or a thief hiding a dump) leave it read as the 8-bit text it is.
    """
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        body = head[2:]
        if not body or b"\x00" in body:
            return "utf-16"
        head = body
    try:
        head.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        # A multi-byte sequence cut by the end of the block is not an error.
        if exc.start >= len(head) - 3 and exc.reason == "unexpected end of data":
            return "utf-8"
        return "cp1252"


def looks_binary(head: bytes) -> bool:
    """Mostly control bytes or NULs (executables, images, encrypted or random data)."""
    if not head:
        return False
    sample = head[:65536]
    controls = sum(sample.count(bytes([b])) for b in (*range(0, 9), 11, 12, *range(14, 32)))
    return controls > len(sample) * 0.10


# --- evidence -----------------------------------------------------------------------------------------

_WORD = re.compile(r"[^\W\d_]+|\d+")


def mask(text: str, limit: int = 160) -> str:
    """A snippet safe to store and show: words keep their first letter, long numbers their last two digits."""
    text = " ".join(text.split())[:limit]

    def _mask(m: re.Match[str]) -> str:
        word = m.group(0)
        if word.isdigit():
            return "•" * (len(word) - 2) + word[-2:] if len(word) > 4 else "•" * len(word)
        return word[0] + "•" * (len(word) - 1)

    return _WORD.sub(_mask, text)

