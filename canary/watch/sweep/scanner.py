"""A scan: inputs -> units -> leaves -> findings, in one process or a pool of ``--jobs`` processes."""

from __future__ import annotations

import gc
import io
import multiprocessing
import os
import queue
import tarfile
import threading
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from canary.watch.sweep.containers import Budget, Leaf, Walker, kind_of, unreadable
from canary.watch.sweep.index_shapes import SweepIndex
from canary.watch.sweep.limits import Limits
from canary.watch.sweep.linkage import STRONG_FIELDS, Grader, records_in
from canary.watch.sweep.matcher import CHUNK, OVERLAP, Finding, StreamMatcher
from canary.watch.sweep.regions import RegionReader, output_encoding, wide_text
from canary.watch.sweep.source_kinds import SOURCE_KINDS, Expansion, expand
from canary.watch.sweep.sources import REGISTRY_NOT_SCANNED, SPLIT_MIN, Unit, Unreachable
from canary.watch.sweep.textnorm import looks_binary


@dataclass
class ScanReport:
    findings: list[Finding] = field(default_factory=list)
    files: int = 0
    bytes: int = 0
    skipped: list[dict[str, Any]] = field(default_factory=list)
    unreachable: list[str] = field(default_factory=list)

    @property
    def unread(self) -> list[dict[str, Any]]:
        """What could not be read (missing, unreachable, unreadable, over a limit); not the registry."""
        return [s for s in self.skipped if s["reason"] != REGISTRY_NOT_SCANNED]

    @property
    def status(self) -> str:
        """``complete`` (everything read), ``partial`` (some inputs skipped) or ``nothing-read``."""
        if not self.unread:
            return "complete"
        return "partial" if self.files else "nothing-read"

    def relabel(self, folder: str, label: str) -> None:
        """Name the files found under ``folder`` ``label/...`` instead: a server's temporary path tells
        whoever reads the findings or their events nothing they need, and something about the server."""
        def shown(name: str) -> str:
            return label + name[len(folder):] if name.startswith(folder) else name

        for finding in self.findings:
            finding.file = shown(finding.file)
        self.skipped = [{**s, "file": shown(str(s["file"]))} if "file" in s else s for s in self.skipped]

    def to_json(self) -> dict[str, Any]:
        return {"findings": [f.to_json() for f in self.findings], "files": self.files, "bytes": self.bytes,
                "skipped": self.skipped, "status": self.status}


@dataclass
class UnitResult:
    unit: Unit
    findings: list[Finding] = field(default_factory=list)
    files: int = 0
    bytes: int = 0
    skipped: list[dict[str, Any]] = field(default_factory=list)
    newlines: int = 0  # in [start, end) of a byte range, to number lines of the next range
    lead: int = 0  # bytes of a byte range's first line, cut by its start, left to the range before
    unreachable: bool = False


