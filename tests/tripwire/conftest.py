"""Real tripwire listeners on 127.0.0.1 (ephemeral ports) over this test's registry."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlite_utils

from canary.settings import set_setting
from canary.watch.tripwire.services import build

ZONE = "docs.example.fr"
MAIL_DOMAIN = "mail.example.fr"
WEBHOOK_SECRET = "s3cret-for-tests"


@pytest.fixture
def mail_domain() -> str:
    return MAIL_DOMAIN


@pytest.fixture
def configured(db: sqlite_utils.Database) -> sqlite_utils.Database:
    set_setting(db, "tripwire.base_url", "https://portail-patient.example.fr")
    set_setting(db, "tripwire.dns_zone", ZONE)
    set_setting(db, "pool.mail_domains", MAIL_DOMAIN)
    set_setting(db, "tripwire.webhook_secret", WEBHOOK_SECRET)
    set_setting(db, "tripwire.smtp_max_bytes", "20000")
    set_setting(db, "tripwire.smtp_max_recipients", "5")
    return db


@pytest.fixture
def start_listeners(configured, db_path) -> Iterator[Callable[..., dict[str, Any]]]:
    """Start the writer plus the listeners asked for; return them by kind. Stopped after the test."""
    started: list[Any] = []

    def _start(**options: Any) -> dict[str, Any]:
        options = {"callback_host": "127.0.0.1", "callback_port": 0, "dns_host": "127.0.0.1", "dns_port": 0,
                   "smtp_host": "127.0.0.1", "smtp_port": 0, **options}
        services = build(db_path, None, options)
        for service in services:
            service.start()
            started.append(service)
        return {type(s).__name__: s for s in services}

    yield _start
    for service in reversed(started):
        service.stop()


@pytest.fixture
def canaries(add_hand_canaries, configured) -> list[dict[str, Any]]:
    from canary.store.tokens import token_links

    out = []
    for canary in add_hand_canaries(count=2):
        canary = {**canary, "tokens": token_links(configured, canary["token"])}
        out.append(canary)
    return out
