"""What a personal mailbox name looks like (its shape), by age, and which shapes are still free.

Real patients' addresses are ``marie.dupont``, ``mdupont``, ``dupont.marie``, ``marie.dupont62``,
``jeandupont1962``, a nickname... A thief sees at once a batch where every address carries digits,
or whose lengths differ from the host's. So:

- ``profile build`` classifies each local part against the patient's own names and birth year
  (``classify``) and keeps, by age group, counts only: the forms (shape + kind of digits, e.g.
  ``first.last+yy``), the local-part lengths and the number of digits, each under ``MIN_COUNT``
  folded into ``other``, and the share with digits. No local part, name or number is kept.
- Without a profile the generator follows ``NATIONAL_SHAPES`` below: reasoned defaults, as no public
  statistics of French mailbox names exist: the full name dominates at every age, ISP mailboxes of
  older people often bear a department number, the young more often glue names together or use a
  nickname, and about half of all addresses carry digits (more of the young's).
- ``MailboxShaper`` proposes a mailbox following the table of the patient's age group, but a form
  is used only if it is likely free: its expected number of holders in France (``holders``: the
  bearers of the name pair from the surname and first-name tables, divided by how many values the
  digits can take) stays under ``FREE_BELOW``. A digit-free ``marie.dupont`` is therefore given
  only to a rare first name + surname pair; a common pair always gets digits, and more of them when
  needed. Those rare pairs take the host's digit-free share as far as they can.
- A nickname (shape ``other``) is invented from syllables, not taken from the names: three
  syllables with digits, four without. Nothing in it depends on how common the person's names are,
  so it is the short form that stays free for everyone (``NICKNAME_MAILBOXES`` over the syllable
  space), as the host's short mailboxes are.

The operator still has to open each proposal and ``contacts confirm`` carries it only once its
probe came back, so a mailbox someone already owns is never put on a canary.
"""

from __future__ import annotations

import random
import re
from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any

from canary.generate.mail_providers import MIN_COUNT, PROVIDER_AGES, age_group
from canary.generate.text import has_marker_word, mail_form
from canary.weighted import WeightedTable

SHAPES = ("first.last", "firstlast", "last.first", "lastfirst", "f.last", "flast", "first", "last", "other")
DIGIT_KINDS = ("none", "year", "yy", "dept", "n1", "n2", "n3", "n4", "n5")
# Shapes made of the full name pair, of an initial and the surname, of one name alone.
_PAIR_SHAPES = frozenset({"first.last", "firstlast", "last.first", "lastfirst"})
_INITIAL_SHAPES = frozenset({"f.last", "flast"})
# How many values the digits of a kind take among bearers of the same names: a birth year or its
# last two digits split them into ~60 cohorts, a department into ~40 (people cluster), an n-digit
# number people choose into far fewer than 10^n values (1, 2, 13, 123, 2000 come back often).
_DIGIT_SPREAD = {"none": 1.0, "year": 60.0, "yy": 60.0, "dept": 40.0, "n1": 5.0, "n2": 40.0, "n3": 200.0,
                 "n4": 1000.0, "n5": 20000.0}
# A kind of digits, then the rarer ones that can stand in for it (about as many digits, then more).
_ESCALATION = {"year": ("year", "n4"), "yy": ("yy", "n3", "n4"), "dept": ("dept", "n3", "n4"),
               "n1": ("n1", "n2", "n3"), "n2": ("n2", "n3", "n4"), "n3": ("n3", "n4"), "n4": ("n4",), "n5": ("n5",)}
