"""Where a canary's callback token shows up: the URL and the DNS name embedded in its record.

The URL reads like a patient-portal document link (``/mon-espace/documents/<id>``), the kind a
discharge letter or a portal invitation carries; the hostname is a per-document name under the
operator's delegated zone, as document-sharing and CDN links look. The callback listener recognises
the token anywhere in a path, query or Host, so the operator may rewrite either shape freely.
"""

from __future__ import annotations

import sqlite_utils

from canary.settings import get_setting


def token_links(db: sqlite_utils.Database, token: str) -> dict[str, str | None]:
    """The callback URL and DNS hostname for ``token``, or None where the operator set no base."""
    base_url = str(get_setting(db, "tripwire.base_url") or "").rstrip("/")
    zone = str(get_setting(db, "tripwire.dns_zone") or "").strip(".").lower()
    return {
        "url": f"{base_url}/mon-espace/documents/{token}" if base_url else None,
        "hostname": f"{token}.{zone}" if zone else None,
    }
