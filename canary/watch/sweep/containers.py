"""Opening what a dump is packed in: compression and archives, nested, recognised by content.

Everything is streamed or buffered in memory / anonymous temporary files; no member is ever written
under its own name, so ``../`` paths in an archive are only labels. Each stream is bounded: a total
expanded size per input, an expansion ratio against the compressed bytes, and a nesting depth.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any, BinaryIO, Protocol

from canary.watch.sweep.limits import Limits
from canary.watch.sweep.xlsx import HostileSpreadsheet

RATIO_SLACK = 1024 * 1024  # small streams may compress very well without being bombs
SPOOL_IN_MEMORY = 8 * 1024 * 1024
# Reads from decompressors stay small so that a corrupt or truncated stream loses little of what it held.
READ_SIZE = 64 * 1024
XLSX_MAX_SHARED_STRINGS = 32 * 1024 * 1024


class ByteReader(Protocol):
    """All the walker asks of a stream it unpacks: sequential reads of bytes."""

    def read(self, size: int = -1, /) -> bytes: ...


class LimitExceeded(Exception):
    """A bound of :class:`Limits` was reached; the message is the skip reason."""


@dataclass
class Budget:
    """Expanded bytes left for one top-level input, shared by every nested stream."""

    left: int

    def spend(self, n: int) -> None:
        self.left -= n
        if self.left < 0:
            raise LimitExceeded("expanded size limit reached (sweep.max_expanded_bytes)")


class CountingReader(io.RawIOBase):
    """Counts the bytes read from a stream (for a compressed one: the denominator of the expansion ratio)."""

    def __init__(self, inner: ByteReader) -> None:
        self.inner = inner
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.inner.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.count += n
        self.check(n)
        return n

    def check(self, n: int) -> None:
        """Called after each read of ``n`` bytes; subclasses enforce their bounds here."""


class BoundedReader(CountingReader):
    """An expanded stream that stops at the budget, at a ratio to its compressed size, or at a cap."""

    def __init__(self, inner: ByteReader, budget: Budget, ratio: int, compressed: Callable[[], int],
                 cap: int | None = None) -> None:
        super().__init__(inner)
        self.budget = budget
        self.ratio = ratio
        self.compressed = compressed
        self.cap = cap

    def check(self, n: int) -> None:
        self.budget.spend(n)
        if self.count > RATIO_SLACK and self.count > self.ratio * max(self.compressed(), 1):
            raise LimitExceeded(f"expansion ratio above {self.ratio} (possible zip bomb; sweep.max_ratio)")
        if self.cap is not None and self.count > self.cap:
            raise LimitExceeded("member larger than its declared size")


class Peekable(io.RawIOBase):
    """A stream whose first bytes can be looked at before deciding how to open it."""

    def __init__(self, inner: ByteReader) -> None:
        self.inner = inner
        self.head = b""
        self.pos = 0

    def peek_head(self, n: int = 4096) -> bytes:
        while len(self.head) < n:
            more = self.inner.read(n - len(self.head))
            if not more:
                break
            self.head += more
        return self.head[:n]

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1, /) -> bytes:
        """What ``readinto`` gives, without its two copies (into a buffer, then into the bytes returned):
        a text leaf is read through here, so every byte of a plain dump would be copied twice more."""
        if size is None or size < 0:
            return self.readall()
        if self.pos < len(self.head):
            data = self.head[self.pos:self.pos + size]
            self.pos += len(data)
            return data
        return self.inner.read(size)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        return n


def kind_of(head: bytes) -> str:
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"BZh") and head[3:4].isdigit():
        return "bzip2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if head.startswith(b"7z\xbc\xaf\x27\x1c"):
        return "7z"
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "tar"
    return "text"


@dataclass
class Leaf:
    """A stream of text (or of bytes read as text) to scan, or rows of a spreadsheet."""

    name: str
    stream: BinaryIO | None = None
    rows: Iterator[str] | None = None
    depth: int = 0  # of nesting: what is decoded out of it (a base64 block) goes one deeper
    budget: Budget | None = None  # of its top-level input


@dataclass
class Walker:
    limits: Limits
    skipped: list[dict[str, Any]] = field(default_factory=list)

    def skip(self, name: str, reason: str) -> None:
        self.skipped.append({"file": name, "reason": reason})

    def leaves(self, name: str, stream: ByteReader, budget: Budget, depth: int = 0,
               path: str | None = None) -> Iterator[Leaf]:
        """Every leaf under ``stream``. ``path``: the file on disk, when there is one (seekable)."""
        if depth > self.limits.max_depth:
            self.skip(name, f"archives nested deeper than {self.limits.max_depth} (sweep.max_depth)")
            return
        peek = Peekable(stream)
        head = peek.peek_head(4096)
        kind = kind_of(head)
        try:
            if kind == "text":
                # Peekable is a RawIOBase, not declared a BinaryIO; the scanner only reads it.
                yield Leaf(name, stream=peek, depth=depth, budget=budget)  # type: ignore[arg-type]
            elif kind in ("gzip", "bzip2", "xz"):
                counter = CountingReader(peek)
                raw = io.BufferedReader(counter)
                if kind == "gzip":
                    opened: ByteReader = gzip.GzipFile(fileobj=raw)
                elif kind == "bzip2":
                    opened = bz2.BZ2File(raw)
                else:
                    opened = lzma.LZMAFile(raw)  # noqa: SIM115
                bounded = io.BufferedReader(BoundedReader(opened, budget, self.limits.max_ratio,
                                                          lambda: counter.count), buffer_size=READ_SIZE)
                # A compressed file keeps its own name (leak.sql.gz); archives inside add "!member".
                yield from self.leaves(name, bounded, budget, depth + 1)
            elif kind == "tar":
                yield from self._tar(name, peek, budget, depth)
            elif kind in ("zip", "7z"):
                with _SeekableContext(self, name, peek, path) as handle:
                    if handle is None:
                        return
                    if kind == "zip":
                        yield from self._zip(name, handle, budget, depth)
                    else:
                        yield from self._7z(name, handle, budget, depth)
        except LimitExceeded as exc:
            self.skip(name, str(exc))
        except Exception as exc:  # whatever one hostile file raises, the sweep goes on
            self.skip(name, unreadable(kind, exc))

    # --- archives --------------------------------------------------------------------------------

    def _tar(self, name: str, stream: Peekable, budget: Budget, depth: int) -> Iterator[Leaf]:
        with tarfile.open(fileobj=stream, mode="r|") as archive:
            for member in archive:
                if member.isfile():
                    yield from self.tar_member(name, archive, member, budget, depth)

    def tar_member(self, name: str, archive: tarfile.TarFile, member: tarfile.TarInfo, budget: Budget,
                   depth: int) -> Iterator[Leaf]:
        """The leaves of one file of the tar ``name`` (at ``depth``): in a walk of the whole archive, or
        without the others when the caller shared the members out (sources.archive_member_units)."""
        handle = archive.extractfile(member)
        if handle is not None:
            yield from self.leaves(f"{name}!{member.name}", handle, budget, depth + 1)

    def _zip(self, name: str, handle: IO[bytes], budget: Budget, depth: int) -> Iterator[Leaf]:
        with zipfile.ZipFile(handle) as archive:
            infos = [i for i in archive.infolist() if not i.is_dir()]
            if any(i.filename == "xl/workbook.xml" for i in infos):
                yield from self._xlsx(name, handle, infos, budget)
                return
            for info in infos:
                yield from self.zip_member(name, archive, info, budget, depth)

    def zip_member(self, name: str, archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: Budget,
                   depth: int) -> Iterator[Leaf]:
        """The leaves of one member of the zip ``name`` (at ``depth``): in a walk of the whole archive, or
        alone when the member is a unit of its own (sources.archive_member_units)."""
        member = f"{name}!{info.filename}"
        if info.flag_bits & 0x1:
            self.skip(member, "encrypted archive member")
            return
        if info.file_size > RATIO_SLACK and info.file_size > self.limits.max_ratio * max(info.compress_size, 1):
            self.skip(member, f"expansion ratio above {self.limits.max_ratio} (possible zip bomb; sweep.max_ratio)")
            return
        try:
            with archive.open(info) as raw:
                bounded = io.BufferedReader(BoundedReader(raw, budget, self.limits.max_ratio,
                                                          _constant(info.compress_size), cap=info.file_size),
                                            buffer_size=READ_SIZE)
                yield from self.leaves(member, bounded, budget, depth + 1)
        except LimitExceeded as exc:
            self.skip(member, str(exc))
        except Exception as exc:  # one bad member never hides the next ones
            self.skip(member, unreadable("zip member", exc))

    def _xlsx(self, name: str, handle: IO[bytes], infos: list[zipfile.ZipInfo], budget: Budget) -> Iterator[Leaf]:
        from canary.watch.sweep.xlsx import xlsx_rows

        expanded = sum(i.file_size for i in infos)
        compressed = sum(i.compress_size for i in infos)
        if expanded > RATIO_SLACK and expanded > self.limits.max_ratio * max(compressed, 1):
            self.skip(name, f"expansion ratio above {self.limits.max_ratio} (possible zip bomb; sweep.max_ratio)")
            return
        strings = sum(i.file_size for i in infos if i.filename.lower() == "xl/sharedstrings.xml")
        if strings > XLSX_MAX_SHARED_STRINGS:
            # openpyxl holds the shared-string table in memory even in read-only mode.
            self.skip(name, f"spreadsheet text table larger than {XLSX_MAX_SHARED_STRINGS // 2**20} MiB "
                            "(export it as CSV to sweep it)")
            return
        budget.spend(expanded)
        handle.seek(0)
        for sheet, rows in xlsx_rows(handle):
            yield Leaf(f"{name}!{sheet}", rows=rows)

    def _7z(self, name: str, handle: IO[bytes], budget: Budget, depth: int) -> Iterator[Leaf]:
        import py7zr

        handle.seek(0, io.SEEK_END)
        size = handle.tell()
        handle.seek(0)
        with py7zr.SevenZipFile(handle, mode="r") as archive:
            if archive.needs_password():
                self.skip(name, "encrypted 7z archive")
                return
            entries = [e for e in archive.list() if not e.is_directory]
            kept = self._7z_members(name, size, entries)
            if not kept:
                return
            declared = sum(e.uncompressed or 0 for e in kept)
            budget.spend(declared)
            factory = _SpoolFactory(min(self.limits.max_spool_bytes, max(budget.left, 0) + declared))
            archive.extract(targets=[e.filename for e in kept], factory=factory)
        for member_name, spool in factory.products.items():
            with spool.file:
                spool.file.seek(0)
                yield from self.leaves(f"{name}!{member_name}", spool.file, budget, depth + 1)


    def _7z_members(self, name: str, size: int, entries: list[Any]) -> list[Any]:
        """The members of a 7z worth extracting, each judged alone: one high-ratio member is skipped with
        its reason, the others are read. A member of a solid block has no packed size of its own: it is
        judged against the bytes of the archive no other member accounts for."""
        known = sum(e.compressed or 0 for e in entries)
        shared = max(size - known, 1)
        kept = []
        for entry in entries:
            packed = entry.compressed or shared
            size = entry.uncompressed or 0
            if size > RATIO_SLACK and size > self.limits.max_ratio * packed:
                self.skip(f"{name}!{entry.filename}",
                          f"expansion ratio above {self.limits.max_ratio} (possible zip bomb; sweep.max_ratio)")
            else:
                kept.append(entry)
        return kept


def unreadable(what: str, exc: BaseException) -> str:
    """The skip reason for a read that failed: what was read, the error's class and its message."""
    if isinstance(exc, LimitExceeded):
        return str(exc)
    if isinstance(exc, HostileSpreadsheet):
        return f"spreadsheet not read: {exc}"
    detail = " ".join(str(exc).split())  # one line, whatever the message held
    return f"unreadable {what}: {exc.__class__.__name__}: {detail}"[:300]


