"""Console accounts the web tests sign in with (one per role), shared by fixtures and tests."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "un mot de passe solide"
ROLE_USERS = {"viewer": "vera", "analyst": "anna", "admin": "rssi"}

# Signing in and out are audited too; tests about a change read the changes alone.
SESSION_ACTIONS = ("sign-in", "sign-out")


def audited_changes(db) -> list[dict]:
    """The audit log newest first, without the sign-ins and sign-outs."""
    from canary.web.audit import list_audit

    return [entry for entry in list_audit(db) if entry["action"] not in SESSION_ACTIONS]
