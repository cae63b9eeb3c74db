"""Where a canary's callback token shows up: the URL and the DNS name embedded in its record.

The URL reads like a patient-portal document link (``/mon-espace/documents/<id>``), the kind a
discharge letter or a portal invitation carries; the hostname is a per-document name under the
operator's delegated zone, as document-sharing and CDN links look. The callback listener recognises
the token anywhere in a path, query or Host, so the operator may rewrite either shape freely.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import sqlite_utils

from canary.errors import CanaryError
from canary.settings import get_str
from canary.store.markers import markers_for
from canary.store.registry import list_canaries
from canary.store.shapes import Tokens
from canary.store.tx import write_transaction


def token_links(db: sqlite_utils.Database, token: str) -> Tokens:
    """The callback URL and DNS hostname for ``token``, or None where the operator set no base."""
    return link_maker(db)(token)


def link_maker(db: sqlite_utils.Database) -> Callable[[str], Tokens]:
    """:func:`token_links` with the settings read once (a seed gives links to thousands of tokens)."""
    base_url = get_str(db, "tripwire.base_url").rstrip("/")
    zone = get_str(db, "tripwire.dns_zone").strip(".").lower()

    def links(token: str) -> Tokens:
        return {
            "url": f"{base_url}/mon-espace/documents/{token}" if base_url else None,
            "hostname": f"{token}.{zone}" if zone else None,
        }

    return links


def tokenless(db: sqlite_utils.Database, system: str | None = None) -> list[tuple[str, str]]:
    """(canary id, missing link) for active canaries whose record lacks a callback URL or DNS name.

    Such a canary can never fire on that channel: it was seeded before ``tripwire.base_url`` or
    ``tripwire.dns_zone`` was set.
    """
    missing = []
    for canary in list_canaries(db, system=system, include_retired=False):
        links = canary.get("tokens") or {}
        missing += [(canary["id"], key) for key in ("url", "hostname") if not links.get(key)]
    return missing


def fill_tokens(db: sqlite_utils.Database, system: str | None = None) -> dict[str, list[str]]:
    """Give active canaries not yet planted the links they lack, from the current settings.

    A canary already planted (or being planted) keeps its record: the copy in the target cannot
    change, so it is listed under ``planted`` (retire it and seed a new generation instead).
    """
    if not get_str(db, "tripwire.base_url") and not get_str(db, "tripwire.dns_zone"):
        raise CanaryError("set tripwire.base_url and/or tripwire.dns_zone first ('canary config set ...'): "
                          "there is no link to give")
    outcome: dict[str, list[str]] = {"filled": [], "planted": []}
    with write_transaction(db):
        for canary in list_canaries(db, system=system, include_retired=False):
            links = dict(canary.get("tokens") or {"url": None, "hostname": None})
            token = db.execute("SELECT token FROM canaries WHERE id = ?", [canary["id"]]).fetchone()[0]
            fresh = token_links(db, token)
            added = {key: fresh[key] for key in ("url", "hostname") if not links.get(key) and fresh[key]}
            if not added:
                continue
            if db.execute("SELECT 1 FROM plantings WHERE canary_id = ? AND state IN ('planned', 'planted')",
                          [canary["id"]]).fetchone():
                outcome["planted"].append(canary["id"])
                continue
            row = db.execute("SELECT record FROM canaries WHERE id = ?", [canary["id"]]).fetchone()
            record = json.loads(row[0])
            record["tokens"] = {**links, **added}
            db.execute("UPDATE canaries SET record = ? WHERE id = ?",
                       [json.dumps(record, ensure_ascii=False, sort_keys=True), canary["id"]])
            for kind, value in markers_for({"tokens": added}):
                if db.execute("INSERT INTO markers (kind, value, canary_id) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                              [kind, value, canary["id"]]).rowcount == 0:
                    raise CanaryError(f"canary {canary['id']}: {kind} {value} already belongs to another canary")
            outcome["filled"].append(canary["id"])
    return outcome
