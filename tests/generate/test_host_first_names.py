"""The host's own usual first names by sex and birth decade: learnt as counts of 10 or more, followed
by the generator at the host's rate (a thief compares each first name's frequency in its decade)."""

from __future__ import annotations

import csv
import random
from collections import Counter
from datetime import date
from pathlib import Path

from canary.generate.patient import PatientGenerator
from canary.generate.profile import HostProfile, build_profile, read_export
from tests.support.generate import generate_batch

TODAY = date(2026, 11, 28)
SURNAMES = ("LE GALL", "LE BRIS", "MORVAN", "KERBRAT", "LE ROUX", "GUIVARCH", "TANGUY", "CLOAREC", "MADEC", "PRIGENT")


def _write(path: Path) -> None:
    rng = random.Random(2)
    rows = []
    for i in range(3000):
        sex = rng.choice("FM")
        born = date(rng.randint(1940, 2020), rng.randint(1, 12), rng.randint(1, 28))
        first = "Anne"
        if sex == "F" and 1980 <= born.year < 1990:
            # A regional name carried by 40 % of the host's women of the 1980s; one name only 3 bear.
            first = "Nolwenn" if rng.random() < 0.4 else rng.choice(("Sophie", "Aurélie", "Emilie", "Julie"))
        elif sex == "M":
            first = rng.choice(("Yann", "Erwan", "Pierre", "Jean"))
        rows.append({"nom": rng.choice(SURNAMES), "prenom": first, "naissance": born.isoformat(), "sexe": sex.lower(),
                     "cp": "29200", "ipp": str(50_000_000 + i)})
    for row in rows[:3]:
        row.update(prenom="Gwenhaelle Marie", sexe="f", naissance="1985-06-01")
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), delimiter=";")
        writer.writeheader()
        writer.writerows(rows)


def test_first_names_follow_the_host_s_by_decade(tmp_path, reference, pools):
    path = tmp_path / "patients.csv"
    _write(path)
    columns, rows = read_export(path)
    data = build_profile(columns, rows, None, today=TODAY, source=str(path))
    cells = data["first_names"]
    women_80s = cells["F:1980"]
    assert women_80s["counts"]["NOLWENN"] >= 10 and "GWENHAELLE" not in women_80s["counts"]
    assert all(n >= 10 for cell in cells.values() for n in cell["counts"].values())
    assert "GWENHAELLE" not in str(data)  # borne by 3: never stored
    generator = PatientGenerator(reference, pools, profile=HostProfile.from_data(data, reference.communes))
    records = generate_batch(generator, 1500, seed=8)
    eighties = [r["first_names"][0] for r in records if r["sex"] == "F" and r["birth_date"][:3] == "198"]
    host_share = women_80s["counts"]["NOLWENN"] / (sum(women_80s["counts"].values()) + women_80s["other"])
    assert len(eighties) > 40
    assert abs(Counter(eighties)["NOLWENN"] / len(eighties) - host_share) < 0.15
    men = Counter(r["first_names"][0] for r in records if r["sex"] == "M")
    assert sum(men[n] for n in ("YANN", "ERWAN", "PIERRE", "JEAN")) / sum(men.values()) > 0.9
    # Without the host's first names: the national tables (Nolwenn is rare there).
    plain = PatientGenerator(reference, pools, profile=HostProfile.from_data(
        {k: v for k, v in data.items() if k != "first_names"}, reference.communes))
    national = [r["first_names"][0] for r in generate_batch(plain, 1500, seed=8)
                if r["sex"] == "F" and r["birth_date"][:3] == "198"]
    assert Counter(national)["NOLWENN"] / len(national) < 0.1