class UnitScanner:
    """Scans units with one matcher; lives in the calling process or in each pool worker."""

    def __init__(self, index: SweepIndex, limits: Limits, compiled: object = None) -> None:
        self.matcher = StreamMatcher(index, limits.engine, compiled)
        self.limits = limits

    def scan(self, unit: Unit, on_position: Callable[[int], None] | None = None) -> UnitResult:
        """Scan one unit; ``on_position(offset)`` tells how far into a file the reading is, as it goes."""
        result = UnitResult(unit)
        walker = Walker(self.limits, result.skipped)
        try:
            if unit.members:
                self._scan_members(unit, result, walker)
            elif unit.end is not None:
                self._scan_range(unit, result, walker)
            else:
                with SOURCE_KINDS[unit.kind].open(unit, self.limits) as stream:
                    # The file on disk when the stream is that file (seekable, its offset the progress).
                    path = unit.path if unit.path and getattr(stream, "name", None) == unit.path else None
                    tick = _position_reporter(stream, on_position) if on_position and path else None
                    self._scan_stream(unit.name, stream, path, result, walker, tick)
        except Unreachable as exc:
            result.unreachable = True
            walker.skip(unit.name, str(exc))
        except OSError as exc:
            walker.skip(unit.name, f"unreadable: {exc.strerror or exc}")
        except Exception as exc:  # one input that breaks a reader never ends the sweep
            walker.skip(unit.name, unreadable("input", exc))
        return result

    def _scan_stream(self, name: str, stream: BinaryIO, path: str | None, result: UnitResult,
                     walker: Walker, tick: Callable[[], None] | None = None) -> None:
        budget = Budget(self.limits.max_expanded_bytes)
        self._scan_leaves(walker.leaves(name, stream, budget, path=path), result, walker, tick)

    def _scan_members(self, unit: Unit, result: UnitResult, walker: Walker) -> None:
        """Some members of a zip or tar archive, without the others: the same leaves, names and bounds as
        in a walk of the whole archive (the caller shared them out, sources.archive_member_units)."""
        assert unit.path is not None
        budget = Budget(self.limits.max_expanded_bytes)
        with open(unit.path, "rb") as handle:
            kind = kind_of(handle.read(4096))  # as the caller decided (sources.file_units)
        if kind == "zip":
            with zipfile.ZipFile(unit.path) as archive:
                for member in unit.members:
                    self._scan_leaves(walker.zip_member(unit.path, archive, archive.getinfo(member), budget, 0),
                                      result, walker)
            return
        with tarfile.open(unit.path, "r:") as tar:
            for member in unit.members:
                self._scan_leaves(walker.tar_member(unit.path, tar, tar.getmember(member), budget, 0), result, walker)

    def _scan_leaves(self, leaves: Iterator[Leaf], result: UnitResult, walker: Walker,
                     tick: Callable[[], None] | None = None) -> None:
        for leaf in leaves:
            counter = [0]
            chunks, encoding, reader = self._leaf_chunks(leaf, walker, counter)
            if tick is not None:
                chunks = _ticking(chunks, tick)
            try:
                if encoding:
                    result.findings.extend(self.matcher.scan(_prefetched(chunks), leaf.name, encoding))
            except Exception as exc:  # the next leaves of the same archive are still read
                walker.skip(leaf.name, unreadable("data", exc))
                if reader is not None:
                    reader.close()
            result.files += 1
            result.bytes += counter[0]
            if reader is not None:
                self._scan_blocks(leaf, reader, result, walker)

    def _scan_blocks(self, leaf: Leaf, reader: RegionReader, result: UnitResult, walker: Walker) -> None:
        """The base64 and hex blocks decoded out of a leaf, read as nested leaves (a zip, UTF-16 text...)."""
        budget = leaf.budget or Budget(self.limits.max_expanded_bytes)
        for name, spool in reader.blocks:
            with spool:
                self._scan_leaves(walker.leaves(name, spool, budget, leaf.depth + 1), result, walker)
        reader.blocks = []

    def _scan_range(self, unit: Unit, result: UnitResult, walker: Walker) -> None:
        """A byte range of a plain file: the lines that start in it, read whole (past its end if need be).

        The line cut by the range's start is the previous range's (it reads past its own end up to the
        next newline, at most OVERLAP bytes): neither range then sees half a record, which would read as
        free text and grade unlike the whole-file scan."""
        assert unit.path is not None and unit.end is not None
        path, end = unit.path, unit.end
        length = end - unit.start
        counter = [0]
        newlines = [0]

        def chunks() -> Iterator[bytes]:
            with open(path, "rb") as handle:
                if unit.start > 0:
                    handle.seek(unit.start - 1)
                    cut = handle.read(OVERLAP + 1).find(b"\n")  # 0: the range starts a line
                    if 0 < cut < length:
                        result.lead = cut
                        newlines[0] += 1
                handle.seek(unit.start + result.lead)
                position = unit.start + result.lead
                while position < end:
                    block = handle.read(min(CHUNK, end - position))
                    if not block:
                        return
                    newlines[0] += block.count(b"\n")
                    counter[0] += len(block)
                    position += len(block)
                    yield block
                tail = handle.read(OVERLAP)  # the end of the last line, which the next range leaves
                cut = tail.find(b"\n")
                if tail and not _ends_line(path, end):
                    yield tail[:cut + 1] if cut >= 0 else tail

        # Decoded like the whole file (regions.py), with its header's roles: the same scan, in parts.
        reader = RegionReader(unit.name, unit.encoding or "utf-8", self.matcher.native, self.limits.max_spool_bytes,
                              lambda reason: walker.skip(unit.name, reason), base=unit.start)
        result.findings.extend(self.matcher.scan(reader.read(chunks()), unit.name, unit.encoding or "utf-8",
                                                 unit.layout))
        self._scan_blocks(Leaf(unit.name), reader, result, walker)
        result.files = 1 if unit.start == 0 else 0
        result.bytes = length
        result.newlines = newlines[0]

    def _leaf_chunks(self, leaf: Leaf, walker: Walker, counter: list[int]
                     ) -> tuple[Iterator[bytes], str, RegionReader | None]:
        if leaf.rows is not None:
            return _guarded(_row_chunks(leaf.rows), leaf.name, walker, counter), "utf-8", None
        stream = leaf.stream
        assert stream is not None
        try:
            head = stream.read(CHUNK)
        except Exception as exc:  # a leaf that cannot be read is skipped, with its reason
            walker.skip(leaf.name, unreadable("data", exc))
            return iter(()), "utf-8", None
        if not head:
            return iter(()), "", None  # empty: nothing to match (100,000 empty members cost no threads)
        raw = _guarded(_chained(head, stream), leaf.name, walker, counter)
        if looks_binary(head) and not wide_text(head):
            return raw, "cp1252", None  # binary data is still read, byte for byte: database files leak too
        # Each stretch is decoded as what it is (regions.py); the output is UTF-8, or cp1252 for a file
        # written in a legacy single-byte encoding (read as it is, without a copy).
        target = output_encoding(head)
        reader = RegionReader(leaf.name, target, self.matcher.native, self.limits.max_spool_bytes,
                              lambda reason: walker.skip(leaf.name, reason))
        return reader.read(raw), target, reader