# A form is proposed only if fewer than this many people in France are expected to bear it. Each
# bearer holds that exact name at one given provider with a chance of about 1 in 10 at most (has an
# e-mail x at that provider x chose that form), so such an address is taken with a chance of about
# 10 % at most; then the operator cannot open it and ``contacts confirm`` refuses it (its probe
# never comes back).
FREE_BELOW = 1.0
FRANCE_POPULATION = 68_000_000
_UNKNOWN_SURNAME_BEARERS = 20_000.0  # a surname the tables lack (a foreign one): taken as common
# Invented nicknames: consonant-vowel syllables. Mailboxes in France whose name is an invented nickname,
# over-counted on purpose (about 15 % of 50 million personal mailboxes, every one counted as if its
# holder had drawn uniformly from the same syllables): a three-syllable one is then expected to be held
# by ~20 people (so it gets digits), a four-syllable one by ~0.2.
_CONSONANTS, _VOWELS = "bcdfgjklmnprstvz", "aeiou"
SYLLABLES = tuple(c + v for c in _CONSONANTS for v in _VOWELS)
NICKNAME_MAILBOXES = 10_000_000.0
NICKNAME_SYLLABLES = 3  # with digits; one more without
# Syllable runs that would spell a word no one wants in a mailbox name (or one a thief greps for).
_NICKNAME_STOP = ("pute", "bite", "nazi", "caca", "pipi", "zizi", "sexe", "nique", "mort", "pede")
_UNKNOWN_FIRST_NAME_SHARE = 0.005

_SEPARATORS = re.compile(r"[._-]+")


def form_key(shape: str, digits: str) -> str:
    return f"{shape}+{digits}"


def _digit_kind(digits: str, birth_year: int | None, department: str | None) -> str:
    if not digits:
        return "none"
    if birth_year is not None and digits == str(birth_year):
        return "year"
    if birth_year is not None and digits == f"{birth_year % 100:02d}":
        return "yy"
    if department and digits == department:
        return "dept"
    return f"n{min(len(digits), 5)}"


def classify(local: str, first: str, family: str, birth_year: int | None = None,
             department: str | None = None) -> tuple[str, str]:
    """(shape, kind of digits) of a mailbox name against the person's names. The first name part is
    matched loosely: a child's record carries a parent's mailbox, with a parent's first name."""
    local = local.lower()
    digits = "".join(ch for ch in local if ch.isdigit())
    tokens = [t for t in _SEPARATORS.split("".join(ch for ch in local if not ch.isdigit())) if t]
    kind = _digit_kind(digits, birth_year, department)
    given = mail_form(first).replace("-", "")
    surname = mail_form(family).replace("-", "")
    if not tokens or not surname:
        return "other", kind
    for cut in range(1, len(tokens)):
        head, tail = "".join(tokens[:cut]), "".join(tokens[cut:])
        if tail == surname and head.isalpha():
            return ("f.last" if len(head) == 1 else "first.last"), kind
        if head == surname and tail.isalpha():
            return "last.first", kind
    word = "".join(tokens)
    if len(tokens) == 1 or word in (surname, given):
        if word == surname:
            return "last", kind
        if word == given:
            return "first", kind
        if word.endswith(surname) and len(word) > len(surname):
            return ("flast" if len(word) - len(surname) == 1 else "firstlast"), kind
        if word.startswith(surname) and len(word) > len(surname):
            return "lastfirst", kind
    return "other", kind


class ShapeAges:
    """Accumulates form, length and digit counts by age group while a profile reads an export."""

    def __init__(self) -> None:
        self.forms: Counter[tuple[str, str]] = Counter()
        self.lengths: Counter[tuple[str, int]] = Counter()
        self.digits: Counter[tuple[str, int]] = Counter()

    def add(self, age: int | None, email: str | None, first: str | None, family: list[str],
            birth_year: int | None, department: str | None) -> None:
        if age is None or not email or "@" not in email:
            return
        local = email.rsplit("@", 1)[0].strip().lower()
        if not local:
            return
        group = age_group(age)
        shape, kind = "other", "none"
        for name in family or [""]:  # birth name or used name, whichever the address bears
            shape, kind = classify(local, first or "", name, birth_year, department)
            if shape != "other":
                break
        self.forms[(group, form_key(shape, kind))] += 1
        self.lengths[(group, len(local))] += 1
        self.digits[(group, sum(ch.isdigit() for ch in local))] += 1

    def summary(self) -> dict[str, Any] | None:
        """``{group: {mailboxes, with_digits, forms, lengths, digits}}``, each count >= MIN_COUNT
        (the rest in ``other``); groups of fewer than MIN_COUNT mailboxes are left out. None without e-mails."""
        out: dict[str, Any] = {}
        for low, high in PROVIDER_AGES:
            group = f"{low}-{high}"
            forms = Counter({k: n for (g, k), n in self.forms.items() if g == group})
            size = sum(forms.values())
            if size < MIN_COUNT:
                continue
            digits = Counter({str(d): n for (g, d), n in self.digits.items() if g == group})
            with_digits = size - digits["0"]
            share = (round(with_digits / size, 3)
                     if with_digits in (0, size) or min(with_digits, size - with_digits) >= MIN_COUNT else None)
            out[group] = {
                "mailboxes": size,
                "with_digits": share,
                "forms": _kept(forms),
                "lengths": _kept(Counter({str(n): c for (g, n), c in self.lengths.items() if g == group})),
                "digits": _kept(digits),
            }
        return out or None


