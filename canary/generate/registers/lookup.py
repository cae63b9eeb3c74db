"""The loaded registers as the generator and the linter see them: a real address point of a commune,
a real physician practising near it, and whether an existing canary still matches.

Nothing here is global: a `Registers` holds its own connection to the side file and its own caches,
and is used by one generator (one thread) at a time.
"""

from __future__ import annotations

import math
import random
import sqlite3
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from canary.generate.registers.ban import address_line, split_line
from canary.generate.registers.rpps import GENERAL_PRACTICE
from canary.generate.registers.store import department_of, open_registers
from canary.normalize import fold
from canary.store import shapes
from canary.weighted import WeightedTable

NEAR_KM = 15.0  # a patient's own doctor practises in the same town or one within about a quarter of an hour
DECAY_KM = 4.0  # beyond this, each extra kilometre makes a practice markedly less likely
NEAREST_FALLBACK = 3  # no practice within NEAR_KM: the few nearest practising communes


@dataclass(frozen=True, slots=True)
class Commune:
    code: str
    name: str
    points: int
    lon: float
    lat: float


@dataclass(frozen=True, slots=True)
class Physician:
    rpps: str
    family_name: str
    first_name: str
    city: str
    specialty: str

    def as_gp(self) -> shapes.Physician:
        return {"rpps": self.rpps, "family_name": self.family_name, "first_name": self.first_name,
                "city": self.city, "specialty": self.specialty}


def distance_km(a: Commune, b: Commune) -> float:
    """Equirectangular distance: exact enough at the scale of a department."""
    dx = (b.lon - a.lon) * math.cos(math.radians((a.lat + b.lat) / 2)) * 111.32
    dy = (b.lat - a.lat) * 110.57
    return math.hypot(dx, dy)


