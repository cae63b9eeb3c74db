"""Adding a batch of generated canaries to a system: ids, tokens, uniqueness, reproducibility."""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
import secrets
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Protocol, cast

import sqlite_utils

from canary.errors import CanaryError
from canary.generate.contact_points import add_contact_points
from canary.normalize import email_key
from canary.settings import ensure_secret
from canary.store.markers import Marker, markers_for
from canary.store.registry import (
    add_canaries,
    current_generation,
    get_system,
    now_iso,
    remove_canaries,
)
from canary.store.shapes import CanaryRecord, ContactPoint, PatientRecord, Tokens
from canary.store.tokens import link_maker
from canary.store.tx import write_transaction

# Ids are opaque: nothing in them hints at the system, the generation or the order of creation.
_ID_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
_MAX_ATTEMPTS = 50


class Generator(Protocol):
    def generate(
        self, rng: random.Random, *, today: date, taken: Callable[[str, str], bool]
    ) -> PatientRecord: ...


def derive_token(secret: str, canary_id: str) -> str:
    """An unguessable, reproducible token: HMAC of the canary id under the registry's secret."""
    digest = hmac.new(secret.encode(), canary_id.encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode().lower().rstrip("=")[:20]


# Canaries one seed may make (canary seed --count, the API's count).
MAX_SEED = 100_000
SEED_BATCH = 100  # canaries per write transaction: a listener never waits more than a fraction of a second


def seed_system(
    db: sqlite_utils.Database,
    system: str,
    count: int,
    generator: Generator,
    *,
    seed: int | None = None,
    today: date | None = None,
    generation: int | None = None,
    batch_size: int = SEED_BATCH,
) -> list[CanaryRecord]:
    """Generate ``count`` canaries for ``system`` and store them, all or nothing; return them.

    The batches of :func:`seed_batches`, kept: for callers that want the records, not a seed of tens
    of thousands (the command keeps only their ids).
    """
    return [canary for batch in seed_batches(db, system, count, generator, seed=seed, today=today,
                                             generation=generation, batch_size=batch_size) for canary in batch]


def seed_batches(
    db: sqlite_utils.Database,
    system: str,
    count: int,
    generator: Generator,
    *,
    seed: int | None = None,
    today: date | None = None,
    generation: int | None = None,
    batch_size: int = SEED_BATCH,
) -> Iterator[list[CanaryRecord]]:
    """Generate ``count`` canaries for ``system`` and store them, yielding each batch once committed.

    With ``seed``, the same registry state gives the same canaries: the random stream is keyed on
    the seed, the system and how many canaries the registry already holds.

    Canaries are generated and stored ``batch_size`` at a time, each batch in its own short write
    transaction (generation included, so uniqueness checks see every committed marker), so the
    listeners of a running ``serve`` and other commands are never locked out for long. If a batch
    fails (or the command is interrupted, or the caller stops iterating), the batches already stored
    are removed again: all or nothing.
    """
    if count < 1:
        raise CanaryError("--count must be at least 1")
    get_system(db, system)
    today = today or date.today()
    secret = ensure_secret(db, "registry.secret")
    created = now_iso()
    rng: random.Random | None = None
    taken: _TakenMarkers | None = None
    run_generation = 0  # read with the first batch, inside its write transaction
    stored: list[str] = []
    try:
        while len(stored) < count:
            with write_transaction(db):
                if rng is None or taken is None:
                    existing = db.execute("SELECT COUNT(*) FROM canaries").fetchone()[0]
                    stream = f"{seed}|{system}|{existing}" if seed is not None else secrets.token_hex(16)
                    rng = random.Random(stream)
                    run_generation = generation or max(current_generation(db, system), 1)
                    taken = _TakenMarkers(db)
                links = link_maker(db)
                wanted = min(batch_size, count - len(stored))
                batch: list[_Seeded] = []
                while len(batch) < wanted:
                    batch += [_one(rng, generator, today, taken, secret, links, system=system,
                                   generation=run_generation, created_at=created) for _ in range(wanted - len(batch))]
                    # The generator asked the registry about the values it draws; ids, tokens and every
                    # other marker are checked here, one query per kind for the whole batch.
                    clashing = taken.clashes(batch)
                    batch = [seeded for seeded in batch if seeded.canary["id"] not in clashing]
                points: list[tuple[str, ContactPoint]] = []
                for seeded in batch:
                    # Proposed mailboxes and unfilled contact points are kept aside, never on the record.
                    points.extend((seeded.canary["id"], point) for point in seeded.canary.pop("contact_points", []))
                canaries = [seeded.canary for seeded in batch]
                add_canaries(db, canaries, [seeded.markers for seeded in batch])
                add_contact_points(db, points)
            taken.stored(batch)
            stored.extend(canary["id"] for canary in canaries)
            yield canaries
    except BaseException:
        if stored:
            remove_canaries(db, stored)
        raise


@dataclass
class _Seeded:
    canary: CanaryRecord
    markers: list[Marker]
    proposed: set[Marker]  # mailboxes proposed to the operator: reserved, not yet markers


class _TakenMarkers:
    """Is a marker value taken, in the registry or by this batch?

    Phones are answered from memory: a crowded phone pool is asked about number after number. They
    are read once per run, then kept up to date with what the run stores and with what the batch
    check finds another process stored meanwhile. Other kinds are one indexed lookup each, on the
    connection itself; the batch check (:meth:`clashes`) re-checks every marker of a batch at once.
    """

    def __init__(self, db: sqlite_utils.Database):
        self.conn = db.conn
        self.batch: set[Marker] = set()
        self.phones = {row[0] for row in self.conn.execute("SELECT value FROM markers WHERE kind = 'phone'")}

    def __call__(self, kind: str, value: str) -> bool:
        if (kind, value) in self.batch:
            return True
        if kind == "phone":
            return value in self.phones
        if self.conn.execute(_MARKER_TAKEN, [kind, value]).fetchone() is not None:
            return True
        return kind == "email" and self.conn.execute(_PROPOSED, [value]).fetchone() is not None

    def clashes(self, batch: list[_Seeded]) -> set[str]:
        """Ids of the batch's canaries whose id, a marker or a proposed mailbox the registry already holds."""
        owners: dict[Marker, str] = {}
        for seeded in batch:
            owners |= dict.fromkeys([*seeded.markers, *seeded.proposed, ("id", seeded.canary["id"])],
                                    seeded.canary["id"])
        by_kind: dict[str, list[str]] = defaultdict(list)
        for kind, value in owners:
            by_kind[kind].append(value)
        found: set[Marker] = set()
        for kind, values in by_kind.items():
            if kind == "id":
                queries = ["SELECT 'id', id FROM canaries WHERE id IN ({})"]
            else:
                queries = ["SELECT kind, value FROM markers WHERE kind = ? AND value IN ({})"]
                if kind == "email":
                    queries.append("SELECT kind, value FROM contact_points WHERE kind = ? AND value IN ({})")
            for query in queries:
                for start in range(0, len(values), 500):
                    chunk = values[start:start + 500]
                    params = chunk if kind == "id" else [kind, *chunk]
                    found.update(self.conn.execute(query.format(",".join("?" * len(chunk))), params).fetchall())
        self.phones.update(value for kind, value in found if kind == "phone")
        return {owners[marker] for marker in found}

    def stored(self, batch: list[_Seeded]) -> None:
        """The batch is committed: the registry now answers for its markers (phones: this memory)."""
        for seeded in batch:
            self.phones.update(value for kind, value in seeded.markers if kind == "phone")
        self.batch.clear()


_MARKER_TAKEN = "SELECT 1 FROM markers WHERE kind = ? AND value = ?"
_PROPOSED = "SELECT 1 FROM contact_points WHERE kind = 'email' AND value = ?"


def _one(rng: random.Random, generator: Generator, today: date, taken: _TakenMarkers, secret: str,
         links: Callable[[str], Tokens], *, system: str, generation: int, created_at: str) -> _Seeded:
    for _ in range(_MAX_ATTEMPTS):
        canary_id = "".join(rng.choice(_ID_ALPHABET) for _ in range(10))
        if ("id", canary_id) in taken.batch:
            continue
        record = generator.generate(rng, today=today, taken=taken)
        proposed = {("email", email_key(value)) for p in record.get("contact_points", []) if (value := p["value"])}
        token = derive_token(secret, canary_id)
        # The record's optional keys (status, contact_points) are copied as they are.
        canary = cast(CanaryRecord, {"id": canary_id, **record, "tokens": links(token), "token": token,
                                     "system": system, "generation": generation, "created_at": created_at})
        markers = markers_for(canary, token)
        # The generator already avoids collisions with the batch; this guards every marker kind at once.
        if not taken.batch.isdisjoint(markers):
            continue
        taken.batch.update(markers)
        taken.batch.update(proposed)  # reserved for this canary until the operator confirms or not
        taken.batch.add(("id", canary_id))
        return _Seeded(canary, markers, proposed)
    raise CanaryError("could not generate a canary with unique identifiers; the registry may be saturated")
