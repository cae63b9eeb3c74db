"""Decoding text stretch by stretch: the encoding of each region, and transfer encodings inside text.

A dump is not always one encoding from its first byte to its last: files are concatenated (a UTF-8
export, then a UTF-16 one), byte-order marks sit in the middle, a sample is pasted as base64 or
quoted-printable into a forum post. Sniffing once, from the first chunk, reads the rest wrongly and
says nothing. Here every chunk of a text leaf is first tested in one pass (``text_flags``: the native
core's SIMD loop, or a Python fallback): plain UTF-8 (or the file's own single-byte encoding) with
nothing to decode goes through untouched, so a clean dump costs one pass over memory and no copy.
Only a chunk that holds something (NUL bytes, FF/FE, bytes UTF-8 does not allow, a UTF-8 BOM, a long
run of the base64 alphabet, ``%XX``, ``=XX``, an ``xxd`` offset) takes the slow path:

- its *charset stretches* are found from the NUL pattern of each window (UTF-16 little or big endian,
  UTF-32, 8-bit) and byte-order marks anywhere, boundaries refined unit by unit, and each stretch is
  decoded into the leaf's output encoding (UTF-8, or cp1252 for a legacy single-byte file); bytes
  UTF-8 does not allow are read as cp1252 (a legacy stretch inside a UTF-8 file);
- dense quoted-printable and URL-encoding are decoded in place;
- ``xxd`` hex dumps (offset, grouped hex bytes, ASCII column) are read from their hex groups into a side
  stream like a hex block (their lines blanked in the text: the ASCII column is the same bytes, dotted);
- blocks of base64 (or hex) are decoded into side streams, scanned after the leaf as nested leaves
  (``file!base64@OFFSET``: a zip or a UTF-16 text inside works as anywhere else), bounded in size
  (``sweep.max_spool_bytes``), in number and in depth (``sweep.max_depth``) like archives.

What cannot be read is a skip reason (the caller lists it as a ``skipped`` part): an odd last byte
of UTF-16 text, a run of repeated byte-order marks, a block over its bound.
"""

from __future__ import annotations

import binascii
import codecs
import contextlib
import re
import tempfile
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import IO

FLAG_NUL, FLAG_BOM16, FLAG_NOT_UTF8, FLAG_BOM8, FLAG_RUN, FLAG_PERCENT, FLAG_QP = 1, 2, 4, 8, 16, 32, 64
FLAG_ESCAPE, FLAG_HEXDUMP = 128, 256
_TRANSFER_FLAGS = FLAG_RUN | FLAG_PERCENT | FLAG_QP | FLAG_ESCAPE | FLAG_HEXDUMP
_CHARSET_FLAGS = FLAG_NUL | FLAG_BOM16 | FLAG_BOM8
WINDOW = 1024
MAX_BOM_RUN = 16  # bytes of byte-order marks in a row before the run is reported as not text
MAX_BLOCKS = 1000  # encoded blocks decoded per leaf
SPOOL_IN_MEMORY = 8 * 1024 * 1024

_PERCENT = re.compile(rb"%[0-9A-Fa-f]{2}")
_QP = re.compile(rb"=(?:[0-9A-F]{2}|\r\n|\n)")
_BOMS = re.compile(rb"(?:\xff\xfe\x00\x00|\x00\x00\xfe\xff|\xff\xfe|\xfe\xff|\xef\xbb\xbf)+")
_BOM_KIND = {b"\xff\xfe\x00\x00": "32le", b"\x00\x00\xfe\xff": "32be", b"\xff\xfe": "16le", b"\xfe\xff": "16be",
             b"\xef\xbb\xbf": "8"}
