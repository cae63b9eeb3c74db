"""Real database servers for the audit-table tests: MariaDB (and PostgreSQL) in a temporary directory.

Each server is started by the fixture on a unix socket and a loopback port, initialised in its own
data directory, and stopped at the end of the module. Without the binaries the tests are skipped,
with the reason.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

MARIADBD = shutil.which("mariadbd") or shutil.which("mariadbd", path="/usr/sbin:/usr/local/sbin")
INSTALL_DB = shutil.which("mariadb-install-db")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


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
         "--innodb-log-file-size=8M", "--skip-log-bin", f"--pid-file={base / 'mysqld.pid'}",
         f"--log-error={base / 'error.log'}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = MariaDB(sock, port, process)
    deadline = time.monotonic() + 60
    while True:
        try:
            server.run("SELECT 1")
            break
        except Exception:
            if process.poll() is not None or time.monotonic() > deadline:
                log = (base / "error.log").read_text(errors="replace")[-2000:] if (base / "error.log").exists() else ""
                process.kill()
                pytest.fail(f"mariadbd did not start: {log}")
            time.sleep(0.2)
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
