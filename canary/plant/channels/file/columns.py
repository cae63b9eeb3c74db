"""The columns of a file import: each mapping's column -> how it reads a canary record.

Shared by the row formats (export.py) and Mediboard's own tables (mediboard_dump.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from canary.generate.text import ins_form
from canary.plant.countries import country_of_birth
from canary.plant.identity import carries_ins, is_child

Record = Mapping[str, Any]
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


def _upper(*keys: str) -> Column:
    """Names and places upper case without diacritics, as the INS traits and postal addresses write them."""
    read = _get(*keys)
    return lambda record: ins_form(read(record))


def _names_upper(record: Record) -> str:
    return " ".join(ins_form(name) for name in record.get("first_names") or [])


def _first_upper(record: Record) -> str:
    return ins_form(_first(0)(record))


def _ins(record: Record) -> str:
    """The NIR is the INS matricule: only a qualified identity carries it (RNIV, FR Core)."""
    return str(record["nir"]) if carries_ins(record) else ""


def _matricule(record: Record) -> str:
    """Mediboard's ``matricule`` as Mediboard fills it: for an identity that came from INSi (RECUP, QUAL) its
    post-INS code copies ``ins_nir`` there; for the others (VALI, PROV) the admission reads the insured's social
    security number from the carte Vitale. The same number, whatever the status."""
    return str(record.get("nir") or "")


def _birth_code(record: Record) -> str:
    return str((record.get("birth_place") or {}).get("code") or "")


def _born_abroad(record: Record) -> bool:
    return _birth_code(record).startswith("99")


def _birth_city(record: Record) -> str:
    return "" if _born_abroad(record) else ins_form(_get("birth_place", "name")(record))


def _birth_commune_code(record: Record) -> str:
    return "" if _born_abroad(record) else _birth_code(record)


def _birth_country_numeric(record: Record) -> str:
    country = country_of_birth(_birth_code(record))
    return country.numeric if country else ""


def _birth_country_alpha3(record: Record) -> str:
    country = country_of_birth(_birth_code(record))
    return country.alpha3 if country else ""


def _birth_postcode(record: Record) -> str:
    # Only known when born in the commune of residence; a guessed postcode would be a tell.
    address, place = record.get("address") or {}, record.get("birth_place") or {}
    same = address.get("commune_code") and address.get("commune_code") == place.get("code")
    return address.get("postcode", "") if same else ""


def _civility(record: Record) -> str:
    # Mediboard's own rule: "enf" under CHILD_AGE, on the day the file is written.
    if is_child(record, date.today()):
        return "enf"
    return "m" if record.get("sex") == "M" else "mme"


def _gp(record: Record) -> str:
    gp = record.get("gp") or {}
    return " ".join(ins_form(p) for p in (gp.get("family_name"), gp.get("first_name")) if p)


def _remarks(record: Record) -> str:
    allergies = [a.get("substance") for a in record.get("allergies") or [] if a.get("substance")]
    return ("Allergie : " + ", ".join(allergies)) if allergies else ""


# Mediboard (OpenXtrem, Ox\Mediboard\Patients\CPatient of the post-INS line: source_identite_id, prenoms,
# status VIDE|PROV|VALI|RECUP|QUAL): the CPatient fields its import fills, with their value conventions.
# `_IPP` is CPatient's IPP form field (stored as the establishment's IPP idex); `medecin_traitant` is a
# reference to a CMedecin, given by its RPPS (the importer resolves it to the CMedecin's id);
# `pays_naissance_insee` is the numeric ISO 3166 country code (250 for France); `matricule` is filled for
# every status, as Mediboard fills it. No prenom_2/prenom_3: this line keeps all first names in `prenoms`.
MEDIBOARD: dict[str, Column] = {
    "_IPP": _get("ipp"),
    "nom": lambda r: ins_form(r.get("used_name") or r.get("birth_name") or ""),
    "nom_jeune_fille": _upper("birth_name"),
    "prenom": _first_upper,
    "prenoms": _names_upper,
    "naissance": _get("birth_date"),
    "sexe": lambda r: (r.get("sex") or "").lower(),
    "civilite": _civility,
    "adresse": _upper("address", "line"),
    "cp": _get("address", "postcode"),
    "ville": _upper("address", "city"),
    "pays": lambda r: "FRANCE",
    "tel": _phone(0),
    "tel2": _phone(1),
    "email": _get("email"),
    "matricule": _matricule,
    "status": _get("identity_status"),
    "lieu_naissance": _birth_city,
    "cp_naissance": _birth_postcode,
    "commune_naissance_insee": _birth_commune_code,
    "pays_naissance_insee": _birth_country_numeric,
    "medecin_traitant": _get("gp", "rpps"),
    "rques": _remarks,
}

# Our own record keys, flat: for imports that are configured column by column. Names and places in the
# same upper case as the other channels; `nir` only for a qualified identity (the INS rule).
DEFAULT: dict[str, Column] = {
    "ipp": _get("ipp"),
    "birth_name": _upper("birth_name"),
    "used_name": _upper("used_name"),
    "first_names": _names_upper,
    "sex": _get("sex"),
    "birth_date": _get("birth_date"),
    "birth_place_code": _get("birth_place", "code"),
    "birth_place_name": _birth_city,
    "birth_country": _birth_country_alpha3,
    "nir": _ins,
    "identity_status": _get("identity_status"),
    "address": _upper("address", "line"),
    "postcode": _get("address", "postcode"),
    "city": _upper("address", "city"),
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
    "mediboard": (MEDIBOARD, "_IPP"),
}
