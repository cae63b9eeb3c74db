"""What a sweep looks for: every canary's values, normalised, and the literal patterns of the fast search.

Strong markers (NIR, phone, e-mail, callback token and hostname) come from the registry's
``markers`` table and name one canary on their own. Weak fields (family names, first names, birth
date, postcode, address line, IPP, mutuelle number) come from the canary records and count only in
pairs within one record. The fast search looks for the strong markers and for *anchors* among the
weak fields (birth date, IPP, mutuelle number); a pair is found from its anchor.
"""

from __future__ import annotations

import contextlib
import gc
import json
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlite_utils

from canary.normalize import fold
from canary.watch.sweep.index_cache import load_cached, store_cached
from canary.watch.sweep.index_shapes import CanaryInfo, Plan, SweepIndex
from canary.watch.sweep.linkage import (
    ADDRESS_BITS,
    AMC_BITS,
    BIRTH_DATE_BITS,
    IPP_BITS,
    PAIR_FIELDS,
    POSTCODE_BITS,
    coincidence_histogram,
    first_name_bits,
    first_name_ranks,
    surname_bits,
    surname_ranks,
)
from canary.watch.sweep.textnorm import squeeze, squeeze_value

STRONG_KINDS = ("nir", "nir13", "phone", "email", "token", "hostname")


def date_forms(iso: str) -> list[bytes]:
    """ddmmyyyy and yyyymmdd: every separated spelling of a date squeezes to one of them."""
    year, month, day = iso.split("-")
    return [f"{day}{month}{year}".encode(), f"{year}{month}{day}".encode()]


def _canary_info(canary_id: str, system: str, record: dict[str, Any], seeds: Path) -> CanaryInfo:
    info = CanaryInfo(id=canary_id, system=system)
    raw_names = [n for n in (record.get("birth_name"), record.get("used_name")) if n and fold(n)]
    for name in raw_names:
        if fold(name) not in info.names:
            info.names.append(fold(name))
    info.first_names = list(dict.fromkeys(fold(n) for n in record.get("first_names") or [] if fold(n)))
    info.birth_date = record.get("birth_date") or None
    surnames = surname_ranks(seeds)
    info.name_bits = [surname_bits(name, surnames) for name in info.names]
    decade = int(info.birth_date[:4]) // 10 * 10 if info.birth_date else 1970
    firsts = first_name_ranks(seeds).get((record.get("sex") or "F", decade), {})
    info.first_bits = [first_name_bits(first, firsts) for first in info.first_names]
    address = record.get("address") or {}
    info.city = fold(address.get("city") or "") or None
    info.postcode = (address.get("postcode") or "").strip() or None
    info.address = fold(address.get("line") or "") or None
    info.ipp = str(record["ipp"]) if record.get("ipp") else None
    amc = (record.get("coverage") or {}).get("amc") or {}
    if amc.get("member_number"):
        info.amc_member = fold(str(amc["member_number"])).replace(" ", "")
    info.squeezed = {
        # Folded (Æ as AE) and byte-squeezed (Æ as A) spellings, as the stream may hold either.
        "name": list(dict.fromkeys([squeeze_value(n) for n in info.names] + [squeeze(n.encode()) for n in raw_names])),
        "birth_date": date_forms(info.birth_date) if info.birth_date else [],
        "address": [squeeze_value(info.address)] if info.address else [],
        "ipp": [squeeze_value(info.ipp)] if info.ipp else [],
        "amc_member": [squeeze_value(info.amc_member)] if info.amc_member else [],
    }
    info.pair_patterns = {kind: tuple(p for other in PAIR_FIELDS if other != kind for p in info.squeezed[other])
                          for kind in PAIR_FIELDS}
    return info


