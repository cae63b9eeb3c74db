"""A sighting is a scored record match (Fellegi–Sunter with term-frequency adjustment).

Each field of a canary that a record agrees with adds log2(m/u) bits: m, the chance that the
canary's own record written in a dump shows that field as registered; u, the chance that an
unrelated person's record shows it by coincidence. u depends on the value (term-frequency
adjustment, as in Splink): MARTIN is one French person in 300, a family name of rank 30,000 one in
400,000, so agreeing on the second weighs about 10 bits more. A field the record holds *with
another value* (a different first name in the first-name column, another birth date in the
birth-date column) subtracts log2((1-m)/(1-u)) bits.

Thresholds follow from the registry and the size of the scan. For each canary, every agreement
pattern the search can find (two pair fields, one of them an anchor, with or without first name
and postcode) has a score S and a chance 2^-S that an unrelated record shows it. Summed over the
canaries, ``coincidence`` gives, per score, how many chance matches one record makes; times the
records of the scan it is the expected number of false findings above a threshold. ``low`` and
``medium`` are the lowest thresholds keeping that expectation under 8 and 0.5, with floors for
small scans. Strong markers (NIR, phone, e-mail, callback token or hostname) stay decisive.
"""

from __future__ import annotations

import gzip
import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from canary.normalize import fold

STRONG_FIELDS = ("nir", "phone", "email", "token", "hostname")
# Decisive on their own: a NIR (a person's number for life) and the callback token and hostname (the
# registry's own). A phone or an e-mail is a unique value too, but people share, mistype and recycle
# them, and a name-shaped address (nhenry@gmail.com) recurs among real people's records: weighed.
DECISIVE_FIELDS = ("nir", "token", "hostname")
CONTACT_FIELDS = ("phone", "email")
# Fields that identify a person on their own or as a pair; postcode, city and first name only add weight.
IDENTITY_FIELDS = ("nir", "phone", "email", "token", "hostname", "name", "birth_date", "address", "ipp", "amc_member")
# Fields that can make a pair; a finding without a strong marker needs two of them to agree.
PAIR_FIELDS = ("name", "birth_date", "address", "ipp", "amc_member")
ANCHORS = ("birth_date", "ipp", "amc_member")  # the fast search finds pairs from these

# Agreement weights in bits for fields whose frequency does not depend on the value (log2(m/u)).
BIRTH_DATE_BITS = math.log2(0.97 * 36_500)  # ~100 years of birth days, written right 97 % of the time
ADDRESS_BITS = 14.0  # a house number and street of one town: a few dozen people
IPP_BITS = 12.0  # an 8-10 digit identifier agreeing by chance in an identifier column
AMC_BITS = 14.0
POSTCODE_BITS = 7.0  # ~6,000 postcodes, but residence is correlated with the canary's own
CITY_BITS = 4.0
PHONE_BITS = 26.0  # 9 national digits, less what sharing and reassigned numbers take
EMAIL_BITS = 30.0  # an address of no particular shape
EMAIL_NAME_SHAPED_BITS = 20.0  # first.family@, f.family@, familyf@...: namesakes and typos recur
EMAIL_DIGITS_BITS = 4.0  # a name-shaped address with a year or a number in it is rarer
# A contact value pages on-call when its weight, less what the record's other fields contradict, is at
# least this: another first name or birth date (-10 each) against a name-shaped address is a lead.
CONTACT_PAGE = 15.0
# Disagreement weights (log2((1-m)/(1-u))): identity fields are copied faithfully, contact points age.
AGAINST = {"name": -5.0, "first_name": -10.0, "birth_date": -10.0, "nir": -20.0, "address": -1.0,
           "postcode": -1.5, "city": -1.0, "ipp": -1.0, "phone": -1.0, "email": -1.0, "amc_member": -1.0}
M_NAME = 0.95

# Expected false findings a scan may make at each level, and floors (bits) for small scans.
EXPECTED_FALSE_LOW, EXPECTED_FALSE_MEDIUM = 8.0, 0.5
LOW_FLOOR, MEDIUM_FLOOR = 20.0, 30.0
FREE_TEXT_PENALTY = 2.0  # free text shows no disagreement and may mix fields: demand 4x more evidence
RECORD_BYTES = 128  # one record per 128 bytes scanned (dump rows are 100-300 bytes: errs strict)
BUCKETS_PER_BIT = 10
MAX_BITS = 120


