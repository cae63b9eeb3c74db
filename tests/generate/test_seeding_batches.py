"""Long seeds write in short transactions, stay all-or-nothing, and never crawl over a used-up pool;
CLI commands wait for a busy registry instead of failing."""

from __future__ import annotations

import random
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from canary.errors import CanaryError
from canary.generate.contacts import PhoneBook
from canary.generate.patient import PatientGenerator, Pools
from canary.generate.reference import Reference
from canary.generate.seeding import seed_system
from canary.store.registry import add_system


class _Watching:
    """The real generator; at the given canary, counts what another connection sees committed."""

    def __init__(self, inner: PatientGenerator, db_path: Path, at: int, fail_at: int | None = None):
        self.inner, self.db_path, self.at, self.fail_at = inner, db_path, at, fail_at
        self.calls = 0
        self.seen_by_others: int | None = None
        self.writable_meanwhile: bool | None = None

    def generate(self, rng: random.Random, *, today: date, taken: Any) -> dict[str, Any]:
        self.calls += 1
        if self.calls == self.at:
            other = sqlite3.connect(str(self.db_path), timeout=5)
            self.seen_by_others = other.execute("SELECT COUNT(*) FROM canaries").fetchone()[0]
            other.close()
        if self.fail_at is not None and self.calls == self.fail_at:
            raise CanaryError("generator gave up")
        return self.inner.generate(rng, today=today, taken=taken)


@pytest.fixture(scope="module")
def generator() -> PatientGenerator:
    phones = tuple(f"+3375612{i:04d}" for i in range(300))
    return PatientGenerator(Reference.load(), Pools(phones=phones, mail_domains=("messagerie-durand.fr",)))


def test_a_long_seed_commits_in_batches_so_others_see_progress(db, db_path, generator):
    add_system(db, "ehr-a", "ehr")
    watching = _Watching(generator, db_path, at=125)
    seeded = seed_system(db, "ehr-a", 160, watching, seed=13, batch_size=50)
    assert len(seeded) == 160
    assert watching.seen_by_others == 100  # two batches committed while the third was generated


def test_a_seed_that_fails_part_way_leaves_nothing(db, db_path, generator):
    add_system(db, "ehr-a", "ehr")
    with pytest.raises(CanaryError, match="gave up"):
        seed_system(db, "ehr-a", 160, _Watching(generator, db_path, at=0, fail_at=130), seed=13, batch_size=50)
    assert db.execute("SELECT COUNT(*) FROM canaries").fetchone()[0] == 0
    assert db.execute("SELECT COUNT(*) FROM markers").fetchone()[0] == 0


def test_batches_give_the_same_canaries_as_one_transaction(tmp_path, generator):
    from canary.store import open_db

    runs = []
    for batch_size in (1000, 40):
        db = open_db(tmp_path / f"r{batch_size}.db")
        db.execute("INSERT INTO settings (key, value, updated_at) VALUES ('registry.secret', '\"k\"', 'now')")
        db.conn.commit()
        add_system(db, "ehr-a", "ehr")
        runs.append([c["id"] for c in seed_system(db, "ehr-a", 120, generator, seed=5, batch_size=batch_size,
                                                   today=date(2026, 12, 1))])
        db.close()
    assert runs[0] == runs[1]


def test_a_used_up_phone_category_is_walked_once_not_for_every_canary():
    book = PhoneBook.from_pool(tuple(f"+3375612{i:04d}" for i in range(500)))
    [category] = [c for c, numbers in book.by_category.items() if numbers]
    asked = []

    def taken(kind: str, value: str) -> bool:
        asked.append(value)
        return True  # every number already belongs to a canary

    assert book.pick(random.Random(1), category, taken, set()) is None
    first = len(asked)
    assert first >= 500
    assert book.pick(random.Random(2), category, taken, set()) is None
    assert len(asked) == first  # no second walk


def test_cli_commands_wait_for_a_busy_registry_instead_of_failing(db, db_path, tmp_path, add_hand_canaries):
    add_hand_canaries(count=1)  # scan refuses a registry without an active canary
    (tmp_path / "dump.txt").write_text("rien ici\n")
    db.conn.commit()
    holder = sqlite3.connect(str(db_path), timeout=5, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    release = threading.Timer(1.5, lambda: holder.execute("ROLLBACK"))
    release.start()
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "canary", "--db", str(db_path), "scan", str(tmp_path / "dump.txt")],
                          capture_output=True, text=True, timeout=60, check=False)
    release.join()
    holder.close()
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started >= 1.0  # it waited for the lock rather than failing on it
    assert "sweep 1" in done.stdout


def test_a_used_up_pool_is_known_at_once_under_the_crowding_bounds():
    from canary.generate.crowding import ContactBudget

    pool = tuple(f"+336{block:05d}{n:03d}" for block in range(2_000) for n in (0, 500))
    book = PhoneBook.from_pool(pool)
    # Every block already carries as many canaries of the system as its population would (10 each).
    budget = ContactBudget.for_system(750_000, pool, [n for n in pool[::2] for _ in range(10)], [])
    asked = []

    def taken(kind: str, value: str) -> bool:
        asked.append(value)
        return False

    assert book.pick(random.Random(1), "mobile", taken, set(), budget) is None
    assert budget.open_blocks["mobile"].blocks == []  # each full block found once, then dropped
    assert book.pick(random.Random(2), "mobile", taken, set(), budget) is None
    assert asked == []  # no number of a full block is even looked at


def test_a_taken_number_is_asked_about_once_per_run_under_the_crowding_bounds():
    from canary.generate.crowding import ContactBudget

    pool = tuple(f"+336{block:05d}{n:03d}" for block in range(50) for n in range(0, 1000, 100))
    book = PhoneBook.from_pool(pool)
    budget = ContactBudget.for_system(750_000, pool, [], [])
    asked: list[str] = []

    def taken(kind: str, value: str) -> bool:
        asked.append(value)
        return True  # every number already belongs to another system's canary

    assert book.pick(random.Random(1), "mobile", taken, set(), budget) is None
    assert sorted(asked) == sorted(n[3:] for n in pool)  # each number once, none twice
    assert book.pick(random.Random(2), "mobile", taken, set(), budget) is None
    assert len(asked) == len(pool)


class _Clashing:
    """The real generator, except that its first record reuses the IPP of a canary already stored
    (a value it never asked ``taken`` about): the batch check must catch it."""

    def __init__(self, inner: PatientGenerator, ipp: str):
        self.inner, self.ipp, self.calls = inner, ipp, 0

    def generate(self, rng: random.Random, *, today: date, taken: Any) -> dict[str, Any]:
        self.calls += 1
        record = self.inner.generate(rng, today=today, taken=taken)
        return {**record, "ipp": self.ipp} if self.calls == 1 else record


def test_a_marker_already_in_the_registry_is_caught_by_the_batch_check_and_redrawn(db, generator):
    add_system(db, "ehr-a", "ehr")
    first = seed_system(db, "ehr-a", 3, generator, seed=1)
    clashing = _Clashing(generator, first[0]["ipp"])
    second = seed_system(db, "ehr-a", 5, clashing, seed=2, batch_size=5)
    assert len(second) == 5 and clashing.calls == 6  # the clashing record was drawn again
    assert first[0]["ipp"] not in {c["ipp"] for c in second}
    holders = db.execute("SELECT COUNT(*) FROM canaries WHERE json_extract(record, '$.ipp') = ?",
                         [first[0]["ipp"]]).fetchone()[0]
    assert holders == 1
