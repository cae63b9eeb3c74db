"""What the receiving side sees of how canaries travel: message control ids, send pacing.

Real feeds come from the site's integration engine: its MSH-10 shape (French engines mostly write a
plain counter), one patient at a time. A library's own id shape or 49 messages in one second single the
canaries out of an EAI log a thief may steal with the database.
"""

from __future__ import annotations

import random
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime

import sqlite_utils

from canary.settings import get_float, get_str
from canary.store.tx import write_transaction

# A counter that an engine started long ago: a first value of six to seven digits.
_COUNTER_START = (100_000, 5_000_000)


def next_control_id(db: sqlite_utils.Database, target: str, *, now: datetime | None = None) -> str:
    """The next MSH-10 for ``target``, in the shape of the setting ``plant.hl7.control_id``."""
    shape = get_str(db, "plant.hl7.control_id")
    if shape == "library":
        import hl7

        return str(hl7.generate_message_control_id())
    value = _bump(db, f"msh10:{target}")
    if shape == "timestamp":
        from canary.plant.timing import PARIS

        moment = (now or datetime.now(UTC)).astimezone(PARIS)
        return moment.strftime("%Y%m%d%H%M%S") + f"{value % 10_000:04d}"
    return str(value)


def _bump(db: sqlite_utils.Database, name: str) -> int:
    """Increment a persistent counter in one transaction (two runs never hand out the same value)."""
    with write_transaction(db):
        row = db.execute("SELECT value FROM plant_counters WHERE name = ?", [name]).fetchone()
        value = int(row[0]) + 1 if row else _COUNTER_START[0] + secrets.randbelow(_COUNTER_START[1])
        db.execute("INSERT INTO plant_counters (name, value) VALUES (?, ?) "
                   "ON CONFLICT (name) DO UPDATE SET value = excluded.value", [name, value])
    return value


class Pacer:
    """Spaces the canaries of one run: a gap drawn between half and one and a half times the setting
    ``plant.send_spacing``, and never two sends in the same second (0: no spacing at all)."""

    def __init__(self, mean: float, *, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.time, rng: random.Random | None = None) -> None:
        self.mean, self.sleep, self.clock = mean, sleep, clock
        self.rng = rng or random.Random(secrets.randbits(64))
        self.last: float | None = None

    @classmethod
    def from_settings(cls, db: sqlite_utils.Database) -> Pacer:
        return cls(get_float(db, "plant.send_spacing"))

    def wait(self) -> datetime:
        """Call right before each send: sleeps as needed, counts this send as the last one and returns its
        moment (the message is stamped with it, so two stamps never share a second)."""
        if self.mean > 0 and self.last is not None:
            gap = self.rng.uniform(0.5, 1.5) * self.mean
            due = max(self.last + gap, int(self.last) + 1 + self.rng.uniform(0.05, 0.6))
            delay = due - self.clock()
            if delay > 0:
                self.sleep(delay)
        self.last = self.clock()
        return datetime.fromtimestamp(self.last, UTC)
