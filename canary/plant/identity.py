"""Identity rules every channel shares: when the INS may be sent, who is a child, how the identity was
obtained (source, INSi query date, identity document). Light on imports: the CLI loads it at start."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

# The INS matricule goes with a qualified identity only (FR Core fr-core-patient-ins, RNIV): a RECUP
# identity has not been checked against an identity document yet.
INS_STATUSES = ("QUAL",)
# Below this age Mediboard and French admission systems write the civility "enfant".
CHILD_AGE = 15


def carries_ins(record: Mapping[str, Any]) -> bool:
    """Whether the INS matricule may be sent with this identity (every channel asks this)."""
    return bool(record.get("nir")) and record.get("identity_status") in INS_STATUSES


def age_on(record: Mapping[str, Any], today: date) -> int | None:
    try:
        born = date.fromisoformat(record.get("birth_date") or "")
    except ValueError:
        return None
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def is_child(record: Mapping[str, Any], today: date) -> bool:
    age = age_on(record, today)
    return age is not None and age < CHILD_AGE


# ZFD-5 (PAM FR table 9003) and ZFD-7 (table 9004) by identity status: a RECUP or QUAL identity came from
# the INSi teleservice, a VALI or QUAL one was checked against an identity document.
_FROM_INSI = ("RECUP", "QUAL")
_DOCUMENT_CHECKED = ("VALI", "QUAL")
# Earliest INSi query date: the teleservice became mandatory for identity qualification in 2021.
INSI_START = date(2021, 1, 1)


def identity_evidence(record: Mapping[str, Any]) -> dict[str, str | None]:
    """How the identity was obtained and checked: ``source`` (SM or INSI), ``insi_date`` (YYYY-MM-DD)
    and ``document`` (CN, PA, CS, LE). Derived from the record alone, so every channel and every run
    says the same thing."""
    status = record.get("identity_status")
    seed = int.from_bytes(hashlib.sha256(f"{record.get('ipp')}|{record.get('nir')}".encode()).digest()[:8], "big")
    out: dict[str, str | None] = {"source": "INSI" if status in _FROM_INSI else "SM", "insi_date": None,
                                  "document": None}
    if status in _FROM_INSI:
        created = _created_on(record)
        earliest = max(INSI_START, _born_on(record) or INSI_START)
        span = max((created - earliest).days, 0)
        out["insi_date"] = (created - timedelta(days=seed % (min(span, 900) + 1))).isoformat()
    if status in _DOCUMENT_CHECKED:
        age = age_on(record, _created_on(record))
        abroad = str((record.get("birth_place") or {}).get("code") or "").startswith("99")
        choices: tuple[str, ...]
        if age is not None and age < 12:
            choices = ("LE", "LE", "PA", "CN")
        elif abroad:
            choices = ("CS", "PA", "CN")
        else:
            choices = ("CN", "CN", "CN", "PA")
        out["document"] = choices[(seed >> 16) % len(choices)]
    return out


def status_updated(record: Mapping[str, Any]) -> datetime:
    """When the identity's status was last set (FR Core ``lastUpdated`` of the reliability extension): the INSi
    query day for an identity that came from INSi, else a day before the canary's creation; a working-hours
    moment, Paris time. Derived from the record alone, like the rest of the evidence."""
    seed = int.from_bytes(hashlib.sha256(f"status|{record.get('ipp')}|{record.get('nir')}".encode()).digest()[:8],
                          "big")
    insi = identity_evidence(record)["insi_date"]
    if insi:
        day = date.fromisoformat(insi)
    else:
        created = _created_on(record)
        earliest = max(_born_on(record) or created, created - timedelta(days=900))
        day = created - timedelta(days=seed % (max((created - earliest).days, 0) + 1))
    moment = time(8 + (seed >> 8) % 9, (seed >> 16) % 60, (seed >> 24) % 60)
    return datetime.combine(day, moment, ZoneInfo("Europe/Paris"))


def _created_on(record: Mapping[str, Any]) -> date:
    try:
        return datetime.fromisoformat(str(record.get("created_at")).replace("Z", "+00:00")).date()
    except ValueError:
        return datetime.now(UTC).date()


def _born_on(record: Mapping[str, Any]) -> date | None:
    try:
        return date.fromisoformat(record.get("birth_date") or "")
    except ValueError:
        return None
