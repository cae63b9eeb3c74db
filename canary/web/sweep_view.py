"""One sweep's page: what it read and what it found (an upload's result, shown where the upload leads)."""

from __future__ import annotations

import json
from typing import Any

import sqlite_utils

from canary.errors import NotFound
from canary.web import cuts
from canary.web.queries import SWEEP_KEYS
from canary.web.roles import allows

FINDINGS_SHOWN = 500  # the CLI's `canary scan --json` gives them all


def sweep_result(db: sqlite_utils.Database, sweep_id: int, role: str) -> dict[str, Any]:
    """The sweep (cut to the role) and its findings, first ``FINDINGS_SHOWN``; evidence for analysts only."""
    values = db.execute(f"SELECT {', '.join(SWEEP_KEYS)} FROM sweeps WHERE id = ?", [sweep_id]).fetchone()
    if values is None:
        raise NotFound(f"unknown sweep {sweep_id}")
    row = dict(zip(SWEEP_KEYS, values, strict=True))
    row["sources"] = json.loads(row["sources"] or "[]")
    row["skipped"] = json.loads(row["skipped"] or "[]")
    total = db.execute("SELECT COUNT(*) FROM sweep_findings WHERE sweep_id = ?", [sweep_id]).fetchone()[0]
    findings = []
    for finding in db.query("SELECT canary_id, system, file, fields, confidence, severity, line, evidence "
                            "FROM sweep_findings WHERE sweep_id = ? ORDER BY id LIMIT ?", [sweep_id, FINDINGS_SHOWN]):
        finding["fields"] = json.loads(finding["fields"] or "[]")
        if not allows(role, "analyst"):
            finding["evidence"] = None
        findings.append(finding)
    return {"sweep": cuts.sweep(row, role), "findings": findings, "total": int(total)}


def upload_sweep_id(db: sqlite_utils.Database, name: str) -> int | None:
    """The newest upload sweep of the file named ``name`` (the one just started for it)."""
    row = db.execute("SELECT id FROM sweeps WHERE feed = 'upload' AND sources = ? ORDER BY id DESC LIMIT 1",
                     [json.dumps([name], ensure_ascii=False)]).fetchone()
    return int(row[0]) if row else None
