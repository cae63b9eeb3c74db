"""The SMTP receiver (aiosmtpd) for the operator's canary mail domains.

It accepts mail only for those domains (no relaying), caps message size and recipient count, and turns
a message to a canary address into one event per canary (channel ``smtp``), committed before the
``250`` reply. The message itself is kept in ``tripwire_messages``. STARTTLS is offered when the
operator gave a certificate (``smtp_tls``); per-client rate limits answer floods with 4xx and record
one event per flood window (``smtp_limits``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import secrets
import ssl
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import sqlite_utils
from aiosmtpd.smtp import SMTP, Envelope, Session

from canary.errors import CanaryError
from canary.normalize import email_key
from canary.settings import get_bool, get_int, get_list, get_str
from canary.store.events import record_event, utcnow
from canary.throttled_log import OncePerMinute
from canary.watch.tripwire.messages import header_digest
from canary.watch.tripwire.noise import NoisePolicy
from canary.watch.tripwire.sightings import Sighting, SightingStore, mail_payload
from canary.watch.tripwire.smtp_limits import ClientRateLimiter, Flood, RateLimits, Verdict
from canary.watch.tripwire.smtp_tls import tls_summary
from canary.watch.tripwire.writer import EventWriter, WriterStopped

log = logging.getLogger("canary.tripwire.smtp")
_FLOOD_TICK = 10.0  # seconds between closing the flood windows of clients that calmed down


@dataclass(frozen=True)
class MailConfig:
    domains: tuple[str, ...]
    hostname: str
    max_bytes: int = 1_048_576
    max_recipients: int = 20
    timeout: float = 60.0
    commit_timeout: float = 15.0
    tls_cert: str = ""
    tls_key: str = ""
    require_tls: bool = False
    forward_addresses: tuple[str, ...] = ()  # where consumer mailboxes forward to (canary found in the headers)
    max_connections: int = 512  # open at once, all clients
    max_connections_per_client: int = 32  # open at once, one address

    @classmethod
    def from_settings(cls, db: sqlite_utils.Database) -> MailConfig:
        domains = tuple(d.strip().lower().rstrip(".") for d in get_list(db, "pool.mail_domains") if d.strip())
        if not domains:
            raise CanaryError("the SMTP receiver needs mail domains: canary config set pool.mail_domains example.fr")
        return cls(
            domains=domains,
            hostname=get_str(db, "tripwire.smtp_hostname") or f"mx.{domains[0]}",
            max_bytes=get_int(db, "tripwire.smtp_max_bytes"),
            max_recipients=get_int(db, "tripwire.smtp_max_recipients"),
            tls_cert=get_str(db, "tripwire.smtp_tls_cert"),
            tls_key=get_str(db, "tripwire.smtp_tls_key"),
            require_tls=get_bool(db, "tripwire.smtp_require_tls"),
            forward_addresses=tuple(email_key(a) for a in get_list(db, "tripwire.smtp_forward_addresses")
                                    if a.strip()),
            max_connections=get_int(db, "tripwire.smtp_max_connections"),
            max_connections_per_client=get_int(db, "tripwire.smtp_max_connections_per_client"),
        )


class CanaryMailHandler:
    """aiosmtpd handler: rate limits at connection and MAIL, relay refusal and recipient cap at RCPT,
    storage at DATA."""

    def __init__(self, config: MailConfig, writer: EventWriter, policy: NoisePolicy,
                 limits: RateLimits | None = None):
        self.config = config
        self.writer = writer
        self.policy = policy
        self.limiter = ClientRateLimiter(limits or RateLimits())
        # Connections open now, per address and in all (touched on the listener's loop thread only).
        self._open: dict[str, int] = {}
        self._open_total = 0
        self._open_refusals = OncePerMinute(log, "SMTP connections answered 421 (too many open at once)")
        self.sightings = SightingStore(policy, mail_max_bytes=config.max_bytes)

    def open_connection(self, peer: Any) -> str | None:
        """Count a connection as open (None), or the reply that refuses it: too many open at once, from
        this address or from all (idle connections held open must not exhaust the descriptors)."""
        client = _peer_address(peer)
        mine = self._open.get(client, 0)
        if mine >= self.config.max_connections_per_client:
            self._open_refusals.note(f"{client} over its {self.config.max_connections_per_client}")
            return "421 4.7.0 Too many connections from your address, try again later"
        if self._open_total >= self.config.max_connections:
            self._open_refusals.note(f"over {self.config.max_connections} in all")
            return "421 4.3.2 Too many connections, try again later"
        self._open[client] = mine + 1
        self._open_total += 1
        return None

    def close_connection(self, peer: Any) -> None:
        client = _peer_address(peer)
        left = self._open.get(client, 1) - 1
        if left > 0:
            self._open[client] = left
        else:
            self._open.pop(client, None)
        self._open_total = max(0, self._open_total - 1)

    async def admit_connection(self, peer: Any) -> str | None:
        """None to serve the connection, else the reply that closes it."""
        verdict = self.limiter.connection(_peer_address(peer))
        if verdict.allowed:
            return None
        await self._refused(verdict)
        return "421 4.7.0 Too many connections from your address, try again later"

    async def handle_EHLO(self, server: SMTP, session: Session, envelope: Envelope, hostname: str,
                          responses: list[str]) -> list[str]:
        """aiosmtpd's EHLO lines without AUTH: there is no account, and an AUTH that always answers 535
        (advertised once TLS is up) marks the receiver as a trap."""
        session.host_name = hostname
        return [line for line in responses if not line[4:].upper().startswith("AUTH")]

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          mail_options: list[str]) -> str:
        verdict = self.limiter.message(_peer_address(session.peer))
        if not verdict.allowed:
            await self._refused(verdict)
            return "451 4.7.1 Too many messages from your address, try again later"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 Ok"

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
        peer = _peer_address(session.peer)
        job = self._job(raw, peer, envelope.mail_from, list(envelope.rcpt_tos), session.host_name,
                        tls_summary(session.ssl))
        try:
            await asyncio.wrap_future(self.writer.submit(job))
        except Exception:
            log.exception("mail from %s could not be stored", peer)
            return "451 4.3.0 Try again later"
        return f"250 2.0.0 Ok: queued as {secrets.token_hex(5).upper()}"

    def _job(self, raw: bytes, peer: str, mail_from: str | None, rcpt_to: list[str], helo: str | None,
             tls: dict[str, str] | None) -> Sighting:
        forwarded_by = next((a for a in rcpt_to if email_key(a) in self.config.forward_addresses), None)
        return self.sightings.sighting("mail", mail_payload(
            raw, peer=peer, mail_from=mail_from, rcpt_to=rcpt_to, helo=helo, tls=tls, received=utcnow(),
            digest=header_digest(raw), forwarded_by=forwarded_by))

    # --- floods ---------------------------------------------------------------------------------

    async def _refused(self, verdict: Verdict) -> None:
        self._report_closed(self.limiter.take_closed())
        flood = verdict.flood
        if not verdict.opened or flood is None:
            return  # inside an open window: counted in memory, nothing written
        log.warning("SMTP flood from %s: over the %s limit, answering 4xx (one event per flood window)",
                    flood.client, flood.reason)
        try:
            flood.event_id = await asyncio.wrap_future(self.writer.submit(self._flood_event_job(flood)))
        except Exception:
            log.exception("the SMTP flood from %s could not be recorded", flood.client)

    def _flood_details(self, flood: Flood) -> dict[str, Any]:
        return {"flood": flood.summary(self.limiter.limits), "group": f"tripwire:smtp-flood:{flood.client}"}

    def _flood_event_job(self, flood: Flood) -> Callable[[sqlite_utils.Database], int | None]:
        details = self._flood_details(flood)

        def job(db: sqlite_utils.Database) -> int | None:
            return record_event(db, channel="smtp", source=flood.client, severity="low", action="flood",
                                details=details, time=flood.started_at,
                                dedup_key=f"tripwire:smtp-flood:{flood.client}:{flood.started_at}")

        return job

    def expire_floods(self) -> None:
        """Called on the receiver's loop every few seconds: summarise the windows that closed."""
        self._report_closed(self.limiter.expire())

    def close_floods(self, timeout: float = 10.0) -> None:
        """At stop (loop stopped): summarise every open window and wait for the records."""
        for _flood, future in self._report_closed(self.limiter.close_all()):
            with contextlib.suppress(Exception):  # logged by the future's callback
                future.result(timeout)

    def _report_closed(self, floods: list[Flood]) -> list[tuple[Flood, Any]]:
        """Log each closed window and bring its event's counts up to date (one update per window)."""
        pending = []
        for flood in floods:
            log.warning("SMTP flood from %s over: %d message(s) and %d connection(s) refused from %s to %s",
                        flood.client, flood.refused_messages, flood.refused_connections, flood.started_at,
                        flood.last_refused_at)
            if flood.event_id is None:
                continue
            details, event_id = self._flood_details(flood), flood.event_id

            def job(db: sqlite_utils.Database, details: dict[str, Any] = details, event_id: int = event_id) -> None:
                db.execute("UPDATE events SET details = ? WHERE id = ?",
                           [json.dumps(details, ensure_ascii=False, sort_keys=True), event_id])

            try:
                future = self.writer.submit(job)
            except WriterStopped:  # serve is stopping in another order: the log line above is the summary
                continue
            future.add_done_callback(functools.partial(_log_failure, client=flood.client))
            pending.append((flood, future))
        return pending


