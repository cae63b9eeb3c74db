"""Importing a Base Adresse Nationale department file (``adresses-XX.csv.gz`` as published on
adresse.data.gouv.fr, ``;``-separated, UTF-8) into the registers side file.

Kept per point: house number, repetition index (bis, ter, a...), street, postcode, commune; per
commune its name and the centroid of its points (for "a GP near the address"); per postcode the
delivery label (``libelle_acheminement``). Each department of the file replaces the same department
already loaded, in one transaction with the rest of the file.
"""

from __future__ import annotations

import csv
import re
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from canary.errors import CanaryError
from canary.generate.registers.reading import Progress, header_columns, open_text
from canary.generate.registers.store import department_of, now_iso
from canary.normalize import fold

REQUIRED = ("id", "numero", "rep", "nom_voie", "code_postal", "code_insee", "nom_commune", "lon", "lat")
_COMMUNE_CODE = re.compile(r"(\d{5}|2[AB]\d{3})")
_POSTCODE = re.compile(r"\d{5}")
MAX_NUMBER = 9_999  # rural roads number by metres (up to a few thousand); 0 and 99999 mark places without one
_BATCH = 20_000
_PROGRESS_EVERY = 20_000


@dataclass
class _Commune:
    name: str
    points: int = 0
    lon: float = 0.0
    lat: float = 0.0


@dataclass
class BanImport:
    departments: dict[str, dict[str, int]] = field(default_factory=dict)  # dept -> points/streets/communes/skipped


def import_ban(conn: sqlite3.Connection, path: Path, *, progress: Progress | None = None) -> BanImport:
    """Load one BAN file; its departments replace the ones already loaded. All or nothing."""
    path = Path(path)
    with open_text(path) as (text, position):
        columns = header_columns(path, text.readline(), ";", REQUIRED,
                                 "a BAN address file (';'-separated, header id;id_fantoir;numero;rep;nom_voie;...)")
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = _load(conn, path, csv.reader(text, delimiter=";"), columns, position, progress)
            if not result.departments:
                raise CanaryError(f"{path}: no address point in the file")
            stamp = now_iso()
            for department, counts in result.departments.items():
                conn.execute("INSERT INTO ban_imports VALUES (?, ?, ?, ?, ?, ?, ?)",
                             [department, path.name, stamp, counts["points"], counts["streets"],
                              counts["communes"], counts["skipped"]])
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return result


