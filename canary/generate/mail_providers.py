"""Which consumer mail provider a patient of a given age uses, and what a mailbox there looks like.

People chose their provider when they first got online: those over 60 mostly kept the mailbox of
their internet provider (orange, wanadoo, free, sfr, laposte), the young use gmail, hotmail/outlook
or icloud. A thief comparing providers by age between canaries and real patients sees a flat mix at
once. So canaries draw their provider from the host's own mix by age group (``profile build`` learns
it: counts only, groups under ``MIN_COUNT`` suppressed), else from the national mix below.

A proposed mailbox at a provider must be one the operator can still open: the bare short shapes
(``lmuller@gmail.com``, ``marie.dupont@orange.fr``) have belonged to real people for twenty years, and
a confirmed one would route canary mail to a stranger. The generator shapes its proposals with
``canary.generate.mail_shapes`` (the host's shapes by age, digit-free only for a rare name pair);
``provider_local_part`` below, which always puts digits people put there themselves (birth year,
its last two digits, department, day and month) and an initial only with a four-digit number, is
what ``choose_email`` uses without a shaper.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping
from typing import Any

MIN_COUNT = 10  # the profile's suppression threshold (canary.generate.profile.MIN_COUNT)
# Age groups of the provider mix (a child's record carries a parent's mailbox).
PROVIDER_AGES = ((0, 14), (15, 29), (30, 44), (45, 59), (60, 74), (75, 200))

# National mix of personal mailboxes by age group, in % (rounded estimates in line with the
# Médiamétrie / Arcep "Baromètre du numérique" usage figures: ISP mailboxes for the old, gmail,
# hotmail/outlook and icloud for the young). Providers the operator does not list are left out.
NATIONAL_BY_AGE: Mapping[str, Mapping[str, float]] = {
    "0-14": {"gmail.com": 42, "orange.fr": 10, "hotmail.fr": 10, "outlook.fr": 6, "free.fr": 6, "sfr.fr": 4,
             "yahoo.fr": 4, "laposte.net": 3, "icloud.com": 5, "live.fr": 3, "hotmail.com": 3, "wanadoo.fr": 1,
             "outlook.com": 2, "bbox.fr": 1},
    "15-29": {"gmail.com": 60, "hotmail.fr": 8, "outlook.fr": 8, "icloud.com": 8, "orange.fr": 3, "yahoo.fr": 2,
              "free.fr": 2, "sfr.fr": 1, "laposte.net": 2, "live.fr": 2, "hotmail.com": 2, "outlook.com": 2},
    "30-44": {"gmail.com": 44, "hotmail.fr": 11, "outlook.fr": 6, "orange.fr": 10, "free.fr": 7, "sfr.fr": 5,
              "yahoo.fr": 5, "laposte.net": 3, "icloud.com": 3, "live.fr": 3, "hotmail.com": 3, "wanadoo.fr": 1,
              "outlook.com": 1, "bbox.fr": 1},
    "45-59": {"gmail.com": 30, "orange.fr": 18, "hotmail.fr": 10, "free.fr": 10, "sfr.fr": 7, "yahoo.fr": 7,
              "laposte.net": 5, "wanadoo.fr": 4, "outlook.fr": 3, "live.fr": 2, "neuf.fr": 1, "aol.com": 1,
              "hotmail.com": 2},
    "60-74": {"orange.fr": 25, "gmail.com": 19, "free.fr": 11, "wanadoo.fr": 10, "sfr.fr": 8, "laposte.net": 8,
              "yahoo.fr": 6, "hotmail.fr": 6, "neuf.fr": 2, "aol.com": 2, "outlook.fr": 2, "club-internet.fr": 1},
    "75-200": {"orange.fr": 30, "wanadoo.fr": 18, "laposte.net": 11, "free.fr": 10, "sfr.fr": 9, "gmail.com": 10,
               "yahoo.fr": 5, "hotmail.fr": 4, "neuf.fr": 2, "aol.com": 1},
}
_UNLISTED_SHARE = 0.5  # % for a provider the national table does not name (a small provider)


def age_group(age: int) -> str:
    low, high = next(g for g in PROVIDER_AGES if g[0] <= age <= g[1])
    return f"{low}-{high}"


class ProviderAges:
    """Accumulates (age group, provider) counts while a profile reads an export (no address kept)."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()

    def add(self, age: int | None, email: str | None) -> None:
        if age is None or not email or "@" not in email:
            return
        self.counts[(age_group(age), email.rsplit("@", 1)[1].strip().lower())] += 1

    def summary(self) -> dict[str, Any] | None:
        """``{group: {"counts": {provider: n >= MIN_COUNT}, "other": rest}}``; None without e-mails."""
        if not self.counts:
            return None
        out: dict[str, Any] = {}
        for group in sorted({g for g, _ in self.counts}):
            mine = Counter({p: n for (g, p), n in self.counts.items() if g == group})
            kept = {p: n for p, n in mine.most_common() if n >= MIN_COUNT}
            out[group] = {"counts": kept, "other": sum(mine.values()) - sum(kept.values())}
        return out


