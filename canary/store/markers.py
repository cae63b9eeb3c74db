"""Identifying values of a canary, normalised for lookup by every watcher."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from canary.normalize import email_key, fold, name_birth_key, nir_key, phone_key

Marker = tuple[str, str]


def markers_for(record: Mapping[str, Any], token: str | None = None) -> list[Marker]:
    """Every value that, seen anywhere, names this canary and no other (``token``: its callback secret).

    ``record``: a canary record, or part of one (a record being linted, links being added): a key it
    lacks gives no marker."""
    out: list[Marker] = []
    nir = nir_key(record.get("nir") or "")
    if nir:
        out.append(("nir", nir))
        out.append(("nir13", nir[:13]))
    for phone in record.get("phones") or []:
        key = phone_key(phone)
        if key:
            out.append(("phone", key))
    if record.get("email"):
        out.append(("email", email_key(record["email"])))
    if record.get("ipp"):
        out.append(("ipp", str(record["ipp"])))
    tokens = record.get("tokens") or {}
    if token:
        out.append(("token", token))
    if tokens.get("hostname"):
        out.append(("hostname", tokens["hostname"].lower().rstrip(".")))
    first_names = record.get("first_names") or []
    if first_names and record.get("birth_date"):
        for name in (record.get("birth_name"), record.get("used_name")):
            if name:
                out.append(("name_birth", name_birth_key(name, first_names[0], record["birth_date"])))
    amc = (record.get("coverage") or {}).get("amc") or {}
    if amc.get("member_number"):
        out.append(("amc_member", fold(str(amc["member_number"])).replace(" ", "")))
    return _dedupe(out)


def _dedupe(markers: Iterable[Marker]) -> list[Marker]:
    return list(dict.fromkeys(markers))  # first occurrence wins, order kept