def _log_failure(done: Future[None], client: str) -> None:
    if done.exception() is not None:
        log.error("the SMTP flood from %s could not be summarised: %s", client, done.exception())


def _peer_address(peer: Any) -> str:
    return str(peer[0]) if isinstance(peer, tuple) else str(peer)


class CanarySMTP(SMTP):
    """aiosmtpd's server, with the per-client connection limit checked before the greeting.

    aiosmtpd has no connection hook for this; ``_handle_client`` is the coroutine that greets and
    serves one connection (STARTTLS re-enters ``connection_made``, not it), so it is wrapped here.
    """

    async def _handle_client(self) -> None:
        assert self.session is not None and self.transport is not None
        handler = self.event_handler
        peer = self.session.peer
        refusal = handler.open_connection(peer)
        if refusal is not None:
            await self.push(refusal)
            self.transport.close()
            return
        try:
            refusal = await handler.admit_connection(peer)
            if refusal is not None:
                await self.push(refusal)
                self.transport.close()
                return
            await super()._handle_client()
        finally:
            handler.close_connection(peer)

    async def smtp_AUTH(self, arg: str) -> None:
        # As a mail exchanger without SASL (Postfix's wording): AUTH is not a known extension here.
        await self.push("503 5.5.1 Error: authentication not enabled")