def provider_weights(providers: tuple[str, ...], age: int,
                     host: Mapping[str, Any] | None = None) -> list[float]:
    """Weights of the operator's ``providers`` for a patient of ``age``: the host's mix of that age
    group where the profile published it, else the national mix of the age group.

    A provider the host's group does not publish had fewer than ``MIN_COUNT`` patients: it keeps the
    national share of the group's size, at most ``MIN_COUNT - 1``, and all of them together no more
    than the group's suppressed rest (``other``)."""
    group = age_group(age)
    national = NATIONAL_BY_AGE[group]
    published = (host or {}).get(group) or {}
    counts: Mapping[str, int] = published.get("counts") or {}
    if any(p in counts for p in providers):
        other = float(published.get("other") or 0)
        size = sum(counts.values()) + other
        unpublished = {p: min(MIN_COUNT - 1.0, size * national.get(p, _UNLISTED_SHARE) / 100)
                       for p in providers if p not in counts}
        scale = min(1.0, other / sum(unpublished.values())) if unpublished and sum(unpublished.values()) else 1.0
        return [float(counts[p]) if p in counts else unpublished[p] * scale for p in providers]
    return [national.get(p, _UNLISTED_SHARE) for p in providers]


def provider_local_part(rng: random.Random, first: str, family: str, year: int, department: str,
                        attempt: int) -> str:
    """A mailbox name at a consumer provider that a real person could have picked and that is likely
    still free: the full name (or an initial with a four-digit number) plus digits of the person's
    own, separators as people use them. Later attempts add a second number."""
    yy = f"{year % 100:02d}"
    day_month = f"{rng.randint(1, 28):02d}{rng.randint(1, 12):02d}"
    dept = department if department.isdigit() else yy
    numbers = (str(year), yy, dept, day_month, f"{yy}{dept}" if dept != yy else str(year))
    number = numbers[int(rng.random() * len(numbers))]
    shape = rng.random()
    if shape < 0.34:
        local = f"{first}.{family}{number}"
    elif shape < 0.50:
        local = f"{first}{family}{number}"
    elif shape < 0.60:
        local = f"{family}.{first}{number}"
    elif shape < 0.70:
        local = f"{first}.{family}.{number}"
    elif shape < 0.78:
        local = f"{first}_{family}{number}"
    elif shape < 0.84:
        local = f"{first}-{family}{number}"
    elif shape < 0.92:
        # An initial is common only with a longer number: jdupont1962, j.dupont0412.
        long_number = number if len(number) >= 4 else str(year)
        local = f"{first[0]}{'.' if rng.random() < 0.4 else ''}{family}{long_number}"
    else:
        local = f"{family}{first}{number}"
    if attempt >= 3:
        local += str(rng.randint(1, 99))
    return local.strip(".-_")


def is_bare_shape(local: str) -> bool:
    """A provider mailbox name without any digit: surely someone's already."""
    return not any(ch.isdigit() for ch in local)
