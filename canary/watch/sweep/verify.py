"""Exact matching of one canary against one record of real text, and the decision it leads to.

A candidate from the fast search is only a finding if the record really holds the canary: whole
numbers (a phone inside a longer digit run is not the phone), whole words for names, a full date
equal to the birth date, the full NIR with its key when a key is written.
"""

from __future__ import annotations

import re
from datetime import date

from canary.normalize import fold, nir_key, phone_key
from canary.watch.sweep.index_shapes import CanaryInfo
from canary.watch.sweep.layout import Values
from canary.watch.sweep.linkage import (
    ADDRESS_BITS,
    AGAINST,
    AMC_BITS,
    BIRTH_DATE_BITS,
    CITY_BITS,
    IDENTITY_FIELDS,
    IPP_BITS,
    PHONE_BITS,
    POSTCODE_BITS,
    Comparison,
    email_bits,
    name_in_email,
)

# A run of digit groups separated by single spaces, dots or hyphens, with an optional +/00 prefix and
# the "(0)" of international spellings. Groups stay whole: the run is split only between groups.
_NUMBER_RUN = re.compile(r"(?<![\w+])(\+?)((?:\(0\)[ .\-]?)?[0-9][0-9AaBb]*(?:(?:[ .\-]|\s?\(0\)\s?)[0-9][0-9AaBb]*)*)")
_BRACKETED_CODE = re.compile(r"\(\s*(\+\d{2,3})\s*\)")
_GROUP = re.compile(r"[0-9][0-9AaBb]*")
_DMY = re.compile(r"(?<!\d)(\d{1,2})[/.\- ](\d{1,2})[/.\- ](\d{4})(?!\d)")
_YMD = re.compile(r"(?<!\d)(\d{4})[/.\-](\d{1,2})[/.\-](\d{1,2})(?!\d)")
_COMPACT_DATE = re.compile(r"(?<!\d)(\d{8})(?!\d)")
_EMAIL = re.compile(r"[\w.%+\-]+@[\w.\-]+\.[A-Za-z]{2,}")


def _iso(year: str, month: str, day: str) -> str | None:
    try:
        return date(int(year), int(month), int(day)).isoformat()
    except ValueError:
        return None


def dates_in(text: str) -> set[str]:
    found = set()
    for d, m, y in _DMY.findall(text):
        found.add(_iso(y, m, d))
    for y, m, d in _YMD.findall(text):
        found.add(_iso(y, m, d))
    for run in _COMPACT_DATE.findall(text):
        found.add(_iso(run[4:], run[2:4], run[:2]))
        found.add(_iso(run[:4], run[4:6], run[6:]))
    found.discard(None)
    return found  # type: ignore[return-value]


def number_spans(text: str) -> set[str]:
    """Every whole-group span of every number run, digits only, with '+' kept where it was written."""
    spans: set[str] = set()
    text = _BRACKETED_CODE.sub(r"\1", text)  # "(+33) 6 12 ..." is "+33 6 12 ..."
    for match in _NUMBER_RUN.finditer(text):
        plus, body = match.group(1), match.group(2).replace("(0)", " ")
        groups = _GROUP.findall(body)
        for i in range(len(groups)):
            joined = ""
            for j in range(i, min(len(groups), i + 16)):
                joined += groups[j]
                if len(joined) > 17:
                    break
                spans.add((plus if i == 0 else "") + joined.upper())
    return spans


def strong_fields(text: str, canary: CanaryInfo, spans: set[str] | None = None) -> list[str]:
    """The strong markers of ``canary`` present anywhere in one record: each names it on its own."""
    found: list[str] = []
    spans = number_spans(text) if spans is None else spans
    if canary.nir and (canary.nir in spans or (canary.nir13 in spans and not any(
            s.startswith(canary.nir13) and len(s) == 15 for s in spans))):
        found.append("nir")
    if canary.phones and any(phone_key(s) in canary.phones for s in spans if 9 <= len(s.lstrip("+")) <= 13):
        found.append("phone")
    lower = text.lower()
    if canary.email and canary.email in lower and canary.email in {e.lower() for e in _EMAIL.findall(text)}:
        found.append("email")
    # Substring tests first: a pattern per canary would thrash re's compile cache (10,000 canaries).
    if canary.token and canary.token in text and \
            re.search(rf"(?<![A-Za-z0-9_\-]){re.escape(canary.token)}(?![A-Za-z0-9_\-])", text):
        found.append("token")
    if canary.hostname and canary.hostname in lower and \
            re.search(rf"(?<![a-z0-9\-.]){re.escape(canary.hostname)}(?![a-z0-9\-])", lower):
        found.append("hostname")
    return found


def compare(text: str, canary: CanaryInfo, values: Values | None) -> Comparison:
    """How one record agrees with ``canary``: field by field in its role when the record has
    structure (``values``), by proximity in free text otherwise."""
    spans = number_spans(text)
    agreed = strong_fields(text, canary, spans)
    if values is not None:
        weak, disagreed, score = _compare_fields(values, canary)
    else:
        weak, score = _compare_text(text, spans, canary)
        disagreed = []
    agreed += [f for f in weak if f not in agreed]
    # A phone or an e-mail weighs like any field (a NIR, a token or a hostname decides alone, linkage.py).
    if "phone" in agreed:
        score += PHONE_BITS
    if "email" in agreed and canary.email:
        score += email_bits(canary.email, canary.names)
    return Comparison(agreed=agreed, disagreed=disagreed, score=round(score, 1), structured=values is not None)


