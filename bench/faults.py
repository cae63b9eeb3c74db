"""An operator's worst day, on loopback: is anything answered ever lost?

    python3 bench/faults.py [--only NAME ...] [--rate 100] [--hits 600] [--flood-per-address 40]

Each scenario runs a real ``canary serve`` (its own process) over a fresh registry with 200 canaries
and a webhook destination (an HTTP receiver in this process that counts every delivery per
idempotency key), sends hits to the callback listener (or lines to an audit file) while something
goes wrong, puts things right, waits for the registry and the outbox to settle, and prints:

    sent       requests sent (lines written, for the file scenario)
    answered   requests answered 200 (the peer was told "done"; lines: what the file received)
    stored     of those, how many became an event
    alerted    alerts opened for them (+ watch-degraded alerts, shown as "+N wd")
    delivered  outbox messages delivered / queued
    dup        deliveries the receiver got more than once (same idempotency key)
    lost       answered - stored (the goal is 0 in every row)

Scenarios (each bounded to well under a minute):
    disk-full    registry on an 8 MB tmpfs filled to the last byte while hits arrive (needs root to mount;
                 skipped otherwise), then room is made again; /readyz asked when full and when freed
    locked       another connection holds the registry's write lock (BEGIN EXCLUSIVE) for 5 s
    seeds        two 'canary seed --count 1500 --seed 13' at once while hits arrive; 'canary scan' meanwhile
    kill-9       serve killed with SIGKILL mid-burst (500 hits/s), restarted at once
    dest-down    the webhook destination down for 8 s while alerts are raised, then back
    copytruncate an audit file written at 200 lines/s, rotated with copy + truncate mid-way
    lock-45s     60 hits, a receiver answering in 2 s, the registry's write lock held 45 s by another
                 connection while pages are on the wire: no page sent twice
    rename       the same, rotated by rename + new file (logrotate create) while the writer keeps writing
                 to its old descriptor for 2 s before it reopens the path
    syslog-burst --burst-lines (300,000) over one syslog TCP connection as fast as TCP takes them, one
                 line in 600 reading a canary: every line counted, every read an event
    smtp-flood   serve with LimitNOFILE=1024 and --smtp; 25 addresses open 40 idle SMTP connections each
                 (inside the per-address rate limit) while --hits hits at --rate go to the callback listener
                 and the console is asked /healthz 4 times a second: latencies, 421s, log lines
    kill-9-deliv 40 alerts paged to a receiver answering in 1 s; serve killed with SIGKILL once 8 pages
                 reached it, restarted at once: every alert paged, at most one repeat per page in flight
    restore      20 alerts paged, 'canary backup', 20 more paged, 'canary restore' of that backup, 20 new
                 alerts: no new page carries a key the receiver already had
Reference: the same counts are what the issue measured before the journal (e.g. disk full: 2,000
answered, 15 stored); before the listener caps, the smtp-flood made callbacks, console, SMTP and DNS-TCP
time out for ~50 s with ~100 MB a minute of 'Errno 24' tracebacks; before the restore key generation, a
new alert after a restore carried a key already delivered.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import queue
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from callbacks import prepare  # noqa: E402

from tests.support.peers.alert_receiver import Receiver  # noqa: E402

SERVE_ENV = {
    "CANARY_JOURNAL_WAIT_MS": "200", "CANARY_JOURNAL_MAX_BYTES": str(2 << 20),
    "CANARY_ALERT_ALLOWED_TARGET_CIDRS": "127.0.0.1/32", "CANARY_ALERT_POLL_SECONDS": "0.1",
    "CANARY_ALERT_RATE_PER_MINUTE": "0", "CANARY_ALERT_RETRY_BASE_SECONDS": "0.2",
    "CANARY_ALERT_RETRY_MAX_SECONDS": "1", "PYTHONPATH": str(ROOT),
}


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(check: Callable[[], bool], seconds: float, step: float = 0.1) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(sqlite3.OperationalError):
            if check():
                return True
        time.sleep(step)
    return False


class Serve:
    """``canary serve`` in its own process, with a callback port known in advance."""

    def __init__(self, db_path: Path, log: Path, extra: tuple[str, ...] = (), nofile: int | None = None):
        self.db_path, self.log = db_path, log
        self.port, self.console = free_port(), free_port()
        self.extra = extra
        self.nofile = nofile  # the service's descriptor limit (LimitNOFILE), e.g. 1024
        self.process: subprocess.Popen | None = None

    def _limits(self) -> None:
        if self.nofile is not None:
            import resource

            resource.setrlimit(resource.RLIMIT_NOFILE, (self.nofile, self.nofile))

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "canary", "--db", str(self.db_path), "serve", "--port", str(self.console),
                 "--callback-port", str(self.port), *self.extra], cwd=ROOT, env={**os.environ, **SERVE_ENV},
                stdout=log, stderr=log, preexec_fn=self._limits if self.nofile is not None else None)
        if not wait_until(self._up, 30):
            raise RuntimeError(f"serve did not start; see {self.log}")

    def _up(self) -> bool:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
            conn.request("GET", "/robots.txt")
            return conn.getresponse().status == 200
        except OSError:
            return False

    def readyz(self) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", self.console, timeout=30)
        try:
            conn.request("GET", "/readyz")
            return conn.getresponse().status
        finally:
            conn.close()

    def kill9(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()


class Hits:
    """Open-loop hits at a fixed rate from a small thread pool; counts what was answered 200."""

    def __init__(self, port: Callable[[], int], tokens: list[str], tag: str, agents: int = 0):
        self.port, self.tokens, self.tag = port, tokens, tag
        self.agents = agents  # > 0: that many User-Agents in turn, i.e. that many clients (one alert each)
        self.sent = 0
        self.answered: set[int] = set()
        self.latencies: list[float] = []  # scheduled send -> answer (or failure), seconds
        self._lock = threading.Lock()

    def run(self, count: int, rate: float, workers: int = 16) -> None:
        jobs: queue.Queue = queue.Queue()
        start = time.perf_counter() + 0.1

        def worker() -> None:
            conn: http.client.HTTPConnection | None = None
            while (item := jobs.get()) is not None:
                i, due = item
                if (delay := due - time.perf_counter()) > 0:
                    time.sleep(delay)
                try:
                    conn = conn or http.client.HTTPConnection("127.0.0.1", self.port(), timeout=20)
                    headers = {"User-Agent": f"bench/{self.tag}-{i % self.agents}"} if self.agents else {}
                    conn.request("GET", f"/mon-espace/documents/{self.tokens[i % len(self.tokens)]}?n={self.tag}-{i}",
                                 headers=headers)
                    response = conn.getresponse()
                    response.read()
                    if response.status == 200:
                        with self._lock:
                            self.answered.add(i)
                except (OSError, http.client.HTTPException):
                    if conn is not None:
                        conn.close()
                    conn = None
                with self._lock:
                    self.latencies.append(time.perf_counter() - due)

        threads = [threading.Thread(target=worker, daemon=True) for _ in range(workers)]
        for thread in threads:
            thread.start()
        for i in range(count):
            jobs.put((i, start + i / rate))
        self.sent = count
        for _ in threads:
            jobs.put(None)
        for thread in threads:
            thread.join()


def stored(db_path: Path, tag: str) -> int:
    with sqlite3.connect(db_path, timeout=30) as conn:
        return conn.execute("SELECT COUNT(DISTINCT json_extract(details, '$.path')) FROM events "
                            "WHERE channel = 'http' AND details LIKE ?", [f"%n={tag}-%"]).fetchone()[0]


def outcome(db_path: Path, receiver: Receiver) -> dict[str, Any]:
    """Wait for the outbox to drain, then count alerts and deliveries."""
    def drained() -> bool:
        with sqlite3.connect(db_path, timeout=30) as conn:
            pending = conn.execute("SELECT COUNT(*) FROM alert_outbox WHERE state = 'pending'").fetchone()[0]
            correlated = conn.execute("SELECT value FROM alert_state WHERE name = 'correlation.last_event_id'"
                                      ).fetchone()
            newest = conn.execute("SELECT MAX(id) FROM events").fetchone()[0]
            return pending == 0 and correlated is not None and int(correlated[0]) >= (newest or 0)

    wait_until(drained, 40, 0.2)
    with sqlite3.connect(db_path, timeout=30) as conn:
        alerts = conn.execute("SELECT COUNT(*) FROM alerts WHERE key LIKE 'tripwire:%' OR key LIKE 'access:%'"
                              ).fetchone()[0]
        degraded = conn.execute("SELECT COUNT(*) FROM alerts WHERE key LIKE 'watch-degraded:%'").fetchone()[0]
        queued = conn.execute("SELECT COUNT(*) FROM alert_outbox").fetchone()[0]
        delivered = conn.execute("SELECT COUNT(*) FROM alert_outbox WHERE state = 'delivered'").fetchone()[0]
    duplicates = sum(n - 1 for n in receiver.hits.values() if n > 1)
    return {"alerted": f"{alerts}+{degraded} wd", "delivered": f"{delivered}/{queued}", "dup": duplicates}


@contextlib.contextmanager
def scenario_registry(folder: Path) -> Iterator[tuple[Path, list[str], Receiver]]:
    from canary.alert.destinations import add_destination
    from canary.settings import set_setting
    from canary.store import open_db

    db_path = folder / "canary.db"
    tokens = prepare(db_path)
    receiver = Receiver()
    db = open_db(db_path)
    set_setting(db, "alert.allowed_target_cidrs", "127.0.0.1/32")
    add_destination(db, receiver.url)
    db.close()
    try:
        yield db_path, tokens, receiver
    finally:
        receiver.down()


def row(name: str, hits: Hits | None, stored_count: int, result: dict[str, Any], note: str = "",
        sent: int | None = None, answered: int | None = None) -> dict[str, Any]:
    sent = hits.sent if hits else sent
    answered = len(hits.answered) if hits else answered
    assert sent is not None and answered is not None
    return {"scenario": name, "sent": sent, "answered": answered, "stored": stored_count,
            "lost": answered - stored_count, "note": note, **result}


# --- scenarios -------------------------------------------------------------------------------------

def disk_full(args: argparse.Namespace, folder: Path) -> dict[str, Any] | None:
    mount = folder / "disk"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs", str(mount)],
                      capture_output=True, check=False).returncode != 0:
        return None
    try:
        with scenario_registry(mount) as (db_path, tokens, receiver):
            serve = Serve(db_path, folder / "serve-disk.log")
            serve.start()
            filler = mount / "filler"
            fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
            for size in (1 << 16, 4096, 512, 1):
                with contextlib.suppress(OSError):
                    while True:
                        os.write(fd, b"\xff" * size)
            os.close(fd)
            ready_full = serve.readyz()
            hits = Hits(lambda: serve.port, tokens, "disk")
            hits.run(args.hits, args.rate)
            filler.unlink()
            ready_after = serve.readyz()
            wait_until(lambda: stored(db_path, "disk") >= len(hits.answered), 30)
            result = outcome(db_path, receiver)
            count = stored(db_path, "disk")
            serve.stop()
            return row("disk-full", hits, count, result, f"8 MB tmpfs filled, then freed; /readyz full: "
                       f"{ready_full}, freed: {ready_after}")
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def locked(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    with scenario_registry(folder) as (db_path, tokens, receiver):
        serve = Serve(db_path, folder / "serve-locked.log")
        serve.start()
        hits = Hits(lambda: serve.port, tokens, "lock")
        sender = threading.Thread(target=hits.run, args=(args.hits, args.rate))
        sender.start()
        time.sleep(1)
        holder = sqlite3.connect(db_path, timeout=30, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        time.sleep(5)
        holder.execute("ROLLBACK")
        holder.close()
        sender.join()
        wait_until(lambda: stored(db_path, "lock") >= len(hits.answered), 30)
        result = outcome(db_path, receiver)
        count = stored(db_path, "lock")
        serve.stop()
        return row("locked", hits, count, result, "write lock held 5 s by another connection")


def lock_slow_receiver(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    """Pages on the wire to a slow receiver when another connection takes the registry for 45 s (past
    the 30 s a write waits): the 'delivered' marks must wait, the pages must not be sent again."""
    with scenario_registry(folder) as (db_path, tokens, receiver):
        receiver.delay = 2.0
        serve = Serve(db_path, folder / "serve-lock45.log")
        serve.start()
        hits = Hits(lambda: serve.port, tokens, "lk45")
        hits.run(60, 30)
        wait_until(lambda: len(receiver.hits) >= 1, 60)
        holder = sqlite3.connect(db_path, timeout=30, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        time.sleep(45)
        holder.execute("ROLLBACK")
        holder.close()
        receiver.delay = 0.0
        wait_until(lambda: stored(db_path, "lk45") >= len(hits.answered), 60)
        result = outcome(db_path, receiver)
        count = stored(db_path, "lk45")
        serve.stop()
        return row("lock-45s", hits, count, result, "receiver answering in 2 s; write lock held 45 s while "
                   "pages were on the wire")


def seeds(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    with scenario_registry(folder) as (db_path, tokens, receiver):
        canary = [sys.executable, "-m", "canary", "--db", str(db_path)]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        subprocess.run([*canary, "system", "add", "ehr-seed", "--kind", "ehr"], env=env, capture_output=True,
                       check=True)
        subprocess.run([*canary, "config", "set", "pool.phones", "+33756000000-+33756003999"], env=env,
                       capture_output=True, check=True)
        (folder / "dump.txt").write_text("rien\n")
        serve = Serve(db_path, folder / "serve-seeds.log")
        serve.start()
        hits = Hits(lambda: serve.port, tokens, "seed")
        sender = threading.Thread(target=hits.run, args=(args.hits, args.rate / 2))
        sender.start()
        time.sleep(1)
        started = time.monotonic()
        runs = [subprocess.Popen([*canary, "seed", "ehr-seed", "--count", "1500", "--seed", "13"], env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for _ in range(2)]
        time.sleep(1)
        scan = subprocess.run([*canary, "scan", str(folder / "dump.txt")], env=env, capture_output=True, check=False)
        seconds = []
        for run in runs:
            run.wait(300)
            seconds.append(time.monotonic() - started)
        sender.join()
        wait_until(lambda: stored(db_path, "seed") >= len(hits.answered), 30)
        result = outcome(db_path, receiver)
        count = stored(db_path, "seed")
        serve.stop()
        codes = ",".join(str(r.returncode) for r in runs)
        return row("seeds", hits, count, result,
                   f"seeds exit {codes} in {max(seconds):.0f} s; scan exit {scan.returncode}")


def kill9(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    with scenario_registry(folder) as (db_path, tokens, receiver):
        serve = Serve(db_path, folder / "serve-kill.log")
        serve.start()
        hits = Hits(lambda: serve.port, tokens, "kill")
        sender = threading.Thread(target=hits.run, args=(2000, 500.0))
        sender.start()
        time.sleep(1.5)
        serve.kill9()
        serve.start()
        sender.join()
        wait_until(lambda: stored(db_path, "kill") >= len(hits.answered), 30)
        result = outcome(db_path, receiver)
        count = stored(db_path, "kill")
        serve.stop()
        return row("kill-9", hits, count, result, "SIGKILL after 1.5 s of a 500/s burst, restarted at once")


def destination_down(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    with scenario_registry(folder) as (db_path, tokens, receiver):
        serve = Serve(db_path, folder / "serve-dest.log")
        serve.start()
        receiver.down()
        hits = Hits(lambda: serve.port, tokens[:40], "dest")
        hits.run(200, 50.0)
        time.sleep(4)
        receiver.up()
        wait_until(lambda: stored(db_path, "dest") >= len(hits.answered), 30)
        result = outcome(db_path, receiver)
        count = stored(db_path, "dest")
        serve.stop()
        return row("dest-down", hits, count, result, "webhook down ~8 s while 40 alerts were raised")


def copytruncate(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    from canary.store import open_db
    from canary.watch.accesslog.sources import add_source

    with scenario_registry(folder) as (db_path, _tokens, receiver):
        audit = folder / "audit.log"
        audit.write_text("")
        db = open_db(db_path)
        add_source(db, "ehr-bench", f"file://{audit}", "mediboard")
        ipps = [row[0] for row in db.execute("SELECT json_extract(record, '$.ipp') FROM canaries")]
        db.close()
        serve = Serve(db_path, folder / "serve-rotate.log")
        serve.start()
        lines, rate, seconds = 0, 200, 6
        start = time.perf_counter()
        rotated = False
        with open(audit, "a", encoding="utf-8") as out:
            while lines < rate * seconds:
                due = start + lines / rate
                if (delay := due - time.perf_counter()) > 0:
                    time.sleep(delay)
                stamp = time.strftime("%Y-%m-%d %H:%M:%S+00:00", time.gmtime())
                out.write(f"{stamp} user=u{lines} ip=10.2.3.4 action=dPpatients.vw_full_patients "
                          f"ipp={ipps[lines % len(ipps)]} module=dPpatients\n")
                out.flush()
                lines += 1
                if not rotated and lines == rate * seconds // 2:
                    shutil.copyfile(audit, folder / "audit.log.1")  # what logrotate's copytruncate does
                    os.truncate(audit, 0)
                    rotated = True

        def access_events() -> int:
            with sqlite3.connect(db_path, timeout=30) as conn:
                return conn.execute("SELECT COUNT(*) FROM events WHERE channel = 'access-log'").fetchone()[0]

        wait_until(lambda: access_events() >= lines, 30)
        result = outcome(db_path, receiver)
        count = access_events()
        with sqlite3.connect(db_path, timeout=30) as conn:
            error = conn.execute("SELECT last_error FROM accesslog_sources").fetchone()[0]
        serve.stop()
        return row("copytruncate", None, count, result, f"200 lines/s, rotated at line {rate * seconds // 2}; "
                   f"last_error: {error or 'none'}", sent=lines, answered=lines)


def rename(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    from canary.store import open_db
    from canary.watch.accesslog.sources import add_source

    with scenario_registry(folder) as (db_path, _tokens, receiver):
        audit = folder / "audit.log"
        audit.write_text("")
        db = open_db(db_path)
        add_source(db, "ehr-bench", f"file://{audit}", "mediboard")
        ipps = [row[0] for row in db.execute("SELECT json_extract(record, '$.ipp') FROM canaries")]
        db.close()
        serve = Serve(db_path, folder / "serve-rename.log")
        serve.start()
        lines, rate, seconds = 0, 200, 6
        start = time.perf_counter()
        out = open(audit, "a", encoding="utf-8")  # noqa: SIM115 - reopened mid-way, as the EHR would
        renamed_at = None
        while lines < rate * seconds:
            due = start + lines / rate
            if (delay := due - time.perf_counter()) > 0:
                time.sleep(delay)
            stamp = time.strftime("%Y-%m-%d %H:%M:%S+00:00", time.gmtime())
            out.write(f"{stamp} user=u{lines} ip=10.2.3.4 action=dPpatients.vw_full_patients "
                      f"ipp={ipps[lines % len(ipps)]} module=dPpatients\n")
            out.flush()
            lines += 1
            if renamed_at is None and lines == rate * seconds // 3:
                os.rename(audit, folder / "audit.log.1")  # logrotate create: rename, new empty file
                audit.write_text("")
                renamed_at = lines
            elif renamed_at is not None and lines == renamed_at + rate * 2:
                out.close()  # the EHR's reload, 2 s later: it writes to the new file from now on
                out = open(audit, "a", encoding="utf-8")  # noqa: SIM115
        out.close()

        def access_events() -> int:
            with sqlite3.connect(db_path, timeout=30) as conn:
                return conn.execute("SELECT COUNT(*) FROM events WHERE channel = 'access-log'").fetchone()[0]

        wait_until(lambda: access_events() >= lines, 60)
        result = outcome(db_path, receiver)
        count = access_events()
        with sqlite3.connect(db_path, timeout=30) as conn:
            error = conn.execute("SELECT last_error FROM accesslog_sources").fetchone()[0]
        serve.stop()
        return row("rename", None, count, result, f"200 lines/s, renamed at line {rate * seconds // 3}, 400 late "
                   f"lines to the renamed file; last_error: {error or 'none'}", sent=lines, answered=lines)


def syslog_burst(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    import socket

    from canary.store import open_db
    from canary.watch.accesslog.sources import add_source

    with scenario_registry(folder) as (db_path, _tokens, receiver):
        port = free_port()
        db = open_db(db_path)
        add_source(db, "ehr-bench", f"syslog+tcp://127.0.0.1:{port}", "mediboard")
        ipps = [row[0] for row in db.execute("SELECT json_extract(record, '$.ipp') FROM canaries")]
        db.close()
        serve = Serve(db_path, folder / "serve-burst.log")
        serve.start()
        wait_until(lambda: _listening(port), 30)
        total, reads = args.burst_lines, 0
        with socket.create_connection(("127.0.0.1", port)) as conn:
            chunk: list[str] = []
            for n in range(total):
                canary_read = n % 600 == 300
                reads += canary_read
                patient = ipps[n % len(ipps)] if canary_read else str(30_000_000 + n)
                chunk.append(f"<38>Nov 14 09:33:11 srv-dpi mediboard[812]: user=b{n} ip=10.0.0.1 "
                             f"action=dPpatients.vw_full_patients ipp={patient}\n")
                if len(chunk) == 2000:
                    conn.sendall("".join(chunk).encode())
                    chunk.clear()
            conn.sendall("".join(chunk).encode())

        def counters() -> tuple[int, int, int]:
            with sqlite3.connect(db_path, timeout=30) as conn:
                lines, received = conn.execute("SELECT lines, lines_received FROM accesslog_sources").fetchone()
                events = conn.execute("SELECT COUNT(*) FROM events WHERE channel = 'access-log'").fetchone()[0]
            return lines, received, events

        wait_until(lambda: counters()[0] >= total and counters()[2] >= reads, 600, 0.5)
        result = outcome(db_path, receiver)
        lines, received, events = counters()
        serve.stop()
        return row("syslog-burst", None, events, result, f"{total:,} lines over one TCP connection, {received:,} "
                   f"received, {lines:,} counted; {reads} canary reads", sent=reads, answered=reads)


def smtp_flood(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    """Idle SMTP connections from 25 addresses, each inside its per-address rate limit (40 a minute of
    the 60 allowed), against a serve whose descriptor limit is 1,024 (LimitNOFILE of the units), while
    hits arrive on the callback listener and the console is asked /healthz: both answer within 1 s."""
    import socket

    from canary.settings import set_setting
    from canary.store import open_db

    with scenario_registry(folder) as (db_path, tokens, receiver):
        db = open_db(db_path)
        set_setting(db, "pool.mail_domains", "mail.example.fr")
        db.close()
        smtp_port = free_port()
        log = folder / "serve-smtpflood.log"
        serve = Serve(db_path, log, ("--smtp", "--smtp-port", str(smtp_port)), nofile=1024)
        serve.start()
        wait_until(lambda: _listening(smtp_port), 30)
        greetings: dict[str, int] = {"220": 0, "421": 0, "none": 0}
        held: list[socket.socket] = []
        lock = threading.Lock()

        def flood(source: str) -> None:
            for _ in range(args.flood_per_address):
                conn = socket.socket()
                try:
                    conn.bind((source, 0))
                    conn.settimeout(5)
                    conn.connect(("127.0.0.1", smtp_port))
                    code = conn.recv(64)[:3].decode() or "none"
                except OSError:
                    code = "none"
                with lock:
                    greetings[code if code in greetings else "none"] += 1
                    held.append(conn)

        flooders = [threading.Thread(target=flood, args=(f"127.0.0.{2 + n}",)) for n in range(25)]
        health: list[float] = []
        health_failed = 0
        stop = threading.Event()

        def ask_health() -> None:
            nonlocal health_failed
            while not stop.is_set():
                began = time.perf_counter()
                try:
                    conn = http.client.HTTPConnection("127.0.0.1", serve.console, timeout=10)
                    conn.request("GET", "/healthz")
                    ok = conn.getresponse().status == 200
                    conn.close()
                except (OSError, http.client.HTTPException):
                    ok = False
                health.append(time.perf_counter() - began)
                health_failed += not ok
                stop.wait(0.25)

        wait_until(lambda: _listening(serve.console), 30)
        asker = threading.Thread(target=ask_health)
        asker.start()
        for thread in flooders:
            thread.start()
        hits = Hits(lambda: serve.port, tokens, "smtpf")
        hits.run(args.hits, args.rate)
        for thread in flooders:
            thread.join()
        stop.set()
        asker.join()
        wait_until(lambda: stored(db_path, "smtpf") >= len(hits.answered), 30)
        result = outcome(db_path, receiver)
        count = stored(db_path, "smtpf")
        for conn in held:
            conn.close()
        serve.stop()
        text = log.read_text(errors="replace")
        within = sum(1 for latency in hits.latencies if latency <= 1.0)
        return row("smtp-flood", hits, count, result,
                   f"LimitNOFILE=1024; {25 * args.flood_per_address} SMTP connections from 25 addresses: "
                   f"{greetings['220']} held, {greetings['421']} answered 421, {greetings['none']} no answer; "
                   f"callbacks answered within 1 s: {within}/{hits.sent} (max {max(hits.latencies):.2f} s); "
                   f"/healthz max {max(health):.2f} s, {health_failed} failed of {len(health)}; "
                   f"log: {text.count('Errno 24')} 'Errno 24', {text.count('not accepted')} 'not accepted', "
                   f"{text.count('Traceback')} tracebacks")


def kill9_delivery(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    """serve killed while pages are on the wire to a slow receiver: every alert is paged after the
    restart, and only a page that was in flight at the kill may arrive a second time (same key)."""
    with scenario_registry(folder) as (db_path, tokens, receiver):
        receiver.delay = 1.0
        serve = Serve(db_path, folder / "serve-killdelivery.log")
        serve.start()
        hits = Hits(lambda: serve.port, tokens[:40], "kdel", agents=40)
        hits.run(200, 50.0)
        wait_until(lambda: len(receiver.hits) >= 8, 60)
        serve.kill9()
        with sqlite3.connect(db_path, timeout=30) as conn:
            pending = {key for (key,) in conn.execute(
                "SELECT idempotency_key FROM alert_outbox WHERE state = 'pending'")}
        with receiver.lock:
            paged_before = len(receiver.hits)
            in_flight = len(pending & set(receiver.hits))  # received, not marked delivered
        receiver.delay = 0.2
        serve.start()
        wait_until(lambda: stored(db_path, "kdel") >= len(hits.answered), 30)
        result = outcome(db_path, receiver)
        count = stored(db_path, "kdel")
        with sqlite3.connect(db_path, timeout=30) as conn:
            unpaged = conn.execute(
                "SELECT COUNT(*) FROM alerts a WHERE a.key LIKE 'tripwire:%' AND NOT EXISTS (SELECT 1 FROM "
                "alert_outbox o WHERE o.alert_id = a.id AND o.state = 'delivered')").fetchone()[0]
        serve.stop()
        over_once = sum(1 for n in receiver.hits.values() if n > 2)
        return row("kill-9-deliv", hits, count, result,
                   f"receiver answering in 1 s; SIGKILL after {paged_before} pages reached it, {in_flight} of "
                   f"them not yet marked delivered (each may come once more, same key); repeated more than "
                   f"once: {over_once}; alerts never paged: {unpaged}")


def restore_then_alerts(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    """Pages delivered, a backup, more pages, restore of that backup, new pages: no new page may carry
    a key the receiver already has (it would drop the new page as a repeat)."""
    with scenario_registry(folder) as (db_path, tokens, receiver):
        env = {**os.environ, "PYTHONPATH": str(ROOT), "CANARY_BACKUP_PASSPHRASE": "bench-faults-restore"}
        canary = [sys.executable, "-m", "canary", "--db", str(db_path)]
        serve = Serve(db_path, folder / "serve-restore.log")
        serve.start()
        for tag, chosen in (("rst1", tokens[:20]), ("rst2", tokens[20:40])):
            if tag == "rst2":
                subprocess.run([*canary, "backup", str(folder / "registry.backup")], env=env, check=True,
                               capture_output=True)
            hits = Hits(lambda: serve.port, chosen, tag, agents=20)
            hits.run(60, 30.0)
            wait_until(lambda t=tag, h=hits: stored(db_path, t) >= len(h.answered), 30)
            outcome(db_path, receiver)
        serve.stop()
        with receiver.lock:
            before = dict(receiver.hits)
        restore = subprocess.run([*canary, "restore", "--force", str(folder / "registry.backup")], env=env,
                                 capture_output=True, text=True, check=False)
        said = [line for line in (restore.stdout + restore.stderr).splitlines() if "restored from" in line]
        serve.start()
        hits = Hits(lambda: serve.port, tokens[40:60], "rst3", agents=20)
        hits.run(60, 30.0)
        wait_until(lambda: stored(db_path, "rst3") >= len(hits.answered), 30)
        result = outcome(db_path, receiver)
        count = stored(db_path, "rst3")
        serve.stop()
        with receiver.lock:
            reused = sum(1 for key, n in before.items() if receiver.hits[key] > n)
            new_pages = len(receiver.hits) - len(before)
        return row("restore", hits, count, result,
                   f"20 alerts paged, backup, 20 more paged, restore (exit {restore.returncode}: "
                   f"{said[0] if said else 'no restore line'!r}), then 20 new: {new_pages} new pages, keys "
                   f"already delivered before the restore received again: {reused}")


def _listening(port: int) -> bool:
    import socket

    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


SCENARIOS = {"disk-full": disk_full, "locked": locked, "seeds": seeds, "kill-9": kill9,
             "dest-down": destination_down, "copytruncate": copytruncate,
             "rename": rename, "syslog-burst": syslog_burst,
             "lock-45s": lock_slow_receiver, "smtp-flood": smtp_flood, "kill-9-deliv": kill9_delivery,
             "restore": restore_then_alerts}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="*", choices=list(SCENARIOS), help="run only these scenarios")
    parser.add_argument("--rate", type=float, default=100.0, help="hits per second (disk-full, locked, seeds)")
    parser.add_argument("--hits", type=int, default=600, help="hits per scenario (disk-full, locked, seeds)")
    parser.add_argument("--burst-lines", type=int, default=300_000, help="lines of the syslog-burst scenario")
    parser.add_argument("--flood-per-address", type=int, default=40,
                        help="idle SMTP connections from each of the 25 addresses (smtp-flood)")
    args = parser.parse_args()
    print(f"canary serve on 127.0.0.1, {os.cpu_count()} cores; goal: lost = answered - stored = 0 in every row")
    print(f"{'scenario':<13} {'sent':>5} {'answered':>8} {'stored':>6} {'alerted':>9} {'delivered':>9} "
          f"{'dup':>4} {'lost':>4}  note")
    for name in args.only or list(SCENARIOS):
        with tempfile.TemporaryDirectory() as folder:
            started = time.monotonic()
            result = SCENARIOS[name](args, Path(folder))
            took = time.monotonic() - started
        if result is None:
            print(f"{name:<13} skipped: cannot mount a tmpfs here (needs root)")
            continue
        print(f"{result['scenario']:<13} {result['sent']:>5} {result['answered']:>8} {result['stored']:>6} "
              f"{result['alerted']:>9} {result['delivered']:>9} {result['dup']:>4} {result['lost']:>4}  "
              f"{result['note']} ({took:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
