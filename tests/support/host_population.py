"""A synthetic establishment whose patients follow a known catchment, missingness, status mix and
IPP range, exported as Mediboard would (imported by name; bench/realism.py uses it too)."""

from __future__ import annotations

import csv
import random
import string
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from canary.generate.catchment import Catchment, Geography, Site
from canary.generate.reference import Commune, Reference

TODAY = date(2026, 11, 28)
SITE = "69383"  # Lyon 3e
IPP_LOW, IPP_HIGH = 40_100_000, 40_850_000  # 8 digits, one live range
NO_PHONE, MOBILE, LANDLINE, EMAIL = 0.06, 0.86, 0.30, 0.55
STATUSES = (("VALI", 60), ("QUAL", 25), ("PROV", 10), ("RECUP", 5))
BIG = ("gmail.com", "orange.fr", "free.fr", "hotmail.fr", "laposte.net", "sfr.fr", "yahoo.fr", "wanadoo.fr")
# E-mail providers by age of the host's patients (oldest group first), drawn from a stream of their own
# so the rest of the export stays as it was: ISP mailboxes for the old, gmail/hotmail/icloud for the young.
PROVIDERS_BY_AGE = (
    (75, {"orange.fr": 34, "wanadoo.fr": 16, "free.fr": 12, "laposte.net": 12, "sfr.fr": 10, "gmail.com": 8,
          "yahoo.fr": 4, "hotmail.fr": 4}),
    (60, {"orange.fr": 28, "gmail.com": 18, "free.fr": 13, "wanadoo.fr": 9, "sfr.fr": 9, "laposte.net": 9,
          "yahoo.fr": 7, "hotmail.fr": 7}),
    (45, {"gmail.com": 32, "orange.fr": 19, "free.fr": 12, "hotmail.fr": 11, "sfr.fr": 8, "yahoo.fr": 7,
          "laposte.net": 6, "wanadoo.fr": 5}),
    (30, {"gmail.com": 47, "hotmail.fr": 13, "orange.fr": 10, "free.fr": 9, "sfr.fr": 6, "yahoo.fr": 5,
          "outlook.fr": 6, "icloud.com": 4}),
    (15, {"gmail.com": 63, "hotmail.fr": 9, "outlook.fr": 10, "icloud.com": 9, "orange.fr": 3, "free.fr": 3,
          "yahoo.fr": 2, "sfr.fr": 1}),
    (0, {"gmail.com": 45, "hotmail.fr": 12, "orange.fr": 11, "free.fr": 9, "outlook.fr": 7, "sfr.fr": 6,
         "icloud.com": 5, "yahoo.fr": 5}),
)
COLUMNS = ["nom", "prenom", "naissance", "sexe", "adresse", "cp", "ville", "tel", "tel2", "email", "ipp", "status",
           "matricule", "medecin_traitant"]
# timed=True: IPPs handed out in time order over YEARS years (a maternity's newborns among them) and
# Mediboard's birth-place columns, born in the home department / nearby / elsewhere / abroad by age.
BIRTH_COLUMNS = ["lieu_naissance", "cp_naissance", "commune_naissance_insee", "pays_naissance_insee"]
YEARS = 20
NEWBORNS = 0.06  # share of new patients who are the maternity's newborns
# (youngest, oldest, born in the home department, nearby, abroad); the rest elsewhere in France.
BIRTH_TRUTH = ((0, 14, 0.85, 0.08, 0.02), (15, 59, 0.66, 0.12, 0.10), (60, 200, 0.60, 0.12, 0.12))
ABROAD = (("99350", "504", "MAROC"), ("99352", "012", "ALGERIE"), ("99139", "620", "PORTUGAL"),
          ("99127", "380", "ITALIE"))


@dataclass(frozen=True)
class HostTruth:
    """What the synthetic host is made of, for the tests to compare against."""

    patients: int
    outside_department: float
    women: float
    born_in_site_department: float = 0.0  # timed exports only
    arrivals: tuple[date, ...] = ()  # timed exports with their rows kept: when each row's IPP was handed out


def _word(rng: random.Random, length: int) -> str:
    return "".join(rng.choice(string.ascii_uppercase) for _ in range(length))


def ipp_high(count: int) -> int:
    """End of the live range: dense (80 %) for a big establishment, as a real sequence is."""
    return max(IPP_HIGH, IPP_LOW + int(count * 1.25))


