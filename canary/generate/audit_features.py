"""What a thief can compute from each row of a dump, on its own and against the whole dump.

Real rows of an export and the canaries of a trial batch are both read as ``Person`` (the fields a
thief sees); ``DumpCounts`` holds the dump's frequencies (real rows and canaries together, as the
thief holds them); ``feature_matrix`` turns people into one row of numbers each. Raw values live
only in memory while the audit runs: what leaves this module is numbers and feature names.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np

from canary.errors import CanaryError
from canary.generate.catchment import Point, distance_km
from canary.generate.profile import MAPPINGS
from canary.generate.reference import department_of_place
from canary.normalize import phone_key

# Columns of the birth place (Mediboard, `canary export`, the planters' flat files). The host profile
# ignores them today; the audit reads them to check where people were born.
_BIRTH_COLUMNS = {
    "commune_naissance_insee": "birth_commune", "cp_naissance": "birth_postcode",
    "pays_naissance_insee": "birth_country", "lieu_naissance": "birth_place",
    "birth_place.code": "birth_commune", "birth_place_code": "birth_commune", "birth_country": "birth_country",
}
BIRTH_FIELDS = ("birth_commune", "birth_postcode", "birth_country", "birth_place")
# Country codes meaning France (INSEE 99100, ISO numeric 250 and alpha codes).
_FRANCE = frozenset(("", "99100", "100", "250", "FR", "FRA", "FRANCE"))
_AGE_GROUPS = (0, 15, 30, 45, 60, 75, 200)
ABROAD = "99"
# How many IPPs after a row the thief looks at for the newest birth (a maternity hands out IPPs at birth).
IPP_WINDOW = 20


@dataclass(slots=True)
class Person:
    surname: str = ""
    first_name: str = ""
    sex: str = ""
    born: int = -1  # date ordinal, -1 unknown
    birth_department: str | None = None  # ABROAD for abroad, None unknown
    home_department: str | None = None
    postcode: str = ""
    phone: str = ""  # phone_key of the first mobile, else of the first phone
    mobile: bool = False
    landline: bool = False
    email_domain: str = ""
    email_local: str = ""
    ipp: int | None = None
    status: str = ""


@dataclass(frozen=True)
class Columns:
    """Which export columns feed which field; what could not be checked for lack of a column."""

    fields: Mapping[str, tuple[str, ...]]

    @classmethod
    def of(cls, columns: Iterable[str], mapping: Mapping[str, str] | None) -> Columns:
        known: dict[str, str] = {**MAPPINGS["default"], **MAPPINGS["mediboard"], **MAPPINGS["canary"],
                                 **_BIRTH_COLUMNS, **(mapping or {})}
        fields: dict[str, list[str]] = {}
        for column in columns:
            target = known.get(column.strip().lower())
            if target and target != "ignore":
                fields.setdefault(target, []).append(column)
        return cls({k: tuple(v) for k, v in fields.items()})

    def has(self, *names: str) -> bool:
        return any(n in self.fields for n in names)

    def unchecked(self) -> list[str]:
        out = []
        for figure, needs in (("birth place (no birth-place column)", BIRTH_FIELDS[:3]),
                              ("IPP order against birth dates (no IPP column)", ("ipp",)),
                              ("e-mail providers (no e-mail column)", ("email",)),
                              ("phone blocks (no phone column)", ("phone",)),
                              ("surnames (no name column)", ("name",)),
                              ("first names (no first-name column)", ("first_name",)),
                              ("home places (no postcode or commune column)", ("postcode", "commune_code"))):
            if not self.has(*needs):
                out.append(figure)
        if not self.has(*BIRTH_FIELDS[:3]) and self.has("birth_place"):
            out[0] = "birth place (only a birth-place name column, no code)"
        return out


def _first(row: Mapping[str, Any], columns: tuple[str, ...]) -> str:
    for column in columns:
        value = row.get(column)
        if not value:
            continue
        if type(value) is str:
            return (value.split(";", 1)[0] if ";" in value else value).strip()
        if isinstance(value, list):
            value = next((v for v in value if v not in (None, "")), None)
            if value is None:
                continue
        return str(value).strip()
    return ""


def _born(raw: str) -> int:
    raw = raw[:10]
    for parse in (date.fromisoformat, lambda s: date(int(s[6:10]), int(s[3:5]), int(s[:2]))):
        try:
            return parse(raw).toordinal()
        except (ValueError, IndexError):
            continue
    return -1


def _department(commune: str, postcode: str) -> str | None:
    if commune:
        return ABROAD if commune.startswith("99") else department_of_place("commune", commune.upper())
    if postcode and postcode[:5].isdigit():
        return department_of_place("postcode", postcode.zfill(5))
    return None


def _email(person: Person, value: str) -> None:
    if "@" in value:
        local, _, domain = value.rpartition("@")
        person.email_domain, person.email_local = domain.lower(), local.lower()


def _phones(person: Person, values: Iterable[str]) -> None:
    """Every phone of the row: which kinds it has, and the number a thief groups by (a mobile first: the
    column order of an export says nothing of the person)."""
    keys = [k for k in (phone_key(v) for v in values if v) if k]
    mobiles = [k for k in keys if k[0] in "67"]
    person.mobile = bool(mobiles)
    person.landline = any(k[0] in "12345" for k in keys)
    person.phone = (mobiles or keys or [""])[0]


def _all(row: Mapping[str, Any], columns: tuple[str, ...]) -> list[str]:
    out: list[str] = []
    for column in columns:
        value = row.get(column)
        if isinstance(value, list):
            out += [str(v) for v in value if v]
        elif value:
            out += [v.strip() for v in str(value).split(";") if v.strip()]
    return out


def person_of_row(row: Mapping[str, Any], columns: Columns) -> Person:
    f = columns.fields
    p = Person()
    p.surname = _first(row, f.get("name", ())).upper()
    p.first_name = _first(row, f.get("first_name", ())).upper().split(" ")[0]
    p.sex = {"F": "F", "M": "M", "H": "M", "1": "M", "2": "F"}.get(_first(row, f.get("sex", ()))[:1].upper(), "")
    p.born = _born(_first(row, f.get("birth_date", ())))
    commune, postcode = _first(row, f.get("commune_code", ())), _first(row, f.get("postcode", ()))
    p.home_department, p.postcode = _department(commune, postcode), postcode.zfill(5) if postcode else ""
    country = _first(row, f.get("birth_country", ())).upper()
    if country not in _FRANCE:
        p.birth_department = ABROAD
    else:
        p.birth_department = _department(_first(row, f.get("birth_commune", ())),
                                         _first(row, f.get("birth_postcode", ())))
    _phones(p, _all(row, f.get("phone", ())))
    _email(p, _first(row, f.get("email", ())))
    ipp = _first(row, f.get("ipp", ()))
    digits = "".join(ch for ch in ipp if ch.isdigit())
    p.ipp = int(digits) if digits else None
    p.status = _first(row, f.get("identity_status", ())).upper()
    return p


def person_of_canary(record: Mapping[str, Any]) -> Person:
    """A generated record as it shows in the host's dump (birth name, usual first name, first phone)."""
    p = Person()
    p.surname = str(record.get("birth_name") or "").upper()
    p.first_name = str((record.get("first_names") or [""])[0]).upper().split(" ")[0]
    p.sex = str(record.get("sex") or "")
    p.born = _born(str(record.get("birth_date") or ""))
    address = record.get("address") or {}
    p.home_department = _department(str(address.get("commune_code") or ""), str(address.get("postcode") or ""))
    p.postcode = str(address.get("postcode") or "")
    p.birth_department = _department(str((record.get("birth_place") or {}).get("code") or ""), "")
    _phones(p, [str(v) for v in record.get("phones") or []])
    _email(p, str(record.get("email") or ""))
    digits = "".join(ch for ch in str(record.get("ipp") or "") if ch.isdigit())
    p.ipp = int(digits) if digits else None
    p.status = str(record.get("identity_status") or "")
    return p


