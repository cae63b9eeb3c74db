"""The registry: one SQLite file holding systems, canaries, markers, events and alerts."""

from canary.store.db import open_db

__all__ = ["open_db"]
