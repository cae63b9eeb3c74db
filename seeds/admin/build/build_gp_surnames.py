"""Build seeds/admin/gp_surnames.tsv from Faker's fr_FR surname list (MIT licence).

Faker lists the most frequent French surnames in decreasing order of frequency; the weight given
here decreases with the rank so that Martin or Bernard come up more often than rarer names.

    python seeds/admin/build/build_gp_surnames.py
"""

from __future__ import annotations

from pathlib import Path

from faker.providers.person.fr_FR import Provider

OUT = Path(__file__).resolve().parents[1] / "gp_surnames.tsv"


def main() -> None:
    names = list(dict.fromkeys(Provider.last_names))
    lines = ["family_name\tweight"]
    lines += [f"{name}\t{1000 / (rank + 30):.2f}" for rank, name in enumerate(names)]
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"{len(names)} surnames -> {OUT}")


if __name__ == "__main__":
    main()
