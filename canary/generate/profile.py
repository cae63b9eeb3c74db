"""Host profile: what an establishment's real patients look like, as aggregates only.

``build_profile`` reads an export of the system's patients (CSV or JSON; Mediboard column names,
the keys of ``canary export`` and the planter's default file layout are understood, other names
through a mapping) and keeps
counts and shares: age/sex pyramid, commune or postcode shares, who has a mobile / a landline /
an e-mail, e-mail domains, identity-status mix, the IPP format and its live range, how names are
written, where patients were born (profile_births) and how IPPs follow time (profile_ipp_time).
A count under ``MIN_COUNT`` is suppressed (folded into ``other``); no value of any one
patient is kept. ``HostProfile`` then gives the generator draws that follow those aggregates.
"""

from __future__ import annotations

import csv
import io
import json
import random
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from types import MappingProxyType
from typing import Any

from canary.errors import CanaryError
from canary.generate.block_density import BlockDensityLearner
from canary.generate.mail_providers import ProviderAges
from canary.generate.mail_shapes import ShapeAges
from canary.generate.profile_births import BIRTH_COLUMNS, BIRTH_FIELDS, BirthLearner
from canary.generate.profile_ipp_time import IppTimeLearner
from canary.generate.profile_names import FirstNameCounter, SurnameCounter
from canary.generate.reference import Commune, department_of_place
from canary.normalize import phone_key
from canary.weighted import WeightedTable

MIN_COUNT = 10  # smaller groups could single a patient out
AGE_BAND = 5  # years per band of the pyramid
MAX_AGE = 105
IPP_BINS = 40  # the live range in this many slices, to follow its density
# Broad age groups for contact-point shares (a child's record carries a parent's phone).
CONTACT_AGES = ((0, 14), (15, 59), (60, 74), (75, 200))
STATUSES = ("VALI", "QUAL", "PROV", "RECUP")

FIELDS = ("sex", "birth_date", "postcode", "commune_code", "phone", "email", "identity_status", "ipp",
          "name", "first_name", "gp", *BIRTH_FIELDS, "ignore")
# Column name (folded to lower case) -> field. Mediboard's `patients` table and `canary export`
# (JSON keys and CSV columns). Columns named here as "ignore" are known and deliberately unused.
_MEDIBOARD = {
    "sexe": "sex", "naissance": "birth_date", "cp": "postcode", "tel": "phone", "tel2": "phone",
    "tel_autre": "phone", "email": "email", "status": "identity_status", "ipp": "ipp",
    "nom": "name", "nom_jeune_fille": "name", "prenom": "first_name",
    "_ipp": "ipp", "medecin_traitant": "gp",
    **{c: "ignore" for c in ("patient_id", "prenom_2", "prenom_3", "prenom_4", "prenoms", "deces", "civilite",
                             "adresse", "ville", "matricule", "profession", "rques", "pays",
                             "nationalite", "nom_soundex2", "prenom_soundex", "nomjf_soundex2")},
    **BIRTH_COLUMNS,
}
# `canary plant --format csv|json` with its default (flat) mapping.
_PLANT_DEFAULT = {
    "postcode": "postcode", "phone": "phone", "phone2": "phone",
    **{c: "ignore" for c in ("city", "regime", "caisse", "amc", "amc_member_number", "gp_name")},
    **BIRTH_COLUMNS,
    "gp_rpps": "gp",
}
_EXPORT = {
    "sex": "sex", "birth_date": "birth_date", "address.postcode": "postcode",
    "address.commune_code": "commune_code", "phones": "phone", "email": "email",
    "identity_status": "identity_status", "ipp": "ipp", "birth_name": "name", "used_name": "name",
    "first_names": "first_name",
    **BIRTH_COLUMNS,
    **{c: "ignore" for c in ("id", "system", "generation", "created_at", "nir", "address.line", "address.city",
                             "address", "birth_place",
                             "coverage", "conditions", "prescriptions", "allergies", "tokens")},
    "gp": "gp",
}
# Nested parts of `canary export` (flattened to `coverage.regime`, `gp.rpps`... in its CSV).
_EXPORT_GROUPS = ("address", "birth_place", "coverage", "gp", "tokens")
MAPPINGS: Mapping[str, Mapping[str, str]] = {"mediboard": _MEDIBOARD, "canary": _EXPORT, "default": _PLANT_DEFAULT}