def _age_group(born: int, today: int) -> int:
    if born < 0:
        return -1
    age = (today - born) // 365
    return next(i for i, high in enumerate(_AGE_GROUPS[1:]) if age < high)


_KINDS = ("surname", "surname+postcode", "surname+home", "first", "first+decade", "postcode", "domain",
          "domain+age", "age", "block1000", "block10000", "birth", "status")


@dataclass
class DumpCounts:
    """Frequencies over the whole dump, and each row's (IPP, birth) for the IPP order checks."""

    today: int
    site_department: str | None
    total: int = 0
    counts: dict[str, Counter[str]] = field(default_factory=lambda: {k: Counter() for k in _KINDS})
    ipps: list[int] = field(default_factory=list)
    births: list[int] = field(default_factory=list)

    def keys(self, p: Person) -> tuple[str, ...]:
        """Each kind's key for this person, in ``_KINDS`` order (pairs joined by a separator no value holds)."""
        group = str(_age_group(p.born, self.today))
        home = p.home_department or ""
        return (p.surname, f"{p.surname}\x1f{p.postcode}", f"{p.surname}\x1f{home}", p.first_name,
                f"{p.first_name}\x1f{p.born // 3652}", p.postcode, p.email_domain, f"{p.email_domain}\x1f{group}",
                group, p.phone[:6], p.phone[:5], p.birth_department or "", p.status)

    def add(self, p: Person) -> None:
        self.total += 1
        for counter, key in zip(self._counters, self.keys(p), strict=True):
            counter[key] += 1
        if p.ipp is not None:
            self.ipps.append(p.ipp)
            self.births.append(p.born)

    @property
    def _counters(self) -> list[Counter[str]]:
        return [self.counts[k] for k in _KINDS]

    def count(self, kind: str, key: str) -> int:
        return self.counts[kind][key]


