"""Polling real mailboxes (imaplib) for canary addresses hosted elsewhere: channel ``imap``.

One mailbox from ``tripwire.imap_host``/``imap_user``, and any number from ``tripwire.imap_mailboxes``
(``imaps://LOGIN@HOST[:PORT][/FOLDER]``, e.g. the consumer mailboxes opened for canaries). Passwords
never reach the registry: a file named after the login in ``tripwire.imap_password_dir`` (owner-only),
else the environment variable ``CANARY_IMAP_PASSWORD_`` + the login in capitals, other characters as ``_``.

Each mailbox is opened read-only (nothing is marked seen or moved); the last UID read is kept per
mailbox in ``tripwire_imap_state`` so each message becomes an event once, and a new UIDVALIDITY starts
over (dedup keys stop repeats).
"""

from __future__ import annotations

import contextlib
import imaplib
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import sqlite_utils

from canary.errors import CanaryError
from canary.files import require_owner_only
from canary.settings import get_bool, get_int, get_list, get_str
from canary.store.events import utcnow
from canary.store.registry import find_by_marker
from canary.store.tx import write_transaction
from canary.watch.tripwire.hits import Hit, record_hit
from canary.watch.tripwire.messages import header_digest, header_recipients, is_probe, keep_message
from canary.watch.tripwire.noise import NoisePolicy

log = logging.getLogger("canary.tripwire.imap")

_BATCH = 200
_SIZE = re.compile(rb"RFC822\.SIZE (\d+)")


@dataclass(frozen=True)
class ImapConfig:
    host: str
    port: int
    user: str
    password: str
    folder: str = "INBOX"
    ssl: bool = True
    max_bytes: int = 1_048_576
    timeout: float = 30.0

    @property
    def mailbox_key(self) -> str:
        return f"{self.user}@{self.host}:{self.port}/{self.folder}"

    @classmethod
    def from_settings(cls, db: sqlite_utils.Database) -> ImapConfig | None:
        host = get_str(db, "tripwire.imap_host")
        if not host:
            return None
        env_name = get_str(db, "tripwire.imap_password_env")
        password = os.environ.get(env_name)
        if not password:
            raise CanaryError(f"IMAP polling of {host} needs the password in the environment variable {env_name}")
        return cls(host=host, port=get_int(db, "tripwire.imap_port"),
                   user=get_str(db, "tripwire.imap_user"), password=password,
                   folder=get_str(db, "tripwire.imap_folder"), ssl=get_bool(db, "tripwire.imap_ssl"),
                   max_bytes=get_int(db, "tripwire.smtp_max_bytes"))


def mailboxes_from_settings(db: sqlite_utils.Database) -> list[ImapConfig]:
    """Every mailbox to poll: the single ``tripwire.imap_host`` one and those of ``tripwire.imap_mailboxes``."""
    out = []
    single = ImapConfig.from_settings(db)
    if single is not None:
        out.append(single)
    password_dir = get_str(db, "tripwire.imap_password_dir")
    max_bytes = get_int(db, "tripwire.smtp_max_bytes")
    for entry in get_list(db, "tripwire.imap_mailboxes"):
        out.append(_mailbox(str(entry).strip(), password_dir, max_bytes))
    return out


def password_env_var(login: str) -> str:
    return "CANARY_IMAP_PASSWORD_" + re.sub(r"[^A-Z0-9]", "_", login.upper())


def _mailbox(entry: str, password_dir: str, max_bytes: int) -> ImapConfig:
    parts = urlsplit(entry)
    try:
        port = parts.port
    except ValueError as exc:
        raise CanaryError(f"tripwire.imap_mailboxes: {entry!r} has a bad port") from exc
    if parts.scheme not in ("imap", "imaps") or not parts.hostname or not parts.username or parts.password:
        raise CanaryError(f"tripwire.imap_mailboxes: {entry!r} is not imaps://LOGIN@HOST[:PORT][/FOLDER] "
                          "(no password in the URL)")
    login = unquote(parts.username)
    ssl = parts.scheme == "imaps"
    folder = unquote(parts.path.lstrip("/")) or "INBOX"
    return ImapConfig(host=parts.hostname, port=port or (993 if ssl else 143), user=login,
                      password=_password(login, password_dir), folder=folder, ssl=ssl, max_bytes=max_bytes)


def _password(login: str, password_dir: str) -> str:
    if password_dir:
        path = Path(password_dir) / login
        if path.exists():
            require_owner_only(path, "IMAP password file")
            return path.read_text(encoding="utf-8").strip()
    env = password_env_var(login)
    password = os.environ.get(env)
    if not password:
        where = f"a file {Path(password_dir) / login} or " if password_dir else ""
        raise CanaryError(f"IMAP polling of {login} needs its password in {where}the environment variable {env}")
    return password