_ALPHABET = bytes(0x41 if chr(b).isascii() and (chr(b).isalnum() or chr(b) in "+/=") else 0x2E for b in range(256))
_HEX = re.compile(rb"[0-9A-Fa-f]+")
_RUN = b"A" * 48  # in the alphabet classes: 48 characters of base64 in a row
_JSON_ESCAPE = re.compile(rb'\\(?:u([0-9A-Fa-f]{4})|([nrt"/\\]))')
_SIMPLE_ESCAPES = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b'"': b'"', b"/": b"/", b"\\": b"\\"}
_CODECS = {"16le": "utf-16-le", "16be": "utf-16-be", "32le": "utf-32-le", "32be": "utf-32-be"}
_UNIT = {"8": 1, "16le": 2, "16be": 2, "32le": 4, "32be": 4}
# A short run of wide text (a row pasted amid 8-bit text): too few NULs for a window's count, but eight
# ASCII characters in a row with the NUL bytes of UTF-16 (four of UTF-32) are not chance.
_SHORT_RUNS = {"32le": re.compile(rb"(?:[^\x00]\x00\x00\x00){4}"), "32be": re.compile(rb"(?:\x00\x00\x00[^\x00]){4}"),
               "16le": re.compile(rb"(?:[^\x00]\x00){8}"), "16be": re.compile(rb"(?:\x00[^\x00]){8}")}
_SHORT_RUN = re.compile(b"|".join(pattern.pattern for pattern in _SHORT_RUNS.values()))
# One line of ``xxd`` output: offset, the bytes in groups of hex digits, two spaces or more, the ASCII column.
_XXD_LINE = re.compile(rb"([0-9a-fA-F]{6,16}): ((?:[0-9a-fA-F]{2})+(?: (?:[0-9a-fA-F]{2})+)*)  +[^\n]{0,256}\n")
_XXD_START = re.compile(rb"[0-9a-fA-F]{6,16}: ")
_XXD_MARK = re.compile(rb"[0-9a-fA-F]{5}0: [0-9a-fA-F]{2}")  # what FLAG_HEXDUMP says
_XXD_LOOKS = 64  # "0: " occurrences of a chunk looked at for an xxd line before deciding it holds none


def _cp1252_fallback(exc: UnicodeError) -> tuple[str, int]:
    """Bytes UTF-8 does not allow, read as cp1252: a legacy stretch inside a UTF-8 file."""
    if isinstance(exc, UnicodeDecodeError):
        return exc.object[exc.start:exc.end].decode("cp1252", "replace"), exc.end
    raise exc


codecs.register_error("canary-cp1252", _cp1252_fallback)


def text_flags(data: bytes, native: ModuleType | None) -> int:
    """What ``data`` may hide (FLAG_*); the native core's one SIMD pass, or the same test in Python."""
    flags_of = getattr(native, "text_flags", None)
    if flags_of is not None:
        return int(flags_of(data))
    flags = 0
    if b"\x00" in data:
        flags |= FLAG_NUL
    if b"\xff" in data or b"\xfe" in data:
        flags |= FLAG_BOM16
    if not data.isascii():
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            if not (exc.start >= len(data) - 3 and exc.reason == "unexpected end of data"):
                flags |= FLAG_NOT_UTF8
        if b"\xef\xbb\xbf" in data:
            flags |= FLAG_BOM8
    if b"%" in data and _PERCENT.search(data):
        flags |= FLAG_PERCENT
    if b"=" in data and _QP.search(data):
        flags |= FLAG_QP
    if b"\\" in data and (b"\\n" in data or b"\\u" in data):
        flags |= FLAG_ESCAPE
    if b"0: " in data and _XXD_MARK.search(data):
        flags |= FLAG_HEXDUMP
    if b"A" * 47 in data.translate(_ALPHABET):  # the native test flags every run of 47 (and some shorter)
        flags |= FLAG_RUN
    return flags


@dataclass
class Block:
    """One base64 (or hex) block being decoded into its spool."""

    offset: int  # where it starts in the leaf's decoded text
    hexadecimal: bool
    spool: IO[bytes]
    pending: bytes = b""
    size: int = 0
    over: bool = False


