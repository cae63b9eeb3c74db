"""File imports: canaries rendered as CSV or JSON rows under a column mapping, written atomically."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from canary.errors import CanaryError
from canary.files import write_atomic

Record = dict[str, Any]
Column = Callable[[Record], str]


def _national_phone(e164: str | None) -> str:
    """+33612345678 -> 0612345678 (how French software stores numbers)."""
    if not e164:
        return ""
    return "0" + e164[3:] if e164.startswith("+33") else e164


def _phone(index: int) -> Column:
    def read(record: Record) -> str:
        phones = record.get("phones") or []
        return _national_phone(phones[index]) if len(phones) > index else ""
    return read


def _first(index: int) -> Column:
    def read(record: Record) -> str:
        names = record.get("first_names") or []
        return names[index] if len(names) > index else ""
    return read


def _get(*keys: str) -> Column:
    def read(record: Record) -> str:
        value: Any = record
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        return "" if value is None else str(value)
    return read


def _birth_postcode(record: Record) -> str:
    # Only known when born in the commune of residence; a guessed postcode would be a tell.
    address, place = record.get("address") or {}, record.get("birth_place") or {}
    same = address.get("commune_code") and address.get("commune_code") == place.get("code")
    return address.get("postcode", "") if same else ""


def _civility(record: Record) -> str:
    return "m" if record.get("sex") == "M" else "mme"


def _gp(record: Record) -> str:
    gp = record.get("gp") or {}
    return " ".join(p for p in (gp.get("family_name"), gp.get("first_name")) if p)


def _remarks(record: Record) -> str:
    allergies = [a.get("substance") for a in record.get("allergies") or [] if a.get("substance")]
    return ("Allergie : " + ", ".join(allergies)) if allergies else ""


# Mediboard's `patients` table column names and value conventions (sexe m/f, civilite m/mme,
# naissance YYYY-MM-DD, national phone numbers, matricule = the NIR).
MEDIBOARD: dict[str, Column] = {
    "nom": lambda r: r.get("used_name") or r.get("birth_name") or "",
    "nom_jeune_fille": _get("birth_name"),
    "prenom": _first(0),
    "prenom_2": _first(1),
    "prenom_3": _first(2),
    "prenoms": lambda r: " ".join(r.get("first_names") or []),
    "naissance": _get("birth_date"),
    "sexe": lambda r: (r.get("sex") or "").lower(),
    "civilite": _civility,
    "adresse": _get("address", "line"),
    "cp": _get("address", "postcode"),
    "ville": _get("address", "city"),
    "tel": _phone(0),
    "tel2": _phone(1),
    "email": _get("email"),
    "matricule": _get("nir"),
    "lieu_naissance": _get("birth_place", "name"),
    "cp_naissance": _birth_postcode,
    "commune_naissance_insee": _get("birth_place", "code"),
    "medecin_traitant": _gp,
    "rques": _remarks,
}

# Our own record keys, flat: for imports that are configured column by column.
DEFAULT: dict[str, Column] = {
    "ipp": _get("ipp"),
    "birth_name": _get("birth_name"),
    "used_name": _get("used_name"),
    "first_names": lambda r: " ".join(r.get("first_names") or []),
    "sex": _get("sex"),
    "birth_date": _get("birth_date"),
    "birth_place_code": _get("birth_place", "code"),
    "birth_place_name": _get("birth_place", "name"),
    "nir": _get("nir"),
    "identity_status": _get("identity_status"),
    "address": _get("address", "line"),
    "postcode": _get("address", "postcode"),
    "city": _get("address", "city"),
    "phone": _phone(0),
    "phone2": _phone(1),
    "email": _get("email"),
    "regime": _get("coverage", "regime"),
    "caisse": _get("coverage", "caisse"),
    "amc": _get("coverage", "amc", "name"),
    "amc_member_number": _get("coverage", "amc", "member_number"),
    "gp_rpps": _get("gp", "rpps"),
    "gp_name": _gp,
}

MAPPINGS: dict[str, tuple[dict[str, Column], str]] = {
    # name: (columns, the column that keys a row: the planting's external id)
    "default": (DEFAULT, "ipp"),
    "mediboard": (MEDIBOARD, "matricule"),
}
FORMATS = ("csv", "json")


def check_options(fmt: str, mapping: str, delimiter: str, encoding: str) -> None:
    if fmt not in FORMATS:
        raise CanaryError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if mapping not in MAPPINGS:
        raise CanaryError(f"unknown mapping {mapping!r}; expected one of {', '.join(MAPPINGS)}")
    if len(delimiter) != 1 or delimiter in "\r\n\"":
        raise CanaryError(f"invalid delimiter {delimiter!r}: one character, not a quote or a line break")
    try:
        "".encode(encoding)
    except LookupError as exc:
        raise CanaryError(f"unknown encoding {encoding!r}") from exc


def row_key(record: Record, mapping: str) -> str:
    columns, key = MAPPINGS[mapping]
    return columns[key](record)


def render(records: list[Record], *, fmt: str, mapping: str, delimiter: str = ";") -> str:
    columns, _ = MAPPINGS[mapping]
    rows = [{name: column(record) for name, column in columns.items()} for record in records]
    if fmt == "json":
        return json.dumps(rows, ensure_ascii=False, indent=2) + "\n"
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), delimiter=delimiter, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def write_export(path: Path, records: list[Record], *, fmt: str, mapping: str, delimiter: str,
                 encoding: str, new_mode: int = 0o640) -> None:
    """Render and write in one atomic step; a character the encoding lacks is an error, not a '?'.

    An existing target keeps its mode and group (the import job reads it under them); a new one gets
    ``new_mode`` (setting ``plant.file_mode``)."""
    text = render(records, fmt=fmt, mapping=mapping, delimiter=delimiter)
    try:
        text.encode(encoding)
    except UnicodeEncodeError as exc:
        raise CanaryError(f"{path}: a value cannot be written in {encoding} ({exc.object[exc.start:exc.end]!r});"
                          " choose another --encoding") from exc
    if path.is_dir():
        raise CanaryError(f"cannot write {path}: it is a folder; name the file, e.g. {path / 'patients.csv'}")
    if not path.parent.is_dir():
        raise CanaryError(f"cannot write {path}: folder {path.parent} does not exist")
    write_atomic(path, text, encoding=encoding, new_mode=new_mode, keep_attributes=True)
