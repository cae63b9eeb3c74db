"""Adding a batch of generated canaries to a system: ids, tokens, uniqueness, reproducibility."""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
import secrets
from collections.abc import Callable
from datetime import date
from typing import Any, Protocol

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
)
from canary.store.tx import write_transaction
from canary.watch.tripwire.tokens import token_links

# Ids are opaque: nothing in them hints at the system, the generation or the order of creation.
_ID_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
_MAX_ATTEMPTS = 50


class Generator(Protocol):
    def generate(
        self, rng: random.Random, *, today: date, taken: Callable[[str, str], bool]
    ) -> dict[str, Any]: ...


def derive_token(secret: str, canary_id: str) -> str:
    """An unguessable, reproducible token: HMAC of the canary id under the registry's secret."""
    digest = hmac.new(secret.encode(), canary_id.encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode().lower().rstrip("=")[:20]


def seed_system(
    db: sqlite_utils.Database,
    system: str,
    count: int,
    generator: Generator,
    *,
    seed: int | None = None,
    today: date | None = None,
    generation: int | None = None,
) -> list[dict[str, Any]]:
    """Generate ``count`` canaries for ``system`` and store them atomically; return them.

    With ``seed``, the same registry state gives the same canaries: the random stream is keyed on
    the seed, the system and how many canaries the registry already holds.
    """
    if count < 1:
        raise CanaryError("--count must be at least 1")
    get_system(db, system)
    today = today or date.today()
    secret = ensure_secret(db, "registry.secret")
    with write_transaction(db):
        existing = db.execute("SELECT COUNT(*) FROM canaries").fetchone()[0]
        stream = f"{seed}|{system}|{existing}" if seed is not None else secrets.token_hex(16)
        rng = random.Random(stream)
        generation = generation or max(current_generation(db, system), 1)
        batch_markers: set[tuple[str, str]] = set()

        def taken(kind: str, value: str) -> bool:
            return ((kind, value) in batch_markers or marker_taken(db, kind, value)
                    or (kind == "email" and contact_taken(db, kind, value)))

        created = now_iso()
        out = []
        points: list[tuple[str, dict[str, Any]]] = []
        for _ in range(count):
            canary = _one(db, rng, generator, today, taken, batch_markers, secret)
            canary.update(system=system, generation=generation, created_at=created)
            # Proposed mailboxes and unfilled contact points are kept aside, never on the record.
            points.extend((canary["id"], point) for point in canary.pop("contact_points", []))
            out.append(canary)
        add_canaries(db, out)
        add_contact_points(db, points)
    return out


def _one(db, rng, generator, today, taken, batch_markers, secret) -> dict[str, Any]:
    for _ in range(_MAX_ATTEMPTS):
        canary_id = "".join(rng.choice(_ID_ALPHABET) for _ in range(10))
        if db.execute("SELECT 1 FROM canaries WHERE id = ?", [canary_id]).fetchone():
            continue
        record = generator.generate(rng, today=today, taken=taken)
        proposed = {("email", email_key(p["value"])) for p in record.get("contact_points", []) if p.get("value")}
        token = derive_token(secret, canary_id)
        record["tokens"] = token_links(db, token)
        markers = markers_for(record, token)
        # The generator already avoids collisions; this re-check guards every marker kind at once.
        if any(taken(kind, value) for kind, value in markers):
            continue
        batch_markers.update(markers)
        batch_markers.update(proposed)  # reserved for this canary until the operator confirms or not
        return {"id": canary_id, **record, "token": token}
    raise CanaryError("could not generate a canary with unique identifiers; the registry may be saturated")
