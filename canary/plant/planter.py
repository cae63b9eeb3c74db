"""Planting canaries into a target and retiring them: the lifecycle, the same for every channel.

What differs between MLLP, FHIR and a file drop lives in ``canary.plant.channels``; here a target's
channel is looked up once and its functions are called.
"""

from __future__ import annotations

import json
from typing import Any

import sqlite_utils

from canary.errors import CanaryError, NotFound
from canary.plant import lifecycle
from canary.plant.channels import CHANNELS
from canary.plant.channels.base import Target
from canary.plant.locks import target_lock
from canary.plant.reports import PlantReport, RetireReport
from canary.plant.schedule import pending_canaries
from canary.plant.targets import parse_target
from canary.store.registry import get_canary, get_system, list_canaries

# --- options ---------------------------------------------------------------------------------------

def resolve_options(db: sqlite_utils.Database, system: str, target: Target, given: dict[str, Any]) -> dict[str, Any]:
    """Defaults, then what this target was last planted with, then the URL query, then the command line."""
    channel = CHANNELS[target.channel]
    allowed = channel.options
    unknown = sorted(k for k, v in given.items() if v not in (None, False) and k not in allowed)
    if unknown:
        raise CanaryError(f"option(s) {', '.join('--' + k.replace('_', '-') for k in unknown)} do not apply "
                          f"to {target.channel} targets")
    previous = db.execute("SELECT options FROM plantings WHERE system = ? AND target = ? "
                          "ORDER BY updated_at DESC, id DESC LIMIT 1", [system, target.address]).fetchone()
    options = dict(allowed)
    options.update(json.loads(previous[0]) if previous else {})
    options.update({k: v for k, v in target.options.items() if k in allowed})
    options.update({k: v for k, v in given.items() if k in allowed and v not in (None, False)})
    channel.check_options(db, target, options)
    return options


# --- planting --------------------------------------------------------------------------------------

def plant(db: sqlite_utils.Database, system: str, url: str, **given: Any) -> PlantReport:
    """Plant every active canary of ``system`` into the target at ``url``; idempotent and resumable."""
    get_system(db, system)
    target = parse_target(url)
    return plant_target(db, system, target, resolve_options(db, system, target, given))


def plant_target(db: sqlite_utils.Database, system: str, target: Target, options: dict[str, Any], *,
                 only: list[str] | None = None) -> PlantReport:
    """Plant the system's active canaries at ``target`` (``only``: just these, a trickle's due arrivals;
    otherwise every canary but those a trickle will bring there later)."""
    # Options remembered from an older planting may miss what the channel requires now (MLLP: MSH-5/6).
    CHANNELS[target.channel].check_target(target, options)
    with target_lock(db, target.address):
        return _plant_locked(db, system, target, options, only)


def _plant_locked(db: sqlite_utils.Database, system: str, target: Target, options: dict[str, Any],
                  only: list[str] | None) -> PlantReport:
    channel = CHANNELS[target.channel]
    system_row = get_system(db, system)
    canaries = list_canaries(db, system=system, include_retired=False)
    if not canaries:
        raise CanaryError(f"system {system!r} has no active canary; create some with 'canary seed'")
    later = set() if only is not None else pending_canaries(db, system, target.address)
    canaries = [c for c in canaries if (only is None or c["id"] in only) and c["id"] not in later]
    channel.check_environment(options)
    lifecycle.plan(db, system, [c["id"] for c in canaries], target.channel, target.address, options)
    todo = [row for row in lifecycle.rows_to_do(db, system, target.address)
            if (only is None or row["canary_id"] in only) and row["canary_id"] not in later]
    report = PlantReport(system, target.channel, target.address, already=len(canaries) - len(todo),
                         warnings=channel.warnings(options), scheduled=len(later))
    todo = _refuse_tells(db, todo, report)
    if todo:
        channel.plant(db, system_row, target, options, todo, report)
    if report.stopped and not report.planted:
        report.forgotten = lifecycle.forget_unreached_target(db, system, target.address)
    return report


IDENTITY_STATUSES = ("VALI", "QUAL", "PROV", "RECUP")


def _refuse_tells(db: sqlite_utils.Database, todo: list[dict[str, Any]], report: PlantReport) -> list[dict[str, Any]]:
    """Never plant a record that says it is not a real patient (a FICT identity, or no status at all)."""
    keep = []
    for row in todo:
        status = get_canary(db, row["canary_id"]).get("identity_status")
        if status in IDENTITY_STATUSES:
            keep.append(row)
            continue
        error = (f"identity status {status!r} would single the record out; "
                 f"expected one of {', '.join(IDENTITY_STATUSES)}")
        lifecycle.mark_failed(db, row["id"], error, delivered_maybe=bool(row["in_flight"]))
        report.failed.append((row["canary_id"], error))
    return keep


# --- retiring --------------------------------------------------------------------------------------

def select_for_retire(db: sqlite_utils.Database, *, ident: str | None = None, system: str | None = None,
                      max_generation: int | None = None, target: str | None = None) -> list[dict[str, Any]]:
    """Live plantings (anything not retired) named by a planting id, a canary id or a system."""
    rows = lifecycle.list_plantings(db, system=system, target=target, states=("planned", "planted", "failed"))
    if ident is not None:
        is_planting = ident.isdigit() and db.execute("SELECT 1 FROM plantings WHERE id = ?", [int(ident)]).fetchone()
        if is_planting:
            rows = [r for r in rows if r["id"] == int(ident)]
        elif db.execute("SELECT 1 FROM canaries WHERE id = ?", [ident]).fetchone():
            rows = [r for r in rows if r["canary_id"] == ident]
        else:
            raise NotFound(f"unknown planting or canary {ident!r}; see 'canary plants'")
    if max_generation is not None:
        rows = [r for r in rows if r["generation"] <= max_generation]
    return rows


def retire(db: sqlite_utils.Database, rows: list[dict[str, Any]]) -> RetireReport:
    """Remove each planting from its target, then mark it retired (only what the target confirmed)."""
    report = RetireReport()
    by_target: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_target.setdefault(row["target"], []).append(row)
    for address, group in by_target.items():
        with target_lock(db, address):
            _retire_at(db, address, group, report)
    return report


def _retire_at(db: sqlite_utils.Database, address: str, group: list[dict[str, Any]], report: RetireReport) -> None:
    live = [r for r in group if r["state"] == "planted"]
    unsent = [r for r in group if r["state"] != "planted"]
    for row in unsent:
        if row["in_flight"]:
            report.warnings.append(f"planting {row['id']} ({row['canary_id']}) at {address}: an earlier "
                                   "attempt had no answer; check the target by hand")
    lifecycle.mark_retired(db, [r["id"] for r in unsent])
    report.retired.extend(r["id"] for r in unsent)
    if not live:
        return
    target = parse_target(address)
    options = live[-1]["options"]
    try:
        CHANNELS[target.channel].retire(db, target, options, live, report)
    except CanaryError as exc:
        done = set(report.retired) | {pid for pid, _ in report.failed}
        pending = [r["id"] for r in live if r["id"] not in done]
        lifecycle.record_retire_error(db, pending, str(exc))
        report.failed.extend((pid, str(exc)) for pid in pending)
