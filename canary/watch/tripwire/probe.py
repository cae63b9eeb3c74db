"""Probing a consumer mailbox before a canary carries it: a mail sent through the operator's relay,
read back the way the tripwire will read the canary's mail (IMAP polling or the SMTP forward).

A mailbox the operator believes opened may not be: a typo at creation, a forward never activated,
an address the provider gave someone else. Confirming it would route canary mail to a stranger, or
to nobody. So ``canary contacts confirm`` sends each mailbox a probe (an ordinary short message with
a unique Message-ID) and confirms only those where the probe came back through a watched route.

Probes are recorded (``tripwire_probes``): neither the IMAP poller nor the SMTP receiver ever turns
a probe into an alert once the mailbox is a canary's.
"""

from __future__ import annotations

import contextlib
import imaplib
import os
import secrets
import smtplib
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate

import sqlite_utils

from canary.errors import CanaryError
from canary.normalize import email_key
from canary.settings import get_bool, get_int, get_list, get_str
from canary.store.events import utcnow
from canary.watch.tripwire.imap import ImapConfig, mailboxes_from_settings

_RECENT = 500  # messages of a mailbox looked at for the probe (it is among the newest)


@dataclass(frozen=True)
class ProbeRelay:
    """The operator's outgoing relay, which delivers probes to the providers."""

    host: str
    port: int
    sender: str
    starttls: bool = True
    user: str = ""
    password: str = ""
    timeout: float = 30.0

    @classmethod
    def from_settings(cls, db: sqlite_utils.Database) -> ProbeRelay:
        host, sender = get_str(db, "tripwire.probe_smtp_host"), get_str(db, "tripwire.probe_from")
        if not host or not sender:
            raise CanaryError("contacts confirm first sends each mailbox a probe mail: set tripwire.probe_smtp_host "
                              "(your outgoing relay) and tripwire.probe_from (a sender address of yours)")
        user = get_str(db, "tripwire.probe_smtp_user")
        env = get_str(db, "tripwire.probe_smtp_password_env")
        password = ""
        if user:
            password = os.environ.get(env, "")
            if not password:
                raise CanaryError(f"the probe relay login {user} needs its password in the environment variable {env}")
        return cls(host=host, port=get_int(db, "tripwire.probe_smtp_port"), sender=sender,
                   starttls=get_bool(db, "tripwire.probe_smtp_starttls"), user=user, password=password)


@dataclass(frozen=True)
class ProbeResult:
    address: str
    received: bool
    how: str  # the route it came back by, or why the mailbox is refused


@dataclass(frozen=True)
class ReadBack:
    """Where probes can come back: the IMAP mailboxes polled and the forward addresses of the receiver."""

    mailboxes: tuple[ImapConfig, ...]
    forwards: tuple[str, ...]
    problem: str | None = None  # a configured mailbox that cannot be polled (password missing...)

    @classmethod
    def from_settings(cls, db: sqlite_utils.Database) -> ReadBack:
        forwards = tuple(email_key(a) for a in get_list(db, "tripwire.smtp_forward_addresses"))
        try:
            mailboxes = tuple(mailboxes_from_settings(db))
            problem = None
        except CanaryError as exc:
            mailboxes, problem = (), str(exc)
        return cls(mailboxes, forwards, problem)

    def for_address(self, address: str) -> tuple[ImapConfig, ...]:
        """The mailbox logged in as this address, else every polled mailbox (one may collect others)."""
        own = tuple(m for m in self.mailboxes if email_key(m.user) == address)
        return own or self.mailboxes


def probe_mailboxes(db: sqlite_utils.Database, addresses: list[str], *, wait: float, relay: ProbeRelay,
                    read_back: ReadBack, interval: float = 1.0,
                    clock: Callable[[], float] = time.monotonic,
                    sleep: Callable[[float], None] = time.sleep) -> list[ProbeResult]:
    """Send one probe to each address, then look for them until all came back or ``wait`` seconds passed."""
    if not read_back.mailboxes and not read_back.forwards:
        raise CanaryError(read_back.problem or "no way to read a probe back: list the mailbox in "
                          "tripwire.imap_mailboxes, or forward it to one of tripwire.smtp_forward_addresses "
                          "with the SMTP receiver running")
    results: dict[str, ProbeResult] = {}
    sent: dict[str, str] = {}
    # One session for every probe; a relay that cannot be reached or refuses us stops the command
    # (nothing is confirmed), a recipient it refuses is that mailbox's refusal.
    try:
        with _session(relay) as client:
            for address in addresses:
                try:
                    sent[address] = _send(db, client, relay, address)
                except _Refused as exc:
                    results[address] = ProbeResult(address, False, str(exc))
    except (smtplib.SMTPException, OSError) as exc:
        raise CanaryError(f"probe relay {relay.host}:{relay.port}: {exc}; no mailbox confirmed") from exc
    deadline = clock() + wait
    while True:
        waiting = {a: m for a, m in sent.items() if a not in results}
        for address, route in _came_back(db, waiting, read_back).items():
            results[address] = ProbeResult(address, True, route)
            db.execute("UPDATE tripwire_probes SET received_at = ?, route = ? WHERE message_id = ?",
                       [utcnow(), route, sent[address]])
        if len(results) == len(addresses) or clock() >= deadline:
            break
        sleep(min(interval, max(0.0, deadline - clock())))
    routes = ", ".join([f"IMAP {m.mailbox_key}" for m in read_back.mailboxes[:3]]
                       + ["the SMTP forward"] * bool(read_back.forwards))
    return [results.get(a) or ProbeResult(a, False, f"no probe received within {wait:.0f} s (looked in {routes})")
            for a in addresses]