def parse_mapping(specs: Iterable[str]) -> dict[str, str]:
    """``--mapping`` values: a built-in name (mediboard, canary) or ``COLUMN=FIELD`` pairs, comma-separated."""
    mapping: dict[str, str] = {}
    for spec in specs:
        if spec.strip().lower() in MAPPINGS:
            mapping.update(MAPPINGS[spec.strip().lower()])
            continue
        for pair in spec.split(","):
            column, sep, field = pair.partition("=")
            column, field = column.strip().lower(), field.strip().lower()
            if not sep or not column or field not in FIELDS:
                raise CanaryError(f"--mapping {pair.strip()!r}: expected COLUMN=FIELD with FIELD one of "
                                  f"{', '.join(FIELDS)}, or a mapping name ({', '.join(MAPPINGS)})")
            mapping[column] = field
    return mapping


def read_export(path: Path) -> tuple[list[str], Iterable[dict[str, Any]]]:
    """Columns and rows of a CSV (`,` `;` or tab) or JSON (an array of objects, nested keys dotted)
    export. CSV rows are read one at a time: a 750,000-patient export is not held as dicts."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CanaryError(f"{path}: cannot read the export ({exc.strerror or exc})") from None
    if b"\x00" in raw[:65536]:
        raise CanaryError(f"{path}: not a text export (binary content: a compressed or database file? "
                          "export it as CSV or JSON)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")  # Mediboard's older exports
    if text.lstrip().startswith(("[", "{")):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CanaryError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
        if isinstance(data, dict):
            data = next((v for v in data.values() if isinstance(v, list)), [data])
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise CanaryError(f"{path}: a JSON export must be an array of patient objects")
        rows = [dict(_flat(r)) for r in data]
        columns = list(dict.fromkeys(c for r in rows for c in r))
        return columns, rows
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(io.StringIO(text), dialect=dialect)
    if not reader.fieldnames:
        raise CanaryError(f"{path}: empty export (no header line)")
    return list(reader.fieldnames), reader


def _flat(value: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, inner in value.items():
        name = f"{prefix}{key}"
        if isinstance(inner, dict) and name in ("address", "birth_place"):
            yield from _flat(inner, name + ".")
        else:
            yield name, inner


def build_profile(columns: list[str], rows: Iterable[dict[str, Any]], mapping: Mapping[str, str] | None,
                  *, today: date, source: str = "export", site_department: str | None = None) -> dict[str, Any]:
    """Aggregates of an export. CanaryError for columns nobody mapped (nothing is guessed).
    ``site_department``: the establishment's (birth places are counted against it; default: where
    most patients live)."""
    # The built-in vocabularies are always understood; an operator's mapping adds or overrides.
    known = {**_PLANT_DEFAULT, **_MEDIBOARD, **_EXPORT, **(mapping or {})}
    fields: dict[str, list[str]] = {}
    unknown = []
    for column in columns:
        name = column.strip().lower()
        field = known.get(name) or ("ignore" if name.split(".")[0] in _EXPORT_GROUPS else None)
        if field is None:
            unknown.append(column)
        elif field != "ignore":
            fields.setdefault(field, []).append(column)
    if unknown:
        shown = ", ".join(repr(c) for c in unknown[:8]) + ("..." if len(unknown) > 8 else "")
        raise CanaryError(f"{source}: unknown columns {shown}; map them with --mapping COLUMN=FIELD "
                          f"(FIELD: {', '.join(FIELDS)})")
    missing = [f for f in ("sex", "birth_date") if f not in fields]
    if missing:
        raise CanaryError(f"{source}: no column for {', '.join(missing)}; map one with --mapping COLUMN=FIELD")
    try:
        profile = _aggregate(fields, rows, today, site_department)
    except csv.Error as exc:  # a broken row far into the file: nothing is kept
        line = getattr(rows, "line_num", None)
        raise CanaryError(f"{source}: unreadable CSV{f' at line {line}' if line else ''} ({exc})") from None
    if not profile["patients"]:
        raise CanaryError(f"{source}: no patient in the export")
    if profile["patients"] < MIN_COUNT:
        raise CanaryError(f"{source}: {profile['patients']} patients, fewer than {MIN_COUNT}: "
                          "their aggregates would single them out")
    return profile


def _values(row: Mapping[str, Any], columns: list[str]) -> list[str]:
    out: list[str] = []
    for column in columns:
        value = row.get(column)
        if isinstance(value, list):
            out += [str(v) for v in value if v not in (None, "")]
        elif isinstance(value, str) and ";" in value:
            out += [v for v in value.split(";") if v.strip()]
        elif value not in (None, ""):
            out.append(str(value).strip())
    return out


def _sex(raw: str) -> str | None:
    value = raw.strip().upper()[:1]
    return {"F": "F", "M": "M", "H": "M", "1": "M", "2": "F"}.get(value)


def _birth(raw: str) -> date | None:
    raw = raw.strip()[:10]
    for parse in (date.fromisoformat, lambda s: date(int(s[6:10]), int(s[3:5]), int(s[:2]))):
        try:
            return parse(raw)
        except (ValueError, IndexError):
            continue
    return None


def _age_group(age: int) -> str:
    low, high = next(g for g in CONTACT_AGES if g[0] <= age <= g[1])
    return f"{low}-{high}"


def _suppressed(counter: Counter[str]) -> dict[str, Any]:
    """Counts of at least MIN_COUNT, the rest summed in ``other``."""
    kept = {k: v for k, v in counter.most_common() if v >= MIN_COUNT}
    return {"counts": kept, "other": sum(counter.values()) - sum(kept.values())}


def _share(part: int, whole: int) -> float | None:
    """A share, unless either side is a group too small to publish."""
    if whole < MIN_COUNT or min(part, whole - part) < MIN_COUNT and part not in (0, whole):
        return None
    return round(part / whole, 3)


def _aggregate(fields: Mapping[str, list[str]], rows: Iterable[dict[str, Any]], today: date,
               site_department: str | None = None) -> dict[str, Any]:
    pyramid: Counter[str] = Counter()
    communes: Counter[str] = Counter()
    postcodes: Counter[str] = Counter()
    departments: Counter[str] = Counter()
    domains: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    group_size: Counter[str] = Counter()
    has: dict[str, Counter[str]] = {"phone": Counter(), "mobile": Counter(), "landline": Counter(),
                                    "email": Counter()}
    ipps: list[str] = []
    names: Counter[str] = Counter()
    providers = ProviderAges()  # e-mail provider by age group (canary.generate.mail_providers)
    shapes = ShapeAges()  # mailbox name shapes, lengths and digits by age group (canary.generate.mail_shapes)
    surnames = SurnameCounter()
    first_names = FirstNameCounter()  # by sex and birth decade
    with_gp = 0
    total = 0
    # Birth places and IPPs against time are learnt in their own modules (profile_births, profile_ipp_time).
    births, ipp_time = BirthLearner(fields, _values), IppTimeLearner("ipp" in fields)
    blocks = BlockDensityLearner("phone" in fields)  # how crowded the host's phone blocks are
    for row in rows:
        total += 1
        sex = next((s for s in map(_sex, _values(row, fields["sex"])) if s), None)
        born = next((b for b in map(_birth, _values(row, fields["birth_date"])) if b), None)
        age = None
        if sex and born and born <= today:
            age = min(today.year - born.year - ((today.month, today.day) < (born.month, born.day)), MAX_AGE - 1)
            low = age // AGE_BAND * AGE_BAND
            pyramid[f"{sex}:{low}-{low + AGE_BAND - 1}"] += 1
        group = _age_group(age) if age is not None else "unknown"
        group_size[group] += 1
        commune = next(iter(_values(row, fields.get("commune_code", []))), None)
        postcode = next(iter(_values(row, fields.get("postcode", []))), None)
        if commune:
            communes[commune.upper()] += 1
        if postcode:
            postcodes[postcode.zfill(5)] += 1
        home = None
        if commune or postcode:
            home = (department_of_place("commune", commune.upper()) if commune
                    else department_of_place("postcode", str(postcode).zfill(5)))
            departments[home] += 1
        births.add(row, group, home)
        phones = _values(row, fields.get("phone", []))
        blocks.add(phones)
        kinds = {_phone_kind(p) for p in phones}
        has["phone"][group] += bool(kinds - {None})
        has["mobile"][group] += "mobile" in kinds
        has["landline"][group] += "landline" in kinds
        emails = [e for e in _values(row, fields.get("email", [])) if "@" in e]
        has["email"][group] += bool(emails)
        for email in emails[:1]:
            domains[email.rsplit("@", 1)[1].lower()] += 1
            providers.add(age, email)
            shapes.add(age, email, next(iter(_values(row, fields.get("first_name", []))), None),
                       _values(row, fields.get("name", [])), born.year if born else None, home)
        # Mediboard's `status` is the identity status; the export's `status` (active) is not one.
        given = [v.upper() for v in _values(row, fields.get("identity_status", []))]
        if given:
            statuses[next((v for v in given if v in STATUSES), "other")] += 1
        ipp_value = _values(row, fields.get("ipp", []))[:1]
        ipps += ipp_value
        ipp_time.add(ipp_value[0] if ipp_value else None, born if born and born <= today else None)
        surnames.add(_values(row, fields.get("name", [])))
        first_names.add(_values(row, fields.get("first_name", []))[:1], sex, born.year if born else None)
        with_gp += bool([v for v in _values(row, fields.get("gp", [])) if v not in ("{}", "None", "0")])
        for field in ("name", "first_name"):
            for name in _values(row, fields.get(field, []))[:1]:
                names[f"{field}:{'upper' if name == name.upper() else 'mixed'}"] += 1
                names[f"{field}:{'accents' if not name.isascii() else 'ascii'}"] += 1
    contact = {kind: {"all": _share(sum(c.values()), total),
                      **{g: _share(c[g], group_size[g]) for g in sorted(group_size)}} for kind, c in has.items()}
    if "phone" not in fields:
        contact["phone"] = contact["mobile"] = contact["landline"] = {"all": None}
    if "email" not in fields:
        contact["email"] = {"all": None}
    ipp = ipp_format(ipps)
    birth_shares, no_births = births.result(site_department)
    timeline, no_timeline = ipp_time.result(ipp, today)
    return {
        "version": 1,
        "built_on": today.isoformat(),
        "patients": total,
        "pyramid": _suppressed(pyramid),
        "geography": {"commune": _suppressed(communes) if communes else None,
                      "postcode": _suppressed(postcodes) if postcodes else None,
                      "department": _suppressed(departments) if departments else None},
        "contact": contact,
        "email_domains": _suppressed(domains) if domains else None,
        "email_providers": providers.summary(),
        # Shapes of the mailbox names (first.last, flast, with a birth year...), their lengths and
        # digits, by age group: counts of forms, never a name (canary.generate.mail_shapes).
        "email_shapes": shapes.summary(),
        "identity_status": _suppressed(statuses) if statuses else None,
        "ipp": ipp,
        # Share of records naming a treating physician (many have none): canaries follow it.
        "gp": _share(with_gp, total) if "gp" in fields else None,
        # How names are written (the planters' rendering can follow): share in upper case, with accents.
        "names": _name_shares(names),
        # Birth places by age group and IPP/time (profile_births, profile_ipp_time); what could not
        # be learnt is named in not_learnt, and the generator keeps its national model for it.
        "births": birth_shares,
        "ipp_time": timeline,
        # Rows per count of rows sharing their first phone's 10,000-block (block_density), per kind.
        "phone_blocks": blocks.result(),
        "not_learnt": {k: v for k, v in (("births", no_births), ("ipp_time", no_timeline)) if v},
        # The host's own surnames borne by MIN_COUNT patients or more (profile_names.py).
        "surnames": surnames.aggregate(MIN_COUNT),
        # Its usual first names by sex and birth decade, borne by MIN_COUNT patients or more.
        "first_names": first_names.aggregate(MIN_COUNT),
    }


def _name_shares(names: Counter[str]) -> dict[str, float | None] | None:
    out: dict[str, float | None] = {}
    for field in ("name", "first_name"):
        for kind, other in (("upper", "mixed"), ("accents", "ascii")):
            whole = names[f"{field}:{kind}"] + names[f"{field}:{other}"]
            if whole:
                out[f"{field}_{kind}"] = _share(names[f"{field}:{kind}"], whole)
    return out or None


def _phone_kind(raw: str) -> str | None:
    key = phone_key(raw)
    if key is None:
        return None
    if key[0] in "67" or key[:3] in ("692", "693", "639", "690", "691", "694", "696", "697"):
        return "mobile"
    return "landline" if key[0] in "123459" else None


def ipp_format(ipps: list[str]) -> dict[str, Any] | None:
    """Length, fixed prefix and live numeric range of the IPPs, with its density per slice.

    The range ends are taken at the 0.5th and 99.5th percentiles and rounded outwards (to 1,000
    for 8 digits, never finer than 10), then moved on while one is a patient's number: neither
    end is any patient's IPP.
    """
    if len(ipps) < MIN_COUNT:
        return None
    lengths = Counter(len(i) for i in ipps)
    length, count = lengths.most_common(1)[0]
    usual = [i for i in ipps if len(i) == length]
    prefix = ""
    while len(prefix) < length - 4:
        heads = Counter(i[: len(prefix) + 1] for i in usual)
        head, n = heads.most_common(1)[0]
        if n < 0.98 * len(usual) or head[-1].isdigit():
            break
        prefix = head
    numbers = sorted(int(i[len(prefix):]) for i in usual if i.startswith(prefix) and i[len(prefix):].isdigit())
    if len(numbers) < MIN_COUNT:
        return None
    step = 10 ** max(1, len(str(numbers[-1])) - 5)
    low = numbers[len(numbers) // 200] // step * step
    high = (numbers[-1 - len(numbers) // 200] // step + 1) * step
    taken = set(numbers)
    while low in taken and low >= step:
        low -= step
    while high in taken:
        high += step
    width = max(1, -(-(high - low) // IPP_BINS))
    bins = Counter(min((n - low) // width, IPP_BINS - 1) for n in numbers if low <= n < high)
    return {
        "length": length,
        "length_share": round(count / len(ipps), 3),
        "prefix": prefix,
        "low": low,
        "high": high,
        "density": round(len(numbers) / max(1, high - low), 4),
        "slice": width,
        "slices": [bins[i] if bins[i] >= MIN_COUNT else 0 for i in range(IPP_BINS)],
    }


# --- what the generator reads ---------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class HostProfile:
    """Draws that follow a stored profile; every part is optional (None: the national default)."""

    data: Mapping[str, Any]
    ages: WeightedTable[tuple[str, int, int]] | None  # (sex, youngest, oldest) cells of the pyramid
    sexes: WeightedTable[str] | None
    ages_by_sex: Mapping[str, WeightedTable[tuple[str, int, int]]]
    places: WeightedTable[Commune] | None  # where the published shares say patients live
    place_share: float  # share of patients the published places cover (the rest: the catchment)
    published: frozenset[str]  # commune codes of the published places (the rest lives elsewhere)
    statuses: WeightedTable[str] | None
    ipp_slices: WeightedTable[int] | None

    @classmethod
    def from_data(cls, data: Mapping[str, Any], communes: Mapping[str, Commune]) -> HostProfile:
        ages = sexes = None
        by_sex: dict[str, WeightedTable[tuple[str, int, int]]] = {}
        sex_counts: dict[str, int] = {}
        pyramid = data.get("pyramid") or {}
        if pyramid.get("counts"):
            cells = []
            for key, count in pyramid["counts"].items():
                sex, band = key.split(":")
                low, high = band.split("-")
                cells.append(((sex, int(low), int(high)), count))
            # By sex then age: the generator draws the sex, then the band in that sex's table, each
            # spread evenly over the batch (EvenDraws): both follow any sex or age threshold closely.
            cells.sort(key=lambda cell: (cell[0][0], cell[0][1]))
            ages = WeightedTable([c for c, _ in cells], [n for _, n in cells])
            for sex in sorted({c[0] for c, _ in cells}):
                mine = [(c, n) for c, n in cells if c[0] == sex]
                by_sex[sex] = WeightedTable([c for c, _ in mine], [n for _, n in mine])
                sex_counts[sex] = sum(n for _, n in mine)
            sexes = WeightedTable(list(sex_counts), list(sex_counts.values()))
        places, place_share, published = None, 0.0, frozenset[str]()
        geo = data.get("geography") or {}
        kind = "commune" if geo.get("commune") and geo["commune"]["counts"] else "postcode"
        if geo.get(kind) and geo[kind]["counts"]:
            counts = geo[kind]["counts"]
            homes, weights = _place_weights(communes, kind, counts)
            if homes:
                places = WeightedTable(homes, weights)
                place_share = sum(weights) / max(1, sum(counts.values()) + geo[kind]["other"])
                published = frozenset(c.code for c in homes)
        statuses = None
        status = data.get("identity_status") or {}
        usable = {k: v for k, v in (status.get("counts") or {}).items() if k in STATUSES}
        if usable:
            statuses = WeightedTable(list(usable), list(usable.values()))
        ipp = data.get("ipp")
        slices = None
        if ipp and any(ipp["slices"]):
            slices = WeightedTable(list(range(len(ipp["slices"]))), [c or 0.0 for c in ipp["slices"]])
        return cls(data, ages, sexes, MappingProxyType(by_sex), places, place_share, published, statuses, slices)

    @property
    def patients(self) -> int:
        return int(self.data.get("patients") or 0)

    @property
    def gp_share(self) -> float | None:
        """Share of the host's records naming a treating physician, when the export had the column."""
        value = self.data.get("gp")
        return float(value) if value is not None else None

    def contact_share(self, kind: str, age: int) -> float | None:
        """The host's share of patients of that age with a mobile / landline / email, if published."""
        shares = (self.data.get("contact") or {}).get(kind) or {}
        group = _age_group(min(age, MAX_AGE - 1))
        value = shares.get(group)
        return value if value is not None else shares.get("all")

    def ipp(self, rng: random.Random) -> str | None:
        ipp = self.data.get("ipp")
        if not ipp or self.ipp_slices is None:
            return None
        index = self.ipp_slices.pick(rng)
        low = ipp["low"] + index * ipp["slice"]
        number = low + int(rng.random() * ipp["slice"])
        digits = ipp["length"] - len(ipp["prefix"])
        return str(ipp["prefix"]) + str(min(number, ipp["high"] - 1)).zfill(digits)

    def ipp_in_range(self, value: str) -> bool | None:
        """Whether an IPP has the host's length, prefix and falls in its live range (None: no IPP profile)."""
        ipp = self.data.get("ipp")
        if not ipp:
            return None
        rest = value[len(ipp["prefix"]):]
        if not (len(value) == ipp["length"] and value.startswith(ipp["prefix"]) and rest.isdigit()):
            return False
        # With a learnt IPP timeline, the numbers handed out in the year after the build are live too.
        timed = self.data.get("ipp_time") or {}
        ahead = timed.get("head", 0) <= int(rest) < timed.get("head", 0) + 366 * timed.get("rate_per_day", 0)
        return ipp["low"] <= int(rest) < ipp["high"] or bool(timed and ahead)