def _ipps(rng: random.Random, count: int) -> list[int]:
    # A sequence with gaps; never a round thousand (the profile's rounded range ends are such numbers).
    drawn = rng.sample(range(IPP_LOW, ipp_high(count)), count + count // 500 + 10)
    return [n for n in drawn if n % 1000][:count]


def write_host_export(path: Path, reference: Reference, count: int, seed: int = 3,
                      geography: Geography | None = None,
                      keep_rows: bool = True, timed: bool = False) -> tuple[list[dict[str, str]], HostTruth]:
    """Write a Mediboard-style CSV of ``count`` patients (streamed); return its rows (if kept) and the truth.
    ``timed``: IPPs in time order and birth places (drawn from a second stream: the rest is unchanged)."""
    rng = random.Random(seed)
    timing = random.Random(seed + 7_919)
    mail_rng = random.Random(seed * 7919 + 1)  # providers by age: a stream apart, the rest unchanged
    geography = geography or Geography.load(reference.communes, reference.seeds_dir)
    catchment = Catchment.around(reference.communes, geography, Site(reference.communes[SITE], "commune"))
    ipps = _ipps(rng, count)
    if timed:
        ipps.sort()
    start = arrived = TODAY - timedelta(days=365 * YEARS)
    homes = {(c.postcodes[0], c.city): c for c in reference.communes.values()}
    rows = []
    arrivals = []
    outside = women = born_here = 0
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS + (BIRTH_COLUMNS if timed else []), delimiter=";")
        writer.writeheader()
        for i in range(count):
            row, home_outside, woman = _patient(rng, catchment, ipps[i], i, mail_rng)
            if timed:  # the i-th number is handed out at the i-th time, evenly over the years
                arrived = start + timedelta(days=(i + timing.random()) * 365 * YEARS / count)
                born_here += _time_and_birth_place(timing, reference, geography, row, arrived, homes)
            outside += home_outside
            women += woman
            writer.writerow(row)
            if keep_rows:
                rows.append(row)
                arrivals += [arrived] if timed else []
    return rows, HostTruth(count, outside / count, women / count, born_here / count, tuple(arrivals))


def _time_and_birth_place(rng: random.Random, reference: Reference, geography: Geography, row: dict[str, str],
                          arrived: date, homes: dict[tuple[str, str], Commune]) -> bool:
    """Birth date before the arrival (a newborn: days before), birth place by age; True if born in SITE's
    department."""
    if rng.random() < NEWBORNS:
        born = arrived - timedelta(days=rng.randint(0, 4))
    else:  # the export's age, as it was at arrival (and nobody older than 100 today)
        age = min(TODAY.year - int(row["naissance"][:4]), 100 - (TODAY - arrived).days // 365)
        born = arrived - timedelta(days=365 * max(0, age) + rng.randint(0, 330))
    row["naissance"] = born.isoformat()
    age_now = (TODAY - born).days // 365
    _, _, local, nearby, abroad = next(t for t in BIRTH_TRUTH if t[0] <= age_now <= t[1])
    home = homes[(row["cp"], row["ville"])]
    roll = rng.random()
    if roll < abroad and age_now >= 3:
        code, numeric, name = rng.choice(ABROAD)
        row.update(lieu_naissance=name, cp_naissance="", commune_naissance_insee=code, pays_naissance_insee=numeric)
        return False
    era = reference.birth_era(born.year)
    if roll < abroad + local:
        department: str | None = home.department
    elif roll < abroad + local + nearby:
        department = geography.nearby[home.department].pick(rng)
    else:
        department = None
    place = reference.birth_places[(era, department)].pick(rng)
    row.update(lieu_naissance=place.name.upper(), cp_naissance=place.postcodes[0],
               commune_naissance_insee=place.code, pays_naissance_insee="250")
    return place.department == SITE[:2]


def provider_for_age(rng: random.Random, age: int) -> str:
    weights = next(table for youngest, table in PROVIDERS_BY_AGE if age >= youngest)
    return rng.choices(list(weights), list(weights.values()))[0]


def _patient(rng: random.Random, catchment: Catchment, ipp: int, i: int,
             mail_rng: random.Random | None = None) -> tuple[dict[str, str], bool, bool]:
    home = catchment.pick(rng)
    # A maternity-heavy clinic: many women of 25-39, few children.
    if rng.random() < 0.35:
        sex, age = "f", rng.randint(25, 39)
    else:
        sex, age = rng.choice("mf"), rng.randint(1, 95)
    born = TODAY - timedelta(days=365 * age + rng.randint(30, 330))
    phones = ["", ""]
    if rng.random() >= NO_PHONE:
        if rng.random() < MOBILE / (1 - NO_PHONE):
            phones[1] = f"0{rng.choice('67')}{rng.randint(10_000_000, 99_999_999)}"
        if rng.random() < LANDLINE or not phones[1]:
            phones[0] = f"04{rng.randint(10_000_000, 99_999_999)}"
    email = ""
    if rng.random() < EMAIL:
        domain = rng.choice(BIG) if rng.random() < 0.9 else f"{_word(rng, 9).lower()}.fr"
        if mail_rng is not None and domain in BIG:
            domain = provider_for_age(mail_rng, age)
        email = f"{_word(rng, 7).lower()}.{_word(rng, 8).lower()}{i}@{domain}"
    row = {
        "nom": _word(rng, 10), "prenom": _word(rng, 8).capitalize(), "naissance": born.isoformat(),
        "sexe": sex, "adresse": f"{rng.randint(1, 99)} rue {_word(rng, 9).capitalize()}",
        "cp": home.postcodes[0], "ville": home.city, "tel": phones[0], "tel2": phones[1], "email": email,
        "ipp": str(ipp), "status": rng.choices([s for s, _ in STATUSES], [w for _, w in STATUSES])[0],
        "matricule": "",
        # 7 records in 10 name a treating physician (a deterministic pattern: the random stream stays as it was).
        "medecin_traitant": f"10{(i * 7919) % 10**9:09d}" if (i * 37) % 10 < 7 else "",
    }
    return row, home.department != "69", sex == "f"
