"""What every command gets: the registry it names (``--db``), opened on first use.

The root group (``canary.cli``) makes it; each domain's commands take it with ``@pass_ctx``. It lives
with the registry, below every domain, so that a domain's ``cli.py`` never imports the root group that
loads it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import click
import sqlite_utils

from canary.store.db import open_db


@dataclass
class CliContext:
    """What every command gets: where the registry is, opened on first use."""

    db_path: Path
    _db: sqlite_utils.Database | None = field(default=None, repr=False)

    @property
    def db(self) -> sqlite_utils.Database:
        """The registry, which must exist: a mistyped --db must not read as an empty registry."""
        if self._db is None:
            self._db = open_db(self.db_path, create=False)
        return self._db

    def create_db(self) -> sqlite_utils.Database:
        """The registry, created if missing: only for commands that create things (init, system add, serve)."""
        if self._db is None:
            self._db = open_db(self.db_path)
        return self._db

    def existing_path(self) -> Path:
        """The registry path for workers that open their own connections, once checked to exist."""
        _ = self.db
        return self.db_path


pass_ctx = click.make_pass_decorator(CliContext)
