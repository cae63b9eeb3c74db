"""The checks behind ``canary doctor``. Each returns a ``Check``: ok, or the problems found, one line each.

A check reads the registry only; it never fixes anything (the message says which command does).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import sqlite_utils

from canary.settings import setting_problems


@dataclass
class Check:
    name: str
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_settings(db: sqlite_utils.Database) -> Check:
    """Every setting in force (environment, registry) matches its declared type."""
    return Check("settings", setting_problems(db))


def check_delivery(db: sqlite_utils.Database) -> Check:
    """The delivery worker can run, and no destination is failing."""
    from canary.alert.destinations import destination_status
    from canary.alert.outbox import blocked_reason

    problems = []
    reason = blocked_reason(db)
    if reason:
        problems.append(reason)
    for row in destination_status(db):
        if row["failures"] and row["last_error"] != reason:
            problems.append(f"destination {row['id']} ({row['url']}): {row['failures']} failure(s), "
                            f"last: {row['last_error']}")
    return Check("delivery", problems)


def check_tripwires(db: sqlite_utils.Database) -> Check:
    """Every active canary carries a callback URL and DNS name (else it can never fire on them)."""
    from canary.watch.tripwire.tokens import tokenless

    missing: dict[str, int] = {}
    for _canary_id, key in tokenless(db):
        missing[key] = missing.get(key, 0) + 1
    words = {"url": "callback URL (tripwire.base_url)", "hostname": "DNS name (tripwire.dns_zone)"}
    return Check("tripwires", [f"{count} active canaries without a {words[key]}: see 'canary lint', "
                               "'canary tripwire fill-tokens'" for key, count in sorted(missing.items())])


CHECKS: list[Callable[[sqlite_utils.Database], Check]] = [check_settings, check_delivery, check_tripwires]


def run_checks(db: sqlite_utils.Database) -> list[Check]:
    return [check(db) for check in CHECKS]
