"""Real database servers for the audit-table tests: MariaDB (and PostgreSQL) in a temporary directory.

Each server is started by the fixture on a unix socket and a loopback port, initialised in its own
data directory, and stopped at the end of the module. Without the binaries the tests are skipped,
with the reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.ports import free_port
from tests.support.wait import wait_for

MARIADBD = shutil.which("mariadbd") or shutil.which("mariadbd", path="/usr/sbin:/usr/local/sbin")
INSTALL_DB = shutil.which("mariadb-install-db")


@dataclass
class MariaDB:
    socket: Path
    port: int
    process: subprocess.Popen[bytes]

    def admin(self, database: str | None = None) -> Any:
        """A root session over the socket (the EHR's side: creates tables, writes audit rows)."""
        import pymysql

        return pymysql.connect(unix_socket=str(self.socket), user="root", database=database, autocommit=True)

    def run(self, sql: str, params: Any = None, database: str | None = None) -> list[tuple[Any, ...]]:
        conn = self.admin(database)
        try:
            with conn.cursor() as cursor:
                cursor.execute(sql, params)
                return list(cursor.fetchall())
        finally:
            conn.close()


@contextmanager
def running_mariadb(base: Path) -> Iterator[MariaDB]:
    """A MariaDB server initialised in ``base`` (skips the test when the binaries are absent)."""
    if not MARIADBD or not INSTALL_DB:
        pytest.skip("MariaDB server not installed (Debian package mariadb-server)")
    as_root = ["--user=root"] if os.geteuid() == 0 else []
    subprocess.run([INSTALL_DB, "--no-defaults", *as_root, f"--datadir={base / 'data'}",
                    "--auth-root-authentication-method=normal", "--skip-test-db"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
    sock, port = base / "mysqld.sock", free_port()
    process = subprocess.Popen(
        [MARIADBD, "--no-defaults", *as_root, f"--datadir={base / 'data'}", f"--socket={sock}", f"--port={port}",
         "--bind-address=127.0.0.1", "--skip-name-resolve", "--innodb-buffer-pool-size=16M",
         "--innodb-log-file-size=8M", "--skip-log-bin",
         "--innodb-flush-log-at-trx-commit=0",  # a throw-away server: no fsync per row
         f"--pid-file={base / 'mysqld.pid'}",
         f"--log-error={base / 'error.log'}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = MariaDB(sock, port, process)

    def error_log() -> str:
        log = base / "error.log"
        return log.read_text(errors="replace")[-2000:] if log.exists() else ""

    def answers() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"mariadbd exited (status {process.returncode}): {error_log()}")
        try:
            server.run("SELECT 1")
        except Exception:
            return False
        return True

    try:
        wait_for(answers, timeout=60, interval=0.2, message=lambda: f"mariadbd did not start: {error_log()}")
    except AssertionError:
        process.kill()
        raise
    try:
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# Mediboard's audit table (user_log), with a free-text `type` so the tests can write reads too.
USER_LOG = """
CREATE TABLE user_log (
    user_log_id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    user_id INT UNSIGNED NOT NULL,
    date DATETIME NOT NULL,
    type VARCHAR(20) NOT NULL,
    object_class VARCHAR(80) NOT NULL,
    object_id INT UNSIGNED NOT NULL,
    ip_address VARBINARY(16),
    fields TEXT,
    extra TEXT
)"""
# Mediboard's external ids (the IPP is an id400 of a CPatient).
ID_SANTE400 = """
CREATE TABLE id_sante400 (
    id_sante400_id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    object_class VARCHAR(80) NOT NULL,
    object_id INT UNSIGNED NOT NULL,
    tag VARCHAR(80),
    id400 VARCHAR(80) NOT NULL
)"""


PG_BIN = Path("/usr/lib/postgresql")


def _pg_binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(PG_BIN.glob(f"*/bin/{name}")) if PG_BIN.exists() else []
    return str(versions[-1]) if versions else None


@dataclass
class PostgreSQL:
    socket_dir: Path
    port: int

    def run(self, sql: str, params: Any = None, database: str = "postgres") -> list[tuple[Any, ...]]:
        import psycopg

        with psycopg.connect(host=str(self.socket_dir), port=self.port, user="postgres", dbname=database,
                             autocommit=True) as conn:
            cursor = conn.execute(sql, params)
            return list(cursor.fetchall()) if cursor.description else []


@contextmanager
def running_postgresql(base: Path) -> Iterator[PostgreSQL]:
    """A PostgreSQL server in ``base``, run as the ``postgres`` account when we are root (it refuses root)."""
    initdb, pg_ctl = _pg_binary("initdb"), _pg_binary("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip("PostgreSQL server not installed (Debian package postgresql)")
    prefix: list[str] = []
    if os.geteuid() == 0:
        runuser = shutil.which("runuser")
        if not runuser:
            pytest.skip("running PostgreSQL as root needs runuser to switch to the postgres account")
        prefix = [runuser, "-u", "postgres", "--"]
        # pytest's temporary root is private to root: the server gets a directory of its own in /tmp.
        base = Path(tempfile.mkdtemp(prefix="canary-pg-"))
    data, sock, port = base / "data", base / "sock", free_port()
    sock.mkdir()
    if prefix:
        shutil.chown(base, "postgres")
        shutil.chown(sock, "postgres")
    subprocess.run([*prefix, initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                    "--no-instructions"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)
    # Password authentication over TCP (what the tests check), trust on the socket (the fixture's admin).
    (data / "pg_hba.conf").write_text("local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n")
    options = f"-k {sock} -p {port} -c listen_addresses=127.0.0.1 -c shared_buffers=16MB -c fsync=off"
    subprocess.run([*prefix, pg_ctl, "-D", str(data), "-o", options, "-l", str(base / "server.log"), "-w",
                    "-t", "60", "start"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                   timeout=120)
    try:
        yield PostgreSQL(sock, port)
    finally:
        subprocess.run([*prefix, pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
        if prefix:
            shutil.rmtree(base, ignore_errors=True)


PG_USER_LOG = """
CREATE TABLE user_log (
    user_log_id BIGSERIAL PRIMARY KEY,
    user_id INTEGER NOT NULL,
    date TIMESTAMP NOT NULL,
    type VARCHAR(20) NOT NULL,
    object_class VARCHAR(80) NOT NULL,
    object_id INTEGER NOT NULL,
    ip_address VARCHAR(39),
    fields TEXT,
    extra TEXT
)"""