@dataclass(frozen=True)
class Comparison:
    """The agreement pattern of one record with one canary and its weight."""

    agreed: list[str]
    disagreed: list[str]
    score: float
    structured: bool

    @property
    def strong(self) -> bool:
        return any(f in STRONG_FIELDS for f in self.agreed)

    @property
    def decisive(self) -> bool:
        return any(f in DECISIVE_FIELDS for f in self.agreed)

    @property
    def pairs(self) -> int:
        return sum(1 for f in self.agreed if f in PAIR_FIELDS)


def thresholds(coincidence: list[float], records: float, structured: bool) -> tuple[float, float]:
    """(low, medium) score thresholds for a scan of ``records`` records against the canaries whose
    ``coincidence`` histogram is given (see :func:`coincidence_histogram`)."""
    low = medium = None
    tail = 0.0
    # From the top score down: the expected chance matches above each bucket grow as it goes.
    for bucket in range(len(coincidence) - 1, -1, -1):
        tail += coincidence[bucket]
        expected = tail * max(1.0, records)
        if medium is None and expected > EXPECTED_FALSE_MEDIUM:
            medium = (bucket + 1) / BUCKETS_PER_BIT
        if expected > EXPECTED_FALSE_LOW:
            low = (bucket + 1) / BUCKETS_PER_BIT
            break
    penalty = 0.0 if structured else FREE_TEXT_PENALTY
    return (max(LOW_FLOOR, low or 0.0) + penalty, max(MEDIUM_FLOOR, medium or 0.0) + penalty)


def grade_score(score: float, structured: bool, coincidence: list[float], records: float) -> tuple[str, str] | None:
    """(confidence, severity) of a weak-field match of ``score`` bits, or None below the low threshold."""
    return Grader(coincidence, records).grade_score(score, structured)


class Grader:
    """Grading for one histogram and scan size, its two pairs of thresholds computed once.

    Computing them walks the whole histogram; a scan grades thousands of candidate records.
    """

    def __init__(self, coincidence: list[float], records: float) -> None:
        self.bounds = {structured: thresholds(coincidence, records, structured) for structured in (True, False)}

    def grade(self, comparison: Comparison, independent: int | None = None) -> tuple[str, str] | None:
        """``independent``: the identity fields agreeing that are separate evidence (verify.independent_fields)."""
        if comparison.strong:
            return grade_contact(comparison, independent)
        if comparison.pairs < 2:
            return None
        return self.grade_score(comparison.score, comparison.structured)

    def grade_score(self, score: float, structured: bool) -> tuple[str, str] | None:
        low, medium = self.bounds[structured]
        if score >= medium:
            return "medium", "high"
        if score >= low:
            return "low", "low"
        return None


def grade_contact(comparison: Comparison, independent: int | None = None) -> tuple[str, str]:
    """A record holding a strong marker: a NIR, a token or a hostname pages at once, and so do two
    independent identity fields; a phone or an e-mail alone pages when the record does not contradict
    it (``score`` at least CONTACT_PAGE), else it is a ``low`` lead (never dropped, never a page)."""
    if comparison.decisive:
        return "high", "critical"
    count = independent if independent is not None else sum(1 for f in comparison.agreed if f in IDENTITY_FIELDS)
    if count >= 2 or comparison.score >= CONTACT_PAGE:
        return "high", "critical"
    return "low", "low"


def email_bits(address: str, names: list[str]) -> float:
    """log2(m/u) of an e-mail address agreeing: lower for the name-shaped addresses people pick (and the
    generator proposes at consumer providers), the canary's family name in its local part."""
    local = address.partition("@")[0].lower()
    letters = "".join(ch for ch in local if ch.isalpha())
    if not any(name.replace(" ", "").replace("-", "").lower() in letters for name in names if len(name) >= 3):
        return EMAIL_BITS
    digits = sum(1 for ch in local if ch.isdigit())
    return EMAIL_NAME_SHAPED_BITS + (EMAIL_DIGITS_BITS if digits >= 2 else 0.0)


