"""Exact matching of one canary against one record of real text, and the decision it leads to.

A candidate from the fast search is only a finding if the record really holds the canary: whole
numbers (a phone inside a longer digit run is not the phone), whole words for names, a full date
equal to the birth date, the full NIR with its key when a key is written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from canary.normalize import fold, phone_key
from canary.watch.sweep.index import PAIR_FIELDS, CanaryInfo

STRONG_FIELDS = ("nir", "phone", "email", "token", "hostname")

# A run of digit groups separated by single spaces, dots or hyphens, with an optional +/00 prefix and
# the "(0)" of international spellings. Groups stay whole: the run is split only between groups.
_NUMBER_RUN = re.compile(r"(?<![\w+])(\+?)((?:\(0\)[ .\-]?)?[0-9][0-9AaBb]*(?:(?:[ .\-]|\s?\(0\)\s?)[0-9][0-9AaBb]*)*)")
_BRACKETED_CODE = re.compile(r"\(\s*(\+\d{2,3})\s*\)")
_GROUP = re.compile(r"[0-9][0-9AaBb]*")
_DMY = re.compile(r"(?<!\d)(\d{1,2})[/.\- ](\d{1,2})[/.\- ](\d{4})(?!\d)")
_YMD = re.compile(r"(?<!\d)(\d{4})[/.\-](\d{1,2})[/.\-](\d{1,2})(?!\d)")
_COMPACT_DATE = re.compile(r"(?<!\d)(\d{8})(?!\d)")
_EMAIL = re.compile(r"[\w.%+\-]+@[\w.\-]+\.[A-Za-z]{2,}")


@dataclass(frozen=True)
class Decision:
    fields: list[str]
    confidence: str  # high | medium | low
    severity: str  # critical | high | medium


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


def fields_in(text: str, canary: CanaryInfo) -> list[str]:
    """The identifying fields of ``canary`` present in one record."""
    found: list[str] = []
    folded = f" {fold(text)} "
    spans = number_spans(text)
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
    if any(f" {name} " in folded for name in canary.names):
        found.append("name")
    if any(f" {first} " in folded for first in canary.first_names):
        found.append("first_name")
    if canary.birth_date and canary.birth_date in dates_in(text):
        found.append("birth_date")
    if canary.address and f" {canary.address} " in folded:
        found.append("address")
    if canary.postcode and canary.postcode in spans:
        found.append("postcode")
    if canary.ipp and canary.ipp in spans:
        found.append("ipp")
    if canary.amc_member and f" {canary.amc_member} " in folded.replace(" ", "  "):
        found.append("amc_member")
    return found


def decide(fields: list[str]) -> Decision | None:
    """A finding on one strong marker, or on two pair fields in the same record; else nothing."""
    if any(f in STRONG_FIELDS for f in fields):
        return Decision(fields, "high", "critical")
    pairs = [f for f in fields if f in PAIR_FIELDS]
    if len(pairs) >= 2:
        support = len(pairs) + ("first_name" in fields) + ("postcode" in fields)
        return Decision(fields, "medium", "high") if support >= 3 else Decision(fields, "low", "low")
    return None

