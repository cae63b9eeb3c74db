"""The fast search (Hyperscan over the squeezed stream) and the verification of what it finds.

One text stream is read in 1 MiB chunks that overlap by 8 KiB, so memory stays flat whatever the
length of a line. Each chunk is squeezed block by block (16 KiB); newlines survive squeezing, so a
hit in the squeezed stream leads back to its exact line of real text (and, within a long line, to
an estimated position), where :mod:`canary.watch.sweep.verify` decides.
"""

from __future__ import annotations

import copy
import re
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from itertools import islice
from types import ModuleType
from typing import Any

from canary.watch.sweep.index_shapes import SweepIndex
from canary.watch.sweep.layout import Layout
from canary.watch.sweep.linkage import Grader
from canary.watch.sweep.search import NativeSearch, build_search, native_module, pair_window
from canary.watch.sweep.textnorm import decode, mask, squeeze_blocks, squeeze_slices, unescape
from canary.watch.sweep.verify import compare, independent_fields

CHUNK = 1024 * 1024
OVERLAP = 8 * 1024
BLOCK = 16 * 1024
# Matched on the lower-cased buffer: a case-insensitive pattern has no literal prefix for re to skip
# ahead with, and scanning 1 MiB with it cost a quarter of a whole sweep's time. It only runs when
# the squeezed buffer (upper-cased, every ASCII letter kept) holds CREATE: lower-casing and the regex
# cost a tenth of a sweep's time more.
_CREATE_TABLE = re.compile(rb"create\s+table")
_JSON_OBJECTS = re.compile(rb"\}\s*,\s*\{")
_SQL_TUPLE = re.compile(rb"\)\s*,\s*\(")
LONG_LINE = 2048
NEAR = 2048  # bytes around the estimated position of a sighting in an SQL insert or JSON array line
SAME_ROW_MAX = 4096  # rows up to this long are remembered once verified (per canary)
BIG_RECORD = 16 * 1024  # longer lines are cut around the sighting (a dump on one line has no line records)
# The one order of finding confidences, for whoever compares them (sweep, egress).
CONFIDENCE_RANK = {"low": 0, "medium": 1, "high": 2}


@dataclass
class Finding:
    canary_id: str
    system: str
    file: str
    fields: list[str]
    confidence: str
    severity: str
    line: int
    offset: int
    evidence: str
    score: float = 0.0  # match weight in bits (record linkage, see linkage.py)
    disagreed: list[str] = field(default_factory=list)  # fields the record holds with another value
    structured: bool = False  # compared field by field (columns known), not by proximity in free text

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def beats(self, other: Finding) -> bool:
        """A better sighting of the same canary: a strong marker first, then the higher score."""
        return (self.confidence == "high", self.score) > (other.confidence == "high", other.score)