def poll_mailboxes(db: sqlite_utils.Database, configs: list[ImapConfig],
                   policy: NoisePolicy) -> tuple[dict[str, int], dict[str, str]]:
    """Poll each mailbox once; one that fails does not stop the others. Events and errors by mailbox."""
    stored: dict[str, int] = {}
    failed: dict[str, str] = {}
    for config in configs:
        try:
            stored[config.mailbox_key] = poll_mailbox(db, config, policy)
        except CanaryError as exc:
            failed[config.mailbox_key] = str(exc)
    return stored, failed


def poll_mailbox(db: sqlite_utils.Database, config: ImapConfig, policy: NoisePolicy) -> int:
    """Read new messages once; return how many events were stored. Raises CanaryError when unreachable."""
    try:
        client = (imaplib.IMAP4_SSL if config.ssl else imaplib.IMAP4)(config.host, config.port,
                                                                      timeout=config.timeout)
    except OSError as exc:
        raise CanaryError(f"IMAP server {config.host}:{config.port} unreachable: {exc}") from exc
    try:
        return _poll(db, client, config, policy)
    except (imaplib.IMAP4.error, OSError) as exc:
        raise CanaryError(f"IMAP {config.mailbox_key}: {exc}") from exc
    finally:
        # The connection may already be gone; nothing to clean up then.
        with contextlib.suppress(Exception):
            client.logout()


def _poll(db: sqlite_utils.Database, client: imaplib.IMAP4, config: ImapConfig, policy: NoisePolicy) -> int:
    client.login(config.user, config.password)
    status, _ = client.select(_quote(config.folder), readonly=True)
    if status != "OK":
        raise CanaryError(f"IMAP {config.mailbox_key}: cannot open folder {config.folder!r}")
    uidvalidity = int((client.response("UIDVALIDITY")[1] or [b"0"])[0] or 0)
    last_uid = _last_uid(db, config.mailbox_key, uidvalidity)
    _, found = client.uid("SEARCH", f"UID {last_uid + 1}:*")  # no CHARSET argument
    uids = sorted(int(u) for u in (found[0] or b"").split() if int(u) > last_uid)
    stored = 0
    for uid in uids[:_BATCH]:
        stored += _one_message(db, client, config, policy, uidvalidity, uid)
        _save_state(db, config.mailbox_key, uidvalidity, uid)
    return stored


def _one_message(db: sqlite_utils.Database, client: imaplib.IMAP4, config: ImapConfig, policy: NoisePolicy,
                 uidvalidity: int, uid: int) -> int:
    _, head = client.uid("FETCH", str(uid), "(RFC822.SIZE BODY.PEEK[HEADER])")
    size, header = _parts(head)
    raw, truncated = header, True
    if size <= config.max_bytes:
        _, body = client.uid("FETCH", str(uid), "(BODY.PEEK[])")
        _, full = _parts(body)
        if full:
            raw, truncated = full, False
    digest = header_digest(header or raw)
    recipients = header_recipients(header or raw)
    if is_probe(db, digest.get("message_id")):
        return 0  # our own probe of the mailbox ('contacts confirm'), not a sighting
    with write_transaction(db):
        canaries: dict[str, str] = {}
        for address in recipients:
            canary_id = find_by_marker(db, "email", address)
            if canary_id and canary_id not in canaries:
                canaries[canary_id] = address
        if not canaries:
            return 0
        message = keep_message(db, channel="imap", canary_ids=list(canaries), raw=raw, peer=config.host,
                               mail_from=digest.get("from"), rcpt_to=recipients, digest=digest,
                               max_bytes=config.max_bytes, truncated=truncated)
        count = 0
        for canary_id, address in canaries.items():
            details = {**digest, "recipient": address, "mailbox": config.mailbox_key, "uid": uid,
                       "size": size, "message": message}
            hit = Hit(channel="imap", source=digest.get("from"), time=utcnow(),
                      dedup_key=f"imap:{config.mailbox_key}:{uidvalidity}:{uid}:{canary_id}",
                      details={k: v for k, v in details.items() if v is not None})
            if record_hit(db, hit, canary_id, policy) is not None:
                count += 1
        return count


def _parts(response: list[Any]) -> tuple[int, bytes]:
    size, payload = 0, b""
    for item in response or []:
        if isinstance(item, tuple):
            match = _SIZE.search(item[0])
            if match:
                size = int(match.group(1))
            payload = item[1]
    return size or len(payload), payload


def _last_uid(db: sqlite_utils.Database, mailbox: str, uidvalidity: int) -> int:
    row = db.execute("SELECT uidvalidity, last_uid FROM tripwire_imap_state WHERE mailbox = ?", [mailbox]).fetchone()
    if row is None or row[0] != uidvalidity:
        return 0
    return int(row[1])


def _save_state(db: sqlite_utils.Database, mailbox: str, uidvalidity: int, uid: int) -> None:
    db.execute(
        "INSERT INTO tripwire_imap_state (mailbox, uidvalidity, last_uid, polled_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT(mailbox) DO UPDATE SET uidvalidity = excluded.uidvalidity, last_uid = excluded.last_uid, "
        "polled_at = excluded.polled_at",
        [mailbox, uidvalidity, uid, utcnow()],
    )


def _quote(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'