class _Refused(Exception):
    """The relay refused one recipient."""


@contextlib.contextmanager
def _session(relay: ProbeRelay) -> Iterator[smtplib.SMTP]:
    with smtplib.SMTP(relay.host, relay.port, timeout=relay.timeout) as client:
        if relay.starttls:
            client.starttls(context=ssl.create_default_context())
        if relay.user:
            client.login(relay.user, relay.password)
        yield client


def _send(db: sqlite_utils.Database, client: smtplib.SMTP, relay: ProbeRelay, address: str) -> str:
    domain = relay.sender.rpartition("@")[2] or "localhost"
    message_id = f"<{secrets.token_hex(10)}@{domain}>"
    message = EmailMessage()
    message["From"] = relay.sender
    message["To"] = address
    message["Subject"] = "Bienvenue"
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = message_id
    message.set_content("Bonjour,\n\nvotre adresse est bien enregistrée.\n")
    # Recorded before it leaves: a probe delivered whose answer was lost is still never an alert.
    db.execute("INSERT INTO tripwire_probes (message_id, address, sent_at) VALUES (?, ?, ?)",
               [message_id, address, utcnow()])
    try:
        refused = client.send_message(message, from_addr=relay.sender, to_addrs=[address])
    except smtplib.SMTPRecipientsRefused as exc:
        code, text = next(iter(exc.recipients.values()))
        raise _Refused(f"the relay refused the probe: {code} {text.decode(errors='replace')}") from exc
    if refused:
        raise _Refused(f"the relay refused the probe: {refused[address]}")
    return message_id


def _came_back(db: sqlite_utils.Database, waiting: dict[str, str], read_back: ReadBack) -> dict[str, str]:
    """The probes found this round (address -> route); each mailbox is read once per round."""
    found: dict[str, str] = {}
    if read_back.forwards:
        for address, message_id in waiting.items():
            # Noted on the probe by the receiver (the stored message itself may have been pruned since).
            if db.execute("SELECT 1 FROM tripwire_probes WHERE message_id = ? AND route = 'SMTP forward'",
                          [message_id]).fetchone() or db.execute(
                    "SELECT 1 FROM tripwire_messages WHERE message_id = ?", [message_id]).fetchone():
                found[address] = "SMTP forward"
    seen: dict[str, bytes] = {}
    for address, message_id in waiting.items():
        for mailbox in read_back.for_address(address) if address not in found else ():
            if mailbox.mailbox_key not in seen:
                try:
                    seen[mailbox.mailbox_key] = _recent_ids(mailbox)
                except CanaryError:
                    seen[mailbox.mailbox_key] = b""  # unreachable this round: the next one tries again
            if message_id.encode() in seen[mailbox.mailbox_key]:
                found[address] = f"IMAP {mailbox.mailbox_key}"
                break
    return found


def _recent_ids(config: ImapConfig) -> bytes:
    """The Message-ID headers of the newest messages of the folder (read-only, nothing marked seen)."""
    try:
        client = (imaplib.IMAP4_SSL if config.ssl else imaplib.IMAP4)(config.host, config.port,
                                                                      timeout=config.timeout)
    except OSError as exc:
        raise CanaryError(f"IMAP server {config.host}:{config.port} unreachable: {exc}") from exc
    try:
        client.login(config.user, config.password)
        status, _ = client.select('"' + config.folder.replace('"', '\\"') + '"', readonly=True)
        if status != "OK":
            return b""
        _, found = client.uid("SEARCH", "ALL")
        uids = (found[0] or b"").split()[-_RECENT:]
        if not uids:
            return b""
        _, data = client.uid("FETCH", b",".join(uids).decode(), "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
        return b"\n".join(item[1] for item in data or [] if isinstance(item, tuple))
    except (imaplib.IMAP4.error, OSError) as exc:
        raise CanaryError(f"IMAP {config.mailbox_key}: {exc}") from exc
    finally:
        with contextlib.suppress(Exception):
            client.logout()