def _ends_line(path: str, end: int) -> bool:
    """The byte before ``end`` is a newline: the range ends with a whole line."""
    with open(path, "rb") as handle:
        handle.seek(end - 1)
        return handle.read(1) == b"\n"


def _position_reporter(handle: BinaryIO, on_position: Callable[[int], None]) -> Callable[[], None]:
    """Report the file's offset (compressed bytes for a compressed file): what the progress total counts."""
    def tick() -> None:
        try:
            offset = os.lseek(handle.fileno(), 0, os.SEEK_CUR)
        except (OSError, ValueError):  # closed meanwhile: the unit's end is reported anyway
            return
        on_position(offset)

    return tick


def _ticking(chunks: Iterator[bytes], tick: Callable[[], None]) -> Iterator[bytes]:
    for block in chunks:
        tick()
        yield block


def _chained(head: bytes, stream: BinaryIO) -> Iterator[bytes]:
    if head:
        yield head
    while True:
        block = stream.read(CHUNK)
        if not block:
            return
        yield block


_END = object()


def _prefetched(chunks: Iterator[bytes], depth: int = 2) -> Iterator[bytes]:
    """Read (and decompress) the next chunks in a thread while this one is matched.

    zlib, bz2, lzma and file reads release the GIL, so a compressed dump is scanned at about the
    speed of the slower of the two stages instead of their sum. At most ``depth`` chunks wait.
    """
    ready: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for chunk in chunks:
                while not stop.is_set():
                    try:
                        ready.put(chunk, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            ready.put(_END)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            ready.put(exc)

    worker = threading.Thread(target=produce, name="sweep-reader", daemon=True)
    worker.start()
    try:
        while True:
            item = ready.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join(timeout=5)


def _guarded(chunks: Iterator[bytes], name: str, walker: Walker, counter: list[int]) -> Iterator[bytes]:
    """Stop a leaf at its first read error (bomb, corrupt data), reporting it; what came before counts."""
    try:
        for block in chunks:
            counter[0] += len(block)
            yield block
    except Exception as exc:  # a bomb, corrupt data or hostile XML in this leaf only
        walker.skip(name, unreadable("data", exc))


def _row_chunks(rows: Iterator[str]) -> Iterator[bytes]:
    buffer = io.StringIO()
    size = 0
    for row in rows:
        buffer.write(row)
        buffer.write("\n")
        size += len(row) + 1
        if size >= CHUNK:
            yield buffer.getvalue().encode("utf-8")
            buffer = io.StringIO()
            size = 0
    if size:
        yield buffer.getvalue().encode("utf-8")


# --- the pool -------------------------------------------------------------------------------------------

# The scanner pool workers use: the parent's, inherited through fork. Its compiled search is then
# the same physical memory in every worker (copy-on-write, only read), so the workers share the CPU
# cache instead of each loading its own copy; Hyperscan's scratch space is written, so each worker
# gets its own pages of it.
_worker: dict[str, UnitScanner] = {}


def _init_worker(scanner: UnitScanner) -> None:
    _worker["scanner"] = scanner


def _scan_in_worker(unit: Unit) -> UnitResult:
    return _worker["scanner"].scan(unit)


def scan(index: SweepIndex, inputs: list[str], limits: Limits, jobs: int = 1,
         progress: Callable[[int, int], None] | None = None, split_min: int = SPLIT_MIN) -> ScanReport:
    """Scan ``inputs`` (paths, folders, globs, URLs) for the canaries of ``index``.

    ``progress(done, total)`` is called with input bytes as units finish (URLs count as 0 until fetched).
    With ``jobs`` > 1, plain files larger than ``split_min`` bytes are cut into byte ranges.
    """
    units, skipped = expand(inputs, Expansion(jobs, index.private_files(), split_min, limits.max_expanded_bytes))
    report = ScanReport(skipped=list(skipped))
    # The index is hundreds of thousands of long-lived objects: garbage collections during the scan
    # need not walk them again and again (unfrozen at the end, so a long-running service frees them).
    gc.freeze()
    try:
        return _scan_units(index, units, limits, jobs, progress, report)
    finally:
        gc.unfreeze()


def _scan_units(index: SweepIndex, units: list[Unit], limits: Limits, jobs: int,
                progress: Callable[[int, int], None] | None, report: ScanReport) -> ScanReport:
    total = sum(u.size for u in units)
    done = 0
    if progress:
        progress(0, total)
    scanner = UnitScanner(index, limits)
    results: list[UnitResult] = []
    if jobs <= 1 or len(units) <= 1:
        for unit in units:
            results.append(scanner.scan(unit, _within(progress, done, unit.size, total) if progress else None))
            done += unit.size
            if progress:
                progress(done, total)
    else:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_init_worker,
                                 initargs=(scanner,)) as pool:
            for result in pool.map(_scan_in_worker, units):
                results.append(result)
                done += result.unit.size
                if progress:
                    progress(done, total)
    return merge_results(results, report, index.coincidence)


