"""Background services of canary.watch.tripwire for ``canary serve`` (see canary.serve).

One writer thread is shared by every listener of the process (SQLite has one writer at a time); it
starts first and stops last. The HTTP callback listener always runs; DNS and SMTP with ``--dns`` /
``--smtp`` (or their ``tripwire.*_enabled`` settings); IMAP polling when ``tripwire.imap_host`` is set.
With ``--role``, only the listeners of the roles given run (``callbacks``, ``dns``, ``smtp`` — IMAP
polling goes with ``smtp``); a role named explicitly needs no ``--dns``/``--smtp``.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
import threading
from pathlib import Path
from typing import Any

import click
from waitress import wasyncore

from canary.errors import CanaryError
from canary.serve import ServeContext, Service, role_explicit, runs
from canary.settings import get_bool, get_int, get_str
from canary.socket_caps import CappedWSGIServer, ServedListener
from canary.store import open_db
from canary.store.journal import Journal, journal_path, journal_settings
from canary.watch.tripwire.callback import CallbackConfig, PortalChannel, create_callback_app
from canary.watch.tripwire.dns import DnsListener, TripwireResolver, ZoneAnswers
from canary.watch.tripwire.imap import ImapConfig, mailboxes_from_settings, poll_mailboxes
from canary.watch.tripwire.noise import NoisePolicy
from canary.watch.tripwire.sightings import SightingStore
from canary.watch.tripwire.smtp import CanaryMailHandler, MailConfig, SmtpListener
from canary.watch.tripwire.smtp_limits import RateLimits
from canary.watch.tripwire.smtp_tls import tls_context
from canary.watch.tripwire.writer import EventWriter

log = logging.getLogger("canary.tripwire")

SERVE_OPTIONS: list[click.Option] = [
    click.Option(["--callback-host"], help="Callback listener address (default: setting tripwire.callback_host)."),
    click.Option(["--callback-port"], type=int, help="Callback listener port (default: tripwire.callback_port, 8081)."),
    click.Option(["--dns"], is_flag=True, default=False, help="Also run the DNS listener (UDP and TCP)."),
    click.Option(["--dns-host"], help="DNS listener address (default: tripwire.dns_host)."),
    click.Option(["--dns-port"], type=int, help="DNS listener port (default: tripwire.dns_port, 5353)."),
    click.Option(["--smtp"], is_flag=True, default=False, help="Also run the SMTP receiver."),
    click.Option(["--smtp-host"], help="SMTP receiver address (default: tripwire.smtp_host)."),
    click.Option(["--smtp-port"], type=int, help="SMTP receiver port (default: tripwire.smtp_port, 2525)."),
]


class WriterService:
    name = "tripwire writer"

    def __init__(self, writer: EventWriter):
        self.writer = writer

    def start(self) -> None:
        self.writer.start()

    def problem(self) -> str | None:
        return self.writer.problem()

    def stop(self) -> None:
        self.writer.stop()
        if self.writer.journal is not None:
            self.writer.journal.close()


class CallbackService(ServedListener):
    """The callback app under waitress: a bounded thread pool that copes with malformed HTTP."""

    name = "tripwire http callback listener"

    def __init__(self, writer: EventWriter, config: CallbackConfig, host: str, port: int, threads: int = 16,
                 max_connections: int = 1000, max_per_client: int = 32):
        self.writer = writer
        self.config = config
        self.host = host
        self.port = port
        self.threads = threads
        self.max_connections = max_connections
        self.max_per_client = max_per_client
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        app = create_callback_app(self.writer, self.config)
        # Connections capped per address and in all as they are accepted (canary.socket_caps): one
        # flooding peer cannot hold the listener; a silent connection is closed after 30 s.
        self._server = CappedWSGIServer(app, max_connections=self.max_connections,
                                        max_per_client=self.max_per_client, name="callback listener",
                                        logger=log, host=self.host, port=self.port, threads=self.threads,
                                        ident="", backlog=2048, channel_timeout=30,
                                        max_request_body_size=64 * 1024, clear_untrusted_proxy_headers=False,
                                        asyncore_use_poll=True, expose_tracebacks=False)
        self._server.channel_class = PortalChannel  # waitress's own refusals look like the portal too
        self.port = int(self._server.effective_port)
        self._thread = threading.Thread(target=self._server.run, name="tripwire-http", daemon=True)
        self._thread.start()
        log.info("callback listener on http://%s:%s/", self.host, self.port)

    def stop(self) -> None:
        server = self._server
        if server is not None and self._thread is not None:
            # Close every channel from inside the loop thread (closing from here races its poll()); the
            # loop ends when nothing is left to watch, then running requests finish. The wake-up is
            # written while holding the trigger's lock: the loop thread, woken meanwhile by a request
            # that just finished, runs the thunks under that lock, and the thunk closes the trigger's
            # pipe; without the lock it could close it between the queueing and the write (EBADF
            # here, or a byte written into whatever file reused the descriptor).
            trigger = server.trigger
            with trigger.lock:
                trigger.thunks.append(lambda: wasyncore.close_all(server._map))
                trigger._physical_pull()
            self._thread.join(5)
            server.task_dispatcher.shutdown()
        self._server = self._thread = None


class DnsService:
    name = "tripwire dns listener"

    def __init__(self, resolver: TripwireResolver, host: str, port: int):
        self.listener = DnsListener(resolver, host, port)

    @property
    def port(self) -> int:
        return self.listener.port

    def start(self) -> None:
        self.listener.start()
        log.info("DNS listener on %s:%s (udp, tcp) for %s", self.listener.host, self.port,
                 self.listener.resolver.answers.zone)

    def ready(self) -> str | None:
        return None if self.listener.serving() else "not serving"

    def connection_tally(self) -> dict[str, int]:
        return self.listener.connection_tally()

    def stop(self) -> None:
        self.listener.stop()


class SmtpService:
    name = "tripwire smtp receiver"

    def __init__(self, handler: CanaryMailHandler, host: str, port: int, tls: ssl.SSLContext | None = None):
        self.listener = SmtpListener(handler, host, port, tls)

    @property
    def port(self) -> int:
        return self.listener.port

    def start(self) -> None:
        self.listener.start()
        config = self.listener.handler.config
        tls = "no STARTTLS"
        if self.listener.tls is not None:
            tls = "STARTTLS required" if config.require_tls else "STARTTLS offered"
        log.info("SMTP receiver on %s:%s for %s (%s)", self.listener.host, self.port, ", ".join(config.domains), tls)

    def ready(self) -> str | None:
        return None if self.listener.serving() else "not serving"

    def stop(self) -> None:
        self.listener.stop()


class ImapService:
    """Polls the configured mailboxes on the shared scheduler; a failed mailbox is logged, the others
    are still polled, and all are retried at the next interval."""

    name = "tripwire imap poller"

    def __init__(self, ctx: ServeContext, configs: list[ImapConfig], policy: NoisePolicy, interval: int):
        self.ctx = ctx
        self.configs = configs
        self.policy = policy
        self.interval = interval
        self._job: Any = None

    def poll_once(self) -> int:
        db = open_db(self.ctx.db_path, migrate_schema=False)
        try:
            stored, failed = poll_mailboxes(db, self.configs, self.policy)
        finally:
            db.close()
        for mailbox, error in failed.items():
            log.warning("IMAP poll of %s failed: %s", mailbox, error)
        return sum(stored.values())

    def start(self) -> None:
        self._job = self.ctx.scheduler.add_job(self.poll_once, "interval", seconds=self.interval,
                                               id="tripwire-imap", replace_existing=True, max_instances=1)

    def stop(self) -> None:
        if self._job is not None:
            # The scheduler may already be shut down.
            with contextlib.suppress(Exception):
                self._job.remove()
            self._job = None


def build(db_path: Path, ctx: ServeContext | None, options: dict[str, Any]) -> list[Any]:
    """The services for these options; reads the settings once, at start-up."""
    if not any(runs(options, role) for role in ("callbacks", "dns", "smtp")):
        return []
    db = open_db(db_path)
    try:
        policy = NoisePolicy.from_settings(db)
        writer = tripwire_writer(db, db_path, SightingStore(policy, get_int(db, "tripwire.smtp_max_bytes")))
        out: list[Any] = [WriterService(writer)]
        if runs(options, "callbacks"):
            out.append(CallbackService(
                writer, CallbackConfig.from_settings(db),
                host=options.get("callback_host") or get_str(db, "tripwire.callback_host"),
                port=_port(options.get("callback_port"), get_int(db, "tripwire.callback_port")),
                threads=get_int(db, "tripwire.callback_threads"),
                max_connections=get_int(db, "tripwire.callback_max_connections"),
                max_per_client=get_int(db, "tripwire.callback_max_connections_per_client"),
            ))
        if runs(options, "dns") and (options.get("dns") or role_explicit(options, "dns")
                                     or get_bool(db, "tripwire.dns_enabled")):
            resolver = TripwireResolver(ZoneAnswers.from_settings(db), writer, policy)
            out.append(DnsService(resolver, options.get("dns_host") or get_str(db, "tripwire.dns_host"),
                                  _port(options.get("dns_port"), get_int(db, "tripwire.dns_port"))))
        if runs(options, "smtp") and (options.get("smtp") or role_explicit(options, "smtp")
                                      or get_bool(db, "tripwire.smtp_enabled")):
            smtp = _smtp_service(db, writer, policy, options)
            if smtp is not None:
                out.append(smtp)
        mailboxes = mailboxes_from_settings(db)
        if mailboxes and ctx is not None and runs(options, "smtp"):
            out.append(ImapService(ctx, mailboxes, policy, get_int(db, "tripwire.imap_interval")))
        return out
    finally:
        db.close()


def _smtp_service(db: Any, writer: EventWriter, policy: NoisePolicy, options: dict[str, Any]) -> SmtpService | None:
    config = MailConfig.from_settings(db)
    try:
        tls = tls_context(config.tls_cert, config.tls_key, require=config.require_tls)
    except CanaryError as exc:
        # As for access-log sources: one listener that cannot start is reported, the others still run.
        log.error("%s cannot start: %s", SmtpService.name, exc)
        return None
    handler = CanaryMailHandler(config, writer, policy, RateLimits.from_settings(db))
    return SmtpService(handler, options.get("smtp_host") or get_str(db, "tripwire.smtp_host"),
                       _port(options.get("smtp_port"), get_int(db, "tripwire.smtp_port")), tls)


def tripwire_writer(db: Any, db_path: Path, sightings: SightingStore) -> EventWriter:
    """The shared writer, with its journal beside the registry (replays through ``sightings``)."""
    max_bytes, wait_ms = journal_settings(db)
    try:
        journal = Journal(journal_path(db_path, "tripwire"), max_bytes)
    except OSError as exc:
        raise CanaryError(f"cannot open the tripwire journal beside {db_path}: {exc}") from exc
    if not journal.reserved:
        log.warning("could not reserve %d bytes for %s: a full disk would lose sightings",
                    journal.max_bytes, journal.path)
    return EventWriter(db_path, journal=journal, replay=sightings.replay,
                       wait_ms=wait_ms)


def _port(option: int | None, setting: Any) -> int:
    return int(option) if option is not None else int(setting)


def services(ctx: ServeContext, options: dict[str, Any]) -> list[Service]:
    return build(ctx.db_path, ctx, options)
