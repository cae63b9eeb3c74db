"""The README walkthrough, run as written, with its hospital addresses swapped for loopback peers.

Each host, port and path of the walkthrough is replaced by a real peer on 127.0.0.1 (MLLP, MLLP over
TLS, a webhook receiver, the callback listener, an authoritative DNS server for `doctor`) or a temporary
path holding a real input (phones file, Mediboard export, BAN and RPPS extracts); nothing else in the
commands changes, and every command, `lint` and `doctor` included, must exit 0. When a command
is added to the walkthrough, add its substitutions here.
"""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import sys
import threading
from contextlib import ExitStack
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from dnslib import QTYPE, RCODE, RR
from dnslib.server import BaseResolver, DNSLogger, DNSServer

from canary.cli import get_cli
from canary.generate.reference import Reference
from canary.watch.tripwire.services import build
from tests.support.host_population import write_host_export
from tests.support.peers.mail_provider import start_mail_provider
from tests.support.peers.mllp import MllpPeer, RunningMllp
from tests.support.pki import make_pki, server_context
from tests.support.ports import closed_port
from tests.support.processes import read_line
from tests.support.registers import Doctor, fixture_doctors, fixture_points, write_ban, write_rpps
from tests.support.wait import wait_for
from tests.test_docs import _readme_commands

ROOT = Path(__file__).resolve().parents[1]