class StreamMatcher:
    """Finds the canaries of ``index`` in decoded text streams (UTF-8 or cp1252 bytes)."""

    def __init__(self, index: SweepIndex, engine: str = "auto", compiled: object = None) -> None:
        self.index = index
        self.lengths = [len(p) for p in index.patterns]
        self.plan = index.plans
        self.weak_others = index.weak_others
        self.grader = Grader(index.coincidence, 1)  # records graded on the floors; the scan regrades for its size
        self.search = build_search(engine, index.patterns, self.lengths, self.weak_others, index.cache, compiled)
        # The native engine squeezes natively too; the python engine stays pure Python end to end.
        self.native = native_module() if isinstance(self.search, NativeSearch) else None

    @property
    def compiled(self) -> object:
        """The loaded database (None without patterns), to hand to --jobs workers."""
        return self.search.compiled if self.search is not None else None

    def scan(self, chunks: Iterable[bytes], name: str, encoding: str, layout: Layout | None = None) -> list[Finding]:
        """The findings in one stream; ``layout``: its file's structure when the stream is a byte range
        of it (sources.Unit.layout), else learnt from the stream's own start."""
        best: dict[str, Finding] = {}
        if self.search is None:
            for _ in chunks:
                pass
            return []
        carry = b""
        line_base = 0  # newlines before the start of buf
        offset_base = 0
        seen_rows: set[tuple[str, int]] = set()  # (canary, hash of a short row) already verified
        given = layout is not None
        layout = copy.deepcopy(layout) if layout is not None else Layout()
        for piece in chunks:
            buf = unescape(carry + piece, encoding)
            if not offset_base and not given:
                layout.learn_header(decode(first_line(buf), encoding))
            squeezed = squeeze_blocks(buf, encoding, BLOCK, self.native)
            if self._holds(squeezed[0], b"CREATE") and _CREATE_TABLE.search(buf.lower()):
                layout.learn_tables(decode(buf, encoding))
            newlines = self._scan_buffer(buf, squeezed, name, encoding, line_base, offset_base, best, layout, seen_rows)
            keep = min(OVERLAP, len(buf))
            line_base += newlines - buf.count(b"\n", len(buf) - keep)
            offset_base += len(buf) - keep
            carry = buf[len(buf) - keep:]
        return sorted(best.values(), key=lambda f: (f.line, f.canary_id))

    def _holds(self, squeezed: bytes, word: bytes) -> bool:
        return self.native.contains(squeezed, word) if self.native is not None else word in squeezed

    def _scan_buffer(self, buf: bytes, squeezed_blocks: tuple[bytes, list[int], list[int]], name: str, encoding: str,
                     line_base: int, offset_base: int, best: dict[str, Finding], layout: Layout,
                     seen_rows: set[tuple[str, int]]) -> int:
        """Match one buffer (and its ``squeeze_blocks``) into ``best``; returns the number of newlines in it."""
        squeezed, starts, lines_before = squeezed_blocks
        assert self.search is not None  # scan() returns early without patterns
        hits = self.search.hits(squeezed)
        if not hits:
            return lines_before[-1]
        tried: set[tuple[str, int]] = set()
        plan = self.plan
        best_get = best.get
        find = squeezed.find
        lengths = self.lengths
        for pid, end in hits:
            start = end - lengths[pid]
            lo = -1
            for canary_id, strong, others in plan[pid]:
                found = best_get(canary_id)
                # A weak sighting does not end the search: the canary's true row may come later,
                # after a chance match of its name and birth date.
                if found is not None and found.confidence == "high":
                    continue
                if not strong:
                    if lo < 0:
                        lo, hi = pair_window(squeezed, start, end)
                    for pattern in others:
                        if find(pattern, lo, hi) >= 0:
                            break
                    else:
                        continue
                block = bisect_right(starts, start) - 1
                line_start, line_end = _raw_line(buf, squeezed, starts[block], start, block)
                if (canary_id, line_start) in tried:
                    continue
                tried.add((canary_id, line_start))
                if line_end - line_start <= SAME_ROW_MAX:
                    # The same row again (dumps repeat rows) weighs the same: a lead found on it, which
                    # does not end the search, is not verified again at each copy.
                    row = (canary_id, hash(buf[line_start:line_end]))
                    if row in seen_rows:
                        continue
                    seen_rows.add(row)
                line = line_base + lines_before[block] + squeezed.count(b"\n", starts[block], start) + 1
                # Where the sighting sits in the raw block, by proportion: narrows SQL tuples and JSON objects.
                raw_block = min(BLOCK, len(buf) - block * BLOCK)
                squeezed_block = (starts[block + 1] if block + 1 < len(starts) else len(squeezed)) - starts[block]
                hint = block * BLOCK + (start - starts[block]) * raw_block // max(1, squeezed_block)
                finding = self._verify(buf, line_start, line_end, block, hint, self.index.patterns[pid], canary_id,
                                       name, encoding, line, offset_base, layout)
                if finding and (found is None or finding.beats(found)):
                    best[canary_id] = finding
        return lines_before[-1]

    def _verify(self, buf: bytes, line_start: int, line_end: int, block: int, hint: int, anchor: bytes,
                canary_id: str, name: str, encoding: str, line: int, offset_base: int,
                layout: Layout) -> Finding | None:
        canary = self.index.canaries[canary_id]
        line_head = decode(buf[line_start:min(line_end, line_start + 4096)], encoding)
        best: Finding | None = None
        for rec_start, rec_end in _records_around(buf, line_start, line_end, block, hint, anchor, encoding,
                                                  self.native):
            text = decode(buf[rec_start:rec_end], encoding)
            comparison = compare(text, canary, layout.values(text, line_head))
            # Graded here on the floors; the scan grades again for its size (scanner.grade_findings).
            graded = self.grader.grade(comparison, independent_fields(comparison, canary))
            if graded is None:
                continue
            finding = Finding(canary_id=canary_id, system=canary.system, file=name, fields=comparison.agreed,
                              confidence=graded[0], severity=graded[1], line=line, offset=offset_base + rec_start,
                              evidence=mask(text), score=comparison.score, disagreed=comparison.disagreed,
                              structured=comparison.structured)
            # Every tuple of an insert holding the anchor is weighed: the first may be a chance match.
            if best is None or finding.beats(best):
                best = finding
        return best


def first_line(buf: bytes) -> bytes:
    """The stream's first line that holds something (a decoded byte-order mark may leave an empty one)."""
    head = buf[:65536].lstrip(b"\r\n\x00")
    return head[:head.find(b"\n")] if b"\n" in head else b""


def _raw_line(buf: bytes, squeezed: bytes, block_squeezed_start: int, start: int, block: int) -> tuple[int, int]:
    """The raw line holding the squeezed position ``start`` (newlines map one to one)."""
    newlines = squeezed.count(b"\n", block_squeezed_start, start)
    position = block * BLOCK
    if newlines == 0:
        line_start = buf.rfind(b"\n", 0, position) + 1
    else:
        for _ in range(newlines):
            position = buf.index(b"\n", position) + 1
        line_start = position
    line_end = buf.find(b"\n", line_start)
    return line_start, (len(buf) if line_end < 0 else line_end)


