"""Where a canary's callback token shows up: the URL and the DNS name embedded in its record."""

from __future__ import annotations

import sqlite_utils

from canary.settings import get_setting


def token_links(db: sqlite_utils.Database, token: str) -> dict[str, str | None]:
    """The callback URL and DNS hostname for ``token``, or None where the operator set no base."""
    base_url = str(get_setting(db, "tripwire.base_url") or "").rstrip("/")
    zone = str(get_setting(db, "tripwire.dns_zone") or "").strip(".").lower()
    return {
        "url": f"{base_url}/documents/{token}" if base_url else None,
        "hostname": f"{token}.{zone}" if zone else None,
    }