class _Webhook(BaseHTTPRequestHandler):
    received: list[bytes] = []

    def do_POST(self) -> None:  # http.server API
        self.received.append(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


# What the walkthrough's DNS names would hold once delegated to this host (`canary doctor` checks it).
ZONE = """
docs.example.fr. 60 IN NS ns1.docs.example.fr.
ns1.docs.example.fr. 60 IN A 127.0.0.1
messagerie-famille.fr. 60 IN MX 10 mx.messagerie-famille.fr.
mx.messagerie-famille.fr. 60 IN A 127.0.0.1
boite-perso.fr. 60 IN MX 10 mx.boite-perso.fr.
mx.boite-perso.fr. 60 IN A 127.0.0.1
"""


class _Zone(BaseResolver):
    """An authoritative server for ZONE on loopback: NXDOMAIN for the names it does not hold."""

    def __init__(self) -> None:
        self.records = RR.fromZone(ZONE)
        self.questions: list[str] = []

    def resolve(self, request, handler):  # dnslib API
        reply = request.reply()
        name, qtype = str(request.q.qname).lower(), QTYPE[request.q.qtype]
        self.questions.append(name)
        known = [rr for rr in self.records if str(rr.rname).lower() == name]
        reply.header.rcode = RCODE.NOERROR if known else RCODE.NXDOMAIN
        for rr in known:
            if QTYPE[rr.rtype] == qtype:
                reply.add_answer(rr)
        return reply


def test_readme_walkthrough_runs_as_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CANARY_PLANT_TIMEOUT", "5")
    monkeypatch.setenv("CANARY_ALERT_ALLOW_PRIVATE_TARGETS", "true")  # the receivers below are on loopback
    monkeypatch.setenv("CANARY_BACKUP_PASSPHRASE", "walkthrough passphrase, long enough")
    zone = _Zone()
    dns_server = DNSServer(zone, port=0, address="127.0.0.1",
                           logger=DNSLogger("-recv,-send,-request,-reply,-truncated,-error,-data"))
    dns_server.start_thread()
    # `doctor` asks the loopback zone and reaches the callback listener on loopback, never the Internet.
    monkeypatch.setenv("CANARY_DOCTOR_RESOLVER", f"127.0.0.1:{dns_server.server.server_address[1]}")
    monkeypatch.setenv("CANARY_DOCTOR_HOST_ADDRESSES", "127.0.0.1")
    monkeypatch.setenv("CANARY_DOCTOR_TIMEOUT", "3")
    callback_port = closed_port()  # the callback listener starts there once the registry exists
    _write_inputs(tmp_path)
    plain = MllpPeer()
    plain_server = RunningMllp(plain)
    pki = make_pki(tmp_path / "pki")
    tls = MllpPeer()
    tls_server = RunningMllp(tls, ssl_context=server_context(pki.server))
    hooks = ThreadingHTTPServer(("127.0.0.1", 0), _Webhook)
    threading.Thread(target=hooks.serve_forever, daemon=True).start()
    (tmp_path / "srv" / "import").mkdir(parents=True)
    (tmp_path / "srv" / "drops").mkdir()
    (tmp_path / "srv" / "backup").mkdir()
    substitutions = {
        "10.0.0.5:6661": f"127.0.0.1:{plain.port}",
        "hl7.chu.example:6662": f"127.0.0.1:{tls.port}",
        "/etc/canary/ca.pem": pki.ca.cert,
        "/etc/canary/phones.txt": str(tmp_path / "phones.txt"),
        "/srv/backup/": f"{tmp_path}/srv/backup/",
        "https://portail-patient.example.fr": f"http://127.0.0.1:{callback_port}",
        "file:///srv/": f"file://{tmp_path}/srv/",
        "/srv/drops": str(tmp_path / "srv" / "drops"),
        "0.0.0.0:5514": f"127.0.0.1:{closed_port()}",
        "json://soc.example.fr/hooks/canary": f"json://127.0.0.1:{hooks.server_port}/soc",
        "jsons://siem.chu.example:8443/canary": f"json://127.0.0.1:{hooks.server_port}/siem",
    }
    # The consumer mailboxes forward to the polled one: every probe of `contacts confirm` comes back.
    monkeypatch.setenv("SSL_CERT_FILE", pki.ca.cert)  # the relay's STARTTLS certificate is the test CA's
    monkeypatch.setenv("CANARY_IMAP_PASSWORD_VEILLE_MESSAGERIE_FAMILLE_FR", "pw-veille")
    provider = ExitStack()
    mail = provider.enter_context(start_mail_provider("veille@messagerie-famille.fr", "pw-veille",
                                                      tls=(pki.server.cert, pki.server.key)))
    substitutions.update({
        "relais-smtp.chu.example": "127.0.0.1", "587": str(mail.smtp_port),
        "imaps://veille@messagerie-famille.fr@imap.messagerie-famille.fr":
            f"imap://veille@messagerie-famille.fr@127.0.0.1:{mail.imap_port}",
    })
    db = tmp_path / "canary.db"
    runner = CliRunner()
    ids: list[str] = []
    listeners: list[Any] = []  # the callback listener, up only while `doctor` runs
    try:
        for args in _readme_commands():
            args = [_substitute(arg, substitutions) for arg in args]
            if args[0] == "serve":
                _serve_briefly(db, args)
                continue
            if args[0] == "scan":
                _write_leak(tmp_path, db, ids)
            if args[0] == "doctor":
                listeners = build(db, None, {"callback_host": "127.0.0.1", "callback_port": callback_port})
                for service in listeners:
                    service.start()
            try:
                result = runner.invoke(get_cli(), ["--db", str(db), *args], catch_exceptions=False)
            finally:
                for service in reversed(listeners):
                    service.stop()
                listeners = []
            assert result.exit_code == 0, f"canary {' '.join(args)}:\n{result.output}"
            if args[0] == "seed":
                ids += re.findall(r"^[a-z0-9]{10}$", result.stdout, re.MULTILINE)
    finally:
        provider.close()
        plain_server.stop()
        tls_server.stop()
        hooks.shutdown()
        dns_server.stop()
    assert (tmp_path / "srv" / "backup" / "canary.bak").stat().st_size > 0
    assert {"docs.example.fr.", "messagerie-famille.fr.", "boite-perso.fr."} <= set(zone.questions)
    assert plain.events() == ["A28"] * 36 and tls.events() == ["A28"] * 20
    assert len(_Webhook.received) == 2  # notify test reached both destinations; doctor pages nobody
    alerts = json.loads(runner.invoke(get_cli(), ["--db", str(db), "alerts", "--json"]).stdout)
    assert alerts and alerts[0]["channel"] == "leak"


def _write_inputs(folder: Path) -> None:
    """The files the walkthrough names by relative path (the cwd is ``folder``) and the phones file."""
    # The walkthrough's two ranges are two blocks; the file brings numbers from many more (a system gets
    # only a few canaries per block of 1,000 / 10,000, so a clean `lint` needs a pool spread like this).
    starts = ["+33755989000", "+33669411000", "+33624578000", "+33658792000", "+33611377000", "+33733593000",
              "+33627898000", "+33626101000", "+33637313000", "+33750359000", "+33633984000", "+33748126000",
              "+33731285000", "+33652481000", "+33771996000", "+33671703000", "+33642126000", "+33758841000",
              "+33641696000", "+33777428000", "+33685575000", "+33665214000", "+33775886000", "+33653459000"]
    # Numbers among real subscribers carry a canary or so per block of 10,000 at the host's block density
    # (canary.generate.block_density): the pool spans many such blocks.
    starts += [f"+33{prefix}{block:02d}1000" for prefix in (612, 622, 644, 662, 676, 695, 752, 763, 782)
               for block in (11, 37, 58, 74, 93)]
    ranges = "".join(f"{start}-+{int(start[1:]) + 49}\n" for start in starts)
    (folder / "phones.txt").write_text(f"# numbers bought for the canaries\n{ranges}+33478123400, +33652000100\n",
                                       encoding="utf-8")
    reference = Reference.load()
    write_host_export(folder / "patients.csv", reference, 3000)  # Mediboard columns, around Lyon 3e
    for department in ("69", "01"):
        write_ban(folder / f"adresses-{department}.csv.gz", fixture_points(reference, department))
    doctors = [*fixture_doctors(),
               Doctor("10003000110", "GARNIER", "SOPHIE", "69383", "69003", "LYON"),
               Doctor("10003000128", "PERRIN", "LUC", "69266", "69100", "VILLEURBANNE"),
               Doctor("10003000136", "MOREL", "ALICE", "01053", "01000", "BOURG EN BRESSE")]
    write_rpps(folder / "PS_LibreAcces_Personne_activite_202611280000.txt", doctors)


def _substitute(arg: str, substitutions: dict[str, str]) -> str:
    # A bare port ("587") is replaced only as a whole argument: inside another one (a free port such
    # as 36587 chosen for another peer) it is not the relay's port.
    if arg in substitutions and arg.isdigit():
        return substitutions[arg]
    for old, new in substitutions.items():
        if not old.isdigit():
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
    seen: list[str] = []

    def console_on() -> bool:
        assert proc.stderr is not None
        seen.append(read_line(proc.stderr, timeout=30))
        return "console on http://" in seen[-1] or not seen[-1]

    try:
        wait_for(console_on, timeout=30, interval=0, message=lambda: "".join(seen))
        assert any("console on http://" in line for line in seen), "".join(seen)
    finally:
        proc.terminate()
        proc.wait(timeout=15)