def _kept(counter: Counter[str]) -> dict[str, Any]:
    kept = {k: v for k, v in counter.most_common() if v >= MIN_COUNT}
    return {"counts": kept, "other": sum(counter.values()) - sum(kept.values())}


# --- national defaults --------------------------------------------------------------------------------

# Shape mix by age group, per 100 mailboxes (reasoned; see the module docstring). A child's record
# carries a parent's mailbox: the 0-14 group is the parents' (30-44).
_SHAPE_MIX = {
    "15-29": {"first.last": 30, "firstlast": 20, "last.first": 6, "lastfirst": 4, "f.last": 3, "flast": 8,
              "first": 8, "last": 3, "other": 18},
    "30-44": {"first.last": 38, "firstlast": 14, "last.first": 8, "lastfirst": 3, "f.last": 4, "flast": 9,
              "first": 5, "last": 4, "other": 15},
    "45-59": {"first.last": 42, "firstlast": 10, "last.first": 9, "lastfirst": 3, "f.last": 5, "flast": 10,
              "first": 4, "last": 5, "other": 12},
    "60-74": {"first.last": 44, "firstlast": 8, "last.first": 10, "lastfirst": 2, "f.last": 6, "flast": 11,
              "first": 3, "last": 6, "other": 10},
    "75-200": {"first.last": 45, "firstlast": 7, "last.first": 11, "lastfirst": 2, "f.last": 6, "flast": 12,
               "first": 2, "last": 6, "other": 9},
}
_SHAPE_MIX["0-14"] = _SHAPE_MIX["30-44"]
# Share of mailboxes with digits, and which digits, by age group.
_DIGIT_SHARE = {"0-14": 0.45, "15-29": 0.55, "30-44": 0.45, "45-59": 0.4, "60-74": 0.35, "75-200": 0.3}
_YOUNG_DIGITS = {"yy": 30, "year": 20, "n2": 20, "n1": 8, "n3": 7, "n4": 10, "dept": 5, "n5": 2}
_OLDER_DIGITS = {"yy": 20, "year": 15, "dept": 20, "n2": 20, "n1": 8, "n3": 7, "n4": 10, "n5": 1}
# One name alone or a nickname is hardly ever free without digits, for real people too.
_ALONE_DIGIT_SHARE = 0.9


def _national_forms(group: str) -> dict[str, float]:
    shapes = _SHAPE_MIX[group]
    kinds = _YOUNG_DIGITS if group in ("15-29",) else _OLDER_DIGITS
    kind_total = sum(kinds.values())
    alone = sum(shapes[s] for s in ("first", "last", "other"))
    total = sum(shapes.values())
    # The digit-free share of the name shapes, so that the group as a whole has its digit share.
    free_named = max(0.0, (1 - _DIGIT_SHARE[group]) * total - alone * (1 - _ALONE_DIGIT_SHARE)) / (total - alone)
    out: dict[str, float] = {}
    for shape, weight in shapes.items():
        free = 1 - _ALONE_DIGIT_SHARE if shape in ("first", "last", "other") else free_named
        out[form_key(shape, "none")] = weight * free
        for kind, k in kinds.items():
            out[form_key(shape, kind)] = weight * (1 - free) * k / kind_total
    return out


