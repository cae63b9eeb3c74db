"""What a thief could use to filter canaries out of a dump, checked record by record and across
records. Every rule names one tell; everything the generator produces passes all of them."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from stdnum.fr import nir as stdnum_nir

from canary.generate.clinical import ClinicalTables, check_clinical
from canary.generate.contacts import phone_category, phone_problem
from canary.generate.nir import split_nir
from canary.generate.patient import Pools
from canary.generate.places import birth_code_valid, birth_place_name
from canary.generate.reference import FIRST_DECADE, Reference
from canary.generate.text import TEST_NAMES, TEST_OIDS, has_marker_word, is_ins_name, looks_hex, strip_accents
from canary.normalize import email_key, fold

if TYPE_CHECKING:
    from canary.generate.registers.lookup import Registers

IDENTITY_STATUSES = ("VALI", "QUAL", "PROV", "RECUP")
MAX_AGE = 110


@dataclass(frozen=True)
class Problem:
    rule: str
    field: str
    message: str


def lint_record(record: dict[str, Any], today: date, *, reference: Reference | None = None,
                pools: Pools | None = None, clinical: ClinicalTables | None = None,
                registers: Registers | None = None) -> list[Problem]:
    """Everything wrong with one record. ``pools``: also require contact points to be the operator's.
    ``reference`` and ``clinical``: tables already loaded (else read from the default seeds folder).
    ``registers``: the loaded BAN and RPPS; where they cover the address, it must be a BAN point and
    the GP a practising physician of the extract."""
    ref = reference or Reference.load()
    problems = list(_identity(record, today))
    problems += _nir(record)
    problems += _names(ref, record)
    problems += _birth_place(ref, record)
    problems += _address(ref, record, registers)
    problems += _physician(record, registers)
    problems += _phones(ref, record, pools)
    problems += _email(record, pools)
    problems += _anywhere(record)
    problems += [Problem(f"clinical-{rule}", "clinical", message)
                 for rule, message in check_clinical(record, today, clinical or ClinicalTables.load(ref.seeds_dir))]
    return problems


def lint_records(records: Iterable[dict[str, Any]], today: date,
                 pools: Pools | None = None, registers: Registers | None = None,
                 reference: Reference | None = None) -> list[tuple[str, Problem]]:
    """Each record's problems plus identifying values shared by two records, keyed by canary id."""
    from canary.store.markers import markers_for

    ref = reference or Reference.load()
    clinical = ClinicalTables.load(ref.seeds_dir)
    out: list[tuple[str, Problem]] = []
    owners: dict[tuple[str, str], list[str]] = defaultdict(list)
    for index, record in enumerate(records):
        canary_id = str(record.get("id") or f"#{index}")
        out += [(canary_id, p) for p in lint_record(record, today, reference=ref, pools=pools, clinical=clinical,
                                                             registers=registers)]
        for marker in markers_for(record):
            owners[marker].append(canary_id)
    for (kind, value), ids in owners.items():
        if len(ids) > 1:
            for canary_id in ids:
                others = ", ".join(i for i in ids if i != canary_id)
                out.append((canary_id, Problem("duplicate", kind, f"{kind} {value} also used by {others}")))
    return out


def _age(birth: date, today: date) -> int:
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def _birth_date(record: dict[str, Any]) -> date | None:
    try:
        return date.fromisoformat(record.get("birth_date") or "")
    except (TypeError, ValueError):
        return None


def _identity(record: dict[str, Any], today: date) -> Iterator[Problem]:
    if record.get("sex") not in ("F", "M"):
        yield Problem("sex", "sex", f"sex {record.get('sex')!r} is not F or M")
    birth = _birth_date(record)
    if birth is None:
        yield Problem("birth-date", "birth_date", f"birth date {record.get('birth_date')!r} is not YYYY-MM-DD")
    elif birth > today or _age(birth, today) > MAX_AGE:
        yield Problem("birth-date", "birth_date", f"birth date {birth} is in the future or over {MAX_AGE} years ago")
    status = record.get("identity_status")
    if status not in IDENTITY_STATUSES:
        yield Problem("identity-status", "identity_status", f"identity status {status!r} is not one of "
                      + "/".join(IDENTITY_STATUSES) + " (FICT marks a fictitious identity)")


