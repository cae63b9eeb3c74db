"""Helpers of the SMTP receiver tests: a message as a sender writes it, a canary address on our domain."""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any

import sqlite_utils


def make_message(to: str, subject: str = "Votre dossier",
                 body: str = "Bonjour,\nrappel de rendez-vous.\n") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Service client <contact@offres-sante.example>"
    message["To"] = to
    message["Subject"] = subject
    message["Received"] = "from relay.example (relay.example [192.0.2.7]) by mx.example; Tue, 3 Nov 2026 10:00:00 +0100"
    message.set_content(body)
    return message


def canary_address(db: sqlite_utils.Database, canary: dict[str, Any], mail_domain: str) -> str:
    """Hand-made canaries carry another domain; give one an address on ours, as the generator would."""
    address = f"{canary['first_names'][0].lower()}.{canary['birth_name'].lower()}@{mail_domain}"
    db.execute("INSERT INTO markers (kind, value, canary_id) VALUES ('email', ?, ?)", [address, canary["id"]])
    return address
