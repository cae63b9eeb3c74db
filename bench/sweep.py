"""Benchmark of ``canary scan`` against ``rg -F -f`` (or ``grep -F -f``) on a generated leak-like corpus.

    python3 bench/sweep.py                 # 1 GB corpus, 10,000 canaries, --jobs 1 and 2
    python3 bench/sweep.py --size 256      # a quicker run
    python3 bench/sweep.py --size 256 --jobs 1 --dask 1,2,4   # also on a local Dask cluster of 1, 2, 4 workers

It registers hand-made canaries (realistic French names and birth dates drawn from the seed lists,
so names and dates collide with the background as in a real dump), writes a corpus of CSV rows, SQL
extended inserts and JSON lines, plants sightings of some canaries (half written literally, half
reformatted), then prints for each tool: wall time, CPU time, MB/s, peak RSS, and recall on the
planted sightings. The machine may be shared: CPU seconds are the fairer single-core comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import itertools
import json
import logging
import os
import random
import shutil
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from canary.generate.seeding import derive_token  # noqa: E402
from canary.store import open_db  # noqa: E402
from canary.store.registry import add_canaries, add_system  # noqa: E402


def _seed_lines(name: str) -> list[str]:
    with gzip.open(ROOT / "seeds/names" / name, "rt", encoding="utf-8") as handle:
        return handle.read().splitlines()[1:]


def _seed_names() -> tuple[list[str], list[float], list[str]]:
    """Surnames with a Zipf-like weight by rank (so common names collide as in real data), first names."""
    surnames = [line.split("\t")[0].strip() for line in _seed_lines("surnames.tsv.gz")]  # name, residents, births
    weights = list(itertools.accumulate(1 / (rank + 10) for rank in range(len(surnames))))
    first = sorted({line.split("\t")[3].strip() for line in _seed_lines("first_names.tsv.gz")})
    return surnames, weights, first


def _nir(sex: str, birth: str, rng: random.Random, department: str | None = None) -> str:
    department = department or rng.choice(["69", "75", "13", "59"])
    body = f"{1 if sex == 'M' else 2}{birth[2:4]}{birth[5:7]}{department}" \
           f"{rng.randint(1, 999):03d}{rng.randint(1, 999):03d}"
    return body + f"{97 - int(body) % 97:02d}"


def _birth(rng: random.Random) -> str:
    return f"{rng.randint(1930, 2015)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"


def make_canaries(count: int, rng: random.Random, names) -> list[dict]:
    surnames, weights, first = names
    canaries, phones = [], set()
    for i in range(count):
        sex = rng.choice("FM")
        birth = _birth(rng)
        while True:
            phone = f"+337561{rng.randint(0, 99999):05d}"  # the operator's own pool
            if phone not in phones:
                phones.add(phone)
                break
        surname = rng.choices(surnames, cum_weights=weights)[0].upper()
        given = rng.choice(first)
        cid = f"bench{i:06d}"
        canaries.append({
            "id": cid, "system": f"sys-{i % 7}", "generation": 1, "created_at": "2026-01-01T00:00:00Z",
            "token": derive_token("bench", cid),
            "sex": sex, "birth_name": surname, "used_name": None, "first_names": [given], "birth_date": birth,
            "birth_place": {"code": "99100", "name": "Belgique"}, "nir": _nir(sex, birth, rng, "99"),
            "identity_status": "VALI",
            "address": {"line": f"{rng.randint(1, 300)} rue {rng.choice(['Victor Hugo', 'de la Gare', 'Pasteur'])}",
                        "postcode": f"{rng.randint(1000, 95999):05d}", "city": "Ville", "commune_code": "69383"},
            "phones": [phone], "email": f"{given.lower()}.{surname.lower().replace(' ', '')}{i}@mail.example.fr",
            "ipp": f"{90_000_000 + i}", "coverage": {"regime": "RG", "caisse": "CPAM", "amc": None},
            "gp": None, "conditions": [], "prescriptions": [], "allergies": [],
            "tokens": {"url": None, "hostname": None},
        })
    return canaries


MAILBOX_PROVIDERS = ("gmail.com", "laposte.net", "orange.fr", "free.fr", "hotmail.fr")
# The corpus's first line with --mailboxes: its CSV rows are read with field roles, as in the dump.
MAILBOX_HEADER = "id;nom;prenom;ddn;nir;tel;adresse;cp;ville;email\n"


def _mailbox(rng: random.Random, given: str, surname: str) -> str:
    """An address people pick at a consumer provider (the shapes the generator proposes)."""
    from canary.generate.text import mail_form

    first, family = mail_form(given), mail_form(surname).replace("-", "")
    local = rng.choice((f"{first}.{family}", f"{first[:1]}{family}", f"{first[:1]}.{family}", f"{family}{first[:1]}",
                        f"{first}{family}"))
    return f"{local}@{rng.choice(MAILBOX_PROVIDERS)}"


def _background(rng: random.Random, names, n: int, mailboxes: bool = False) -> list[str]:
    surnames, weights, first = names
    lines = []
    for i in range(n):
        surname = rng.choices(surnames, cum_weights=weights)[0].upper()
        given = rng.choice(first)
        birth = _birth(rng)
        y, m, d = birth.split("-")
        phone = f"06{rng.randint(10_000_000, 99_999_999)}"  # never the canary pools (07 56 1x xx xx)
        nir = _nir(rng.choice("FM"), birth, rng)
        kind = i % 10
        if kind < 6:
            email = f";{_mailbox(rng, given, surname)}" if mailboxes else ""
            lines.append(f"{rng.randint(1, 9_999_999)};{surname};{given};{d}/{m}/{y};{nir};{phone};"
                         f"{rng.randint(1, 300)} rue de la Paix;{rng.randint(1000, 95999):05d};Ville{email}\n")
        elif kind < 8:
            lines.append(json.dumps({"id": i, "nom": surname, "prenom": given, "naissance": birth, "tel": phone},
                                    ensure_ascii=False) + "\n")
        else:
            lines.append(f"({i},'{surname}','{given}','{birth}','{phone}','{nir}')")
    return lines


def _sightings(canaries: list[dict], rng: random.Random, count: int) -> tuple[list[str], dict[str, bool]]:
    """Planted lines and, per planted canary, whether a literal marker search can see it."""
    planted, literal = [], {}
    # Most generated canaries have no e-mail (a consumer mailbox is only kept once confirmed): those with
    # none get the phone line where the e-mail line would be.
    complete = [c for c in canaries if c.get("phones") and c.get("nir") and c["phones"][0].startswith("+33")]
    for c in rng.sample(complete, count):
        phone = "0" + c["phones"][0][3:]
        y, m, d = c["birth_date"].split("-")
        nir = c["nir"]
        style = len(planted) % 8
        if style == 2 and not c.get("email"):
            style = 0
        line, visible = {
            0: (f"contact;{phone};\n", True),
            1: (f"{nir};x\n", True),
            2: (f"mail: {c['email']}\n", True),
            3: (f"tel: {' '.join(phone[i:i + 2] for i in range(0, 10, 2))}\n", False),
            4: (f"tel: +33 {phone[1]} {' '.join(phone[i:i + 2] for i in range(2, 10, 2))}\n", False),
            5: (f"{nir[0]} {nir[1:3]} {nir[3:5]} {nir[5:7]} {nir[7:10]} {nir[10:13]} {nir[13:]}\n", False),
            6: (f"{c['birth_name'].title()};{c['first_names'][0].upper()};{d}.{m}.{y};Lyon\n", False),
            7: (json.dumps({"patient": {"nom": c["birth_name"], "prenom": c["first_names"][0]},
                            "ddn": c["birth_date"]}) + "\n", False),
        }[style]
        planted.append(line)
        literal[c["id"]] = visible
    return planted, literal


def write_corpus(path: Path, size: int, rng: random.Random, names, planted: list[str], mailboxes: bool = False) -> int:
    pool = _background(rng, names, 200_000, mailboxes)
    written = 0
    blocks = max(1, size // (2 * 1024 * 1024))
    every = max(1, blocks // max(1, len(planted)))
    queue = list(planted)
    with open(path, "w", encoding="utf-8") as out:
        if mailboxes:
            out.write(MAILBOX_HEADER)
            written += len(MAILBOX_HEADER)
        block = 0
        while written < size:
            rows = rng.choices(pool, k=20_000)
            tuples = [r for r in rows if r.startswith("(")]
            text = "".join(r for r in rows if not r.startswith("(")) \
                + "INSERT INTO `patients` VALUES " + ",".join(tuples) + ";\n"
            if block % every == 0 and queue:
                text += "\n" + queue.pop()
            out.write(text)
            written += len(text.encode("utf-8"))
            block += 1
        for line in queue:
            out.write("\n" + line)
            written += len(line) + 1
    return written


def _run(cmd: list[str], **kwargs) -> tuple[float, float, int, str]:
    """(wall s, CPU s, peak RSS MB of the largest process of the tree, stdout).

    The peak is taken by /usr/bin/time when present: a child forked from this (large) process
    would otherwise report this process's own size as its peak.
    """
    timer = shutil.which("time", path="/usr/bin:/bin")
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile("r") as peak:
        full = [timer, "-f", "%M", "-o", peak.name, *cmd] if timer else cmd
        start = time.perf_counter()
        proc = subprocess.Popen(full, stdout=out, stderr=err, **kwargs)
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode not in (0, 1):
            raise SystemExit(f"{cmd[0]} failed: {err.read().decode()[:2000]}")
        rss_kb = int(peak.read().strip().splitlines()[-1]) if timer else usage.ru_maxrss
        return wall, usage.ru_utime + usage.ru_stime, rss_kb // 1024, out.read().decode("utf-8", "replace")


FORWARD_TO = "relais@messagerie-famille.fr"  # the receiver's forward address (docs/tripwire.md)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def _provider_forwarding_to(port: int) -> Iterator[int]:
    """The consumer providers on 127.0.0.1, in one SMTP server (aiosmtpd): every opened mailbox forwards
    its mail, headers kept, to FORWARD_TO at the canary receiver on ``port``, as set up at each provider.
    Yields the port the probes are relayed to."""
    from aiosmtpd.smtp import SMTP

    class Forward:
        async def handle_DATA(self, server, session, envelope) -> str:
            raw = envelope.original_content or envelope.content
            with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
                client.sendmail("forward@fournisseur.example", [FORWARD_TO], raw)
            return "250 2.0.0 Ok: queued"

    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(loop.create_server(lambda: SMTP(Forward()), "127.0.0.1", 0))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        loop.call_soon_threadsafe(server.close)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)


def confirm_mailboxes(db_path: Path, canary) -> None:
    """``canary contacts confirm --all`` as the operator runs it: every pending mailbox gets a probe mail
    through the relay, and is confirmed only once the probe came back to the canary SMTP receiver
    (``canary serve --role smtp``, on loopback) by the providers' forward. Stops the bench if any is refused."""
    pending = json.loads(subprocess.run(
        [sys.executable, "-m", "canary", "--db", str(db_path), "contacts", "list", "--pending", "--json"],
        cwd=ROOT, check=True, capture_output=True, text=True).stdout)
    receiver_port = _free_port()
    for name, value in (("tripwire.smtp_forward_addresses", FORWARD_TO),
                        ("tripwire.smtp_rate_exempt", "127.0.0.1/32"),  # the providers' relay, one address
                        # Every probe is sent before the first is looked for: keep them all.
                        ("tripwire.messages_keep", str(max(5000, 2 * len(pending)))),
                        ("tripwire.probe_smtp_host", "127.0.0.1"), ("tripwire.probe_smtp_starttls", "false"),
                        ("tripwire.probe_from", "accueil@messagerie-famille.fr")):
        canary("config", "set", name, value)
    log_path = db_path.with_name("smtp-receiver.log")
    log = open(log_path, "wb")  # noqa: SIM115 - closed below, after the receiver stopped
    receiver = subprocess.Popen([sys.executable, "-m", "canary", "--db", str(db_path), "serve", "--role", "smtp",
                                 "--smtp-host", "127.0.0.1", "--smtp-port", str(receiver_port)],
                                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log)
    try:
        deadline = time.monotonic() + 120
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", receiver_port), timeout=1):
                break
            if receiver.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the SMTP receiver did not start: see {log_path}")
            time.sleep(0.2)
        with _provider_forwarding_to(receiver_port) as relay_port:
            canary("config", "set", "tripwire.probe_smtp_port", str(relay_port))
            start = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "canary", "--db", str(db_path), "contacts", "confirm",
                                   "--all", "--wait", "900"], cwd=ROOT, capture_output=True, text=True)
    finally:
        receiver.terminate()
        receiver.wait(timeout=60)
        log.close()
    if done.returncode != 0:
        raise SystemExit(f"contacts confirm failed: {done.stdout.strip()} {done.stderr.strip()[-2000:]}")
    print(f"mailboxes: {done.stdout.strip()} of {len(pending)} pending, each by its probe mail relayed and "
          f"forwarded back to the SMTP receiver ({time.perf_counter() - start:.0f} s)")