@dataclass
class RegionReader:
    """Decodes the raw chunks of one text leaf into the output encoding, stretch by stretch."""

    name: str
    target: str  # utf-8 or cp1252: what the matcher reads
    native: ModuleType | None
    max_block: int  # decoded bytes of one block (sweep.max_spool_bytes)
    skip: Callable[[str], None]  # reports a part not read (its reason)
    blocks: list[tuple[str, IO[bytes]]] = field(default_factory=list)  # decoded blocks, scanned after the leaf
    base: int = 0  # where the bytes read start in their file (a byte range of it)
    _kind: str = "8"  # of the stretch the last chunk ended in
    _decoder: codecs.IncrementalDecoder | None = None
    _raw: int = 0  # raw bytes read
    _out: int = 0  # bytes handed on
    _block: Block | None = None
    _xxd: Block | None = None  # the xxd dump under way
    _xxd_cut: bytes = b""  # its line cut by the end of the last chunk
    _count: int = 0  # blocks found
    _boms: list[int] = field(default_factory=lambda: [0, 0])  # a run of byte-order marks: where, how long

    def __post_init__(self) -> None:
        self._raw = self._out = self.base

    def read(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        for chunk in chunks:
            flags = text_flags(chunk, self.native)
            charset = flags & _CHARSET_FLAGS or (flags & FLAG_NOT_UTF8 and self.target == "utf-8")
            if not charset and self._kind == "8" and self._block is None and self._xxd is None and \
                    not self._xxd_cut and not flags & _TRANSFER_FLAGS and not self._pending():
                # The fast path: nothing to decode, not even a copy.
                self._decoder = None
                self._raw += len(chunk)
                self._out += len(chunk)
                yield chunk
                continue
            if not charset and self._kind == "8" and not self._pending():
                self._decoder = None
                out = chunk  # only transfer encodings to look at
            else:
                out = self._decoded(chunk)
            self._raw += len(chunk)
            if out:
                yield self._transfer(out)
        self._note_boms()
        tail = self._flush()
        if tail:
            yield self._transfer(tail)
        self._close_block()
        self._close_xxd()

    def close(self) -> None:
        """Drop the decoded blocks not scanned (the leaf failed)."""
        for _name, spool in self.blocks:
            spool.close()
        self.blocks = []
        for block in (self._block, self._xxd):
            if block is not None:
                block.spool.close()
        self._block = self._xxd = None

    # --- charsets ----------------------------------------------------------------------------------

    def _pending(self) -> int:
        """Bytes of a character cut by the end of the last chunk, held by the decoder."""
        return len(self._decoder.getstate()[0]) if self._decoder is not None else 0

    def _decoded(self, chunk: bytes) -> bytes:
        parts = []
        for start, end, kind in self._stretches(chunk):
            if kind == "bom":
                parts.append(self._flush())
                self._kind = "8"
                continue
            if kind != self._kind or self._decoder is None:
                parts.append(self._flush())
                self._kind = kind
                self._decoder = self._new_decoder(kind)
            parts.append(self._encode(self._decoder.decode(chunk[start:end])))
        return b"".join(parts)

    def _new_decoder(self, kind: str) -> codecs.IncrementalDecoder:
        if kind == "8":
            if self.target == "utf-8":
                return codecs.getincrementaldecoder("utf-8")(errors="canary-cp1252")
            return codecs.getincrementaldecoder("cp1252")(errors="replace")
        return codecs.getincrementaldecoder(_CODECS[kind])(errors="replace")

    def _encode(self, text: str) -> bytes:
        if "\ufeff" in text:
            text = text.replace("\ufeff", "")
        return text.encode(self.target, errors="replace")

    def _flush(self) -> bytes:
        """The end of the stretch under way: a code unit it leaves half read is reported."""
        decoder = self._decoder
        if decoder is None:
            return b""
        left = decoder.getstate()[0]
        self._decoder = None
        if left and self._kind != "8":
            self.skip(f"{len(left)} byte{'s' if len(left) > 1 else ''} at the end of {_CODECS[self._kind]} text "
                      f"(an odd byte count: a cut code unit) not read, before byte {self._raw}")
            return b""
        return self._encode(decoder.decode(b"", final=True))

    def _stretches(self, data: bytes) -> list[tuple[int, int, str]]:
        """(start, end, kind) covering ``data``: kind 8, 16le, 16be, 32le, 32be or bom (dropped)."""
        out: list[tuple[int, int, str]] = []
        position = 0
        hint = self._kind if self._decoder is not None else None
        skew = (-self._pending()) % _UNIT[hint] if hint is not None else 0
        if b"\x00" in data or b"\xff" in data or b"\xfe" in data or b"\xef" in data:
            for match in _BOMS.finditer(data):
                if match.start() > position:
                    out += self._classified(data, position, match.start(), hint, skew)
                run = match.group(0)
                if not (match.start() == 0 and self._boms[1]):  # a new run (not the last chunk's, going on)
                    self._note_boms()
                    self._boms = [self._raw + match.start(), 0]
                self._boms[1] += len(run)
                if match.end() < len(data):
                    self._note_boms()
                out.append((match.start(), match.end(), "bom"))
                position = match.end()
                hint, skew = _last_bom(run), 0
        if position < len(data):
            out += self._classified(data, position, len(data), hint, skew)
        return out

    def _note_boms(self) -> None:
        at, length = self._boms
        if length > MAX_BOM_RUN:
            self.skip(f"{length} bytes of repeated byte-order marks at byte {at} (not text) skipped")
        self._boms = [0, 0]

    def _classified(self, data: bytes, start: int, end: int, hint: str | None, skew: int
                    ) -> list[tuple[int, int, str]]:
        """Stretches of ``data[start:end]`` (no BOM inside); ``hint``: what a BOM or the last chunk said."""
        out: list[tuple[int, int, str]] = []
        position = start
        kind = hint
        while position < end:
            if kind is None:
                kind = _concrete(data, position, end)
            stop = _extent(data, position + (skew if kind == hint else 0), end, kind)
            if kind != "8" and end - stop < _UNIT[kind]:
                stop = end  # a unit cut by the end of the chunk: the decoder keeps it for the next one
            if stop <= position:
                if kind == hint:  # what was said does not fit here: look at the bytes themselves
                    kind, hint = None, None
                    continue
                kind, stop = "8", position + 1
            if out and out[-1][2] == kind:
                out[-1] = (out[-1][0], stop, kind)
            else:
                out.append((position, stop, kind))
            position = stop
            kind, hint, skew = None, None, 0
        return out

    # --- transfer encodings ------------------------------------------------------------------------

    def _transfer(self, out: bytes) -> bytes:
        flags = text_flags(out, self.native)
        if flags & FLAG_QP and len(_QP.findall(out)) * 200 >= len(out):
            out = self._as_target(binascii.a2b_qp(out))
        if flags & FLAG_PERCENT and len(_PERCENT.findall(out)) * 200 >= len(out):
            out = self._as_target(urllib.parse.unquote_to_bytes(out))
        if flags & FLAG_ESCAPE and out.count(b"\\n") * 200 >= len(out) and out.count(b"\n") * 4 < out.count(b"\\n"):
            out = self._as_target(_JSON_ESCAPE.sub(_unescaped, out))  # a JSON string holding the whole text
        if flags & FLAG_HEXDUMP or self._xxd is not None or self._xxd_cut:
            out = self._hexdump(out)
        if flags & FLAG_RUN or self._block is not None:
            self._find_blocks(out)
        self._out += len(out)
        return out

    def _as_target(self, data: bytes) -> bytes:
        if self.target == "utf-8":
            return data.decode("utf-8", errors="canary-cp1252").encode("utf-8")
        return data

    def _find_blocks(self, out: bytes) -> None:
        """Base64 or hex blocks: runs of their alphabet of 48 characters or more, the lines of one block
        (wrapped at 64 or 76 characters) joined; a block open at the end goes on in the next chunk."""
        classes = out.translate(_ALPHABET)
        position = 0
        while position < len(out):
            if self._block is not None:
                at = position
                while at < len(out) and at - position < 2 and out[at] in b"\r\n":
                    at += 1
                end = classes.find(b".", at)
                end = len(out) if end < 0 else end
                if end == at:
                    if at < len(out):  # no next line of the block: it ends here
                        self._close_block()
                    position = max(at, position + 1)
                    continue
                self._feed(out[at:end])
                position = end
                if end < len(out) and out[end] not in b"\r\n":
                    self._close_block()
                continue
            found = classes.find(_RUN, position)
            if found < 0:
                return
            start = max(position, classes.rfind(b".", 0, found) + 1)
            end = classes.find(b".", found)
            end = len(out) if end < 0 else end
            if self._count >= MAX_BLOCKS:
                if self._count == MAX_BLOCKS:
                    self.skip(f"more than {MAX_BLOCKS} base64 or hex blocks: the others not decoded")
                    self._count += 1
                return
            self._open_block(self._out + start, out[start:end])
            position = end
            if end < len(out) and out[end] not in b"\r\n":
                self._close_block()

    def _hexdump(self, out: bytes) -> bytes:
        """The bytes of ``xxd`` lines go to a block of their own (``!hex@OFFSET``); the lines themselves are
        blanked in the text (their ASCII column is the same data, cut every 16 bytes and dotted)."""
        text = bytearray(out)
        position = 0
        if self._xxd_cut:  # the end of a line the last chunk cut
            end = out.find(b"\n")
            end = len(out) if end < 0 else end + 1
            cut, self._xxd_cut = self._xxd_cut, b""
            if self._xxd_line(cut + out[:end], self._out - len(cut)):
                text[:end] = _blank(out[:end])
                position = end
        while position < len(out):
            line = _XXD_LINE.match(out, position)
            if line is not None:
                if self._xxd_line(line.group(0), self._out + position):
                    text[position:line.end()] = _blank(line.group(0))
                position = line.end()
                continue
            end = out.find(b"\n", position)
            if end < 0 and (self._xxd is not None or _XXD_START.match(out, position)):
                self._xxd_cut = out[position:]  # read with the next chunk (left in the text: it may be none)
                break
            self._close_xxd()
            position = _next_xxd(out, end + 1) if end >= 0 else -1
            if position < 0:
                break
        return bytes(text)

    def _xxd_line(self, line: bytes, offset: int) -> bool:
        """Add the bytes of one line of xxd output to the dump under way (opened at ``offset`` if none is)."""
        match = _XXD_LINE.fullmatch(line if line.endswith(b"\n") else line + b"\n")
        if match is None:
            self._close_xxd()
            return False
        if self._xxd is None:
            if self._count >= MAX_BLOCKS:  # left in the text, as it is
                if self._count == MAX_BLOCKS:
                    self.skip(f"more than {MAX_BLOCKS} base64 or hex blocks: the others not decoded")
                    self._count += 1
                return False
            self._count += 1
            spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115 - closed by the scanner
            self._xxd = Block(offset, True, spool)
        self._write(self._xxd, bytes.fromhex(match.group(2).decode("ascii")))
        return True

    def _close_xxd(self) -> None:
        if self._xxd_cut:  # the last line, without a line break
            cut, self._xxd_cut = self._xxd_cut, b""
            self._xxd_line(cut, self._out - len(cut))
        block, self._xxd = self._xxd, None
        if block is not None:
            self._keep(block)

    def _open_block(self, offset: int, first: bytes) -> None:
        self._count += 1
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115 - closed by the scanner
        hexadecimal = _HEX.fullmatch(first) is not None and len(first) % 2 == 0
        self._block = Block(offset, hexadecimal, spool)
        self._feed(first)

    def _feed(self, text: bytes) -> None:
        block = self._block
        assert block is not None
        if block.over:
            return
        if block.hexadecimal and _HEX.fullmatch(text) is None:
            block.hexadecimal = False  # was only hex-looking: undo is not worth it, read on as base64
        data = block.pending + text.rstrip(b"=") if not block.hexadecimal else block.pending + text
        quantum = 2 if block.hexadecimal else 4
        cut = len(data) - len(data) % quantum
        block.pending = data[cut:]
        try:
            decoded = bytes.fromhex(data[:cut].decode("ascii")) if block.hexadecimal else \
                binascii.a2b_base64(data[:cut])
        except (ValueError, binascii.Error):
            decoded = b""
        self._write(block, decoded)

    def _write(self, block: Block, decoded: bytes) -> None:
        if block.over:
            return
        if block.size + len(decoded) > self.max_block:
            block.over = True
            self.skip(f"{'hex' if block.hexadecimal else 'base64'} block at byte {block.offset} decodes to more "
                      f"than {self.max_block} bytes "
                      "(sweep.max_spool_bytes): the rest of it not read")
            decoded = decoded[:max(0, self.max_block - block.size)]
        block.spool.write(decoded)
        block.size += len(decoded)

    def _close_block(self) -> None:
        block = self._block
        if block is None:
            return
        self._block = None
        if block.pending and not block.hexadecimal and not block.over:
            padded = block.pending + b"=" * (-len(block.pending) % 4)
            with contextlib.suppress(binascii.Error):
                block.spool.write(binascii.a2b_base64(padded))
        self._keep(block)

    def _keep(self, block: Block) -> None:
        """A decoded block is scanned after the leaf if it is worth reading."""
        block.spool.seek(0)
        head = block.spool.read(4096)
        block.spool.seek(0)
        if not worth_reading(head):
            block.spool.close()
            return
        label = "hex" if block.hexadecimal else "base64"
        self.blocks.append((f"{self.name}!{label}@{block.offset}", block.spool))


def _next_xxd(data: bytes, start: int) -> int:
    """Where the next line of ``xxd`` output in ``data`` from ``start`` on begins, -1 if none: its offsets end
    in 0 (16 bytes a line), so "0: " is looked for (a fast search) and the line around it checked."""
    at = data.find(b"0: ", start)
    for _ in range(_XXD_LOOKS):
        if at < 0:
            return -1
        line = data.rfind(b"\n", start, at) + 1 or start
        if _XXD_LINE.match(data, line):
            return line
        at = data.find(b"0: ", at + 3)
    return -1


def _blank(line: bytes) -> bytes:
    """The line as spaces, its line break kept: offsets in the text stay where they were."""
    return bytes(b if b in (10, 13) else 32 for b in line)


def _unescaped(match: re.Match[bytes]) -> bytes:
    if match.group(1) is not None:
        return chr(int(match.group(1), 16)).encode("utf-8", errors="replace")
    return _SIMPLE_ESCAPES[match.group(2)]


def output_encoding(head: bytes) -> str:
    """What the leaf is handed on in: cp1252 for a file in a legacy single-byte encoding (read as it
    is, without a copy), else UTF-8 (every other stretch is decoded into it)."""
    from canary.watch.sweep.textnorm import sniff_encoding

    match = _BOMS.match(head)
    body = head[match.end():] if match else head
    return "cp1252" if body and b"\x00" not in body and sniff_encoding(body) == "cp1252" else "utf-8"


def wide_text(head: bytes) -> bool:
    """UTF-16 or UTF-32 text (with or without its byte-order mark), not binary data."""
    body = head[:WINDOW * 4]
    match = _BOMS.match(body)
    if match:
        body = body[match.end():]
    return _window_kind(body, 0, len(body))[0] != "8"


def worth_reading(head: bytes) -> bool:
    """Decoded bytes that are text or a container (not the noise a hash or a key decodes to)."""
    from canary.watch.sweep.containers import kind_of

    if not head:
        return False
    if kind_of(head) != "text":
        return True
    sample = head.replace(b"\x00", b"")
    if not sample:
        return False
    printable = sum(1 for b in sample if 32 <= b < 127 or b in (9, 10, 13) or b >= 0xC2)
    return printable >= 0.9 * len(sample) and sum(1 for b in sample if b >= 0x80) <= 0.3 * len(sample)


def _last_bom(run: bytes) -> str:
    """The kind the last byte-order mark of a run announces."""
    for bom in sorted(_BOM_KIND, key=len, reverse=True):
        if run.endswith(bom):
            return _BOM_KIND[bom]
    return "8"


def _window_kind(data: bytes, start: int, end: int) -> tuple[str, int]:
    """The encoding a window's NUL pattern says (8, 16 or 32) and where its characters sit (an offset
    of ``data`` modulo the unit): ASCII in UTF-16 puts a NUL in every other byte, in UTF-32 three in four."""
    window = data[start:end]
    size = len(window)
    if size < 4 or window.count(0) < size // 8:
        return "8", 0
    counts = [window[r::4].count(0) for r in range(4)]
    quarter = size / 4
    high = [c >= 0.6 * quarter for c in counts]
    low = [c <= 0.25 * quarter for c in counts]
    if sum(high) == 3 and sum(low) == 1:
        return "32", (start + low.index(True)) % 4
    odd, even = counts[1] + counts[3], counts[0] + counts[2]
    if odd >= 0.3 * size / 2 and even <= 0.12 * size / 2:
        return "16", start % 2
    if even >= 0.3 * size / 2 and odd <= 0.12 * size / 2:
        return "16", (start + 1) % 2
    return "8", 0


def _concrete(data: bytes, position: int, end: int) -> str:
    """The kind of the stretch starting at ``position``: little endian from a character byte, big
    endian from a NUL (UTF-16BE without BOM starts with one), 8 where no wide text begins."""
    width, at = _window_kind(data, position, min(end, position + WINDOW))
    if width == "16":
        return "16le" if position % 2 == at else "16be"
    if width == "32":
        if position % 4 == at:
            return "32le"
        return "32be" if (position + 3) % 4 == at else "8"
    for kind, run in _SHORT_RUNS.items():
        if run.match(data, position, end):
            return kind
    return "8"


def _extent(data: bytes, start: int, end: int, kind: str) -> int:
    """Where the stretch of ``kind`` beginning at ``start`` ends: whole windows that fit, then unit by unit."""
    if kind == "8":
        position = start
        while position < end:
            stop = min(end, position + WINDOW)
            nuls = data.count(0, position, stop)
            if nuls >= (stop - position) // 8 and _window_kind(data, position, stop)[0] != "8":
                cut = _first_wide(data, position, stop)
                return stop if cut < 0 else max(cut, start)
            if nuls >= 4:
                short = _SHORT_RUN.search(data, position, min(end, stop + 32))
                if short is not None and short.start() < stop:
                    return max(short.start(), start + 1)
            position = stop
        return end
    unit = _UNIT[kind]
    position = start
    while position + unit <= end:
        stop = min(end, position + WINDOW)
        stop -= (stop - position) % unit
        if _fitting(data, position, stop, kind) >= 0.9 * ((stop - position) // unit):
            position = stop
            continue
        while position + unit <= stop:  # the stretch ends in this window: unit by unit
            if not _unit_fits(data, position, kind) and not (
                    _unit_fits(data, position + unit, kind) or _unit_fits(data, position + 2 * unit, kind)):
                return position  # three units in a row that do not fit (one accented character does)
            position += unit
    return position


def _fitting(data: bytes, start: int, stop: int, kind: str) -> int:
    """How many units of ``data[start:stop]`` have the NUL bytes of ASCII in ``kind``."""
    window = data[start:stop]
    if kind == "16le":
        return window[1::2].count(0)
    if kind == "16be":
        return window[0::2].count(0)
    if kind == "32le":
        return min(window[1::4].count(0), window[2::4].count(0), window[3::4].count(0))
    return min(window[0::4].count(0), window[1::4].count(0), window[2::4].count(0))


def _unit_fits(data: bytes, at: int, kind: str) -> bool:
    unit = data[at:at + _UNIT[kind]]
    if len(unit) < _UNIT[kind]:
        return False
    if kind == "16le":
        return unit[1] == 0 and unit[0] != 0
    if kind == "16be":
        return unit[0] == 0 and unit[1] != 0
    if kind == "32le":
        return unit[1:] == b"\x00\x00\x00" and unit[0] != 0
    return unit[:3] == b"\x00\x00\x00" and unit[3] != 0


def _first_wide(data: bytes, start: int, end: int) -> int:
    """Where wide text (UTF-16/32) begins in ``data[start:end]``: the character byte before its first
    NUL that starts a run of them, -1 if none does."""
    at = data.find(b"\x00", start, end)
    while at >= 0:
        if (at + 4 < len(data) and data[at + 2] == 0 and data[at + 4] == 0 and data[at + 1] != 0) or \
                (at + 8 < len(data) and data[at + 4] == 0 and data[at + 8] == 0):
            return at - 1 if at - 1 >= start and data[at - 1] != 0 else at
        at = data.find(b"\x00", at + 1, end)
    return -1
