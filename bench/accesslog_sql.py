"""Database audit-table benchmark: rows/s read, matched and stored from a real MariaDB ``user_log``.

    python3 bench/accesslog_sql.py                # 500,000 rows, 10,000 canaries (Debian mariadb-server)
    python3 bench/accesslog_sql.py --rows 100000

Starts a throw-away MariaDB server (socket + loopback port, temporary directory), fills a Mediboard-like
``user_log`` where one row in --hit-every reads a planted canary (CPatient id = plantings.external_id),
then polls it with the database source's code path (batches of 1,000 rows, key and events committed
together) over TCP with a password, as ``canary serve`` does. Reference, measured in the same run:
the same SELECT batches fetched with PyMySQL alone (no matching, no storing).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pymysql  # noqa: E402

from bench.accesslog import SYSTEM, make_registry  # noqa: E402
from canary.store import open_db  # noqa: E402
from canary.watch.accesslog.sources import add_source, get_source  # noqa: E402
from canary.watch.accesslog.sqlpoller import SqlPoller  # noqa: E402
from tests.support.peers.sql import USER_LOG, running_mariadb  # noqa: E402

PASSWORD = "bench-ro"


def fill(server, rows: int, canaries: int, hit_every: int) -> int:
    rng = random.Random(7)
    conn = server.admin("mb")
    conn.autocommit(False)  # one transaction: the fill is set-up, not measured
    hits = 0
    with conn.cursor() as cursor:
        batch = []
        for n in range(rows):
            if n % hit_every == hit_every // 2:
                cls, obj = "CPatient", 900_000 + rng.randrange(canaries)
                hits += 1
            else:
                cls, obj = rng.choice(["CPatient", "CSejour", "CConsultation"]), rng.randrange(1, 800_000)
            batch.append((rng.randrange(1, 800), f"2026-11-14 {8 + n // 36000 % 12:02d}:{n // 600 % 60:02d}:"
                          f"{n // 10 % 60:02d}", rng.choice(["read", "store", "create"]), cls, obj))
            if len(batch) == 5000 or n == rows - 1:
                cursor.executemany("INSERT INTO user_log (user_id, date, type, object_class, object_id, ip_address) "
                                   "VALUES (%s, %s, %s, %s, %s, INET6_ATON('10.2.3.4'))", batch)
                batch = []
    conn.commit()
    conn.close()
    return hits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--canaries", type=int, default=10_000)
    parser.add_argument("--hit-every", type=int, default=10_000)
    args = parser.parse_args()
    if not shutil.which("mariadbd") and not Path("/usr/sbin/mariadbd").exists():
        sys.exit("needs the Debian package mariadb-server")
    with tempfile.TemporaryDirectory(prefix="canary-bench-sql-") as tmp, running_mariadb(Path(tmp) / "m") as server:
        base = Path(tmp)
        server.run("CREATE DATABASE mb")
        server.run(USER_LOG, database="mb")
        server.run(f"CREATE USER 'ro'@'127.0.0.1' IDENTIFIED BY '{PASSWORD}'")
        server.run("GRANT SELECT ON mb.user_log TO 'ro'@'127.0.0.1'")
        started = time.perf_counter()
        hits = fill(server, args.rows, args.canaries, args.hit_every)
        print(f"filled {args.rows:,} rows ({hits} canary reads) in {time.perf_counter() - started:.1f} s")

        db_path = base / "canary.db"
        make_registry(db_path, args.canaries)
        db = open_db(db_path)
        db["plantings"].insert_all(
            {"canary_id": f"bench{i:06d}", "system": SYSTEM, "channel": "mllp", "target": "mllp://127.0.0.1:1",
             "state": "planted", "external_id": str(900_000 + i), "planned_at": "2026-01-01T00:00:00Z",
             "updated_at": "2026-01-01T00:00:00Z"} for i in range(args.canaries))
        add_source(db, SYSTEM, f"sql+mysql://ro@127.0.0.1:{server.port}/mb?table=user_log", "mediboard-sql")
        os.environ["CANARY_SQL_PASSWORD_EHR_BENCH"] = PASSWORD

        # Reference: the same batches, fetched only.
        conn = pymysql.connect(host="127.0.0.1", port=server.port, user="ro", password=PASSWORD, database="mb")
        started, last, fetched = time.perf_counter(), 0, 0
        with conn.cursor() as cursor:
            while True:
                cursor.execute("SELECT user_log_id, user_id, date, type, object_class, object_id, ip_address "
                               "FROM user_log WHERE user_log_id > %s ORDER BY user_log_id LIMIT 1000", [last])
                rows = cursor.fetchall()
                if not rows:
                    break
                fetched, last = fetched + len(rows), rows[-1][0]
        reference = time.perf_counter() - started
        conn.close()

        started, cpu = time.perf_counter(), time.process_time()
        result = SqlPoller(db, get_source(db, SYSTEM)).poll()
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        events = db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        db.close()
        print(f"canary database source: {result.lines:,} rows in {wall:.2f} s wall / {cpu:.2f} s CPU: "
              f"{result.lines / wall:,.0f} rows/s, {events} events ({hits} expected)")
        print(f"reference, PyMySQL fetch only: {fetched:,} rows in {reference:.2f} s: "
              f"{fetched / reference:,.0f} rows/s")


if __name__ == "__main__":
    main()
