"""Console accounts the web tests sign in with (one per role), shared by fixtures and tests."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "un mot de passe solide"
ROLE_USERS = {"viewer": "vera", "analyst": "anna", "admin": "rssi"}
