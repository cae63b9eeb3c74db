"""How many distinct canaries one account read within the burst window, for every hit of a batch.

A bulk export is tens of thousands of canary reads by one account within minutes. Asking the events
table for each hit re-read (and re-decoded) every earlier read of the window: quadratic, a few hundred
events per second. Here each account's group is loaded once and then slides: reads in time order cost
O(1) each; a read older than the newest one seen (a line out of order) is counted exactly over the
loaded reads, which is rare and still correct. The state is kept from one stored batch to the next by
the watcher that owns it: at each batch (inside its write transaction, so nothing can slip in between)
it first takes in what other watchers stored since (events of a higher id), and it is dropped whenever
a batch does not commit.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlite_utils


def iso_minus(when: str, window: timedelta) -> str:
    """``when`` (``YYYY-MM-DDTHH:MM:SS.mmmZ``) minus ``window``, in the same shape (so strings compare)."""
    end = datetime.fromisoformat(when.replace("Z", "+00:00"))
    return (end - window).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class _Group:
    """The reads of one account's group from ``loaded_from`` on, ordered by time, and a sliding count."""

    loaded_from: str
    times: list[str]
    canaries: list[str]
    lo: int = 0
    hi: int = 0
    newest: str = ""
    inside: Counter[str] = field(default_factory=Counter)

    def count(self, start: str, when: str, canary_id: str) -> int:
        """Distinct canaries read in [start, when], this read included; records this read."""
        if when >= self.newest:
            self._slide(start, when)
            position = self.hi
            self.times.insert(position, when)
            self.canaries.insert(position, canary_id)
            self.hi += 1
            self.inside[canary_id] += 1
            self.newest = when
            return len(self.inside)
        # Out of order: count exactly, record, and rebuild the sliding state at the next read in order.
        first, last = bisect_left(self.times, start), bisect_right(self.times, when)
        found = set(self.canaries[first:last]) | {canary_id}
        position = bisect_right(self.times, when)
        self.times.insert(position, when)
        self.canaries.insert(position, canary_id)
        self.lo, self.hi, self.newest, self.inside = 0, 0, "", Counter()
        return len(found)

    def add_stored(self, when: str, canary_id: str) -> None:
        """A read another watcher stored: kept in time order; the sliding state is rebuilt if it falls
        inside what was already counted."""
        position = bisect_right(self.times, when)
        self.times.insert(position, when)
        self.canaries.insert(position, canary_id)
        if self.newest and when <= self.newest:
            self.lo, self.hi, self.newest, self.inside = 0, 0, "", Counter()

    def forget_before(self, cut: str) -> None:
        """Drop reads older than ``cut`` (long past every window still to come): memory stays bounded."""
        drop = bisect_left(self.times, cut)
        if drop:
            del self.times[:drop], self.canaries[:drop]
            self.loaded_from = cut
            self.lo, self.hi, self.newest, self.inside = 0, 0, "", Counter()

    def _slide(self, start: str, when: str) -> None:
        if not self.newest:  # (re)built: position both ends from scratch
            self.lo = bisect_left(self.times, start)
            self.hi = self.lo
        times, canaries, inside = self.times, self.canaries, self.inside
        while self.hi < len(times) and times[self.hi] <= when:
            inside[canaries[self.hi]] += 1
            self.hi += 1
        while self.lo < self.hi and times[self.lo] < start:
            gone = canaries[self.lo]
            inside[gone] -= 1
            if not inside[gone]:
                del inside[gone]
            self.lo += 1


# Reads kept per group before the oldest are dropped: far more than any window needs, dropped in bulk.
_KEEP = 50_000


class BurstWindows:
    """The burst count of each hit, one query per account group, kept across stored batches."""

    def __init__(self, db: sqlite_utils.Database, channel: str, window: timedelta) -> None:
        self.db = db
        self.channel = channel
        self.window = window
        self._groups: dict[tuple[str, str | None], _Group] = {}
        self.seen_id = self._max_id()

    def _max_id(self) -> int:
        return int(self.db.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0])

    def catch_up(self) -> None:
        """Take in the reads other watchers stored since the last batch (call it in the batch's transaction)."""
        if not self._groups:
            self.seen_id = self._max_id()
            return
        for event_id, when, canary_id, account, group, counts in self.db.execute(
            """SELECT id, time, canary_id, account, json_extract(details, '$.group'),
                      json_extract(details, '$.allowed_by') IS NULL
               FROM events WHERE id > ? AND channel = ? ORDER BY id""",
            [self.seen_id, self.channel],
        ):
            self.seen_id = max(self.seen_id, event_id)
            state = self._groups.get((group, account))
            if state is not None and counts and when >= state.loaded_from:
                state.add_stored(when, canary_id)
        for state in self._groups.values():
            if len(state.times) > _KEEP and state.newest:
                state.forget_before(iso_minus(state.newest, 2 * self.window))

    def stored(self) -> None:
        """The batch committed what it counted: later catch-ups skip those events."""
        self.seen_id = self._max_id()

    def canaries_in_window(self, group: str, account: str | None, when: str, canary_id: str) -> int:
        """Distinct canaries this group read within the window ending at ``when``, this read included.
        Call it only for reads that count (not those an allow rule covers), in the batch's transaction,
        before the read's own event is stored."""
        start = iso_minus(when, self.window)
        key = (group, account)
        state = self._groups.get(key)
        if state is None or start < state.loaded_from:
            state = self._load(group, account, start)
            self._groups[key] = state
        return state.count(start, when, canary_id)

    def _load(self, group: str, account: str | None, start: str) -> _Group:
        rows = self.db.execute(
            """SELECT time, canary_id FROM events
               WHERE channel = ? AND account IS ? AND time >= ?
                 AND json_extract(details, '$.group') = ? AND json_extract(details, '$.allowed_by') IS NULL
               ORDER BY time""",
            [self.channel, account, start, group],
        ).fetchall()
        times = [r[0] for r in rows]
        canaries = [r[1] for r in rows]
        return _Group(start, times, canaries)