def _records_around(buf: bytes, line_start: int, line_end: int, block: int, hint: int, anchor: bytes,
                    encoding: str, native: ModuleType | None = None) -> Iterator[tuple[int, int]]:
    """Records holding the anchor.

    - an SQL extended insert (a line opening with INSERT or a tuple, or holding several ``),(``):
      the tuple;
    - a JSON array on one line (opening with ``[``, or holding many ``},{``): the object;
    - any other line (a CSV row, even one whose cells hold JSON): the whole line, and for an indented
      line of pretty-printed JSON or XML also the enclosing block;
    - a line longer than BIG_RECORD (a whole dump on one line) is first cut to a window around the
      sighting.
    """
    lo, hi = line_start, line_end
    cut = hi - lo > BIG_RECORD
    if cut:
        lo = max(line_start, block * BLOCK - LONG_LINE)
        hi = min(line_end, (block + 1) * BLOCK + LONG_LINE)
    head = buf[lo:lo + 64].lstrip()
    sql = head[:1] == b"(" or head[:6].upper() == b"INSERT"
    if (sql and _SQL_TUPLE.search(buf, lo, hi)) or _at_least(_SQL_TUPLE, buf, lo, hi, 3):
        yield from _pieces_near(buf, lo, hi, hint, anchor, encoding, _SQL_TUPLE, native)
        return
    # Many objects without an opening bracket: the middle of a one-line dump, so only in a cut window;
    # a CSV row whose cells hold JSON lists (16 prescriptions) stays one record.
    if (head[:1] == b"[" and _JSON_OBJECTS.search(buf, lo, hi)) or (cut and _at_least(_JSON_OBJECTS, buf, lo, hi, 16)):
        yield from _pieces_near(buf, lo, hi, hint, anchor, encoding, _JSON_OBJECTS, native)
        return
    yield lo, hi
    if buf[line_start:line_start + 1] in (b" ", b"\t") and line_end - line_start <= BIG_RECORD:
        region_lo = max(0, line_start - 4 * BLOCK)
        region_hi = min(len(buf), line_end + 4 * BLOCK)
        lines = _line_spans(buf[region_lo:region_hi])
        index = next(i for i, (a, _b) in enumerate(lines) if a + region_lo == line_start)
        block_start, block_end = _indented_block(buf[region_lo:region_hi], lines, index)
        yield region_lo + block_start, region_lo + block_end


def _pieces_near(buf: bytes, lo: int, hi: int, hint: int, anchor: bytes, encoding: str,
                 separator: re.Pattern[bytes], native: ModuleType | None) -> Iterator[tuple[int, int]]:
    """Tuples or objects holding the anchor, looked for first within NEAR bytes of ``hint``.

    Only pieces whole inside that window count there; if none holds the anchor, the whole span is cut.
    """
    near_lo, near_hi = max(lo, hint - NEAR), min(hi, hint + NEAR)
    seen = False
    for a, b in _sub_records(buf, near_lo, near_hi, anchor, encoding, separator, native):
        if (a > near_lo or near_lo == lo) and (b < near_hi or near_hi == hi):
            seen = True
            yield a, b
    if not seen and (near_lo, near_hi) != (lo, hi):
        yield from _sub_records(buf, lo, hi, anchor, encoding, separator, native)


def _at_least(pattern: re.Pattern[bytes], buf: bytes, lo: int, hi: int, count: int) -> bool:
    return sum(1 for _ in islice(pattern.finditer(buf, lo, hi), count)) >= count


def _line_spans(region: bytes) -> list[tuple[int, int]]:
    spans = []
    start = 0
    for piece in region.split(b"\n"):
        spans.append((start, start + len(piece)))
        start += len(piece) + 1
    return spans


def _sub_records(region: bytes, start: int, end: int, anchor: bytes, encoding: str,
                 separator: re.Pattern[bytes], native: ModuleType | None) -> Iterator[tuple[int, int]]:
    """The pieces of ``region[start:end]`` between separators whose squeezed form holds ``anchor``."""
    cuts = [start] + [m.end() - 1 for m in separator.finditer(region, start, end)] + [end]
    squeezed, starts, _newlines = squeeze_slices(region[start:end], encoding, [c - start for c in cuts[:-1]], native)
    ends = [*starts[1:], len(squeezed)]
    for a, b, s_start, s_end in zip(cuts[:-1], cuts[1:], starts, ends, strict=True):
        if squeezed.find(anchor, s_start, s_end) >= 0:
            yield a, b


def _indent(line: bytes) -> int:
    return len(line) - len(line.lstrip(b" \t"))


def _indented_block(region: bytes, lines: list[tuple[int, int]], i: int) -> tuple[int, int]:
    """From the opener of line ``i``'s block (first less-indented line above) to its closer."""
    level = _indent(region[lines[i][0]:lines[i][1]])
    j = i
    while j > 0 and _indent(region[lines[j][0]:lines[j][1]]) >= level:
        j -= 1
    opener = _indent(region[lines[j][0]:lines[j][1]])
    k = i
    while k + 1 < len(lines) and _indent(region[lines[k + 1][0]:lines[k + 1][1]]) > opener:
        k += 1
    return lines[j][0], lines[min(k + 1, len(lines) - 1)][1]