def _place_weights(all_communes: Mapping[str, Commune], kind: str,
                   counts: Mapping[str, int]) -> tuple[list[Commune], list[float]]:
    """Communes and weights for published commune or postcode counts; a postcode's count is split
    over the communes sharing it by population. Unknown codes are left to the catchment."""
    if kind == "commune":
        pairs = [(all_communes[code], float(n)) for code, n in counts.items() if code in all_communes]
        return _by_department([c for c, _ in pairs], [w for _, w in pairs])
    sharing: dict[str, list[Commune]] = {}
    for commune in all_communes.values():
        for postcode in commune.postcodes:
            if postcode in counts:
                sharing.setdefault(postcode, []).append(commune)
    communes: list[Commune] = []
    weights: list[float] = []
    for postcode, members in sharing.items():
        population = sum(c.population for c in members)
        for commune in members:
            communes.append(commune)
            weights.append(counts[postcode] * commune.population / population)
    return _by_department(communes, weights)


def _by_department(communes: list[Commune], weights: list[float]) -> tuple[list[Commune], list[float]]:
    """Sorted by department: an even spread of draws then follows each department's share closely."""
    pairs = sorted(zip(communes, weights, strict=True), key=lambda pair: (pair[0].department, pair[0].code))
    return [c for c, _ in pairs], [w for _, w in pairs]
