"""Importing the RPPS extraction of the Annuaire Santé (``PS_LibreAcces_Personne_activite_*.txt``,
``|``-separated as published, or ``;``) into the registers side file.

Kept: practising general practitioners and paediatricians (profession Médecin, savoir-faire Médecine
générale or Pédiatrie, in private practice or in a health centre) whose practice is in a department
whose BAN file is loaded, with their RPPS number, name as the directory writes it, specialty and
practice commune. Nothing else of the directory is kept: no address, phone or e-mail of anyone.
"""

from __future__ import annotations

import csv
import re
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

from canary.errors import CanaryError
from canary.generate.registers.reading import Progress, header_columns, open_text
from canary.generate.registers.store import department_of, now_iso
from canary.normalize import fold

RPPS_ID = "Identifiant PP"
FAMILY = "Nom d'exercice"
FIRST = "Prénom d'exercice"
COMMUNE = "Code commune (coord. structure)"
POSTCODE = "Code postal (coord. structure)"
CITY = "Libellé commune (coord. structure)"
REQUIRED = (RPPS_ID, FAMILY, FIRST, "Libellé profession", "Libellé savoir-faire", COMMUNE, POSTCODE, CITY)

GENERAL_PRACTICE = "Médecine générale"
PAEDIATRICS = "Pédiatrie"
# Savoir-faire codes of the directory (SM53/SM54: general medicine, SM40: paediatrics), the label as fallback.
_SPECIALTY_CODES = {"SM53": GENERAL_PRACTICE, "SM54": GENERAL_PRACTICE, "SM40": PAEDIATRICS}
_SPECIALTY_LABELS = {"MEDECINE GENERALE": GENERAL_PRACTICE, "PEDIATRIE": PAEDIATRICS}
_RPPS = re.compile(r"\d{11}")
# A city split into arrondissements may be given under the whole city's code: the postcode says which one.
_CITY_CODES = {"75056": lambda pc: f"751{pc[-2:]}", "69123": lambda pc: f"6938{pc[-1]}",
               "13055": lambda pc: f"132{pc[-2:]}"}
_PROGRESS_EVERY = 20_000


def import_rpps(conn: sqlite3.Connection, path: Path, *, progress: Progress | None = None) -> dict[str, int]:
    """Replace the loaded physicians with those of this extract in the BAN departments. All or nothing."""
    path = Path(path)
    covered = {row[0] for row in conn.execute("SELECT department FROM ban_imports")}
    if not covered:
        raise CanaryError("no BAN department loaded: import the BAN files of the departments around your "
                          "sites first ('canary registers import ban FILE...'); the RPPS import keeps only "
                          "their physicians")
    with open_text(path, member_hint="Personne_activite") as (text, position):
        header = text.readline()
        separator = "|" if header.count("|") >= header.count(";") else ";"
        columns = header_columns(path, header, separator, REQUIRED,
                                 "an RPPS extract of the Annuaire Santé (Personne_activite, '|'-separated)")
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("DELETE FROM rpps_physicians")
            conn.execute("DELETE FROM rpps_imports")
            rows_read, kept = _load(conn, path, csv.reader(text, delimiter=separator, quoting=csv.QUOTE_NONE),
                                    columns, covered, position, progress)
            conn.execute("INSERT INTO rpps_imports VALUES (1, ?, ?, ?, ?, ?)",
                         [path.name, now_iso(), rows_read, kept, ",".join(sorted(covered))])
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return {"rows": rows_read, "kept": kept, "departments": len(covered)}


def _load(conn: sqlite3.Connection, path: Path, rows: Iterator[list[str]], columns: dict[str, int],
          covered: set[str], position: Callable[[], int],
          progress: Progress | None) -> tuple[int, int]:
    at = {name: columns[name] for name in REQUIRED}
    optional = {name: columns.get(name) for name in
                ("Code profession", "Code savoir-faire", "Code mode exercice", "Libellé mode exercice",
                 "Libellé secteur d'activité")}
    width = max(at.values()) + 1
    communes = {row[0]: row[1] for row in conn.execute("SELECT code, name FROM ban_communes")}
    kept: dict[tuple[str, str], tuple[str, str, str, str, str, str, str]] = {}
    rows_read = 0
    for line_number, row in enumerate(rows, start=2):
        if not row:
            continue
        if len(row) < width:
            raise CanaryError(f"{path} line {line_number}: {len(row)} fields, the header has more; "
                              "not the published layout")
        rows_read += 1
        if progress is not None and line_number % _PROGRESS_EVERY == 0:
            progress(position())

        def get(name: str, row: list[str] = row) -> str:
            index = optional[name]
            return row[index].strip() if index is not None and index < len(row) else ""

        if get("Code profession") not in ("", "10") or fold(row[at["Libellé profession"]]) != "MEDECIN":
            continue
        specialty = _SPECIALTY_CODES.get(get("Code savoir-faire")) \
            or _SPECIALTY_LABELS.get(fold(row[at["Libellé savoir-faire"]]))
        if specialty is None or not _in_practice(get("Code mode exercice"), get("Libellé mode exercice"),
                                                 get("Libellé secteur d'activité")):
            continue
        rpps, family, first = row[at[RPPS_ID]].strip(), row[at[FAMILY]].strip(), row[at[FIRST]].strip()
        code, postcode = row[at[COMMUNE]].strip(), row[at[POSTCODE]].strip()
        if code in _CITY_CODES and len(postcode) == 5:
            code = _CITY_CODES[code](postcode)
        if not _RPPS.fullmatch(rpps) or not family or not code or department_of(code) not in covered:
            continue
        city = row[at[CITY]].strip() or fold(communes.get(code, ""))
        kept[(rpps, code)] = (rpps, code, department_of(code), family, first, specialty, city)
    conn.executemany("INSERT INTO rpps_physicians VALUES (?, ?, ?, ?, ?, ?, ?)", kept.values())
    if progress is not None:
        progress(position())
    # A physician with several practices is one physician (the count `registers status` shows too).
    return rows_read, len({rpps for rpps, *_rest in kept.values()})


def _in_practice(mode_code: str, mode_label: str, sector: str) -> bool:
    """A patient's own doctor: in private practice, or salaried in a health centre."""
    mode = mode_code or fold(mode_label)[:1]
    if not mode or mode == "L":
        return True
    return mode == "S" and "CENTRE DE SANTE" in fold(sector)