def name_in_email(address: str, names: list[str]) -> bool:
    """The family name is part of the address: agreeing on both is one piece of evidence, not two."""
    letters = "".join(ch for ch in address.partition("@")[0].lower() if ch.isalpha())
    return any(len(name) >= 3 and name.replace(" ", "").replace("-", "").lower() in letters for name in names)


def records_in(scanned_bytes: int) -> float:
    return max(1.0, scanned_bytes / RECORD_BYTES)


def coincidence_histogram(patterns: Iterable[list[tuple[str, float]]]) -> list[float]:
    """Per score bucket, the summed chance 2^-S that one unrelated record shows a canary's pattern.

    ``patterns`` gives, per canary, its weak fields and their agreement bits. A pattern is what the
    search can find: two pair fields, one of them an anchor (birth date, IPP, mutuelle number),
    with or without first name and postcode.
    """
    histogram = [0.0] * (MAX_BITS * BUCKETS_PER_BIT + 1)
    for fields in patterns:
        bits = dict(fields)
        pairs = [f for f in PAIR_FIELDS if f in bits]
        extras = [f for f in ("first_name", "postcode") if f in bits]
        for i, anchor in enumerate(pairs):
            if anchor not in ANCHORS:
                continue
            for other in pairs:
                if other == anchor or (other in ANCHORS and pairs.index(other) < i):
                    continue
                base = bits[anchor] + bits[other]
                for mask in range(1 << len(extras)):
                    score = base + sum(bits[e] for j, e in enumerate(extras) if mask >> j & 1)
                    bucket = min(len(histogram) - 1, int(score * BUCKETS_PER_BIT))
                    histogram[bucket] += 2.0 ** -score
    return histogram


# --- term frequencies ------------------------------------------------------------------------------

def surname_bits(folded: str, ranks: dict[str, int]) -> float:
    """log2(m/u) for agreeing on a family name, u from its rank among French family names."""
    return math.log2(M_NAME / surname_share(ranks.get(folded)))


def surname_share(rank: int | None) -> float:
    """Share of the French population bearing the family name of that rank (INSEE register curve:
    MARTIN ~0.35 %, rank 100 ~0.06 %, rank 1,000 ~0.01 %, rank 40,000 ~150 bearers)."""
    if rank is None:
        return 1e-6  # not among the 40,000 most frequent: a few dozen bearers at most
    if rank <= 100:
        return float(3.5e-3 * rank ** -0.39)
    if rank <= 1000:
        return float(5.7e-4 * (rank / 100) ** -0.76)
    return float(1e-4 * (rank / 1000) ** -1.0)


def first_name_bits(folded: str, ranks: dict[str, int]) -> float:
    """log2(m/u) for agreeing on a first name among people of the canary's sex and birth decade."""
    rank = ranks.get(folded)
    share = 3e-5 if rank is None else min(0.05, 0.04 * rank ** -0.9)
    return math.log2(M_NAME / share)


@cache
def surname_ranks(seeds_dir: Path) -> dict[str, int]:
    """Folded family name -> rank by births in INSEE's register (the curve of :func:`surname_share`).

    The table holds ``name, residents, births``; a name with no births counted (councillors only, fewer
    than 10 births a decade) stays unranked, a rare name."""
    counts: dict[str, int] = {}
    for name, _residents, births in _rows(seeds_dir / "names" / "surnames.tsv.gz", 3):
        if births.isdigit() and int(births) > 0:
            counts.setdefault(fold(name), int(births))
    by_births = sorted(counts, key=lambda name: -counts[name])  # stable: ties keep the file's order
    return {name: rank for rank, name in enumerate(by_births, start=1)}


@cache
def first_name_ranks(seeds_dir: Path) -> dict[tuple[str, int], dict[str, int]]:
    """(sex, decade) -> folded first name -> rank."""
    tables: dict[tuple[str, int], dict[str, int]] = {}
    for sex, decade, rank, name in _rows(seeds_dir / "names" / "first_names.tsv.gz", 4):
        tables.setdefault((sex, int(decade) // 10 * 10), {}).setdefault(fold(name), int(rank))
    return tables


def _rows(path: Path, width: int) -> Iterable[list[str]]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:  # missing seeds: an install error, said loudly
        next(handle, None)
        for line in handle:
            cells = line.rstrip("\n").split("\t")
            if len(cells) == width and cells[0] and not cells[0].startswith("#"):
                yield cells
