"""The self-audit of one system: a trial batch against its export, the figures stored, lint's warnings.

Kept apart from ``audit`` (numpy, scikit-learn) so that lint and the console read stored figures without
importing either.
"""

from __future__ import annotations

import csv
import json
import random
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlite_utils

from canary.errors import CanaryError
from canary.generate.lint import Problem
from canary.store.registry import get_system, marker_taken, now_iso
from canary.store.tx import write_transaction

if TYPE_CHECKING:
    from canary.generate.host import Host
    from canary.generate.patient import BoundedGenerator

AUC_WARN = 0.55
ADVANTAGE_WARN = 0.05
# The only keys stored: figures, feature names and split thresholds, never a row's value.
_STORED = ("auc", "auc_ci", "features", "filters", "unchecked", "rows", "trial", "per_side", "auc_threshold",
           "threshold", "built_on", "export")


def trial_batch(db: sqlite_utils.Database, db_path: Path, system: str, count: int, seed: int,
                today: date) -> tuple[Host, list[dict[str, Any]]]:
    """SYSTEM's host and ``count`` canaries as ``canary seed`` would draw them, in memory only (nothing stored)."""
    from canary.generate.factory import host_and_generator

    host, generator = host_and_generator(db, db_path, system, replacing=True)
    return host, draw_trial(db, generator, system, count, seed, today)


def draw_trial(db: sqlite_utils.Database, generator: BoundedGenerator, system: str, count: int, seed: int,
               today: date) -> list[dict[str, Any]]:
    from canary.store.markers import markers_for

    rng = random.Random(f"audit|{seed}|{system}")
    seen: set[tuple[str, str]] = set()
    records = []
    for _ in range(count):
        record = generator.generate(rng, today=today,
                                    taken=lambda kind, value: (kind, value) in seen or marker_taken(db, kind, value))
        seen.update(markers_for(record))
        shown = dict(record)
        # A proposed mailbox is what the canary carries once the operator has opened it: audit that.
        pending = [p["value"] for p in record.get("contact_points") or []
                   if p["kind"] == "email" and p["state"] == "pending" and p["value"]]
        if pending and not shown.get("email"):
            shown["email"] = pending[0]
        records.append(shown)
    return records


def audit_system(db: sqlite_utils.Database, db_path: Path, system: str, export: Path, mappings: tuple[str, ...],
                 *, trial: int, seed: int, today: date) -> dict[str, Any]:
    """Run the audit of SYSTEM against EXPORT and store its figures (one write, after everything worked)."""
    try:
        from canary.generate.audit import places_for, require_sklearn, run_audit
    except ImportError:  # numpy or scikit-learn missing: the optional extra is not installed
        raise CanaryError("the self-audit needs scikit-learn: pip install 'canary[audit]'") from None
    require_sklearn()
    from canary.generate.profile import parse_mapping, read_export
    from canary.generate.reference import Reference

    get_system(db, system)
    mapping = parse_mapping(mappings)
    if not export.is_file():
        raise CanaryError(f"{export}: no such export file")
    try:
        columns, rows = read_export(export)
    except OSError as exc:
        raise CanaryError(f"{export}: cannot read the export ({exc.strerror or exc})") from None
    host, records = trial_batch(db, db_path, system, trial, seed, today)
    reference = Reference.load()
    site = host.catchment.site if host.catchment else None
    try:
        figures = run_audit(columns, rows, records, mapping=mapping, places=places_for(reference, host.geography, site),
                            site_department=site.department if site else None, today=today, seed=seed)
    except (csv.Error, UnicodeDecodeError) as exc:
        raise CanaryError(f"{export}: unreadable export ({exc})") from None
    except CanaryError as exc:
        raise CanaryError(f"{export}: {exc}") from None
    figures["export"] = export.name
    save_audit(db, system, figures)
    return figures


def save_audit(db: sqlite_utils.Database, system: str, figures: dict[str, Any]) -> None:
    stored = {k: figures[k] for k in _STORED if k in figures}
    with write_transaction(db):
        get_system(db, system)
        db.execute("INSERT INTO generate_audits (system, built_at, audit) VALUES (?, ?, ?) "
                   "ON CONFLICT(system) DO UPDATE SET built_at = excluded.built_at, audit = excluded.audit",
                   [system, now_iso(), json.dumps(stored, ensure_ascii=False, sort_keys=True)])


def get_audit(db: sqlite_utils.Database, system: str) -> dict[str, Any] | None:
    row = db.execute("SELECT built_at, audit FROM generate_audits WHERE system = ?", [system]).fetchone()
    if row is None:
        return None
    return {"built_at": row[0], **json.loads(row[1])}


def audited_systems(db: sqlite_utils.Database, system: str | None = None) -> list[str]:
    """Systems with a stored audit (lint checks them even before they hold canaries)."""
    return [r[0] for r in db.execute("SELECT system FROM generate_audits WHERE ? IS NULL OR system = ?",
                                     [system, system]).fetchall()]


def audit_findings(db: sqlite_utils.Database, system: str) -> list[Problem]:
    """lint's warnings from the last stored audit of SYSTEM (none if it was never audited)."""
    audit = get_audit(db, system)
    if audit is None:
        return []
    when = f"audit of {audit['built_at'][:10]} ('canary plan {system} --against EXPORT')"
    out = []
    if audit["auc"] > AUC_WARN:
        low, high = audit["auc_ci"]
        carried = ", ".join(f["name"] for f in audit["features"][:3]) or "no single feature"
        out.append(Problem("audit-auc", "batch", f"a classifier tells the canaries from real patients: AUC "
                           f"{audit['auc']:.2f} ({low:.2f}-{high:.2f}) > {AUC_WARN}; carried by {carried}; {when}"))
    for f in audit["filters"]:
        if f["advantage"] > ADVANTAGE_WARN:
            rule = "audit-filter"
            out.append(Problem(rule, f["name"], f"{f['name']} {f['split']}: thief's advantage {f['advantage']:.2f} "
                               f"beyond chance (canaries {f['canaries_flagged']:.2f}, patients "
                               f"{f['patients_flagged']:.2f}); {when}"))
    return out
