"""Mail that reached a canary address: header digest for the event, and the message kept for analysis."""

from __future__ import annotations

import json
import re
from email import policy
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.parser import BytesParser
from email.utils import getaddresses
from typing import Any, cast

import sqlite_utils

from canary.normalize import email_key
from canary.settings import get_int
from canary.store.events import utcnow

_MAX_RECEIVED = 20
_MAX_HEADER = 500
_FOLDING = re.compile(r"\r?\n[ \t]+")
_RECIPIENT_HEADERS = ("To", "Cc", "Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To")


def header_digest(raw: bytes) -> dict[str, Any]:
    """Sender, subject, message id and Received chain of a message, each cut to a sane length."""
    try:
        message = BytesParser(policy=policy.compat32).parsebytes(raw, headersonly=True)
    except Exception:  # a message we cannot parse is still an event
        return {"unparsable": True}

    def text(name: str) -> str | None:
        value = message.get(name)
        return readable_header(str(value))[:_MAX_HEADER] if value is not None else None

    return {
        "from": text("From"),
        "subject": text("Subject"),
        "message_id": text("Message-ID"),
        "date": text("Date"),
        "received": [readable_header(str(v))[:_MAX_HEADER]
                     for v in (message.get_all("Received") or [])[:_MAX_RECEIVED]],
    }


def readable_header(value: str) -> str:
    """A header as a person reads it: folding removed, RFC 2047 encoded words decoded
    (``=?utf-8?q?Votre_dossier_m=C3=A9dical?=`` -> ``Votre dossier médical``). Words in an unknown
    charset or broken encoding are left as sent rather than guessed."""
    unfolded = _FOLDING.sub(" ", value).strip()
    if "=?" not in unfolded:
        return unfolded
    try:
        decoded = str(make_header(decode_header(unfolded)))
    except (HeaderParseError, LookupError, ValueError):  # ValueError covers UnicodeError and binascii.Error
        return unfolded
    return decoded if decoded.strip() else unfolded  # a word that decodes to nothing was not decodable


def header_recipients(raw: bytes) -> list[str]:
    """Addresses named in the recipient headers (for mailboxes where the envelope is gone)."""
    try:
        message = BytesParser(policy=policy.compat32).parsebytes(raw, headersonly=True)
    except Exception:
        return []
    values = [str(v) for name in _RECIPIENT_HEADERS for v in (message.get_all(name) or [])]
    return list(dict.fromkeys(email_key(addr) for _name, addr in getaddresses(values) if "@" in addr))


def keep_message(db: sqlite_utils.Database, *, channel: str, canary_ids: list[str], raw: bytes,
                 peer: str | None, mail_from: str | None, rcpt_to: list[str], digest: dict[str, Any],
                 max_bytes: int, truncated: bool = False) -> int:
    """Store the message (cut at ``max_bytes``) and prune the oldest beyond ``tripwire.messages_keep``."""
    kept = raw[:max_bytes]
    # insert() sets last_pk to the new row's integer id (rowid primary key).
    message_id = cast(int, db.table("tripwire_messages").insert({
        "received_at": utcnow(), "channel": channel, "canary_ids": json.dumps(canary_ids), "peer": peer,
        "mail_from": mail_from, "rcpt_to": json.dumps(rcpt_to), "subject": digest.get("subject"),
        "message_id": digest.get("message_id"), "size": len(raw),
        "truncated": int(truncated or len(kept) < len(raw)), "raw": kept,
    }).last_pk)
    # A probe's arrival is noted on the probe itself: the message may be pruned before confirm looks.
    if digest.get("message_id"):
        db.execute("UPDATE tripwire_probes SET received_at = ?, route = 'SMTP forward' "
                   "WHERE message_id = ? AND received_at IS NULL", [utcnow(), str(digest["message_id"]).strip()])
    keep = get_int(db, "tripwire.messages_keep")
    db.execute("DELETE FROM tripwire_messages WHERE id <= ?", [message_id - keep])
    return message_id


def is_probe(db: sqlite_utils.Database, message_id: str | None) -> bool:
    """Whether a message is a probe 'canary contacts confirm' sent to a mailbox (never an alert)."""
    if not message_id:
        return False
    return db.execute("SELECT 1 FROM tripwire_probes WHERE message_id = ?",
                      [message_id.strip()]).fetchone() is not None
