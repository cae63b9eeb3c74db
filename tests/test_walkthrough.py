"""The README walkthrough, run as written, with its hospital addresses swapped for loopback peers.

Each host, port and path of the walkthrough is replaced by a real peer on 127.0.0.1 (MLLP, MLLP over
TLS, a webhook receiver) or a temporary path; nothing else in the commands changes. When a command
is added to the walkthrough, add its substitutions here.
"""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from click.testing import CliRunner

from canary.cli import get_cli
from tests.plant.conftest import MllpPeer, RunningMllp, closed_port
from tests.plant.pki import make_pki, server_context
from tests.test_docs import _readme_commands

ROOT = Path(__file__).resolve().parents[1]


class _Webhook(BaseHTTPRequestHandler):
    received: list[bytes] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server API)
        self.received.append(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_readme_walkthrough_runs_as_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CANARY_PLANT_TIMEOUT", "5")
    monkeypatch.setenv("CANARY_ALERT_ALLOW_PRIVATE_TARGETS", "true")  # the receivers below are on loopback
    plain = MllpPeer()
    plain_server = RunningMllp(plain)
    pki = make_pki(tmp_path / "pki")
    tls = MllpPeer()
    tls_server = RunningMllp(tls, ssl_context=server_context(pki.server))
    hooks = ThreadingHTTPServer(("127.0.0.1", 0), _Webhook)
    threading.Thread(target=hooks.serve_forever, daemon=True).start()
    (tmp_path / "srv" / "import").mkdir(parents=True)
    (tmp_path / "srv" / "drops").mkdir()
    substitutions = {
        "10.0.0.5:6661": f"127.0.0.1:{plain.port}",
        "hl7.chu.example:6662": f"127.0.0.1:{tls.port}",
        "/etc/canary/ca.pem": pki.ca.cert,
        "file:///srv/": f"file://{tmp_path}/srv/",
        "/srv/drops": str(tmp_path / "srv" / "drops"),
        "0.0.0.0:5514": f"127.0.0.1:{closed_port()}",
        "json://soc.example.fr/hooks/canary": f"json://127.0.0.1:{hooks.server_port}/soc",
        "jsons://siem.chu.example:8443/canary": f"json://127.0.0.1:{hooks.server_port}/siem",
    }
    db = tmp_path / "canary.db"
    runner = CliRunner()
    ids: list[str] = []
    try:
        for args in _readme_commands():
            args = [_substitute(arg, substitutions) for arg in args]
            if args[0] == "serve":
                _serve_briefly(db, args)
                continue
            if args[0] == "scan":
                _write_leak(tmp_path, db, ids)
            result = runner.invoke(get_cli(), ["--db", str(db), *args], catch_exceptions=False)
            assert result.exit_code == 0, f"canary {' '.join(args)}:\n{result.output}"
            if args[0] == "seed":
                ids += re.findall(r"^[a-z0-9]{10}$", result.stdout, re.MULTILINE)
    finally:
        plain_server.stop()
        tls_server.stop()
        hooks.shutdown()
    assert plain.events() == ["A28"] * 40 and tls.events() == ["A28"] * 20
    assert len(_Webhook.received) == 2  # notify test reached both destinations
    alerts = json.loads(runner.invoke(get_cli(), ["--db", str(db), "alerts", "--json"]).stdout)
    assert alerts and alerts[0]["channel"] == "leak"


def _substitute(arg: str, substitutions: dict[str, str]) -> str:
    for old, new in substitutions.items():
        arg = arg.replace(old, new)
    return arg


def _write_leak(folder: Path, db: Path, ids: list[str]) -> None:
    """`leak.sql.gz` and `samples/` of the walkthrough: a dump holding one canary of ehr-lyon."""
    from canary.store import open_db
    from canary.store.registry import get_canary

    registry = open_db(db)
    try:
        canary = next(get_canary(registry, cid) for cid in ids if get_canary(registry, cid)["system"] == "ehr-lyon")
    finally:
        registry.close()
    row = f"INSERT INTO patients VALUES ('{canary['birth_name']}','{canary['first_names'][0]}'," \
          f"'{canary['birth_date']}','{canary['nir']}');\n"
    (folder / "leak.sql.gz").write_bytes(gzip.compress(row.encode()))
    (folder / "samples").mkdir(exist_ok=True)
    (folder / "samples" / "notes.txt").write_text("rien ici\n", encoding="utf-8")


def _serve_briefly(db: Path, args: list[str]) -> None:
    """`canary serve` as written, on free ports (other tests may hold the defaults), until it is up."""
    ports = ["--port", "0", "--callback-port", "0", "--dns-port", "0", "--smtp-port", "0"]
    proc = subprocess.Popen([sys.executable, "-m", "canary", "--db", str(db), *args, *ports],
                            stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        deadline = time.monotonic() + 30
        seen = []
        while time.monotonic() < deadline:
            line = proc.stderr.readline() if proc.stderr else ""
            seen.append(line)
            if "console on http://" in line or not line:
                break
        assert any("console on http://" in line for line in seen), "".join(seen)
    finally:
        proc.terminate()
        proc.wait(timeout=15)