@dataclass(eq=False)
class Registers:
    conn: sqlite3.Connection
    communes: dict[str, Commune]
    ban_departments: dict[str, str]  # department -> imported_at
    rpps_imported_at: str | None
    rpps_departments: frozenset[str]
    # specialty -> commune code -> physicians practising there (allow-list applied)
    physicians: dict[str, dict[str, tuple[Physician, ...]]]
    _near: dict[tuple[str, str], WeightedTable[str] | None] = field(default_factory=dict, repr=False)
    _fallback: dict[str, frozenset[str]] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, path: str | Path, *, gp_allowlist: Iterable[str] = ()) -> Registers | None:
        """The registers of a side file, or ``None`` when nothing was ever imported."""
        conn = open_registers(path)
        if conn is None:
            return None
        ban = dict(conn.execute("SELECT department, imported_at FROM ban_imports").fetchall())
        rpps_row = conn.execute("SELECT imported_at, departments FROM rpps_imports").fetchone()
        if not ban and rpps_row is None:
            conn.close()
            return None
        communes = {code: Commune(code, name, points, lon, lat) for code, name, points, lon, lat
                    in conn.execute("SELECT code, name, points, lon, lat FROM ban_communes")}
        allowed = {n.strip() for n in gp_allowlist if n.strip()}
        grouped: dict[str, dict[str, list[Physician]]] = defaultdict(lambda: defaultdict(list))
        for rpps, code, family, first, specialty, city in conn.execute(
                "SELECT rpps, commune_code, family_name, first_name, specialty, city FROM rpps_physicians "
                "ORDER BY rpps, commune_code"):
            if not allowed or rpps in allowed:
                grouped[specialty][code].append(Physician(rpps, family, first, city, specialty))
        return cls(conn, communes, ban, rpps_row[0] if rpps_row else None,
                   frozenset(rpps_row[1].split(",")) if rpps_row and rpps_row[1] else frozenset(),
                   {s: {c: tuple(p) for c, p in by.items()} for s, by in grouped.items()})

    def close(self) -> None:
        self.conn.close()

    # -- generation --------------------------------------------------------------------------
    def address(self, rng: random.Random, commune_code: str) -> shapes.Address | None:
        """A real address point of the commune, uniformly among its points, or None if not loaded."""
        commune = self.communes.get(commune_code)
        if commune is None:
            return None
        number, rep, postcode, street, city = self.conn.execute(
            "SELECT p.number, p.rep, p.postcode, s.name, c.city FROM ban_points p "
            "JOIN ban_streets s ON s.id = p.street_id "
            "JOIN ban_postcodes c ON c.commune_code = p.commune_code AND c.postcode = p.postcode "
            "WHERE p.commune_code = ? AND p.seq = ?", [commune_code, rng.randrange(commune.points)]).fetchone()
        return {"line": address_line(number, rep, street), "postcode": postcode, "city": city,
                "commune_code": commune_code}

    def physician(self, rng: random.Random, commune_code: str, specialty: str) -> shapes.Physician | None:
        """A real physician practising near the commune, or None where the RPPS extract does not cover it.

        Same or nearby commune, each weighted by its number of practitioners and a distance decay. A
        specialist (a child's paediatrician) only where one practises within ``NEAR_KM``, else a GP: a
        family drives to the GP nearby, not 60 km to a paediatrician. Only GPs fall back to the few
        nearest practices when none is within ``NEAR_KM``."""
        if department_of(commune_code) not in self.rpps_departments:
            return None
        for wanted in dict.fromkeys((specialty, GENERAL_PRACTICE)):
            near = self._near_table(commune_code, wanted)
            if near is not None:
                return rng.choice(self.physicians[wanted][near.pick(rng)]).as_gp()
        return None

    def _near_table(self, commune_code: str, specialty: str) -> WeightedTable[str] | None:
        key = (commune_code, specialty)
        if key not in self._near:
            self._near[key] = self._build_near(commune_code, self.physicians.get(specialty, {}),
                                               fallback=specialty == GENERAL_PRACTICE)
        return self._near[key]

    def _build_near(self, commune_code: str, practising: dict[str, tuple[Physician, ...]], *,
                    fallback: bool) -> WeightedTable[str] | None:
        if not practising:
            return None
        home = self.communes.get(commune_code)
        if home is None:  # no coordinates: the town itself if it has practices, else its department
            if commune_code in practising:
                return WeightedTable([commune_code], [1.0])
            if not fallback:
                return None
            same = [c for c in practising if department_of(c) == department_of(commune_code)] or list(practising)
            return WeightedTable(same, [len(practising[c]) for c in same])
        # A cheap latitude band first: most practices of a department are far beyond NEAR_KM.
        band = NEAR_KM / 110.57
        placed = [(distance_km(home, self.communes[c]), c) for c in practising
                  if c in self.communes and abs(self.communes[c].lat - home.lat) <= band]
        near = [(d, c) for d, c in placed if d <= NEAR_KM]
        if not near and fallback:
            placed = [(distance_km(home, self.communes[c]), c) for c in practising if c in self.communes]
            near = sorted(placed)[:NEAREST_FALLBACK]
        if not near:
            return None
        return WeightedTable([c for _, c in near],
                             [len(practising[c]) / (1.0 + (d / DECAY_KM) ** 2) for d, c in near])

    # -- checks of existing canaries ---------------------------------------------------------
    def covers_address(self, commune_code: str) -> bool:
        return department_of(commune_code) in self.ban_departments

    def address_problem(self, address: dict[str, Any]) -> str | None:
        """Why an address is not a BAN point of a loaded department (None: it is, or BAN does not cover it)."""
        code = str(address.get("commune_code") or "")
        if not self.covers_address(code):
            return None
        loaded = self.ban_departments[department_of(code)][:10]
        if code not in self.communes:
            return f"commune {code} has no address point in the BAN loaded on {loaded}"
        line, postcode = str(address.get("line") or ""), str(address.get("postcode") or "")
        known_street = False
        for number, rep, street in split_line(line):
            rows = self.conn.execute(
                "SELECT p.postcode, c.city FROM ban_streets s JOIN ban_points p ON p.street_id = s.id "
                "JOIN ban_postcodes c ON c.commune_code = p.commune_code AND c.postcode = p.postcode "
                "WHERE s.commune_code = ? AND s.name = ? AND p.number = ? AND p.rep = ?",
                [code, street, number, rep]).fetchall()
            for point_postcode, city in rows:
                if point_postcode != postcode:
                    return f"{line!r} is in postcode {point_postcode} in the BAN, not {postcode}"
                if fold(city) != fold(str(address.get("city") or "")):
                    return f"{line!r}: the BAN delivery label is {city}, not {address.get('city')}"
                return None
            known_street = known_street or self.conn.execute(
                "SELECT 1 FROM ban_streets WHERE commune_code = ? AND name = ?", [code, street]).fetchone() is not None
        if known_street:
            return f"{line!r}: no such number in this street in the BAN loaded on {loaded}"
        return f"{line!r} is not a street of {self.communes[code].name} in the BAN loaded on {loaded}"

    def covers_physician(self, commune_code: str) -> bool:
        return department_of(commune_code) in self.rpps_departments

    def physician_problem(self, gp: dict[str, Any], commune_code: str) -> str | None:
        """Why a canary's GP is not a practising physician of the loaded extract (None: he or she is)."""
        rpps = str(gp.get("rpps") or "")
        if not rpps or not self.covers_physician(commune_code):
            return None
        loaded = (self.rpps_imported_at or "")[:10]
        rows = self.conn.execute("SELECT family_name, first_name FROM rpps_physicians WHERE rpps = ?",
                                 [rpps]).fetchall()
        if not rows:
            return f"RPPS {rpps} is not a practising GP or paediatrician of the extract loaded on {loaded}"
        written = (str(gp.get("family_name") or ""), str(gp.get("first_name") or ""))
        if written not in rows:
            return f"RPPS {rpps} is written {rows[0][0]} {rows[0][1]} in the directory, not {' '.join(written)}"
        return None

    def distance_problem(self, gp: dict[str, Any], commune_code: str) -> str | None:
        """Why a named physician is out of the patient's reach (None: within the rule, or not measurable).

        The rule of :meth:`physician`: a practice within ``NEAR_KM`` of the home commune; for a GP
        only, where no GP practises that near, one of the ``NEAREST_FALLBACK`` nearest practices."""
        rpps = str(gp.get("rpps") or "")
        home = self.communes.get(commune_code)
        if not rpps or home is None or not self.covers_physician(commune_code):
            return None
        rows = self.conn.execute("SELECT commune_code, specialty FROM rpps_physicians WHERE rpps = ?",
                                 [rpps]).fetchall()
        placed = sorted((distance_km(home, self.communes[code]), code, specialty) for code, specialty in rows
                        if code in self.communes)
        if not placed or placed[0][0] <= NEAR_KM:
            return None
        km, code, specialty = placed[0]
        if specialty == GENERAL_PRACTICE and code in self._fallback_communes(home):
            return None  # no GP within reach: one of the nearest is what a patient there has
        what = "paediatrician" if specialty != GENERAL_PRACTICE else "GP"
        return (f"RPPS {rpps} ({what}) practises {km:.0f} km from {home.name}, beyond the {NEAR_KM:.0f} km rule "
                + ("(a child far from every paediatrician sees a GP nearby)" if what == "paediatrician"
                   else "(GPs practise nearer)"))

    def _fallback_communes(self, home: Commune) -> frozenset[str]:
        """The communes of the nearest GP practices when none is within ``NEAR_KM`` (empty otherwise)."""
        if home.code not in self._fallback:
            placed = sorted((distance_km(home, self.communes[c]), c)
                            for c in self.physicians.get(GENERAL_PRACTICE, {}) if c in self.communes)
            far = bool(placed) and placed[0][0] > NEAR_KM
            self._fallback[home.code] = frozenset(c for _d, c in placed[:NEAREST_FALLBACK]) if far else frozenset()
        return self._fallback[home.code]