class Reservoir:
    """A uniform sample of at most ``size`` people of a stream (the real rows kept for the test)."""

    def __init__(self, size: int, rng: random.Random) -> None:
        self.size, self.rng, self.seen = size, rng, 0
        self.people: list[Person] = []

    def offer(self, p: Person) -> None:
        self.seen += 1
        if len(self.people) < self.size:
            self.people.append(p)
        else:
            slot = self.rng.randrange(self.seen)
            if slot < self.size:
                self.people[slot] = p


@dataclass(frozen=True)
class Places:
    """Where the site is and where postcodes are, for distances (None: no site, no distance)."""

    site: Point | None
    postcodes: Mapping[str, Point]
    national_rank: Mapping[str, int]  # surname -> rank in the national table (public INSEE counts)


class IppOrder:
    """Each IPP's neighbours in the dump sorted by IPP: the birth dates of the next patients."""

    def __init__(self, counts: DumpCounts) -> None:
        ipps = np.asarray(counts.ipps, dtype=np.int64)
        births = np.asarray(counts.births, dtype=np.float64)
        births[births < 0] = np.nan
        order = np.argsort(ipps, kind="stable")
        self.sorted_ipps = ipps[order]
        self.sorted_births = births[order]
        n = len(order)
        filled = np.where(np.isnan(self.sorted_births), -np.inf, self.sorted_births)
        # Newest birth among the next IPP_WINDOW IPPs (a maternity's newborns date their slice).
        ahead = np.full(n, -np.inf)
        for step in range(1, IPP_WINDOW + 1):
            if step < n:
                ahead[:-step] = np.maximum(ahead[:-step], filled[step:])
        self.ahead = ahead
        valid = np.sort(births[~np.isnan(births)])
        self.birth_sorted = valid

    def features(self, ipp: int | None, born: int) -> tuple[float, ...]:
        """IPP rank, birth rank, their gap, days born after the patient of the next IPP and after the newest of
        the next ones, other rows holding the same IPP (the row itself is in the dump: it is skipped)."""
        n = len(self.sorted_ipps)
        if ipp is None or not n:
            return (math.nan,) * 6
        left = int(np.searchsorted(self.sorted_ipps, ipp, side="left"))
        right = int(np.searchsorted(self.sorted_ipps, ipp, side="right"))
        ipp_rank, shared = left / n, float(max(0, right - left - 1))
        if born < 0:
            return ipp_rank, math.nan, math.nan, math.nan, math.nan, shared
        birth_rank = float(np.searchsorted(self.birth_sorted, born)) / max(1, len(self.birth_sorted))
        after_next = born - self.sorted_births[right] if right < n else math.nan
        newest = self.ahead[right - 1] if right > 0 else -np.inf
        after_newest = born - newest if np.isfinite(newest) else math.nan
        return ipp_rank, birth_rank, ipp_rank - birth_rank, float(after_next), float(after_newest), shared


