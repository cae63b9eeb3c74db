"""E-mail providers: can a thief holding an establishment's dump pick the canaries out by their
mailbox provider, or by provider and age?

    python bench/mail_providers.py [--patients 100000] [--canaries 2000] [--seed 1]

1. Writes the synthetic Lyon host (tests/support/host_population.py: e-mail providers drawn by
   age, ISP mailboxes for the old, gmail/hotmail/icloud for the young) and builds its profile.
2. Generates canaries with the host's providers listed in ``pool.mailbox_providers`` (proposals taken
   as if the operator had opened and confirmed them), with the host profile and without one.
3. Prints the thief's advantage of the best filter on the provider, and on (age group, provider):
   the share of canaries the filter removes minus the share of real patients it removes (the total
   variation distance between the two mixes, among records with an e-mail; by age, within each age
   group, weighted by the canaries in it), beyond what random samples of real patients of the same
   size show (the side-by-side reference of the same run).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from canary.generate.patient import PatientGenerator, Pools  # noqa: E402
from canary.generate.profile import HostProfile, build_profile, read_export  # noqa: E402
from canary.generate.reference import Reference  # noqa: E402
from tests.support.host_population import TODAY, write_host_export  # noqa: E402

GROUPS = ((0, 14), (15, 29), (30, 44), (45, 59), (60, 74), (75, 200))
PROVIDERS = ("gmail.com", "orange.fr", "free.fr", "hotmail.fr", "laposte.net", "sfr.fr", "yahoo.fr", "wanadoo.fr",
             "outlook.fr", "icloud.com")
SAMPLES = 20


def _group(born: str) -> str:
    birth = date.fromisoformat(born[:10])
    age = TODAY.year - birth.year - ((TODAY.month, TODAY.day) < (birth.month, birth.day))
    low, high = next(g for g in GROUPS if g[0] <= age <= g[1])
    return f"{low}-{high}"


def _distance(ours: Counter, theirs: Counter) -> float:
    """The best filter's advantage: total variation distance between two mixes."""
    a, b = sum(ours.values()), sum(theirs.values())
    return sum(max(0.0, ours[k] / a - theirs[k] / b) for k in ours)


def _by_age(ours: dict[str, Counter], theirs: dict[str, Counter]) -> float:
    """The best filter on (age group, provider) beyond the age mix itself: within each age group the
    distance of the provider mixes, weighted by our share in that group (ages are the pyramid's job)."""
    total = sum(sum(c.values()) for c in ours.values())
    return sum(sum(c.values()) / total * _distance(c, theirs[g]) for g, c in ours.items() if theirs.get(g))


def _mixes(pairs: Iterable[tuple[str, str]]) -> tuple[Counter, dict[str, Counter]]:
    providers: Counter = Counter()
    by_age: dict[str, Counter] = {}
    for group, provider in pairs:
        providers[provider] += 1
        by_age.setdefault(group, Counter())[provider] += 1
    return providers, by_age


def _canaries(generator: PatientGenerator, count: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    seen: set[str] = set()
    out = []
    for _ in range(count):
        record = generator.generate(rng, today=TODAY, taken=lambda kind, value: value in seen)
        for point in record.get("contact_points", []):
            if point["kind"] == "email" and point["value"]:
                seen.add(point["value"])
                out.append((_group(record["birth_date"]), point["provider"]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--canaries", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    reference = Reference.load()
    with tempfile.TemporaryDirectory() as tmp:
        export = Path(tmp) / "patients.csv"
        rows, _ = write_host_export(export, reference, args.patients, seed=args.seed)
        columns, read = read_export(export)
        profile = HostProfile.from_data(build_profile(columns, read, None, today=TODAY), reference.communes)
    real = [(_group(r["naissance"]), r["email"].rsplit("@", 1)[1]) for r in rows if r["email"]]
    real = [(g, p) for g, p in real if p in PROVIDERS]  # the big providers the operator can open mailboxes at
    real_providers, real_by_age = _mixes(real)
    pools = Pools(mailbox_providers=PROVIDERS)
    rng = random.Random(args.seed)
    print(f"host: {args.patients:,} patients, {len(real):,} with a mailbox at one of {len(PROVIDERS)} providers")
    print(f"  {'who':<44}{'n':>7}{'provider':>10}{'by age':>9}")
    noise = [0.0, 0.0]
    size = 0
    for label, generator in (("canaries, host profile", PatientGenerator(reference, pools, profile=profile)),
                             ("canaries, no profile (national mix)", PatientGenerator(reference, pools))):
        start = time.perf_counter()
        pairs = _canaries(generator, args.canaries, args.seed)
        elapsed = time.perf_counter() - start
        size = size or len(pairs)
        providers, by_age = _mixes(pairs)
        if not noise[0]:
            for _ in range(SAMPLES):
                sample_providers, sample_by_age = _mixes(rng.sample(real, len(pairs)))
                noise[0] += _distance(sample_providers, real_providers) / SAMPLES
                noise[1] += _by_age(sample_by_age, real_by_age) / SAMPLES
        adv = (_distance(providers, real_providers) - noise[0], _by_age(by_age, real_by_age) - noise[1])
        print(f"  {label:<44}{len(pairs):>7}{adv[0]:>10.3f}{adv[1]:>9.3f}   "
              f"({args.canaries / elapsed:,.0f} canaries/s)")
    print(f"  {'reference: random real patients (noise)':<44}{size:>7}{noise[0]:>10.3f}{noise[1]:>9.3f}   "
          "(the canaries' figures above are net of it)")


if __name__ == "__main__":
    main()