NATIONAL_SHAPES: Mapping[str, Mapping[str, float]] = {
    f"{low}-{high}": _national_forms(f"{low}-{high}") for low, high in PROVIDER_AGES}


def form_weights(group: str, host: Mapping[str, Any] | None = None) -> dict[str, float]:
    """Weights of every form for an age group: the host's published counts, its suppressed rest spread
    over the other forms by their national shares (each below MIN_COUNT); else the national table."""
    national = NATIONAL_SHAPES[group]
    published = ((host or {}).get(group) or {}).get("forms") or {}
    # Only the forms this version knows (a profile built by another version may name others).
    counts = {k: n for k, n in (published.get("counts") or {}).items() if k in national}
    if not counts:
        return dict(national)
    rest = float(published.get("other") or 0)
    unpublished = {k: w for k, w in national.items() if k not in counts}
    total = sum(unpublished.values())
    weights = {k: float(n) for k, n in counts.items()}
    if rest and total:
        for key, weight in unpublished.items():
            weights[key] = min(MIN_COUNT - 1.0, rest * weight / total)
    return weights


# --- name rarity --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class NameRarity:
    """Expected bearers in France of a surname, share of a first name, and of an initial."""

    surname_bearers: Callable[[str, float], float | None]
    first_name_share: Mapping[str, float]
    initial_share: Mapping[str, float]

    def holders(self, shape: str, digits: str, first: str, family: str) -> float:
        """Expected people in France whose own names give this exact mailbox name (digits included)."""
        return before_digits(self.bearers_by_shape(first, family), shape, digits) / _DIGIT_SPREAD[digits]

    def bearers_by_shape(self, first: str, family: str) -> dict[str, float]:
        """Expected people in France whose names give each shape, before digits."""
        surname = self.surname_bearers(family.upper(), FRANCE_POPULATION) or _UNKNOWN_SURNAME_BEARERS
        given = self.first_name_share.get(first.upper(), _UNKNOWN_FIRST_NAME_SHARE)
        pair = surname * given
        initial = surname * self.initial_share.get(first[:1].upper(), 0.1)
        return {"first.last": pair, "firstlast": pair, "last.first": pair, "lastfirst": pair,
                "f.last": initial, "flast": initial, "last": surname, "first": given * FRANCE_POPULATION,
                # an invented nickname of NICKNAME_SYLLABLES syllables, whatever the names
                "other": NICKNAME_MAILBOXES / len(SYLLABLES) ** NICKNAME_SYLLABLES}


def before_digits(bearers: Mapping[str, float], shape: str, kind: str) -> float:
    """Expected holders of a shape before its digits (a digit-free nickname has one syllable more)."""
    if shape == "other" and kind == "none":
        return bearers[shape] / len(SYLLABLES)
    return bearers[shape]


def name_rarity(bearers: Callable[[str, float], float | None],
                first_names: Mapping[tuple[str, int], WeightedTable[str]]) -> NameRarity:
    """The rarity tables of a generator: ``bearers`` of a surname (NameTables.bearers), and the first
    names' shares of the whole population from the generator's (sex, decade) tables, each weighing alike."""
    shares: dict[str, float] = {}
    for table in first_names.values():
        for index, name in enumerate(table.items):
            shares[name] = shares.get(name, 0.0) + table.share(index) / len(first_names)
    initials: dict[str, float] = {}
    for name, share in shares.items():
        initials[name[:1]] = initials.get(name[:1], 0.0) + share
    return NameRarity(bearers, dict(shares), dict(initials))


# --- proposals ----------------------------------------------------------------------------------------

