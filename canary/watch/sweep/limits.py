"""Bounds that keep a hostile dump from exhausting memory, disk or time (and the engine that runs under them)."""

from __future__ import annotations

from dataclasses import dataclass

import sqlite_utils

from canary.settings import get_setting


@dataclass(frozen=True)
class Limits:
    max_expanded_bytes: int = 50 * 1024**3
    max_ratio: int = 200
    max_depth: int = 5
    max_download_bytes: int = 2 * 1024**3
    http_timeout: float = 30.0
    max_spool_bytes: int = 4 * 1024**3
    engine: str = "auto"  # not a bound: which search engine runs (canary.watch.sweep.search)

    @classmethod
    def from_settings(cls, db: sqlite_utils.Database) -> Limits:
        return cls(**{name: get_setting(db, f"sweep.{name}") for name in cls.__dataclass_fields__})