def _constant(value: int) -> Callable[[], int]:
    return lambda: value


class _SeekableContext:
    """The file itself when it is on disk, else a spooled copy (memory, then an anonymous temp file)."""

    def __init__(self, walker: Walker, name: str, stream: ByteReader, path: str | None) -> None:
        self.walker, self.name, self.stream, self.path = walker, name, stream, path
        self.handle: IO[bytes] | None = None

    def __enter__(self) -> IO[bytes] | None:
        if self.path is not None:
            self.handle = open(self.path, "rb")  # closed in __exit__
            return self.handle
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)
        cap = self.walker.limits.max_spool_bytes
        copied = 0
        while True:
            block = self.stream.read(1024 * 1024)
            if not block:
                break
            copied += len(block)
            if copied > cap:
                spool.close()
                self.walker.skip(self.name, f"archive larger than {cap} bytes to buffer (sweep.max_spool_bytes)")
                return None
            spool.write(block)
        spool.seek(0)
        self.handle = spool
        return self.handle

    def __exit__(self, *exc: object) -> None:
        if self.handle is not None:
            self.handle.close()


class _SpooledMember:
    """One 7z member written by py7zr into a bounded spooled temporary file."""

    def __init__(self, factory: _SpoolFactory) -> None:
        self.factory = factory
        self.file = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115

    def write(self, data: bytes) -> int:
        self.factory.written += len(data)
        if self.factory.written > self.factory.limit:
            raise LimitExceeded("7z archive expands beyond its limit (sweep.max_spool_bytes)")
        return self.file.write(data)

    def read(self, size: int | None = None) -> bytes:
        return self.file.read(size if size is not None else -1)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.file.seek(offset, whence)

    def flush(self) -> None:
        self.file.flush()

    def size(self) -> int:
        return self.factory.written

    def close(self) -> None:
        return None


class _SpoolFactory:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.written = 0
        self.products: dict[str, _SpooledMember] = {}

    def create(self, filename: str) -> _SpooledMember:
        product = _SpooledMember(self)
        self.products[filename] = product
        return product

