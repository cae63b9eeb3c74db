"""Who signs a planted document, where it is dated, and what a child's document says instead of an adult's.

A hospital letter is dated where the hospital is ("Vienne, le ...", not the patient's town), signed by the
site's practitioners (the same few names on every letter of a site, different from one installation to the
next; "Pr" only where the establishment is a university hospital), and a child is "Enfant", with the weight
a paediatric prescription carries.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

from canary.plant.identity import age_on, is_child

# Common first names of practitioners aged 30-60 and frequent French surnames (INSEE): the pool a site's
# signers are drawn from when the operator configures none.
_FIRST = ("Claire", "Thomas", "Hélène", "Julien", "Sophie", "Antoine", "Camille", "Nicolas", "Aurélie", "Mathieu",
          "Émilie", "Guillaume", "Céline", "Sébastien", "Marion", "Romain", "Caroline", "Vincent", "Laure", "Maxime",
          "Élodie", "Olivier", "Anne", "Benoît", "Delphine", "Pierre", "Virginie", "François", "Julie", "Arnaud")
_LAST = ("MARTIN", "BERNARD", "DUBOIS", "THOMAS", "ROBERT", "RICHARD", "PETIT", "DURAND", "LEROY", "MOREAU",
         "SIMON", "LAURENT", "LEFEBVRE", "MICHEL", "GARCIA", "DAVID", "BERTRAND", "ROUX", "VINCENT", "FOURNIER",
         "MOREL", "GIRARD", "ANDRE", "MERCIER", "DUPONT", "LAMBERT", "BONNET", "FRANCOIS", "MARTINEZ", "LEGRAND",
         "GARNIER", "FAURE", "ROUSSEAU", "BLANC", "GUERIN", "MULLER", "HENRY", "ROUSSEL", "NICOLAS", "PERRIN")
# Words by which an establishment's name says it is a university hospital (the only place a "Pr" signs).
_UNIVERSITY = ("chu ", "chru", "universitaire", "ap-hp", "hospices civils", "ap-hm", "assistance publique")
SIGNERS_PER_SITE = 4
# Median weight (kg) by completed year of age, 0-14 (French growth charts, both sexes averaged).
_MEDIAN_WEIGHT = (7, 10, 12, 14, 16, 18, 20, 23, 25, 28, 32, 35, 40, 45, 50)


def _seed(*parts: str) -> int:
    return int(hashlib.sha256("|".join(parts).encode()).hexdigest(), 16)


def is_university(establishment: str) -> bool:
    name = f"{establishment.lower()} "
    return any(word in name for word in _UNIVERSITY)


def site_signers(system: Mapping[str, Any], configured: list[str]) -> list[str]:
    """The site's signers: the operator's list (``tripwire.document_signers``), else a few names drawn for this
    establishment (stable for it, different for another), "Pr" for one of them at a university hospital."""
    if configured:
        return configured
    establishment = str(system.get("establishment") or "")
    site = f"{establishment}|{system.get('finess') or ''}|{system.get('name') or ''}"
    seed = _seed(site)
    signers = []
    for index in range(SIGNERS_PER_SITE):
        pick = _seed(site, str(index))
        title = "Pr" if index == seed % SIGNERS_PER_SITE and is_university(establishment) else "Dr"
        signers.append(f"{title} {_FIRST[pick % len(_FIRST)]} {_LAST[(pick >> 16) % len(_LAST)]}")
    return signers


def signer_for(canary_id: str, signers: list[str]) -> str:
    return signers[_seed(canary_id) % len(signers)]


@functools.lru_cache(maxsize=64)
def commune_name(code: str, seeds_dir: str | None = None) -> str | None:
    """The commune's name from the shipped commune table (read until the code is found)."""
    if not code:
        return None
    from canary.generate.admin import default_seeds_dir

    path = Path(seeds_dir or default_seeds_dir()) / "places" / "communes.tsv.gz"
    try:
        with gzip.open(path, "rt", encoding="utf-8") as rows:
            header = next(rows).rstrip("\n").split("\t")
            code_at, name_at = header.index("code"), header.index("name")
            for line in rows:
                cells = line.rstrip("\n").split("\t")
                if cells[code_at] == code:
                    return cells[name_at]
    except (OSError, ValueError, StopIteration):
        return None
    return None


def dated_at(system: Mapping[str, Any], today: date) -> str:
    """Where and when the letter is dated: the site's commune, else the date alone."""
    place = commune_name(str(system.get("site_commune") or ""))
    return f"{place}, le {today:%d/%m/%Y}" if place else f"Le {today:%d/%m/%Y}"


def child_weight(record: Mapping[str, Any], today: date) -> int | None:
    """A plausible weight for a child (around the median for the age), None for an adult."""
    if not is_child(record, today):
        return None
    age = age_on(record, today) or 0
    median = _MEDIAN_WEIGHT[min(max(age, 0), len(_MEDIAN_WEIGHT) - 1)]
    spread = max(1, median // 8)
    return median - spread + _seed(str(record.get("ipp")), "weight") % (2 * spread + 1)