def independent_fields(comparison: Comparison, canary: CanaryInfo) -> int:
    """Identity fields agreeing that are separate evidence (a family name inside the e-mail address is not)."""
    fields = [f for f in comparison.agreed if f in IDENTITY_FIELDS]
    if "email" in fields and "name" in fields and canary.email and name_in_email(canary.email, canary.names):
        fields.remove("name")
    return len(fields)


def _words(value: str) -> str:
    return f" {fold(value)} "


def _compare_fields(values: Values, canary: CanaryInfo) -> tuple[list[str], list[str], float]:
    agreed: list[str] = []
    disagreed: list[str] = []
    score = 0.0

    def verdict(name: str, agree: bool | None, bits: float) -> None:
        nonlocal score
        if agree is None:
            return
        if agree:
            agreed.append(name)
            score += bits
        else:
            disagreed.append(name)
            score += AGAINST[name]

    names = [_words(v) for v in values.get("name", [])]
    matched = [bits for name, bits in zip(canary.names, canary.name_bits, strict=True)
               if any(f" {name} " in cell for cell in names)]
    # Birth and used name both written: two independent agreements.
    verdict("name", bool(matched) if names else None, sum(matched))
    firsts = [_words(v) for v in values.get("first_name", [])]
    first_bits = [bits for first, bits in zip(canary.first_names, canary.first_bits, strict=True)
                  if any(f" {first} " in cell for cell in firsts)]
    verdict("first_name", bool(first_bits) if firsts else None, max(first_bits, default=0.0))
    dates = set().union(*(dates_in(v) for v in values.get("birth_date", []))) if canary.birth_date else set()
    verdict("birth_date", (canary.birth_date in dates) if dates else None, BIRTH_DATE_BITS)
    if canary.address and values.get("address"):
        verdict("address", any(f" {canary.address} " in _words(v) for v in values["address"]), ADDRESS_BITS)
    if canary.postcode and values.get("postcode"):
        verdict("postcode", any(canary.postcode in number_spans(v) for v in values["postcode"]), POSTCODE_BITS)
    if canary.city and values.get("city"):
        verdict("city", any(f" {canary.city} " in _words(v) for v in values["city"]), CITY_BITS)
    if canary.ipp and values.get("ipp"):
        verdict("ipp", any(canary.ipp in number_spans(v) for v in values["ipp"]), IPP_BITS)
    if canary.amc_member and values.get("amc_member"):
        verdict("amc_member", any(canary.amc_member == fold(v).replace(" ", "") for v in values["amc_member"]),
                AMC_BITS)
    # A different NIR in the NIR column rules the canary out, whatever else agrees.
    nirs = {nir_key(v) for v in values.get("nir", [])} - {None}
    if canary.nir and nirs and canary.nir not in nirs and canary.nir13 not in nirs:
        disagreed.append("nir")
        score += AGAINST["nir"]
    return agreed, disagreed, score


# Street phrases ("12 avenue Pierre Adam", "boulevard Hubert"): their words are never names.
_STREET = re.compile(
    r"\b(?:\d{1,4}\s*(?:bis|ter|quater|[a-d])?\s*,?\s*)?(?:rue|avenue|av|bd|boulevard|chemin|all[ée]e|place|pl|"
    r"impasse|imp|route|rte|quai|cours|passage|square|r[ée]sidence|lotissement|faubourg|fbg|voie|sentier|hameau|"
    r"lieu[- ]dit|promenade|esplanade|parvis|cit[ée]|clos|mont[ée]e|ruelle|chauss[ée]e|villa)\.?\s+"
    r"(?:(?:de|du|des|la|le|les|l'|d')\s*)*[^\s;,|\t\"<>{}()]+(?:[ \-'][^\s;,|\t\"<>{}()\d]+){0,4}",
    re.IGNORECASE)


def _compare_text(text: str, spans: set[str], canary: CanaryInfo) -> tuple[list[str], float]:
    """Free text: one word serves one field, and words of e-mail addresses and street names are
    not names."""
    found: list[str] = []
    score = 0.0
    folded_all = f" {fold(text)} "
    if canary.address and f" {canary.address} " in folded_all:
        found.append("address")
        score += ADDRESS_BITS
    cleaned = _STREET.sub(" ", _EMAIL.sub(" ", text))
    words = fold(cleaned).split()
    used: set[int] = set()
    name_bits = 0.0
    for name, bits in zip(canary.names, canary.name_bits, strict=True):
        at = _claim(words, name.split(), used)
        if at is not None:
            name_bits += bits
    if name_bits:
        found.append("name")
        score += name_bits
    first_bits = [bits for first, bits in zip(canary.first_names, canary.first_bits, strict=True)
                  if _claim(words, first.split(), used) is not None]
    if first_bits:
        found.append("first_name")
        score += max(first_bits)
    if canary.birth_date and canary.birth_date in dates_in(text):
        found.append("birth_date")
        score += BIRTH_DATE_BITS
    if "address" in found:
        found.append(found.pop(found.index("address")))  # reported in the usual field order
    if canary.postcode and canary.postcode in spans:
        found.append("postcode")
        score += POSTCODE_BITS
    if canary.ipp and canary.ipp in spans:
        found.append("ipp")
        score += IPP_BITS
    if canary.amc_member and f" {canary.amc_member} " in folded_all.replace(" ", "  "):
        found.append("amc_member")
        score += AMC_BITS
    return found, score


def _claim(words: list[str], wanted: list[str], used: set[int]) -> int | None:
    """Take the first unused run of ``wanted`` in ``words`` (marking its words used); its start or None."""
    n = len(wanted)
    if not n:
        return None
    for i in range(len(words) - n + 1):
        if words[i:i + n] == wanted and not used.intersection(range(i, i + n)):
            used.update(range(i, i + n))
            return i
    return None
