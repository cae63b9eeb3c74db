"""The fast search (Hyperscan over the squeezed stream) and the verification of what it finds.

One text stream is read in 1 MiB chunks that overlap by 8 KiB, so memory stays flat whatever the
length of a line. Each chunk is squeezed block by block (4 KiB) so a hit in the squeezed stream can be
traced back to its block of real text, where :mod:`canary.watch.sweep.verify` decides.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass

import hyperscan

from canary.watch.sweep.index import PAIR_FIELDS, STRONG_KINDS, SweepIndex
from canary.watch.sweep.textnorm import decode, mask, squeeze, unescape
from canary.watch.sweep.verify import decide, fields_in

CHUNK = 1024 * 1024
OVERLAP = 8 * 1024
BLOCK = 4096
# How far (in squeezed bytes) the other half of a weak pair may sit from its anchor to be worth a look.
PAIR_WINDOW = 400
_CONFIDENCE_RANK = {"low": 0, "medium": 1, "high": 2}
_SUB_RECORD = re.compile(rb"\)\s*,\s*\(|\}\s*,\s*\{|\]\s*,\s*\[")
_SQL_TUPLE = re.compile(rb"\)\s*,\s*\(")
LONG_LINE = 2048


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

    def to_json(self) -> dict:
        return asdict(self)


def compile_patterns(patterns: list[bytes]) -> hyperscan.Database | None:
    if not patterns:
        return None
    database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    expressions = [b"".join(b"\\x%02x" % b for b in p) for p in patterns]
    database.compile(expressions=expressions, ids=list(range(len(expressions))), elements=len(expressions))
    return database


class StreamMatcher:
    """Finds the canaries of ``index`` in decoded text streams (UTF-8 or cp1252 bytes)."""

    def __init__(self, index: SweepIndex, database: hyperscan.Database | None = None) -> None:
        self.index = index
        self.database = database if database is not None else compile_patterns(index.patterns)
        self.lengths = [len(p) for p in index.patterns]

    def scan(self, chunks: Iterable[bytes], name: str, encoding: str) -> list[Finding]:
        best: dict[str, Finding] = {}
        if self.database is None:
            for _ in chunks:
                pass
            return []
        carry = b""
        line_base = 0  # newlines before the start of buf
        offset_base = 0
        for piece in chunks:
            buf = unescape(carry + piece, encoding)
            self._scan_buffer(buf, name, encoding, line_base, offset_base, best)
            keep = min(OVERLAP, len(buf))
            line_base += buf.count(b"\n", 0, len(buf) - keep)
            offset_base += len(buf) - keep
            carry = buf[len(buf) - keep:]
        return sorted(best.values(), key=lambda f: (f.line, f.canary_id))

    def _scan_buffer(self, buf: bytes, name: str, encoding: str, line_base: int, offset_base: int,
                     best: dict[str, Finding]) -> None:
        parts = [squeeze(buf[i:i + BLOCK], encoding) for i in range(0, len(buf), BLOCK)]
        starts = []
        total = 0
        for part in parts:
            starts.append(total)
            total += len(part)
        squeezed = b"".join(parts)
        hits: list[tuple[int, int]] = []
        self.database.scan(squeezed, match_event_handler=lambda pid, _s, end, _f, _c: hits.append((pid, end)))
        if not hits:
            return
        canaries = self.index.canaries
        tried: set[tuple[str, int]] = set()
        for pid, end in hits:
            start = end - self.lengths[pid]
            for kind, canary_id in self.index.entries[pid]:
                found = best.get(canary_id)
                if found is not None and (found.confidence == "high" or kind not in STRONG_KINDS):
                    continue
                if kind not in STRONG_KINDS and not self._pair_nearby(squeezed, start, end, kind, canaries[canary_id]):
                    continue
                block = bisect_right(starts, start) - 1
                if (canary_id, block) in tried:
                    continue
                tried.add((canary_id, block))
                finding = self._verify(buf, block, self.index.patterns[pid], canary_id, name, encoding,
                                       line_base, offset_base)
                if finding and (found is None or
                                _CONFIDENCE_RANK[finding.confidence] > _CONFIDENCE_RANK[found.confidence]):
                    best[canary_id] = finding

    @staticmethod
    def _pair_nearby(squeezed: bytes, start: int, end: int, kind: str, canary) -> bool:
        lo, hi = max(0, start - PAIR_WINDOW), end + PAIR_WINDOW
        for other in PAIR_FIELDS:
            if other == kind:
                continue
            for pattern in canary.squeezed[other]:
                if squeezed.find(pattern, lo, hi) >= 0:
                    return True
        return False

    def _verify(self, buf: bytes, block: int, anchor: bytes, canary_id: str, name: str, encoding: str,
                line_base: int, offset_base: int) -> Finding | None:
        lo = max(0, (block - 2) * BLOCK)
        hi = min(len(buf), (block + 3) * BLOCK)
        region = buf[lo:hi]
        canary = self.index.canaries[canary_id]
        for rec_start, rec_end, line_start in _records_with(region, anchor, encoding):
            text = decode(region[rec_start:rec_end], encoding)
            decision = decide(fields_in(text, canary))
            if decision is None:
                continue
            line = line_base + buf.count(b"\n", 0, lo + line_start) + 1
            return Finding(canary_id=canary_id, system=canary.system, file=name, fields=decision.fields,
                           confidence=decision.confidence, severity=decision.severity, line=line,
                           offset=offset_base + lo + rec_start, evidence=mask(text))
        return None


def _records_with(region: bytes, anchor: bytes, encoding: str) -> Iterator[tuple[int, int, int]]:
    """(start, end, line start) of each record of ``region`` whose squeezed form holds ``anchor``.

    A record is a line; within a long line, a tuple or object of an SQL extended insert or a JSON
    array; and, for an indented line of pretty-printed JSON or XML, the enclosing indented block.
    """
    lines = _line_spans(region)
    for i, (start, end) in enumerate(lines):
        if anchor not in squeeze(region[start:end], encoding):
            continue
        if end - start > LONG_LINE:
            yield from _sub_records(region, start, end, anchor, encoding, _SUB_RECORD)
            continue
        if _SQL_TUPLE.search(region, start, end):
            yield from _sub_records(region, start, end, anchor, encoding, _SQL_TUPLE)
            continue
        yield start, end, start
        if region[start:start + 1] in (b" ", b"\t"):
            block_start, block_end = _indented_block(region, lines, i)
            yield block_start, block_end, start


def _line_spans(region: bytes) -> list[tuple[int, int]]:
    spans = []
    start = 0
    for piece in region.split(b"\n"):
        spans.append((start, start + len(piece)))
        start += len(piece) + 1
    return spans


def _sub_records(region: bytes, start: int, end: int, anchor: bytes, encoding: str,
                 separator: re.Pattern[bytes]) -> Iterator[tuple[int, int, int]]:
    cuts = [start] + [m.end() - 1 for m in separator.finditer(region, start, end)] + [end]
    for a, b in zip(cuts, cuts[1:], strict=False):
        if anchor in squeeze(region[a:b], encoding):
            yield a, b, start


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