def _nir(record: dict[str, Any]) -> Iterator[Problem]:
    nir = record.get("nir") or ""
    parts = split_nir(nir)
    if parts is None or not stdnum_nir.is_valid(nir):
        yield Problem("nir-key", "nir", f"NIR {nir!r} is malformed or its key is wrong")
        return
    expected_sex = {"M": "1", "F": "2"}.get(record.get("sex") or "")
    if parts.sex != expected_sex:
        yield Problem("nir-sex", "nir", f"NIR sex digit {parts.sex} does not match sex {record.get('sex')}")
    birth = _birth_date(record)
    if birth and (parts.year != f"{birth.year % 100:02d}" or parts.month != f"{birth.month:02d}"):
        yield Problem("nir-birth-date", "nir", f"NIR year/month {parts.year}/{parts.month} does not match {birth}")
    place = (record.get("birth_place") or {}).get("code")
    if parts.place != place:
        yield Problem("nir-birth-place", "nir", f"NIR birth place {parts.place} does not match {place}")
    if parts.order == "000":
        yield Problem("nir-order", "nir", "NIR order number 000 is never issued")


def _name_fields(record: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for field in ("birth_name", "used_name"):
        if record.get(field) is not None:
            yield field, str(record[field])
    for index, name in enumerate(record.get("first_names") or []):
        yield f"first_names[{index}]", str(name)


def _names(ref: Reference, record: dict[str, Any]) -> Iterator[Problem]:
    if not record.get("birth_name"):
        yield Problem("name-characters", "birth_name", "birth name is missing")
    if not record.get("first_names"):
        yield Problem("name-characters", "first_names", "first names are missing")
    for field, name in _name_fields(record):
        if any(ch.isdigit() for ch in name):
            yield Problem("name-digits", field, f"{name!r} contains digits")
        elif not is_ins_name(name):
            yield Problem("name-characters", field, f"{name!r} is not an INS name (upper-case letters, - ' space)")
        if has_marker_word(name) or fold(name) in TEST_NAMES or any(w in TEST_NAMES for w in fold(name).split()):
            yield Problem("test-identity", field, f"{name!r} is a test or placeholder name")
    yield from _first_names_decade(ref, record)


def _first_names_decade(ref: Reference, record: dict[str, Any]) -> Iterator[Problem]:
    birth, sex, names = _birth_date(record), record.get("sex"), record.get("first_names") or []
    if birth is None or sex not in ("F", "M") or not names:
        return
    decade = ref.decade(birth.year)
    # Born abroad: the names of the country of birth are as plausible as France's.
    origin = ref.country_origins.get((record.get("birth_place") or {}).get("code") or "")
    foreign = ref.origin_first_names[(origin, sex)].items \
        if origin is not None and (origin, sex) in ref.origin_first_names else ()
    first = strip_accents(str(names[0])).upper()
    if first not in ref.first_name_sets.get((sex, decade), frozenset()) and first not in foreign:
        yield Problem("first-name-decade", "first_names[0]",
                      f"{names[0]!r} is not among first names given to {'girls' if sex == 'F' else 'boys'} "
                      f"born {decade}-{decade + 9}")
    # Middle names often honour older relatives: any decade up to the birth decade will do.
    earlier = [ref.first_name_sets[(sex, d)] for d in range(FIRST_DECADE, decade + 1, 10)]
    for index, name in enumerate(names[1:], start=1):
        folded = strip_accents(str(name)).upper()
        if folded not in foreign and not any(folded in names_of for names_of in earlier):
            yield Problem("first-name-decade", f"first_names[{index}]",
                          f"{name!r} was not given to {'girls' if sex == 'F' else 'boys'} by {decade + 9}")


def _birth_place(ref: Reference, record: dict[str, Any]) -> Iterator[Problem]:
    place = record.get("birth_place") or {}
    code, name = place.get("code") or "", place.get("name")
    birth = _birth_date(record)
    if birth is None:
        return
    if not birth_code_valid(ref, code, birth):
        yield Problem("birth-place-unknown", "birth_place.code",
                      f"{code!r} is not an INSEE birth-place code in use on {birth}")
    elif name != birth_place_name(ref, code):
        yield Problem("birth-place-unknown", "birth_place.name",
                      f"{name!r} is not the name of {code} ({birth_place_name(ref, code)})")


def _address(ref: Reference, record: dict[str, Any], registers: Registers | None) -> Iterator[Problem]:
    address = record.get("address") or {}
    commune = ref.communes.get(address.get("commune_code") or "")
    if commune is None:
        yield Problem("commune-postcode", "address.commune_code",
                      f"{address.get('commune_code')!r} is not a commune code")
        return
    if registers is not None and registers.covers_address(commune.code):
        # The BAN is the authority where it is loaded: its postcode and delivery label win.
        problem = registers.address_problem(address)
        if problem:
            yield Problem("ban-address", "address.line", problem)
        return
    if address.get("postcode") not in commune.postcodes:
        known = "/".join(commune.postcodes)
        yield Problem("commune-postcode", "address.postcode",
                      f"{address.get('postcode')!r} is not a postcode of {commune.name} ({known})")
    if fold(address.get("city") or "") != fold(commune.city):
        yield Problem("commune-postcode", "address.city", f"{address.get('city')!r} is not {commune.city}")
    line = address.get("line") or ""
    if not re.match(r"\d+( bis| ter)? \S", line):
        yield Problem("address-line", "address.line", f"{line!r} does not read like a street address")


def _physician(record: dict[str, Any], registers: Registers | None) -> Iterator[Problem]:
    gp = record.get("gp") or {}
    if registers is None or not gp:
        return
    commune_code = str((record.get("address") or {}).get("commune_code") or "")
    problem = registers.physician_problem(gp, commune_code)
    if problem:
        yield Problem("rpps-gp", "gp.rpps", problem)
        return
    too_far = registers.distance_problem(gp, commune_code)
    if too_far:
        yield Problem("physician-distance", "gp.rpps", too_far)


def _phones(ref: Reference, record: dict[str, Any], pools: Pools | None) -> Iterator[Problem]:
    phones = record.get("phones") or []
    owned = set(pools.phones) if pools is not None else None
    commune = ref.communes.get((record.get("address") or {}).get("commune_code") or "")
    zone = ref.phone_zones.get(commune.department) if commune else None
    for index, number in enumerate(phones):
        field = f"phones[{index}]"
        problem = phone_problem(str(number))
        if problem:
            yield Problem("phone-invalid", field, f"{number} is {problem}")
            continue
        if owned is not None and number not in owned:
            yield Problem("phone-not-owned", field, f"{number} is not in the operator's phone pool")
        category = phone_category(str(number)) or ""
        if category.startswith("landline:") and zone and category != f"landline:{zone}":
            yield Problem("phone-zone", field, f"landline {number} is outside the {zone} zone of the address")
    if len(set(phones)) != len(phones):
        yield Problem("duplicate", "phones", "the same number twice")


def _email(record: dict[str, Any], pools: Pools | None) -> Iterator[Problem]:
    email = record.get("email")
    if email is None:
        return
    local, _, domain = str(email).rpartition("@")
    if not local or not re.fullmatch(r"[a-z0-9][a-z0-9._+-]*", local):
        yield Problem("email-shape", "email", f"{email!r} is not an ordinary mail address")
    if has_marker_word(local) or looks_hex(local):
        yield Problem("email-marker", "email", f"{email!r} contains a tell-tale word or a hex string")
    # A provider's address reaches a record only through 'canary contacts confirm'.
    if pools is not None and email_key(domain) not in {email_key(d) for d in
                                                       (*pools.mail_domains, *pools.mailbox_providers)}:
        yield Problem("email-not-owned", "email", f"{domain} is not one of the operator's mail domains")


def unfilled_problems(unfilled: dict[str, list[str]]) -> list[tuple[str, Problem]]:
    """Canaries that should carry a phone or an e-mail the pools could not give (a group a thief sees)."""
    fields = {"phone": "phones", "email": "email"}
    return [(canary_id, Problem("contact-pool-exhausted", fields[kind],
                                f"should have {'a phone' if kind == 'phone' else 'an e-mail'} but the pool ran out"))
            for canary_id, kinds in unfilled.items() for kind in dict.fromkeys(kinds)]


def tokenless_problems(tokenless: Iterable[tuple[str, str]]) -> list[tuple[str, Problem]]:
    """Canaries that can never fire: no callback URL or DNS name in their record (canary.store.tokens.tokenless)."""
    setting = {"url": "tripwire.base_url", "hostname": "tripwire.dns_zone"}
    return [(canary_id, Problem("no-tripwire", f"tokens.{key}",
                                f"no {'callback URL' if key == 'url' else 'DNS name'}: can never fire on it "
                                f"(set {setting[key]}, then 'canary tripwire fill-tokens' if not planted)"))
            for canary_id, key in tokenless]


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _strings(inner, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from _strings(inner, f"{path}[{index}]")
    elif isinstance(value, str):
        yield path, value


def _anywhere(record: dict[str, Any]) -> Iterator[Problem]:
    """Test identities, the FICT attribute and test OIDs wherever they hide (notes, codes, labels)."""
    for path, text in _strings(record, ""):
        words = set(fold(text).split())
        hits = [oid for oid in TEST_OIDS if oid in text]
        hits += sorted(words & {"FICT", "ADRTROIS", "TCHITCHI"})
        if "PAT TROIS" in fold(text):
            hits.append("PAT-TROIS")
        if hits:
            yield Problem("test-identity", path, f"{path} carries {', '.join(hits)}")