def _within(progress: Callable[[int, int], None], before: int, size: int,
            total: int) -> Callable[[int], None]:
    """Progress inside one unit: never backwards, never past the unit's end (reported when it is done).

    Called from the read-ahead thread too, hence the lock."""
    lock = threading.Lock()
    shown = [before]

    def on_position(offset: int) -> None:
        with lock:
            done = before + min(max(offset, 0), size)
            if done > shown[0] and done < before + size:
                shown[0] = done
                progress(done, total)

    return on_position


def merge_results(results: list[UnitResult], report: ScanReport, coincidence: list[float]) -> ScanReport:
    """One report from the units' results, in unit order (a local pool's or a Dask cluster's)."""
    lines_before: dict[str, int] = {}
    best: dict[tuple[str, str], Finding] = {}
    for result in results:
        unit = result.unit
        shift = lines_before.get(unit.name, 0) if unit.end is not None else 0
        if unit.end is not None:
            lines_before[unit.name] = shift + result.newlines
        for finding in result.findings:
            # A byte range's lines and offsets count from its first whole line.
            finding.line += shift + (1 if result.lead else 0)
            finding.offset += unit.start + result.lead
            key = (finding.canary_id, finding.file)
            kept = best.get(key)
            if kept is None or finding.beats(kept) or (
                    not kept.beats(finding) and finding.offset < kept.offset):
                best[key] = finding
        report.files += result.files
        report.bytes += result.bytes
        report.skipped.extend(result.skipped)
        if result.unreachable:
            report.unreachable.append(unit.name)
    report.findings = grade_findings(sorted(best.values(), key=lambda f: (f.file, f.line, f.canary_id)),
                                     coincidence, records_in(report.bytes))
    return report


def grade_findings(findings: list[Finding], coincidence: list[float], records: float) -> list[Finding]:
    """Weak-field findings graded for the size of the whole scan; those below its threshold dropped."""
    kept = []
    grader = Grader(coincidence, records)
    for finding in findings:
        # A contact value's lead (linkage.grade_contact) keeps its grade: it does not depend on the scan's size.
        if finding.confidence != "high" and not any(f in STRONG_FIELDS for f in finding.fields):
            graded = grader.grade_score(finding.score, finding.structured)
            if graded is None:
                continue
            finding.confidence, finding.severity = graded
        kept.append(finding)
    return kept