def build_index(db: sqlite_utils.Database, use_cache: bool = True) -> SweepIndex:
    """Every canary of the registry (retired ones too: a leak of old data still names its system).

    Building it folds and squeezes every value of every canary (about half a second for 10,000);
    the result is kept beside the registry (see :mod:`canary.watch.sweep.index_cache`) and reused
    while no canary or marker changes.
    """
    registry = _registry_path(db)
    with paused_gc():
        if use_cache and registry is not None:
            index = load_cached(db, registry)
            if index is None:
                index = _build(db)
                store_cached(db, registry, index)
        else:
            index = _build(db)
    if registry is not None:
        index.cache, index.registry = Path(f"{registry}-sweep.hsdb"), registry
    return index


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """No cyclic garbage collection while hundreds of thousands of long-lived objects are made
    (it would walk them again and again: loading the cached index takes 3x longer)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _build(db: sqlite_utils.Database) -> SweepIndex:
    canaries: dict[str, CanaryInfo] = {}
    from canary.generate.admin import default_seeds_dir  # here: a scan from the cached index needs no seeds

    seeds = default_seeds_dir()
    for canary_id, system, record_json in db.execute("SELECT id, system, record FROM canaries"):
        canaries[canary_id] = _canary_info(canary_id, system, json.loads(record_json), seeds)
    for kind, value, canary_id in db.execute("SELECT kind, value, canary_id FROM markers"):
        info = canaries.get(canary_id)
        if info is None:
            continue
        if kind == "phone":
            info.phones.add(value)
        elif kind in ("nir", "nir13", "email", "token", "hostname"):
            setattr(info, kind, value)
    by_pattern: dict[bytes, list[tuple[str, str]]] = defaultdict(list)

    def add(pattern: bytes, kind: str, canary_id: str, minimum: int) -> None:
        if len(pattern) >= minimum and (kind, canary_id) not in by_pattern[pattern]:
            by_pattern[pattern].append((kind, canary_id))

    for info in canaries.values():
        if info.nir13:
            add(info.nir13.encode(), "nir", info.id, 13)
        for phone in info.phones:
            add(phone.encode(), "phone", info.id, 9)
        for kind in ("email", "token", "hostname"):
            value = getattr(info, kind)
            if value:
                add(squeeze(value.encode("utf-8")), kind, info.id, 6)
        # Address lines are not anchors: "1 rue de la Paix" is in every town; they still count
        # as the second half of a pair found from a birth date, IPP or mutuelle number.
        for kind in ("birth_date", "ipp", "amc_member"):
            for pattern in info.squeezed[kind]:
                add(pattern, kind, info.id, 6)
    patterns = list(by_pattern)
    index = SweepIndex(canaries=canaries, patterns=patterns, entries=[by_pattern[p] for p in patterns])
    index.plans, index.weak_others = _plans(index)
    index.coincidence = coincidence_histogram(_weak_bits(info) for info in canaries.values())
    return index


def _weak_bits(info: CanaryInfo) -> list[tuple[str, float]]:
    """The canary's weak fields with their agreement weights; for names, the more frequent one."""
    fields = [("name", min(info.name_bits, default=0.0)), ("first_name", min(info.first_bits, default=0.0)),
              ("birth_date", BIRTH_DATE_BITS if info.birth_date else 0.0),
              ("address", ADDRESS_BITS if info.address else 0.0), ("postcode", POSTCODE_BITS if info.postcode else 0.0),
              ("ipp", IPP_BITS if info.ipp else 0.0), ("amc_member", AMC_BITS if info.amc_member else 0.0)]
    return [(name, bits) for name, bits in fields if bits > 0]


def _plans(index: SweepIndex) -> tuple[list[Plan], list[tuple[bytes, ...] | None]]:
    plans: list[Plan] = [tuple((cid, kind in STRONG_KINDS,
                                () if kind in STRONG_KINDS else index.canaries[cid].pair_patterns[kind])
                               for kind, cid in entries) for entries in index.entries]
    # For a birth date, an other half that is itself an anchor of the same canary (IPP, mutuelle
    # number) is left out of the union: its own hit looks for the date.
    own_anchors = {(pattern, cid) for pattern, entries in zip(index.patterns, index.entries, strict=True)
                   for kind, cid in entries if kind in ("ipp", "amc_member")}
    weak_others: list[tuple[bytes, ...] | None] = []
    for entries in index.entries:
        if any(kind in STRONG_KINDS for kind, _cid in entries):
            weak_others.append(None)
            continue
        others = []
        for kind, cid in entries:
            for other in index.canaries[cid].pair_patterns[kind]:
                if kind != "birth_date" or (other, cid) not in own_anchors:
                    others.append(other)
        weak_others.append(tuple(dict.fromkeys(others)))
    return plans, weak_others


def _registry_path(db: sqlite_utils.Database) -> Path | None:
    for _seq, name, file in db.execute("PRAGMA database_list"):
        if name == "main" and file:
            return Path(file)
    return None