def seed_real(db_path: Path, count: int, mailboxes: bool = False) -> list[dict]:
    """Canaries from the real generator (``canary seed``) on 7 systems, with phone and mail pools."""
    from canary.store.registry import list_canaries

    def canary(*args: str) -> None:
        subprocess.run([sys.executable, "-m", "canary", "--db", str(db_path), *args], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    canary("config", "set", "pool.phones", "+33756100000-+33756199999")
    canary("config", "set", "pool.mail_domains", "messagerie-famille.fr,boite-perso.fr")
    if mailboxes:  # consumer mailboxes, as the README advises, all opened (confirmed) by the operator
        canary("config", "set", "pool.mailbox_providers", ",".join(MAILBOX_PROVIDERS))
    for s in range(7):
        canary("system", "add", f"sys-{s}", "--kind", "ehr")
        canary("seed", f"sys-{s}", "--count", str(count // 7 + (1 if s < count % 7 else 0)), "--seed", str(s))
    if mailboxes:
        confirm_mailboxes(db_path, canary)
    db = open_db(db_path)
    try:
        return list_canaries(db)
    finally:
        db.close()


def compare_matchers(db_path: Path, corpus: Path, limit: int = 100 * 1024 * 1024) -> None:
    """Both search engines, and pyahocorasick if installed, on the same squeezed text and patterns."""
    from canary.watch.sweep.index import build_index
    from canary.watch.sweep.matcher import StreamMatcher
    from canary.watch.sweep.search import native_module
    from canary.watch.sweep.textnorm import squeeze

    db = open_db(db_path)
    index = build_index(db)
    db.close()
    with open(corpus, "rb") as handle:
        squeezed = squeeze(handle.read(limit))
    for engine in ("native", "python"):
        if engine == "native" and native_module() is None:
            print("matcher native: not built (install libhyperscan-dev, then reinstall canary)")
            continue
        search = StreamMatcher(index, engine).search
        assert search is not None
        start = time.perf_counter()
        kept = len(search.hits(squeezed))
        elapsed = time.perf_counter() - start
        print(f"matcher {engine} (Hyperscan + weak-pair pre-check): {limit / 1e6 / elapsed:.0f} MB/s on "
              f"{limit // 2**20} MiB, {kept} hits kept, {len(index.patterns)} patterns")
    try:
        import ahocorasick
    except ImportError:
        print("matcher pyahocorasick: not installed (pip install pyahocorasick to compare)")
        return
    automaton = ahocorasick.Automaton()
    for i, pattern in enumerate(index.patterns):
        automaton.add_word(pattern.decode("latin-1"), i)
    automaton.make_automaton()
    text = squeezed.decode("latin-1")
    start = time.perf_counter()
    hits = sum(1 for _ in automaton.iter(text))
    ac_time = time.perf_counter() - start
    print(f"matcher pyahocorasick: {limit / 1e6 / ac_time:.0f} MB/s, {hits} hits")


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of running processes, from /proc (the Dask workers are not our children)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def time_dask(base: list[str], corpus: Path, mb: float, literal: dict[str, bool], counts: list[int]) -> None:
    """``canary scan --dask`` on a LocalCluster of n worker processes (one thread each), for each n."""
    from distributed import Client, LocalCluster

    for n in counts:
        with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                          scheduler_kwargs={"dashboard": False}, worker_dashboard_address=None,
                          silence_logs=logging.CRITICAL) as cluster, \
                Client(cluster.scheduler_address, set_as_default=False) as client:
            pids = list(client.run(os.getpid).values())
            before = _cpu_seconds(pids)
            wall, cpu, rss, out = _run([*base, "--dask", cluster.scheduler_address, str(corpus)], cwd=ROOT)
            workers_cpu = _cpu_seconds(pids) - before
        report = json.loads(out)
        ids = {f["canary_id"] for f in report["findings"]}
        recall = len(ids & set(literal)) / len(literal)
        print(f"canary scan --dask, {n} worker process(es): {wall:.1f} s wall, {mb / wall:.0f} MB/s, CPU "
              f"{cpu:.1f} s caller + {workers_cpu:.1f} s workers ({mb / max(cpu + workers_cpu, 1e-9):.0f} MB/s per "
              f"CPU-second), caller peak RSS {rss} MB, recall {recall:.0%} ({len(ids & set(literal))}/"
              f"{len(literal)}), findings {len(report['findings'])}, skipped {len(report['skipped'])}")


def time_before(checkout: Path, db_path: Path, corpus: Path, mb: float, base: list[str]) -> None:
    """``scan --jobs 1`` of another checkout then of this one, twice each, alternating (the machine's load
    drifts); the findings must be the same.

    The other checkout scans a copy of the registry: each version keeps its own index and search caches
    beside its registry (they differ between versions, and one shared file would be rebuilt at every run),
    built by a first scan of an empty file."""
    import sqlite3

    env = dict(os.environ, PYTHONPATH=str(checkout))
    before_db = db_path.with_name("before-" + db_path.name)
    before_db.unlink(missing_ok=True)
    with sqlite3.connect(db_path) as source, sqlite3.connect(before_db) as copy:
        source.backup(copy)
    before_cmd = [sys.executable, "-m", "canary", "--db", str(before_db), "scan", "--json", str(corpus)]
    _run([*before_cmd[:-1], str(corpus.with_name("empty.txt"))], cwd=checkout, env=env)
    outputs = {}
    for _round in range(2):
        for label, cmd, kwargs in (("before", before_cmd, {"cwd": checkout, "env": env}),
                                   ("now", [*base, str(corpus)], {"cwd": ROOT})):
            wall, cpu, rss, out = _run(cmd, **kwargs)
            outputs[label] = json.loads(out)["findings"]
            print(f"canary scan --jobs 1 ({label}: {checkout if label == 'before' else ROOT}): {wall:.1f} s wall, "
                  f"{cpu:.1f} s CPU, {mb / max(cpu, 1e-9):.0f} MB/s per CPU-second, peak RSS {rss} MB")
    same = outputs["before"] == outputs["now"]
    print(f"findings before and now: {'identical' if same else 'DIFFERENT'} ({len(outputs['now'])} findings)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=1024, help="corpus size in MB (default 1024)")
    parser.add_argument("--canaries", type=int, default=10_000)
    parser.add_argument("--mailboxes", action="store_true",
                        help="canaries with consumer mailboxes (confirmed), and the corpus's CSV rows (under a "
                             "header) with other people's addresses of the same shapes: chance matches of e-mails")
    parser.add_argument("--planted", type=int, default=200)
    parser.add_argument("--jobs", default="1,2", help="comma-separated --jobs values to time")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--generator", choices=["real", "hand"], default="real",
                        help="canaries from 'canary seed' (default) or hand-made records")
    parser.add_argument("--gzip", action="store_true",
                        help="also time the scan of the gzip-compressed corpus against 'gzip -dc' alone")
    parser.add_argument("--before", type=Path, default=None,
                        help="another checkout of canary (e.g. the previous release, unpacked with git archive, its "
                             "native .so copied in) whose 'scan --jobs 1' is timed in the same run, findings compared")
    parser.add_argument("--dask", default="",
                        help="comma-separated worker counts of a local Dask cluster to time 'scan --dask' on")
    parser.add_argument("--compare-matchers", action="store_true",
                        help="also time Hyperscan against pyahocorasick on the squeezed corpus")
    args = parser.parse_args()
    rng = random.Random(20261128)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="sweep-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    names = _seed_names()

    t0 = time.perf_counter()
    db_path = work / "registry.db"
    db_path.unlink(missing_ok=True)
    db = open_db(db_path)
    if args.generator == "real":
        canaries = seed_real(db_path, args.canaries, args.mailboxes)
    else:
        for s in range(7):
            add_system(db, f"sys-{s}", "ehr")
        canaries = make_canaries(args.canaries, rng, names)
        add_canaries(db, canaries)
    patterns = [v for (v,) in db.execute("SELECT value FROM markers WHERE kind IN ('nir', 'phone', 'email')")]
    pattern_owner = dict(db.execute("SELECT value, canary_id FROM markers WHERE kind IN ('nir', 'phone', 'email')"))
    db.close()
    (work / "markers.txt").write_text("\n".join(patterns) + "\n", encoding="utf-8")
    planted, literal = _sightings(canaries, rng, args.planted)
    corpus = work / "corpus.txt"
    size = write_corpus(corpus, args.size * 1024 * 1024, rng, names, planted, args.mailboxes)
    mb = size / 1e6
    print(f"corpus {corpus}: {mb:.0f} MB, {args.canaries} canaries ({args.generator} generator), "
          f"{len(planted)} planted sightings "
          f"({sum(literal.values())} literal, {len(planted) - sum(literal.values())} reformatted); "
          f"{len(patterns)} literal markers for the reference; setup {time.perf_counter() - t0:.0f} s")

    # The reference: a literal multi-pattern search with the canaries' strong markers.
    tool = shutil.which("rg")
    reference = [tool, "-F", "-o", "--no-filename", "--no-line-number", "-f", str(work / "markers.txt"), str(corpus)] \
        if tool else ["grep", "-F", "-o", "-h", "-f", str(work / "markers.txt"), str(corpus)]
    subprocess.run(["cat", str(corpus)], stdout=subprocess.DEVNULL, check=True)  # warm the page cache
    wall, cpu, rss, out = _run(reference)
    seen = {pattern_owner[m] for m in out.split() if m in pattern_owner}
    ref_recall = len(seen & set(literal)) / len(literal)
    print(f"{Path(reference[0]).name} -F -f: {wall:.1f} s wall, {cpu:.1f} s CPU, {mb / wall:.0f} MB/s "
          f"({mb / max(cpu, 1e-9):.0f} MB/s per CPU-second), peak RSS {rss} MB, recall {ref_recall:.0%} "
          f"({len(seen & set(literal))}/{len(literal)})")

    empty = work / "empty.txt"
    empty.write_text("", encoding="utf-8")
    base = [sys.executable, "-m", "canary", "--db", str(db_path), "scan", "--json"]
    wall0, cpu0, rss0, _ = _run([*base, str(empty)], cwd=ROOT)
    print(f"canary scan startup (registry load, pattern compile) on an empty file: {wall0:.1f} s, RSS {rss0} MB")
    from canary.watch.sweep.search import resolve_engine
    print(f"engine: {resolve_engine(os.environ.get('CANARY_SWEEP_ENGINE', 'auto'))} "
          "(CANARY_SWEEP_ENGINE=python times the pure-Python one)")
    if args.before:
        time_before(args.before, db_path, corpus, mb, base)
    timings = {}
    for jobs in [int(j) for j in args.jobs.split(",")]:
        wall, cpu, rss, out = _run([*base, "--jobs", str(jobs), str(corpus)], cwd=ROOT)
        report = json.loads(out)
        ids = {f["canary_id"] for f in report["findings"]}
        recall = len(ids & set(literal)) / len(literal)
        extra = [f["confidence"] for f in report["findings"] if f["canary_id"] not in literal]
        timings[jobs] = wall
        print(f"canary scan --jobs {jobs}: {wall:.1f} s wall, {cpu:.1f} s CPU, {mb / wall:.0f} MB/s "
              f"({mb / max(cpu, 1e-9):.0f} MB/s per CPU-second), peak RSS {rss} MB (largest process), "
              f"recall {recall:.0%} ({len(ids & set(literal))}/{len(literal)}), "
              f"unplanted findings {len(extra)} (high {extra.count('high')}, medium {extra.count('medium')}, "
              f"low {extra.count('low')}), skipped {len(report['skipped'])}")
    if 1 in timings:
        for jobs, wall in timings.items():
            if jobs != 1:
                print(f"speed-up --jobs {jobs}: {timings[1] / wall:.2f}x")
    if args.dask:
        print(f"(this machine has {os.cpu_count()} cores: more workers than free cores only share them)")
        time_dask(base, corpus, mb, literal, [int(n) for n in args.dask.split(",")])
    if args.gzip:
        packed = corpus.with_suffix(".txt.gz")
        subprocess.run(["gzip", "-1", "-k", "-f", str(corpus)], check=True)
        wall_gz, _cpu, _rss, _out = _run(["gzip", "-dc", str(packed)])
        wall, cpu, rss, out = _run([*base, str(packed)], cwd=ROOT)
        recall = len({f["canary_id"] for f in json.loads(out)["findings"]} & set(literal)) / len(literal)
        print(f"gzip -dc alone: {wall_gz:.1f} s ({mb / wall_gz:.0f} MB/s of output); canary scan of the .gz: "
              f"{wall:.1f} s ({mb / wall:.0f} MB/s), peak RSS {rss} MB, recall {recall:.0%}")
    if args.compare_matchers:
        compare_matchers(db_path, corpus)
    print(f"work folder: {work} (delete it when done)")


if __name__ == "__main__":
    main()
