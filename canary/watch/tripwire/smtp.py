"""The SMTP receiver (aiosmtpd) for the operator's canary mail domains.

It accepts mail only for those domains (no relaying), caps message size and recipient count, and turns
a message to a canary address into one event per canary (channel ``smtp``), committed before the
``250`` reply. The message itself is kept in ``tripwire_messages``.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
from dataclasses import dataclass
from typing import Any

import sqlite_utils
from aiosmtpd.smtp import SMTP, Envelope, Session

from canary.errors import CanaryError
from canary.normalize import email_key
from canary.settings import get_setting
from canary.store.events import utcnow
from canary.store.registry import find_by_marker
from canary.watch.tripwire.hits import Hit, record_hit
from canary.watch.tripwire.messages import header_digest, keep_message
from canary.watch.tripwire.noise import NoisePolicy
from canary.watch.tripwire.writer import EventWriter

log = logging.getLogger("canary.tripwire.smtp")


@dataclass(frozen=True)
class MailConfig:
    domains: tuple[str, ...]
    hostname: str
    max_bytes: int = 1_048_576
    max_recipients: int = 20
    timeout: float = 60.0
    commit_timeout: float = 15.0

    @classmethod
    def from_settings(cls, db: sqlite_utils.Database) -> MailConfig:
        domains = tuple(d.strip().lower().rstrip(".") for d in get_setting(db, "pool.mail_domains") if d.strip())
        if not domains:
            raise CanaryError("the SMTP receiver needs mail domains: canary config set pool.mail_domains example.fr")
        return cls(
            domains=domains,
            hostname=str(get_setting(db, "tripwire.smtp_hostname") or f"mx.{domains[0]}"),
            max_bytes=int(get_setting(db, "tripwire.smtp_max_bytes")),
            max_recipients=int(get_setting(db, "tripwire.smtp_max_recipients")),
        )


class CanaryMailHandler:
    """aiosmtpd handler: relay refusal and recipient cap at RCPT, storage at DATA."""

    def __init__(self, config: MailConfig, writer: EventWriter, policy: NoisePolicy):
        self.config = config
        self.writer = writer
        self.policy = policy

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        domain = address.rpartition("@")[2].lower().rstrip(".")
        if domain not in self.config.domains:
            return "550 5.7.1 Relaying denied"
        if len(envelope.rcpt_tos) >= self.config.max_recipients:
            return "452 4.5.3 Too many recipients"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        peer = session.peer[0] if isinstance(session.peer, tuple) else str(session.peer)
        job = self._job(raw, peer, envelope.mail_from, list(envelope.rcpt_tos), session.host_name)
        try:
            await asyncio.wrap_future(self.writer.submit(job))
        except Exception:
            log.exception("mail from %s could not be stored", peer)
            return "451 4.3.0 Try again later"
        return f"250 2.0.0 Ok: queued as {secrets.token_hex(5).upper()}"

    def _job(self, raw: bytes, peer: str, mail_from: str | None, rcpt_to: list[str], helo: str | None):
        digest = header_digest(raw)
        received = utcnow()

        def job(db: sqlite_utils.Database) -> int:
            canaries: dict[str, str] = {}
            for address in rcpt_to:
                canary_id = find_by_marker(db, "email", email_key(address))
                if canary_id and canary_id not in canaries:
                    canaries[canary_id] = address
            if not canaries:
                log.info("mail from %s to %d address(es) that are no canary", peer, len(rcpt_to))
                return 0
            stored = keep_message(db, channel="smtp", canary_ids=list(canaries), raw=raw, peer=peer,
                                  mail_from=mail_from, rcpt_to=rcpt_to, digest=digest,
                                  max_bytes=self.config.max_bytes)
            for canary_id, address in canaries.items():
                details = {**digest, "mail_from": mail_from, "recipient": address, "helo": helo, "peer": peer,
                           "size": len(raw), "message": stored}
                hit = Hit(channel="smtp", source=peer, source_ip=peer, time=received,
                          details={k: v for k, v in details.items() if v is not None})
                record_hit(db, hit, canary_id, self.policy)
            return len(canaries)

        return job


class SmtpListener:
    """The aiosmtpd server on its own event loop thread (binding port 0 works: the port is read back)."""

    def __init__(self, handler: CanaryMailHandler, host: str, port: int):
        self.handler = handler
        self.host = host
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def _factory(self) -> SMTP:
        config = self.handler.config
        return SMTP(self.handler, data_size_limit=config.max_bytes, hostname=config.hostname, ident="ESMTP",
                    timeout=config.timeout, command_call_limit=100, enable_SMTPUTF8=True)

    def start(self) -> None:
        loop = asyncio.new_event_loop()
        started = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                self._server = loop.run_until_complete(loop.create_server(self._factory, self.host, self.port))
                self.port = self._server.sockets[0].getsockname()[1]
            except BaseException as exc:
                errors.append(exc)
                started.set()
                loop.close()
                return
            started.set()
            loop.run_forever()
            self._server.close()
            loop.run_until_complete(self._server.wait_closed())
            loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="tripwire-smtp", daemon=True)
        self._thread.start()
        started.wait()
        if errors:
            raise errors[0]

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
        self._thread = None
