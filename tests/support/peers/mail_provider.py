"""A consumer mail provider on 127.0.0.1, in its own process: a real SMTP server (aiosmtpd) that
delivers into one mailbox served by a real IMAP4 server (Twisted's), and forwards some addresses
to another SMTP server (the canary receiver), as a provider's forward does.

    python -m tests.support.peers.mail_provider_server LOGIN PASSWORD [--drop ADDRESS]...
        [--forward ADDRESS=TO@HOST:PORT]... [--tls CERT KEY]

Every recipient is accepted (as a relay queues mail), but mail to a ``--drop`` address never reaches
a mailbox (a mailbox the operator believes opened, but is not). Prints "SMTP_PORT IMAP_PORT", then
serves until killed. ``start_mail_provider`` runs it for a test.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.processes import read_line

ROOT = Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class MailProvider:
    smtp_port: int
    imap_port: int


@contextmanager
def start_mail_provider(login: str, password: str, *, drop: tuple[str, ...] = (),
                        forward: dict[str, str] | None = None,
                        tls: tuple[str, str] | None = None) -> Iterator[MailProvider]:
    """Run the provider for the duration of the block; stopped (by its pid) afterwards. ``tls``: the
    (certificate, key) PEM files its SMTP server offers with STARTTLS."""
    args = [sys.executable, "-m", "tests.support.peers.mail_provider_server", login, password,
            *(["--tls", *tls] if tls else [])]
    for address in drop:
        args += ["--drop", address]
    for address, target in (forward or {}).items():
        args += ["--forward", f"{address}={target}"]
    process = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = read_line(process.stdout, timeout=60) if process.stdout else ""
        if not line.strip():
            raise AssertionError(f"mail provider did not start: {process.stderr.read() if process.stderr else ''}")
        smtp_port, imap_port = (int(p) for p in line.split())
        yield MailProvider(smtp_port, imap_port)
    finally:
        process.terminate()
        process.wait(timeout=30)
        for stream in (process.stdout, process.stderr):
            if stream:
                stream.close()
