"""Stealth and coverage planner: what a thief holding one establishment's whole dump could do with
group filters, and how many canaries the pools can carry before one of them works.

For each filter, the thief's advantage is the share of canaries it flags minus the share of real
patients it flags (absolute: he can keep either side). Real patients are the host profile when
there is one, else the catchment model and national figures. Block crowding and mail domains are
counted on the canaries' records in the registry, whatever generated them.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from canary.generate.admin import department_of
from canary.generate.catchment import Catchment
from canary.generate.contacts import phone_category
from canary.generate.profile import HostProfile
from canary.normalize import phone_key

Records = Sequence[Mapping[str, Any]]  # canary records as planned (read only)

THRESHOLD = 0.05  # an advantage above this is a usable filter
# Subscribers per number block, per patient of the establishment: ~70 M mobile lines over ~20,000
# blocks of 10,000 in 06/07 for 68 M people (ARCEP), i.e. ~34 patients of a 750,000-patient
# establishment in any one 10,000-block; a tenth of that per 1,000-block.
LINES_PER_PATIENT_10K = 34 / 750_000
# A block holding more than the Poisson quantile at this level of its expected count is odd.
CROWDING_LEVEL = 0.999
# E-mail: about 10 % of real addresses are outside the big providers, spread over ~5,000 domains
# in one establishment's patients (hospital exports; mostly employers, ISPs, family domains).
SMALL_DOMAIN_SHARE = 0.10
SMALL_DOMAINS = 5_000
BIG_PROVIDERS = frozenset((
    "gmail.com", "hotmail.fr", "hotmail.com", "yahoo.fr", "yahoo.com", "orange.fr", "wanadoo.fr", "free.fr",
    "sfr.fr", "neuf.fr", "laposte.net", "outlook.fr", "outlook.com", "live.fr", "msn.com", "icloud.com",
    "me.com", "aol.com", "bbox.fr", "gmx.fr", "protonmail.com", "proton.me", "numericable.fr", "club-internet.fr",
))
# Without a host profile: national figures for hospital patients (rounded; CREDOC / ATIH).
DEFAULT_NO_PHONE = 0.05
DEFAULT_NO_EMAIL = 0.45
DEFAULT_OUTSIDE_IF_UNKNOWN = 0.2
# Splits the thief can try on the age/sex pyramid: (label, sex or None for both, youngest, oldest).
_AGE_SEX_FILTERS = (("women", "F", 0, 200), ("men", "M", 0, 200), ("under 18", None, 0, 17),
                    ("18-39", None, 18, 39), ("65 and over", None, 65, 200), ("80 and over", None, 80, 200))


@dataclass
class Filter:
    name: str
    canaries_flagged: float | None
    patients_flagged: float | None
    advantage: float | None
    budget: int | None  # canaries the pools can carry before this filter passes THRESHOLD (None: no limit)
    note: str
    # Two standard deviations of the canaries' share from sampling alone: a smaller gap is noise
    # the thief cannot tell from chance either.
    noise: float = 0.0
    exceeds: bool = False


def poisson_quantile(mean: float, level: float = CROWDING_LEVEL) -> int:
    """Smallest k with P(X <= k) >= level for X ~ Poisson(mean)."""
    if mean > 200:  # normal approximation, plenty for a bound
        return int(mean + 3.1 * math.sqrt(mean)) + 1
    term = cumulative = math.exp(-mean)
    k = 0
    while cumulative < level:
        k += 1
        term *= mean / k
        cumulative += term
    return k


def sample_chance(canaries: int, patients: int, sample: int) -> float:
    """Chance that a published sample of ``sample`` records holds at least one canary."""
    if patients <= 0 or canaries <= 0:
        return 0.0
    return 1 - (1 - min(1.0, canaries / patients)) ** sample


def _age(record: Mapping[str, Any], today: date) -> int:
    try:
        born = date.fromisoformat(str(record.get("birth_date")))
    except ValueError:
        return -1
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def plan(records: Records, *, patients: int, sample: int, today: date,
         catchment: Catchment | None = None, profile: HostProfile | None = None,
         pool_phones: Iterable[str] = (), pool_domains: Iterable[str] = ()) -> dict[str, Any]:
    """The planner's report (JSON-ready): per filter, the advantage and the budget."""
    pool_phones = tuple(pool_phones)
    pool_domains = tuple(pool_domains)
    filters = [
        _catchment(records, catchment, profile),
        _blocks(records, patients, pool_phones, profile),
        _mail_domains(records, patients, pool_domains, profile),
        *_missing(records, profile),
        _ipp(records, profile),
        _age_sex(records, profile, today),
    ]
    budgets = [f.budget for f in filters if f.budget is not None]
    return {
        "patients": patients,
        "canaries": len(records),
        "sample": sample,
        "sample_chance": round(sample_chance(len(records), patients, sample), 4),
        "threshold": THRESHOLD,
        "stealth_budget": min(budgets) if budgets else None,
        "filters": [asdict(f) for f in filters],
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _filter(name: str, canaries: float | None, patients: float | None, note: str,
            budget: int | None = None, count: int = 0, *, noisy: bool = True) -> Filter:
    advantage = None if canaries is None or patients is None else abs(canaries - patients)
    noise = 0.0
    if noisy and patients is not None and count:
        noise = 2 * math.sqrt(patients * (1 - patients) / count)
    exceeds = advantage is not None and advantage > max(THRESHOLD, noise)
    return Filter(name, _round(canaries), _round(patients), _round(advantage), budget, note, round(noise, 4), exceeds)


def _catchment(records: Records, catchment: Catchment | None, profile: HostProfile | None) -> Filter:
    name = "catchment"
    if catchment is None:
        return _filter(name, None, None, "the establishment has no place (no --commune, no FINESS): canaries "
                       "follow the national mix; set one with 'canary system edit'")
    department = catchment.site.department
    homes = [department_of((r.get("address") or {}).get("commune_code") or "") for r in records]
    outside = sum(h != department for h in homes) / len(homes) if homes else None
    host = _profile_outside(profile, department) if profile else None
    source = "host profile" if host is not None else "catchment model"
    if host is None:
        host = 1 - catchment.department_share()
    return _filter(name, outside, host, f"address outside department {department} ({source} for patients)",
                   count=len(records))


def _profile_outside(profile: HostProfile, department: str) -> float | None:
    part = (profile.data.get("geography") or {}).get("department")
    if not part:
        return None
    total = sum(part["counts"].values()) + part["other"]
    return 1 - part["counts"].get(department, 0) / total if total else None


def _density_capacity(pool: tuple[str, ...], patients: int, profile: HostProfile | None) -> tuple[int, float]:
    """The pool's blocks of 10,000 and the canaries one carries at the host's block density."""
    from canary.generate.crowding import ContactBudget, pool_tens
    from canary.generate.pools import Pools

    budget = ContactBudget.for_system(patients, pool, (), (), profile_data=profile.data if profile else None)
    return pool_tens(budget, Pools(phones=pool))


def _blocks(records: Records, patients: int, pool: tuple[str, ...], profile: HostProfile | None) -> Filter:
    """Canaries in a 10,000- or 1,000-number block holding more than a real population would."""
    mean10 = patients * LINES_PER_PATIENT_10K
    mean1 = mean10 / 10
    # The thief sees real subscribers plus canaries: what a block may take on top of its usual count.
    allowed10 = max(0, poisson_quantile(mean10) - int(mean10))
    allowed1 = max(0, poisson_quantile(mean1) - int(mean1))
    keys = [k for r in records for k in (phone_key(p) for p in r.get("phones") or []) if k]
    per10 = Counter(k[:5] for k in keys)
    per1 = Counter(k[:6] for k in keys)
    crowded10 = {b for b, n in per10.items() if n > allowed10}
    crowded1 = {b for b, n in per1.items() if n > allowed1}
    flagged = sum(1 for r in records if any(
        (k := phone_key(p)) and (k[:5] in crowded10 or k[:6] in crowded1) for p in r.get("phones") or []))
    canaries = flagged / len(records) if records else 0.0
    real = (len(crowded10) * mean10 + len(crowded1 - {b for b in crowded1 if b[:5] in crowded10}) * mean1)
    # Capacity: each pool block takes what its 1,000-sub-blocks allow, at most what the 10,000-block allows.
    subs: dict[str, Counter[str]] = {}
    for number in pool:
        key = phone_key(number)
        if key and phone_category(number):
            subs.setdefault(key[:5], Counter())[key[:6]] += 1
    capacity = sum(min(allowed10, sum(min(allowed1, n) for n in sub.values())) for sub in subs.values())
    # At the host's block density (block_density), a pool block carries its target group size only.
    tens, per_block = _density_capacity(pool, patients, profile)
    if tens:
        capacity = min(capacity, int(tens * per_block))
    with_phone = sum(1 for r in records if r.get("phones")) / len(records) if records else 0.95
    budget = int(capacity / max(with_phone, 0.05))
    note = (f"at most {allowed10} canaries per 10,000-block and {allowed1} per 1,000-block for {patients:,} "
            f"patients; the pool spans {len(subs)} blocks of 10,000")
    if tens and per_block > 0:
        wanted = sum(1 for r in records if r.get("phones")) or len(records)
        note += (f", about {per_block:.1f} canaries each at the host's block density: "
                 f"{wanted:,} canaries with a phone need about {math.ceil(wanted / per_block):,}")
    return _filter("block crowding", canaries, real / patients if patients else 0.0, note, budget, noisy=False)


def _mail_domains(records: Records, patients: int, owned: tuple[str, ...], profile: HostProfile | None) -> Filter:
    """Canary e-mails on a domain no big provider runs, with more canaries than a small real domain has."""
    published = ((profile.data.get("contact") or {}).get("email") or {}).get("all") if profile else None
    email_share = published or (1 - DEFAULT_NO_EMAIL)
    mean = patients * email_share * SMALL_DOMAIN_SHARE / SMALL_DOMAINS
    allowed = max(1, poisson_quantile(mean) - int(mean))
    domains = [str(r["email"]).rsplit("@", 1)[-1].lower() for r in records if r.get("email")]
    per = Counter(d for d in domains if d not in BIG_PROVIDERS)
    crowded = {d for d, n in per.items() if n > allowed}
    flagged = sum(per[d] for d in crowded)
    canaries = flagged / len(records) if records else 0.0
    real = len(crowded) * mean / patients if patients else 0.0
    owned_small = [d for d in owned if d.lower() not in BIG_PROVIDERS]
    with_email = len(domains) / len(records) if records else email_share
    providers = [d for d in owned if d.lower() in BIG_PROVIDERS]
    budget = None if providers else int(len(owned_small) * allowed / max(with_email, 0.05))
    note = f"at most {allowed} canaries per small domain for {patients:,} patients; {len(per)} such domains in use"
    return _filter("mail domains", canaries, real, note, budget, noisy=False)


def _missing(records: Records, profile: HostProfile | None) -> list[Filter]:
    n = len(records) or 1
    no_phone = sum(1 for r in records if not r.get("phones")) / n
    no_email = sum(1 for r in records if not r.get("email")) / n
    host_phone = host_email = None
    source = "national figures"
    if profile:
        phone = (profile.data.get("contact") or {}).get("phone", {}).get("all")
        email = (profile.data.get("contact") or {}).get("email", {}).get("all")
        host_phone = None if phone is None else 1 - phone
        host_email = None if email is None else 1 - email
        source = "host profile"
    return [
        _filter("missing phone", no_phone, DEFAULT_NO_PHONE if host_phone is None else host_phone,
                f"no phone at all ({source if host_phone is not None else 'national figures'})", count=len(records)),
        _filter("missing e-mail", no_email, DEFAULT_NO_EMAIL if host_email is None else host_email,
                f"no e-mail ({source if host_email is not None else 'national figures'})", count=len(records)),
    ]


def _ipp(records: Records, profile: HostProfile | None) -> Filter:
    name = "IPP range"
    if profile is None or profile.data.get("ipp") is None:
        return _filter(name, None, None, "no host profile with IPPs: the host's format is unknown "
                       "(build one with 'canary profile build')")
    outside = sum(1 for r in records if not profile.ipp_in_range(str(r.get("ipp") or ""))) / (len(records) or 1)
    ipp = profile.data["ipp"]
    return _filter(name, outside, 0.01, f"outside {ipp['length']} characters, prefix {ipp['prefix']!r}, "
                   f"live range {ipp['low']}-{ipp['high']} (1 % of patients sit outside the percentiles)",
                   count=len(records))


def _age_sex(records: Records, profile: HostProfile | None, today: date) -> Filter:
    name = "age/sex"
    if profile is None or profile.ages is None:
        return _filter(name, None, None, "no host profile: the host's pyramid is unknown")
    cells = [(cell, profile.ages.share(i)) for i, cell in enumerate(profile.ages.items)]
    ages = [(r.get("sex"), _age(r, today)) for r in records]
    best: tuple[float, str, float, float] = (-1.0, "", 0.0, 0.0)
    for label, sex, youngest, oldest in _AGE_SEX_FILTERS:
        # The part of each pyramid band inside the split (bands are whole years, low..high).
        host = sum(share * max(0, min(high, oldest) - max(low, youngest) + 1) / (high - low + 1)
                   for (cell_sex, low, high), share in cells if sex in (None, cell_sex))
        canaries = sum(1 for s, a in ages if sex in (None, s) and youngest <= a <= oldest) / (len(ages) or 1)
        if abs(canaries - host) > best[0]:
            best = (abs(canaries - host), label, canaries, host)
    return _filter(name, best[2], best[3], f"best split: {best[1]}", count=len(records))