@dataclass(eq=False)
class MailboxShaper:
    """Proposes mailbox names at consumer providers following a shape table by age, free ones only.

    One instance per generator (i.e. per batch), like EvenDraws: it sums, per age group, the share of
    the digit-free forms each person could take, so that the digit-free forms are drawn as often as the
    table says (a form too common for a name is then given digits, keeping its shape). Not for use from
    several threads at once."""

    rarity: NameRarity
    host: Mapping[str, Any] | None = None  # the profile's ``email_shapes``
    _tables: dict[str, tuple[WeightedTable[str] | None, WeightedTable[str] | None, float]] = field(
        default_factory=dict)
    _eligible: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    _seen: Counter[str] = field(default_factory=Counter)
    _drawn: defaultdict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))

    def table(self, group: str) -> tuple[WeightedTable[str] | None, WeightedTable[str] | None, float]:
        """(digit-free forms, forms with digits, digit-free share) of an age group."""
        if group not in self._tables:
            weights = form_weights(group, self.host)
            free = {k: w for k, w in weights.items() if k.endswith("+none") and w > 0}
            digits = {k: w for k, w in weights.items() if not k.endswith("+none") and w > 0}
            share = sum(free.values()) / max(1e-9, sum(weights.values()))
            self._tables[group] = (WeightedTable(list(free), list(free.values())) if free else None,
                                   WeightedTable(list(digits), list(digits.values())) if digits else None, share)
        return self._tables[group]

    def propose(self, rng: random.Random, first: str, family: str, year: int, department: str, age: int,
                attempt: int) -> str:
        """A mailbox name (no domain) for a person of ``age`` (a child's: a parent's ``first`` and
        ``year``); ``attempt`` > 0 after a collision: a fresh draw, with digits.

        With the host's lengths published, ``CANDIDATES`` names are drawn and one is kept with a weight
        of the host's share of its length over how often drawn names have that length (importance
        resampling): the free forms of common names are longer than the short ones they replace, and
        this brings the lengths back to the host's."""
        group = age_group(age)
        bearers = self.rarity.bearers_by_shape(first, family)
        free_forms = self.table(group)[0]
        free_weight = 0.0 if free_forms is None else sum(
            free_forms.share(i) for i, k in enumerate(free_forms.items)
            if before_digits(bearers, k.split("+")[0], "none") < FREE_BELOW)
        can_be_free = free_weight > 0
        if attempt == 0:
            self._seen[group] += 1
            self._eligible[group] += free_weight
        lengths = self._lengths(group)
        if attempt or lengths is None:
            return self._draw(rng, group, bearers, can_be_free and not attempt, (first, family, year, department),
                              attempt)
        candidates = [self._draw(rng, group, bearers, can_be_free, (first, family, year, department), 0)
                      for _ in range(self.CANDIDATES)]
        drawn = self._drawn[group]
        total = sum(drawn.values()) + len(lengths)
        weights = [lengths.get(len(c), self._rare_length(group)) / ((drawn[len(c)] + 1) / total) for c in candidates]
        drawn.update(len(c) for c in candidates)
        return candidates[bisect_right(list(accumulate(weights)), rng.random() * sum(weights)) % len(candidates)]

    CANDIDATES = 4

    def _lengths(self, group: str) -> dict[int, float] | None:
        """The host's published shares of local-part lengths in the group (None: not published)."""
        lengths = (((self.host or {}).get(group) or {}).get("lengths") or {})
        counts = lengths.get("counts") or {}
        if not counts:
            return None
        whole = sum(counts.values()) + float(lengths.get("other") or 0)
        return {int(k): n / whole for k, n in counts.items()}

    def _rare_length(self, group: str) -> float:
        """The share of one length the host did not publish: its suppressed rest over ~30 lengths."""
        lengths = ((self.host or {}).get(group) or {}).get("lengths") or {}
        whole = sum((lengths.get("counts") or {}).values()) + float(lengths.get("other") or 0)
        return max(float(lengths.get("other") or 0), 1.0) / max(whole, 1.0) / 30

    def _draw(self, rng: random.Random, group: str, bearers: Mapping[str, float], can_be_free: bool,
              person: tuple[str, str, int, str], attempt: int) -> str:
        free_forms, digit_forms, free_share = self.table(group)
        if can_be_free and free_forms is not None:
            # Those who can take a digit-free form stand in for everyone of their group who has one: one
            # form drawn, kept if free for these names; else, as far as the names' share of free forms
            # falls short of the table's digit-free share, an invented nickname (free for any name),
            # and otherwise the form with digits, keeping its shape.
            eligible = (self._eligible[group] + 1) / (self._seen[group] + 3)
            if rng.random() < min(1.0, free_share / eligible):
                shape = free_forms.pick(rng).split("+")[0]
                if before_digits(bearers, shape, "none") < FREE_BELOW:
                    return render(rng, shape, "none", *person)
                if rng.random() < max(0.0, free_share - eligible) / max(1e-9, 1 - eligible):
                    return render(rng, "other", "none", *person)
                local = self._with_digits(rng, shape, bearers, person, attempt)
                if local:
                    return local
        for _ in range(20):
            key = digit_forms.pick(rng) if digit_forms is not None else "first.last+year"
            shape, kind = key.split("+")
            # A form too common for this name keeps its shape with rarer digits (a short shape stays
            # short: the lengths keep the host's), else another form is drawn.
            kind = next((k for k in _ESCALATION[kind] if bearers[shape] / _DIGIT_SPREAD[k] < FREE_BELOW), "")
            if kind:
                local = render(rng, shape, kind, *person)
                return local + (str(rng.randint(10, 99)) if attempt >= 2 else "")
        # A very common name: the full name, the birth year and a number of the person's choosing.
        return render(rng, "first.last", "year", *person) + str(rng.randint(10, 99))

    def _with_digits(self, rng: random.Random, shape: str, bearers: Mapping[str, float],
                     person: tuple[str, str, int, str], attempt: int) -> str | None:
        """``shape`` with digits of the group's mix for it, as few as keep it free (None: none does)."""
        for kind in ("yy", "year", "n2", "n3", "n4"):
            if bearers[shape] / _DIGIT_SPREAD[kind] < FREE_BELOW:
                return render(rng, shape, kind, *person) + (str(rng.randint(10, 99)) if attempt >= 2 else "")
        return None


