"""Birth places and IPP order against birth dates: can a thief holding the dump pick out the canaries?

    python bench/births_time.py [--patients 200000] [--canaries 1000] [--seed 1]

1. Writes a synthetic Mediboard export of a Lyon establishment whose IPPs were handed out in time
   order over 20 years (6 % newborns of the maternity) and whose patients were born in their home
   department, nearby, elsewhere or abroad by age (tests/support/host_population.py, timed=True),
   and builds its host profile (aggregates only).
2. Generates CANARIES canaries with the site's catchment and the host profile, "before" (the profile
   without what this bench measures: today's national birth-place model and the live IPP range) and
   "after" (birth places and IPP/time learnt), and prints for each the thief's filters:
   - born in the site's department (share of canaries minus share of real patients);
   - born after the allocation of the next real number (known in this synthetic host only: real 0);
   - born after every one of the K records numbered right after them in the merged dump (what a
     thief can compute), for K = 10 and 100, beside the same rate among real patients.
3. Generation speed of both, beside the plain generator (national mix), in the same run.
"""

from __future__ import annotations

import argparse
import bisect
import math
import random
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from canary.generate.catchment import Catchment, Geography, Site  # noqa: E402
from canary.generate.patient import PatientGenerator, Pools  # noqa: E402
from canary.generate.profile import HostProfile, build_profile, read_export  # noqa: E402
from canary.generate.reference import Reference  # noqa: E402
from canary.store.markers import markers_for  # noqa: E402
from tests.support.host_population import SITE, TODAY, write_host_export  # noqa: E402

TARGET = 2_000  # canaries per second


def pools() -> Pools:
    phones = [f"+33{p}{b:02d}{s}{n:03d}" for p in ("612", "645", "756", "781") for b in range(10) for s in range(5)
              for n in range(0, 1000, 61)]
    phones += [f"+334{b:04d}{n:04d}" for b in range(7200, 7300) for n in range(0, 10000, 499)]
    return Pools(phones=tuple(phones), mail_domains=("gmail.com", "orange.fr", "free.fr", "laposte.net"))


def generate(generator: PatientGenerator, count: int, seed: int) -> tuple[list[dict[str, Any]], float]:
    rng = random.Random(seed)
    seen: set[tuple[str, str]] = set()
    records = []
    start = time.perf_counter()
    for index in range(count):
        record = generator.generate(rng, today=TODAY, taken=lambda kind, value: (kind, value) in seen)
        record["id"] = f"r{index}"
        seen.update(markers_for(record))
        records.append(record)
    return records, time.perf_counter() - start


def born_after_next_allocation(records: list[dict[str, Any]], numbers: list[int], arrivals: list[int]) -> float:
    late = 0
    for record in records:
        after = bisect.bisect_right(numbers, int(record["ipp"]))
        late += after < len(numbers) and date.fromisoformat(record["birth_date"]).toordinal() > arrivals[after]
    return late / len(records)


def born_after_next_k(records: list[dict[str, Any]], real: list[tuple[int, int]], k: int) -> tuple[float, float]:
    """(canaries, real patients) born after every one of the k records numbered right after them."""
    merged = sorted([(n, b, False) for n, b in real]
                    + [(int(r["ipp"]), date.fromisoformat(r["birth_date"]).toordinal(), True) for r in records])
    flagged = {True: 0, False: 0}
    for i, (_, born, canary) in enumerate(merged):
        following = merged[i + 1:i + 1 + k]
        if len(following) == k and born > max(b for _, b, _ in following):
            flagged[canary] += 1
    return flagged[True] / len(records), flagged[False] / len(real)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=200_000)
    parser.add_argument("--canaries", type=int, default=1_000)
    parser.add_argument("--speed-count", type=int, default=5_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    reference = Reference.load()
    geography = Geography.load(reference.communes, reference.seeds_dir)
    lyon = Catchment.around(reference.communes, geography, Site(reference.communes[SITE], "commune"))
    with tempfile.TemporaryDirectory() as tmp:
        export = Path(tmp) / "patients.csv"
        start = time.perf_counter()
        rows, truth = write_host_export(export, reference, args.patients, seed=args.seed, geography=geography,
                                        timed=True)
        written = time.perf_counter() - start
        start = time.perf_counter()
        columns, reader = read_export(export)
        data = build_profile(columns, reader, None, today=TODAY, source=str(export), site_department=SITE[:2])
        built = time.perf_counter() - start
    real = [(int(r["ipp"]), date.fromisoformat(r["naissance"]).toordinal()) for r in rows]
    numbers = [n for n, _ in real]
    arrivals = [a.toordinal() for a in truth.arrivals]
    del rows
    part = data["ipp_time"]
    print(f"synthetic export: {args.patients:,} patients, IPPs in time order, written in {written:.1f} s; "
          f"{truth.born_in_site_department:.1%} born in the site's department")
    print(f"profile build: {built:.1f} s; not learnt: {data['not_learnt'] or 'nothing'}; ipp/time: "
          f"{len(part['youngest'])} slices, {part['rate_per_day']} numbers a day, "
          f"{part['new_patients_per_day']} new patients a day" if part else "")

    before_data = {k: v for k, v in data.items() if k not in ("births", "ipp_time")}
    generators = {name: PatientGenerator(reference, pools(), catchment=lyon, geography=geography,
                                         profile=HostProfile.from_data(d, reference.communes))
                  for name, d in (("before", before_data), ("after", data))}
    n = args.canaries
    print(f"\n{n:,} canaries; advantage = |canaries - real patients|; noise = 2 standard deviations of the "
          "canaries' share from sampling alone")
    print(f"  {'filter':<46}{'run':>8}{'canaries':>10}{'patients':>10}{'advantage':>11}{'noise':>8}")
    for name, generator in generators.items():
        records, _ = generate(generator, n, args.seed)
        site = sum(r["birth_place"]["code"][:2] == SITE[:2] for r in records) / n
        p = truth.born_in_site_department
        lines = [("born in the site's department", site, p)]
        lines.append(("born after the next real number's allocation", born_after_next_allocation(
            records, numbers, arrivals), 0.0))
        for k in (10, 100):
            canaries, patients = born_after_next_k(records, real, k)
            lines.append((f"born after all {k} records numbered next", canaries, patients))
        for label, c, r in lines:
            noise = 2 * math.sqrt(max(r * (1 - r), 1e-9) / n)
            print(f"  {label:<46}{name:>8}{c:>10.3f}{r:>10.3f}{abs(c - r):>11.3f}{noise:>8.3f}")

    plain = PatientGenerator(reference, pools(), geography=geography)
    _, plain_time = generate(plain, args.speed_count, args.seed + 1)
    print(f"\ngeneration, {args.speed_count:,} canaries each (same run):")
    print(f"  plain generator (national mix):        {args.speed_count / plain_time:,.0f} canaries/s")
    for name, generator in generators.items():
        _, spent = generate(generator, args.speed_count, args.seed + 1)
        print(f"  catchment + host profile ({name:<6}):   {args.speed_count / spent:,.0f} canaries/s "
              f"(target {TARGET:,})")


if __name__ == "__main__":
    main()
