"""Adding a batch of generated canaries to a system: ids, tokens, uniqueness, reproducibility."""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
import secrets
from collections.abc import Callable
from datetime import date
from typing import Protocol

import sqlite_utils

from canary.errors import CanaryError
from canary.generate.contact_points import add_contact_points, contact_taken
from canary.normalize import email_key
from canary.settings import ensure_secret
from canary.store.markers import markers_for
from canary.store.registry import (
    add_canaries,
    current_generation,
    get_system,
    marker_taken,
    now_iso,
    remove_canaries,
)
from canary.store.shapes import CanaryRecord, ContactPoint, PatientRecord
from canary.store.tx import write_transaction
from canary.tokens import token_links

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

    With ``seed``, the same registry state gives the same canaries: the random stream is keyed on
    the seed, the system and how many canaries the registry already holds.

    Canaries are generated and stored ``batch_size`` at a time, each batch in its own short write
    transaction (generation included, so uniqueness checks see every committed marker), so the
    listeners of a running ``serve`` and other commands are never locked out for long. If a batch
    fails (or the command is interrupted), the batches already stored are removed again.
    """
    if count < 1:
        raise CanaryError("--count must be at least 1")
    get_system(db, system)
    today = today or date.today()
    secret = ensure_secret(db, "registry.secret")
    created = now_iso()
    rng: random.Random | None = None
    run_generation = 0  # read with the first batch, inside its write transaction
    out: list[CanaryRecord] = []
    try:
        while len(out) < count:
            with write_transaction(db):
                if rng is None:
                    existing = db.execute("SELECT COUNT(*) FROM canaries").fetchone()[0]
                    stream = f"{seed}|{system}|{existing}" if seed is not None else secrets.token_hex(16)
                    rng = random.Random(stream)
                    run_generation = generation or max(current_generation(db, system), 1)
                taken = _TakenMarkers(db)
                batch = []
                points: list[tuple[str, ContactPoint]] = []
                for _ in range(min(batch_size, count - len(out))):
                    canary = _one(db, rng, generator, today, taken, secret,
                                  system=system, generation=run_generation, created_at=created)
                    # Proposed mailboxes and unfilled contact points are kept aside, never on the record.
                    points.extend((canary["id"], point) for point in canary.pop("contact_points", []))
                    batch.append(canary)
                add_canaries(db, batch)
                add_contact_points(db, points)
            out.extend(batch)
    except BaseException:
        if out:
            remove_canaries(db, [canary["id"] for canary in out])
        raise
    return out


class _TakenMarkers:
    """Is a marker value taken, in the registry or by this batch? Phones are answered from memory.

    A crowded phone pool is walked number by number; one query per number made a seed into a pool
    that was nearly used up cost seconds per canary (while holding the write lock). The phone markers
    are read once per batch, inside its write transaction, so the set cannot go stale.
    """

    def __init__(self, db: sqlite_utils.Database):
        self.db = db
        self.batch: set[tuple[str, str]] = set()
        self.phones = {row[0] for row in db.execute("SELECT value FROM markers WHERE kind = 'phone'")}

    def __call__(self, kind: str, value: str) -> bool:
        if (kind, value) in self.batch:
            return True
        if kind == "phone":
            return value in self.phones
        return marker_taken(self.db, kind, value) or (kind == "email" and contact_taken(self.db, kind, value))


def _one(db: sqlite_utils.Database, rng: random.Random, generator: Generator, today: date, taken: _TakenMarkers,
         secret: str, *, system: str, generation: int, created_at: str) -> CanaryRecord:
    for _ in range(_MAX_ATTEMPTS):
        canary_id = "".join(rng.choice(_ID_ALPHABET) for _ in range(10))
        if db.execute("SELECT 1 FROM canaries WHERE id = ?", [canary_id]).fetchone():
            continue
        record = generator.generate(rng, today=today, taken=taken)
        proposed = {("email", email_key(value)) for p in record.get("contact_points", []) if (value := p["value"])}
        token = derive_token(secret, canary_id)
        canary: CanaryRecord = {"id": canary_id, **record, "tokens": token_links(db, token), "token": token,
                                "system": system, "generation": generation, "created_at": created_at}
        markers = markers_for(canary, token)
        # The generator already avoids collisions; this re-check guards every marker kind at once.
        if any(taken(kind, value) for kind, value in markers):
            continue
        taken.batch.update(markers)
        taken.batch.update(proposed)  # reserved for this canary until the operator confirms or not
        return canary
    raise CanaryError("could not generate a canary with unique identifiers; the registry may be saturated")