def render(rng: random.Random, shape: str, kind: str, first: str, family: str, year: int, department: str) -> str:
    """The mailbox name of a form, from mail-safe name parts (``mail_form``)."""
    given = mail_form(first)
    surname = mail_form(family).replace("-", "")
    sep = "." if rng.random() < 0.8 else rng.choice("_-")
    parts: Mapping[str, Callable[[], str]] = {
        "first.last": lambda: f"{given}{sep}{surname}",
        "firstlast": lambda: f"{given.replace('-', '')}{surname}",
        "last.first": lambda: f"{surname}{sep}{given}",
        "lastfirst": lambda: f"{surname}{given.replace('-', '')}",
        "f.last": lambda: f"{given[:1]}{sep}{surname}",
        "flast": lambda: f"{given[:1]}{surname}",
        "first": lambda: given,
        "last": lambda: surname,
        "other": lambda: nickname(rng, NICKNAME_SYLLABLES + (kind == "none")),
    }
    return (parts[shape]() if shape in parts else parts["first.last"]()).strip(".-_") + _digits(rng, kind, year,
                                                                                             department)


def nickname(rng: random.Random, syllables: int) -> str:
    """An invented nickname of ``syllables`` syllables, none spelling a word kept out of mailbox names."""
    while True:
        word = "".join(rng.choice(SYLLABLES) for _ in range(syllables))
        if not any(stop in word for stop in _NICKNAME_STOP) and not has_marker_word(word):
            return word


def _digits(rng: random.Random, kind: str, year: int, department: str) -> str:
    yy = f"{year % 100:02d}"
    if kind == "none":
        return ""
    if kind == "year":
        return str(year)
    if kind == "yy":
        return yy
    if kind == "dept":
        return department if department.isdigit() else yy
    if kind == "n1":
        return str(rng.randint(1, 9))
    if kind == "n2":
        return str(rng.randint(10, 99))
    if kind == "n3":
        return str(rng.randint(100, 999))
    if kind == "n4":
        return f"{rng.randint(1, 28):02d}{rng.randint(1, 12):02d}" if rng.random() < 0.5 else str(
            rng.randint(1940, 2015))
    return str(rng.randint(10_000, 999_999))
