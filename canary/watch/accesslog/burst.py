"""How many distinct canaries one account read within the burst window, for every hit of a batch.

A bulk export is tens of thousands of canary reads by one account within minutes. Asking the events
table for each hit re-read (and re-decoded) every earlier read of the window: quadratic, a few hundred
events per second. Here each account's group is loaded once per stored batch (inside its write
transaction, so nothing another watcher commits can slip in between) and then slides: reads in time
order cost O(1) each; a read older than the newest one seen (a line out of order) is counted exactly
over the loaded reads, which is rare and still correct.
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


class BurstWindows:
    """Per stored batch: the burst count of each hit, one query per account group."""

    def __init__(self, db: sqlite_utils.Database, channel: str, window: timedelta) -> None:
        self.db = db
        self.channel = channel
        self.window = window
        self._groups: dict[tuple[str, str | None], _Group] = {}

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