# (name, needs) of every feature, in the matrix's column order; ``needs``: the Columns fields it reads.
FEATURES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("surname frequency in the dump", ("name",)),
    ("surname national rank", ("name",)),
    ("surname frequent here, rare nationally", ("name",)),
    ("surname share living in the site's department", ("name",)),
    ("surname shared at the same postcode (families)", ("name",)),
    ("first name frequency", ("first_name",)),
    ("first name frequency in its birth decade", ("first_name",)),
    ("sex", ("sex",)),
    ("age", ("birth_date",)),
    ("born in the site's department", BIRTH_FIELDS[:3]),
    ("born abroad", BIRTH_FIELDS[:3]),
    ("born in the home department", BIRTH_FIELDS[:3]),
    ("birth department frequency", BIRTH_FIELDS[:3]),
    ("lives in the site's department", ("postcode", "commune_code")),
    ("postcode frequency", ("postcode", "commune_code")),
    ("distance home-site", ("postcode",)),
    ("has an e-mail", ("email",)),
    ("e-mail provider frequency", ("email",)),
    ("e-mail provider share in the age group", ("email",)),
    ("e-mail local part length", ("email",)),
    ("e-mail local part digits", ("email",)),
    ("has a phone", ("phone",)),
    ("has a mobile", ("phone",)),
    ("has a landline", ("phone",)),
    ("phone 1,000-block density", ("phone",)),
    ("phone 10,000-block density", ("phone",)),
    ("IPP rank", ("ipp",)),
    ("birth date rank", ("ipp",)),
    ("IPP rank minus birth date rank", ("ipp",)),
    ("born after the next IPP's patient (days)", ("ipp",)),
    ("born after the newest of the next IPPs (days)", ("ipp",)),
    ("IPP held by another row too", ("ipp",)),
    ("identity status frequency", ("identity_status",)),
)


def usable_features(columns: Columns) -> list[int]:
    return [i for i, (_, needs) in enumerate(FEATURES) if columns.has(*needs)]


def _log(n: float) -> float:
    return math.log1p(n)


def feature_row(p: Person, d: DumpCounts, places: Places, order: IppOrder, distances: dict[str, float]) -> list[float]:
    nan = math.nan
    (surname_key, family_key, home_key, first_key, decade_key, postcode_key, domain_key, domain_age_key, age_key,
     block1_key, block10_key, birth_key, status_key) = d.keys(p)
    c = d.counts
    surname = c["surname"][surname_key] if p.surname else 0
    rank = places.national_rank.get(p.surname)
    national = math.log(rank + 1) if rank is not None else math.log(len(places.national_rank) + 1) + 1
    site = d.site_department
    here = c["surname+home"][f"{p.surname}\x1f{site}"] / surname if surname and site else nan
    distance = distances.get(p.postcode)
    if distance is None:
        point = places.postcodes.get(p.postcode)
        distance = distances[p.postcode] = distance_km(point, places.site) if point and places.site else nan
    birth = p.birth_department
    digits = sum(ch.isdigit() for ch in p.email_local)
    return [
        _log(surname) if p.surname else nan,
        national if p.surname else nan,
        (_log(surname) + national) if p.surname else nan,
        here,
        _log(c["surname+postcode"][family_key]) if p.surname and p.postcode else nan,
        _log(c["first"][first_key]) if p.first_name else nan,
        _log(c["first+decade"][decade_key]) if p.first_name and p.born >= 0 else nan,
        {"F": 1.0, "M": 0.0}.get(p.sex, nan),
        (d.today - p.born) / 365.25 if p.born >= 0 else nan,
        float(birth == site) if birth and site else nan,
        float(birth == ABROAD) if birth else nan,
        float(birth == p.home_department) if birth and p.home_department else nan,
        _log(c["birth"][birth_key]) if birth else nan,
        float(p.home_department == site) if p.home_department and site else nan,
        _log(c["postcode"][postcode_key]) if p.postcode else nan,
        distance,
        float(bool(p.email_domain)),
        _log(c["domain"][domain_key]) if p.email_domain else nan,
        c["domain+age"][domain_age_key] / max(1, c["age"][age_key]) if p.email_domain else nan,
        float(len(p.email_local)) if p.email_domain else nan,
        float(digits) if p.email_domain else nan,
        float(bool(p.phone)),
        float(p.mobile) if p.phone else nan,
        float(p.landline) if p.phone else nan,
        _log(c["block1000"][block1_key]) if p.phone else nan,
        _log(c["block10000"][block10_key]) if p.phone else nan,
        *order.features(p.ipp, p.born),
        _log(c["status"][status_key]) if p.status else nan,
    ]


def feature_matrix(people: Iterable[Person], dump: DumpCounts, places: Places, order: IppOrder,
                   keep: list[int]) -> np.ndarray:
    distances: dict[str, float] = {}
    rows = [feature_row(p, dump, places, order, distances) for p in people]
    if not rows:
        raise CanaryError("the audit has no row to compare")
    return np.asarray(rows, dtype=np.float64)[:, keep]