def coverage_notes(records: Iterable[dict[str, Any]], registers: Registers | None) -> list[str]:
    """What lint could not check: canaries whose address or GP no loaded register covers."""
    no_ban: dict[str, int] = defaultdict(int)
    no_rpps: dict[str, int] = defaultdict(int)
    for record in records:
        code = str((record.get("address") or {}).get("commune_code") or "")
        if not code:
            continue
        department = department_of(code)
        if registers is None or not registers.covers_address(code):
            no_ban[department] += 1
        if (record.get("gp") or {}).get("rpps") and (registers is None or not registers.covers_physician(code)):
            no_rpps[department] += 1
    notes = []
    if no_ban:
        notes.append(f"addresses of {sum(no_ban.values())} canaries are not verifiable: no BAN file loaded for "
                     f"department {_some(no_ban)} ('canary registers import ban FILE...')")
    if no_rpps:
        where = "no RPPS extract loaded" if registers is None or registers.rpps_imported_at is None \
            else f"the RPPS extract does not cover department {_some(no_rpps)}"
        notes.append(f"treating physicians of {sum(no_rpps.values())} canaries are not verifiable: {where} "
                     "('canary registers import rpps FILE')")
    return notes


def _some(departments: dict[str, int], shown: int = 8) -> str:
    """The departments holding most canaries first; a long tail summed up."""
    ranked = sorted(departments, key=lambda d: (-departments[d], d))
    rest = len(ranked) - shown
    return ", ".join(ranked[:shown]) + (f" and {rest} more" if rest > 0 else "")