def _load(conn: sqlite3.Connection, path: Path, rows: Iterator[list[str]], columns: dict[str, int],
          position: Callable[[], int],
          progress: Progress | None) -> BanImport:
    at = {name: columns[name] for name in REQUIRED}
    city_at = columns.get("libelle_acheminement")
    width = max([*at.values(), city_at or 0]) + 1
    result = BanImport()
    communes: dict[str, _Commune] = {}
    cities: dict[tuple[str, str], str] = {}
    streets: dict[tuple[str, str], int] = {}
    next_street = (conn.execute("SELECT COALESCE(MAX(id), 0) FROM ban_streets").fetchone()[0] or 0) + 1
    points: list[tuple[str, int, int, int, str, str]] = []
    postcodes: set[str] = set()  # already seen valid
    last_code, counts = "", {}
    for line_number, row in enumerate(rows, start=2):
        if len(row) < width:
            if not row:
                continue
            raise CanaryError(f"{path} line {line_number}: {len(row)} fields, the header has more; "
                              "not the published layout")
        code = row[at["code_insee"]]
        if code != last_code:  # files come sorted by commune: check and look up once per commune
            if not _COMMUNE_CODE.fullmatch(code):
                raise CanaryError(f"{path} line {line_number}: code_insee {code!r} is not an INSEE commune code")
            department = department_of(code)
            if department not in result.departments:
                _forget_department(conn, department)
                result.departments[department] = {"points": 0, "streets": 0, "communes": 0, "skipped": 0}
            counts, last_code = result.departments[department], code
        number_text, street, postcode = row[at["numero"]], row[at["nom_voie"]].strip(), row[at["code_postal"]]
        if not number_text or not row[at["lon"]] or not row[at["lat"]]:
            counts["skipped"] += 1  # no number or no position: nothing a canary could live at
            continue
        try:
            number = int(number_text)
            lon, lat = float(row[at["lon"]]), float(row[at["lat"]])
        except ValueError:
            raise CanaryError(f"{path} line {line_number}: numero {number_text!r}, lon {row[at['lon']]!r} or "
                              f"lat {row[at['lat']]!r} is not a number") from None
        if not 0 < number <= MAX_NUMBER or not street or (postcode not in postcodes and not _valid(postcode)):
            counts["skipped"] += 1
            continue
        commune = communes.get(code)
        if commune is None:
            commune = communes[code] = _Commune(row[at["nom_commune"]].strip())
            counts["communes"] += 1
        street_id = streets.get((code, street))
        if street_id is None:
            street_id = streets[(code, street)] = next_street
            next_street += 1
            counts["streets"] += 1
        postcodes.add(postcode)
        if (code, postcode) not in cities:
            label = row[city_at].strip() if city_at is not None else ""
            cities[(code, postcode)] = label or fold(commune.name)
        points.append((code, commune.points, street_id, number, row[at["rep"]].strip().lower(), postcode))
        commune.points += 1
        commune.lon += lon
        commune.lat += lat
        counts["points"] += 1
        if len(points) >= _BATCH:
            conn.executemany("INSERT INTO ban_points VALUES (?, ?, ?, ?, ?, ?)", points)
            points.clear()
        if progress is not None and line_number % _PROGRESS_EVERY == 0:
            progress(position())
    conn.executemany("INSERT INTO ban_points VALUES (?, ?, ?, ?, ?, ?)", points)
    conn.executemany("INSERT INTO ban_streets VALUES (?, ?, ?)",
                     ((street_id, code, name) for (code, name), street_id in streets.items()))
    conn.executemany("INSERT INTO ban_postcodes VALUES (?, ?, ?)",
                     ((code, postcode, city) for (code, postcode), city in cities.items()))
    conn.executemany("INSERT INTO ban_communes VALUES (?, ?, ?, ?, ?, ?)",
                     ((code, department_of(code), c.name, c.points, c.lon / c.points, c.lat / c.points)
                      for code, c in communes.items() if c.points))
    if progress is not None:
        progress(position())
    return result


def _valid(postcode: str) -> bool:
    return _POSTCODE.fullmatch(postcode) is not None


def _forget_department(conn: sqlite3.Connection, department: str) -> None:
    """What an earlier import of this department left (inside the caller's transaction)."""
    codes = [row[0] for row in conn.execute("SELECT code FROM ban_communes WHERE department = ?", [department])]
    for code in codes:
        conn.execute("DELETE FROM ban_points WHERE commune_code = ?", [code])
        conn.execute("DELETE FROM ban_streets WHERE commune_code = ?", [code])
        conn.execute("DELETE FROM ban_postcodes WHERE commune_code = ?", [code])
    conn.execute("DELETE FROM ban_communes WHERE department = ?", [department])
    conn.execute("DELETE FROM ban_imports WHERE department = ?", [department])


def address_line(number: int, rep: str, street: str) -> str:
    """``12 bis Rue de la Paix``: bis/ter/quater in words, a letter index in capitals, street as BAN spells it."""
    if not rep:
        return f"{number} {street}"
    return f"{number} {rep if len(rep) > 1 else rep.upper()} {street}"


_LINE = re.compile(r"(\d+)(?: (bis|ter|quater|quinquies|[A-Za-z]))? (.+)")


def split_line(line: str) -> list[tuple[int, str, str]]:
    """The readings of an address line as (number, rep, street); two when a one-letter word may be either."""
    match = _LINE.fullmatch(line.strip())
    if match is None:
        return []
    number, rep, street = int(match.group(1)), (match.group(2) or "").lower(), match.group(3)
    readings = [(number, rep, street)]
    if rep:
        readings.append((number, "", f"{match.group(2)} {street}"))
    return readings