class SmtpListener:
    """The aiosmtpd server on its own event loop thread (binding port 0 works: the port is read back)."""

    def __init__(self, handler: CanaryMailHandler, host: str, port: int, tls: ssl.SSLContext | None = None):
        self.handler = handler
        self.host = host
        self.port = port
        self.tls = tls
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def _factory(self) -> SMTP:
        config = self.handler.config
        return CanarySMTP(self.handler, data_size_limit=config.max_bytes, hostname=config.hostname, ident="ESMTP",
                          timeout=config.timeout, command_call_limit=100, enable_SMTPUTF8=True,
                          tls_context=self.tls, require_starttls=config.require_tls and self.tls is not None)

    def start(self) -> None:
        quiet = logging.getLogger("mail.log")
        if quiet.level == logging.NOTSET:
            # aiosmtpd logs every command line at INFO: a flood would write a few lines per attempt.
            quiet.setLevel(logging.WARNING)
        loop = asyncio.new_event_loop()
        started = threading.Event()
        errors: list[BaseException] = []

        def tick() -> None:
            try:
                self.handler.expire_floods()
            except Exception:  # bookkeeping must never stop the receiver
                log.exception("SMTP flood bookkeeping failed")
            loop.call_later(_FLOOD_TICK, tick)

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
            loop.call_later(_FLOOD_TICK, tick)
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

    def serving(self) -> bool:
        """Bound and its loop thread running (for /readyz)."""
        return self._server is not None and self._thread is not None and self._thread.is_alive()

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
            self.handler.close_floods()
        self._thread = None
