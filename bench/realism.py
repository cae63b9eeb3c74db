"""Group realism: can a thief holding a Lyon establishment's whole dump filter the canaries out?

    python bench/realism.py [--patients 750000] [--canaries 200] [--seed 1]

1. Writes a synthetic Mediboard export of PATIENTS patients of a Lyon establishment (known
   catchment, missingness, status mix, one dense 8-digit IPP range; tests/generate/host_population.py)
   and builds its host profile (aggregates only), timing both.
2. Generates CANARIES canaries two ways and prints the planner's advantage table for each:
   - "issue setup": the national mix, one 1,000-number block, two owned mail domains (the issue's measurement);
   - "blended": the site's catchment and the host profile, a phone pool spread over many blocks, and
     e-mail at consumer providers as if the operator had created and confirmed those mailboxes
     (nothing here is planted: the records stay in memory).
3. Generation speed with catchment and profile, beside the plain generator in the same run
   (target 2,000 canaries/s; bench/generate.py measures the plain generator alone).
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "generate"))

from host_population import SITE, TODAY, write_host_export  # noqa: E402

from canary.generate.catchment import Catchment, Geography, Site  # noqa: E402
from canary.generate.patient import PatientGenerator, Pools  # noqa: E402
from canary.generate.plan import plan  # noqa: E402
from canary.generate.profile import HostProfile, build_profile, read_export  # noqa: E402
from canary.generate.reference import Reference  # noqa: E402
from canary.store.markers import markers_for  # noqa: E402

TARGET = 2_000  # canaries per second


def spread_pool() -> Pools:
    """Mobiles from 600 blocks of 1,000 in 120 blocks of 10,000 (06 and 07), 04 landlines from 200
    blocks of 10,000, 09 box numbers; consumer providers stand for confirmed mailboxes."""
    phones = [f"+33{prefix}{block:02d}{sub}{n:03d}" for prefix in ("612", "620", "632", "645", "652", "660",
                                                                 "745", "756", "767", "778", "781", "789")
              for block in range(10) for sub in range(5) for n in range(0, 1000, 61)]
    phones += [f"+334{block:04d}{n:04d}" for block in range(7200, 7400) for n in range(0, 10000, 499)]
    phones += [f"+339{block:04d}{n:04d}" for block in range(5100, 5150) for n in range(0, 10000, 499)]
    providers = ("gmail.com", "orange.fr", "free.fr", "hotmail.fr", "laposte.net", "outlook.fr", "sfr.fr", "yahoo.fr")
    return Pools(phones=tuple(phones), mail_domains=providers)


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


def print_table(title: str, report: dict[str, Any]) -> None:
    print(f"\n{title}: {report['canaries']} canaries among {report['patients']:,} patients; "
          f"stealth budget {report['stealth_budget']}; published sample of 1,000 holds one with "
          f"probability {report['sample_chance']:.1%}")
    print(f"  {'filter':<16}{'canaries':>10}{'patients':>10}{'advantage':>11}{'noise':>8}  verdict")
    for f in report["filters"]:
        if f["advantage"] is None:
            print(f"  {f['name']:<16}{'-':>10}{'-':>10}{'-':>11}{'-':>8}  {f['note']}")
            continue
        verdict = "FILTERS CANARIES" if f["exceeds"] else "ok"
        print(f"  {f['name']:<16}{f['canaries_flagged']:>10.3f}{f['patients_flagged']:>10.3f}"
              f"{f['advantage']:>11.3f}{f['noise']:>8.3f}  {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=750_000)
    parser.add_argument("--canaries", type=int, default=200)
    parser.add_argument("--speed-count", type=int, default=5_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    reference = Reference.load()
    geography = Geography.load(reference.communes, reference.seeds_dir)
    lyon = Catchment.around(reference.communes, geography, Site(reference.communes[SITE], "commune"))
    with tempfile.TemporaryDirectory() as tmp:
        export = Path(tmp) / "patients.csv"
        start = time.perf_counter()
        _, truth = write_host_export(export, reference, args.patients, seed=args.seed, geography=geography,
                                     keep_rows=False)
        written = time.perf_counter() - start
        size = export.stat().st_size
        start = time.perf_counter()
        columns, rows = read_export(export)
        data = build_profile(columns, rows, None, today=TODAY, source=str(export))
        built = time.perf_counter() - start
    print(f"synthetic export: {args.patients:,} patients, {size / 1e6:.0f} MB, written in {written:.1f} s; "
          f"{truth.outside_department:.1%} live outside the site's department")
    print(f"profile build: {built:.1f} s ({args.patients / built:,.0f} patients/s); peak RSS "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    profile = HostProfile.from_data(data, reference.communes)

    issue_pools = Pools(phones=tuple(f"+33756120{n:03d}" for n in range(1000)),
                        mail_domains=("messagerie-famille.fr", "boite-perso.fr"))
    national = PatientGenerator(reference, issue_pools, geography=geography)
    records, _ = generate(national, args.canaries, args.seed)
    print_table("issue setup (national mix, one block, two owned domains)",
                plan(records, patients=args.patients, sample=1000, today=TODAY, catchment=lyon, profile=profile,
                     pool_phones=issue_pools.phones, pool_domains=issue_pools.mail_domains))

    pools = spread_pool()
    blended = PatientGenerator(reference, pools, catchment=lyon, profile=profile, geography=geography)
    records, _ = generate(blended, args.canaries, args.seed)
    report = plan(records, patients=args.patients, sample=1000, today=TODAY, catchment=lyon, profile=profile,
                  pool_phones=pools.phones, pool_domains=pools.mail_domains)
    print_table("blended (catchment, host profile, spread pool, confirmed consumer mailboxes)", report)
    worst = max((f["advantage"] for f in report["filters"] if f["advantage"] is not None), default=0.0)
    print(f"  worst advantage {worst:.3f} (target <= 0.05)")

    plain = PatientGenerator(reference, pools, geography=geography)
    _, plain_time = generate(plain, args.speed_count, args.seed + 1)
    _, blended_time = generate(blended, args.speed_count, args.seed + 1)
    print(f"\ngeneration, {args.speed_count:,} canaries each (same run):")
    print(f"  plain generator (national mix):       {args.speed_count / plain_time:,.0f} canaries/s")
    print(f"  catchment + host profile:             {args.speed_count / blended_time:,.0f} canaries/s "
          f"(target {TARGET:,})")


if __name__ == "__main__":
    main()
