"""Check the ATC code of every row of seeds/clinical/drugs.tsv against the ATC list of edsnlp.

edsnlp (BSD-3-Clause, AP-HP) ships `edsnlp/resources/drugs.json`, ATC code -> French drug names.
A code is accepted when it is a key of that file or the prefix of one (ATC level 4, e.g. D02AX).
The drug's active substance is also looked for among the names of its code, as a cross-check;
mismatches are printed for a human to review (brand names are not always listed there).

    pip download --no-deps edsnlp==0.23.0 -d /tmp/edsnlp
    python seeds/clinical/build/check_atc.py /tmp/edsnlp/edsnlp-0.23.0-*.whl
"""

from __future__ import annotations

import csv
import json
import sys
import unicodedata
import zipfile
from pathlib import Path

TABLE = Path(__file__).resolve().parents[1] / "drugs.tsv"
MEMBER = "edsnlp/resources/drugs.json"
# Codes absent from edsnlp's list (it has no GLP-1 agonists) and checked in the WHO ATC index instead.
CHECKED_ELSEWHERE = {"A10BJ05": "dulaglutide, WHO ATC/DDD index"}


def fold(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().upper()


def main(wheel: str) -> int:
    with zipfile.ZipFile(wheel) as archive:
        atc_names: dict[str, list[str]] = json.loads(archive.read(MEMBER))
    unknown, unmatched = [], []
    with TABLE.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            atc = row["atc"]
            names = [fold(n) for code, values in atc_names.items() if code.startswith(atc) for n in values]
            if not names and atc not in CHECKED_ELSEWHERE:
                unknown.append(f"{atc} ({row['drug']})")
                continue
            if not names:
                continue
            words = [w for w in fold(row["drug"]).replace("(", " ").replace(")", " ").replace("/", " ").split()
                     if len(w) > 4 and w.isalpha()]
            if not any(word in name for word in words for name in names):
                unmatched.append(f"{atc}: {row['drug']}")
    for line in unmatched:
        print("review:", line)
    if unknown:
        print("unknown ATC codes:\n  " + "\n  ".join(unknown), file=sys.stderr)
        return 1
    print(f"all ATC codes of {TABLE.name} exist in the edsnlp ATC list ({len(unmatched)} to review)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
