"""State changes made from the console or the API, each written to the audit log.

Local changes and their audit entry share one transaction. Changes that talk to a peer (a notification
target, a planting target) run first and are logged when they return, with their outcome, so no
network wait holds the registry's write lock.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlite_utils
from werkzeug.utils import secure_filename

from canary import settings
from canary.alert.destinations import add_destination, check_jsonl_folder, remove_destination
from canary.alert.model import acknowledge, add_note, reopen, resolve
from canary.alert.sample_alert import send_test
from canary.alert.shapes import Alert
from canary.errors import CanaryError, NotFound
from canary.generate.catchment import site_commune
from canary.generate.crowding import exhaustion_warnings
from canary.generate.factory import generator_for_system
from canary.generate.seed_run import prepare_seed
from canary.generate.seeding import MAX_SEED
from canary.plant.planter import RetireReport, plant, retire, select_for_retire
from canary.plant.rotation import rotate
from canary.plant.targets import parse_target
from canary.store import open_db
from canary.store.registry import add_system, get_system
from canary.store.registry import edit_system as edit_row
from canary.store.tx import write_transaction
from canary.watch.sweep import feeds
from canary.watch.sweep.feeds import feed_json, get_feed, run_feed, run_sweep
from canary.watch.sweep.findings import finish_sweep, require_active_canaries, start_sweep, sweeps_running
from canary.web import tokens
from canary.web.audit import Actor, record
from canary.web.roles import allows
from canary.web.users import set_disabled, set_role

log = logging.getLogger(__name__)


def change_alert(db: sqlite_utils.Database, actor: Actor, alert_id: int, action: str,
                 note: str | None) -> Alert:
    """``action``: ``ack``, ``resolve``, ``reopen`` or ``note`` (the CLI's ``canary alert ack|resolve|reopen|note``)."""
    with write_transaction(db):
        if action == "note":
            view = add_note(db, alert_id, actor.name, note or "")
        else:
            change = {"ack": acknowledge, "resolve": resolve, "reopen": reopen}[action]
            view = change(db, alert_id, actor.name, note)
        record(db, actor, f"alert.{action}", f"alert:{alert_id}", {"note": note} if note else None)
    return view


def create_system(db: sqlite_utils.Database, actor: Actor, name: str, kind: str, *, establishment: str | None,
                  finess: str | None, notes: str | None, commune: str | None = None,
                  postcode: str | None = None) -> dict[str, Any]:
    """``commune``/``postcode``: the establishment's place, resolved as `canary system add --commune` does."""
    site = site_commune(finess or None, commune or None, postcode or None)
    with write_transaction(db):
        row = add_system(db, name, kind, establishment=establishment or None, finess=finess or None,
                         notes=notes or None, site_commune=site)
        record(db, actor, "system.add", f"system:{name}", {"kind": kind, "site_commune": site})
    return row


def edit_system(db: sqlite_utils.Database, actor: Actor, name: str, *, establishment: str | None = None,
                finess: str | None = None, notes: str | None = None, commune: str | None = None,
                postcode: str | None = None, patients: int | None = None) -> dict[str, Any]:
    """Change what is given: None keeps a field, "" clears it (the form's empty boxes, the API's "").

    ``commune``/``postcode`` resolve to the site's INSEE code as `canary system edit --commune` does; a
    ``commune`` of "" removes the site (back to the FINESS department)."""
    site = "" if commune == "" and not postcode else site_commune(finess or None, commune or None, postcode or None)
    with write_transaction(db):
        row = edit_row(db, name, establishment=establishment, finess=finess, notes=notes, site_commune=site,
                       patients=patients)
        record(db, actor, "system.edit", f"system:{name}",
               {"establishment": row["establishment"], "finess": row["finess"], "patients": row["patients"],
                "site_commune": row["site_commune"]})
    return row


def change_setting(db: sqlite_utils.Database, actor: Actor, name: str, value: Any | None) -> Any:
    """Set ``name`` (``value`` None resets it to its default) as ``canary config set|unset`` does, with the
    console's and the API's own limits (canary.settings.change_setting)."""
    with write_transaction(db):
        typed = settings.change_setting(db, name, value, remote=True)
        record(db, actor, "setting.unset" if value is None else "setting.set", f"setting:{name}",
               None if value is None else {"value": typed})
    return typed


def add_notify_target(db: sqlite_utils.Database, actor: Actor, url: str, *, min_severity: str,
                      systems: list[str]) -> dict[str, Any]:
    check_jsonl_folder(db, url)
    destination = add_destination(db, url, min_severity=min_severity, systems=systems)
    record(db, actor, "notify.add", f"destination:{destination.id}", {"url": destination.shown_url})
    return {"id": destination.id, "url": destination.shown_url, "secret": destination.secret}


def remove_notify_target(db: sqlite_utils.Database, actor: Actor, destination_id: int) -> None:
    with write_transaction(db):
        remove_destination(db, destination_id)
        record(db, actor, "notify.remove", f"destination:{destination_id}")


def send_test_notice(db: sqlite_utils.Database, actor: Actor) -> list[dict[str, Any]]:
    report = send_test(db)
    record(db, actor, "notify.test", None, {"ok": sum(1 for r in report if r["ok"]), "failed":
                                             sum(1 for r in report if not r["ok"])})
    return report


def add_feed(db: sqlite_utils.Database, actor: Actor, name: str, source: str, schedule: str) -> dict[str, Any]:
    with write_transaction(db):
        feeds.add_feed(db, name, source, schedule)
        record(db, actor, "feed.add", f"feed:{name}", {"source": source, "schedule": schedule})
    return feed_json(get_feed(db, name))


# Scans of uploads running at once: each holds a worker thread and a copy of the file on disk.
MAX_UPLOAD_SCANS = 2


def start_feed_run(db: sqlite_utils.Database, db_path: str, actor: Actor, name: str) -> threading.Thread:
    """Run feed ``name`` now in a worker thread with its own connection: a sweep may take minutes."""
    get_feed(db, name)
    if running := sweeps_running(db, name):
        raise CanaryError(f"{name}: {running} scan(s) still running; try again when they finish")
    record(db, actor, "feed.run", f"feed:{name}")

    def work() -> None:
        worker_db = open_db(db_path, migrate_schema=False)
        try:
            run_feed(worker_db, name)
        except Exception:  # the outcome is in the feed's last_status/last_error; keep the worker alive
            log.exception("feed %s: run requested from the console failed", name)
        finally:
            worker_db.close()

    thread = threading.Thread(target=work, name=f"feed-run-{name}", daemon=True)
    thread.start()
    return thread


def create_token(db: sqlite_utils.Database, actor: Actor, name: str, role: str, days: int,
                 owner: str | None) -> tuple[dict[str, Any], str]:
    """A token of account ``owner`` (the signed-in account, or the owner of the token that asks): never
    above the role of whoever asks, nor above the owner's."""
    if not allows(actor.role, role):
        raise CanaryError(f"a {role} token is above the role of {actor.name} ({actor.role})")
    with write_transaction(db):
        row, secret = tokens.create_token(db, name, role, actor.name, days, owner=owner)
        record(db, actor, "token.add", f"token:{row['id']}", {"name": name, "role": role, "days": days,
                                                             "owner": owner})
    return row, secret


def revoke_token(db: sqlite_utils.Database, actor: Actor, token_id: int) -> dict[str, Any]:
    with write_transaction(db):
        row = tokens.revoke_token(db, token_id)
        record(db, actor, "token.revoke", f"token:{token_id}")
    return row


def plant_system(db: sqlite_utils.Database, actor: Actor, system: str, url: str) -> dict[str, Any]:
    """Plant ``system``'s active canaries into ``url`` (``canary plant SYSTEM --to URL --json``).

    Planting writes to a target from the server: an analyst may plant again where the system already
    has plantings (completing or rotating), a new target needs an admin, since a ``file://`` target
    writes on the console's own host.
    """
    target = parse_target(url)
    known = db.execute("SELECT 1 FROM plantings WHERE system = ? AND target = ? LIMIT 1",
                       [system, target.address]).fetchone()
    if not known and not allows(actor.role, "admin"):
        raise CanaryError(f"{target.address} is a new target for {system}: an admin plants there first")
    report = plant(db, system, url).as_dict()
    record(db, actor, "plant", f"system:{system}", {"target": target.address, "planted": len(report["planted"]),
                                                     "failed": len(report["failed"]), "stopped": report["stopped"]})
    return report


def retire_system(db: sqlite_utils.Database, actor: Actor, system: str) -> dict[str, Any]:
    """Remove every live planting of ``system`` from its targets (``canary retire --system``)."""
    get_system(db, system)
    rows = select_for_retire(db, system=system)
    report = retire(db, rows)
    outcome = _retire_json(report)
    record(db, actor, "retire", f"system:{system}", {"retired": len(report.retired), "failed": len(report.failed)})
    return outcome


@dataclass
class UploadScan:
    """A scan of one upload running in its worker; ``wait()`` gives what ``canary scan --json`` prints."""

    name: str
    folder: Path  # the private temporary folder, gone once the scan is over
    thread: threading.Thread
    outcome: dict[str, Any] = field(default_factory=dict)  # "report" (ScanReport) or "error" (BaseException)

    def wait(self) -> dict[str, Any]:
        self.thread.join()
        error = self.outcome.get("error")
        if isinstance(error, CanaryError):
            raise error
        if error is not None or "report" not in self.outcome:
            raise CanaryError(f"{self.name}: the scan failed ({error.__class__.__name__}); see the sweep's error")
        # Files are named as the client sent them (sanitised): run_sweep relabelled the temporary path.
        return dict(self.outcome["report"].to_json())


# Longest file name (in bytes) the usual file systems take (ext4, XFS, tmpfs).
MAX_NAME_BYTES = 255


def upload_name(safe: str) -> str:
    """A sanitised upload name cut to MAX_NAME_BYTES, its extension kept (the scanner reads by it)."""
    safe = safe or "upload"
    stem, dot, suffix = safe.rpartition(".")
    if not dot or not stem or len(suffix) > 16:
        stem, suffix = safe, ""
    tail = f".{suffix}" if suffix else ""
    room = MAX_NAME_BYTES - len(tail.encode())
    return stem.encode()[:room].decode(errors="ignore") + tail


def start_upload_scan(db: sqlite_utils.Database, db_path: str, actor: Actor, filename: str,
                      save: Callable[[Path], None]) -> UploadScan:
    """Scan one uploaded file in a worker thread, then delete it: an upload is never kept.

    ``save`` writes the upload to the path it is given, inside a private (0700) directory of its own.
    """

    require_active_canaries(db)
    name = upload_name(secure_filename(filename))
    folder = Path(tempfile.mkdtemp(prefix="canary-upload-"))
    path = folder / name
    sweep_id: int | None = None
    try:
        # The sweep names the upload, never the server's temporary folder (check and claim at once).
        sweep_id = start_sweep(db, [name], "upload", at_most=MAX_UPLOAD_SCANS)
        save(path)
    except BaseException as exc:
        shutil.rmtree(folder, ignore_errors=True)  # refused or not stored: nothing of the upload is kept
        if sweep_id is None:
            raise
        finish_sweep(db, sweep_id, None, "failed", f"upload not stored: {exc.__class__.__name__}: {exc}"[:500])
        raise
    record(db, actor, "scan.upload", None, {"file": name, "bytes": path.stat().st_size})
    log.info("upload %r received from %s (%d bytes): scanning it as sweep #%s", name, actor.name,
             path.stat().st_size, sweep_id)
    outcome: dict[str, Any] = {}

    def work() -> None:
        worker_db = open_db(db_path, migrate_schema=False)
        try:
            outcome["report"] = run_sweep(worker_db, [str(path)], feed="upload", sweep_id=sweep_id,
                                          shown_as=(str(path), name))[1]
        except Exception as exc:  # the sweep row holds the failure; the worker thread must not die noisily
            outcome["error"] = exc
            log.exception("uploaded file %s: scan failed", name)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
            worker_db.close()

    thread = threading.Thread(target=work, name=f"upload-scan-{name}", daemon=True)
    thread.start()
    return UploadScan(name, folder, thread, outcome)


def seed_canaries(db: sqlite_utils.Database, db_path: str, actor: Actor, system: str, count: int,
                  seed: int | None) -> dict[str, Any]:
    """Generate ``count`` canaries for ``system`` as ``canary seed`` does, with its warnings as text."""
    run = prepare_seed(db, Path(db_path), system, count)
    seeded = run.run(db, seed=seed)
    record(db, actor, "seed", f"system:{system}", {"count": len(seeded.ids), "seed": seed})
    return {"system": system, "generation": seeded.generation, "canaries": seeded.ids,
            "pending_mailboxes": seeded.pending_mailboxes, "warnings": run.warnings + seeded.warnings}


def rotate_system(db: sqlite_utils.Database, db_path: str, actor: Actor, system: str, count: int,
                  seed: int | None, keep_previous: bool = False) -> dict[str, Any]:
    """Plant a new generation where ``system`` is planted, then retire the previous one (``canary rotate``)."""
    get_system(db, system)
    if not 1 <= count <= MAX_SEED:
        raise CanaryError(f"count must be between 1 and {MAX_SEED}, got {count}")
    generator = generator_for_system(db, Path(db_path), system, replacing=not keep_previous)
    report = rotate(db, system, count, generator, seed=seed, keep_previous=keep_previous)
    warnings = exhaustion_warnings(generator.budget, generator.generator.pools, len(report.canaries))
    outcome = {"system": system, "generation": report.generation, "canaries": report.canaries,
               "resumed": report.resumed, "plants": [p.as_dict() for p in report.plants], "kept": report.kept,
               "retired": _retire_json(report.retired), "warnings": warnings, "ok": report.ok}
    record(db, actor, "rotate", f"system:{system}",
           {"generation": report.generation, "canaries": len(report.canaries), "ok": report.ok,
            "retired": len(report.retired.retired), "failed": len(report.retired.failed)})
    return outcome


def retire_planting(db: sqlite_utils.Database, actor: Actor, planting_id: int) -> dict[str, Any]:
    """Remove one planting from its target (``canary retire PLANTING_ID``)."""
    known = db.execute("SELECT system, state FROM plantings WHERE id = ?", [planting_id]).fetchone()
    if not known:
        raise NotFound(f"unknown planting {planting_id}")
    if known[1] == "retired":
        raise CanaryError(f"planting {planting_id} is already retired")
    outcome = _retire_json(retire(db, select_for_retire(db, ident=str(planting_id))))
    record(db, actor, "retire", f"planting:{planting_id}",
           {"system": known[0], "retired": len(outcome["retired"]), "failed": len(outcome["failed"])})
    return outcome


def _retire_json(report: RetireReport) -> dict[str, Any]:
    return {"retired": report.retired, "failed": [{"planting_id": p, "error": e} for p, e in report.failed],
            "warnings": report.warnings}


def change_account(db: sqlite_utils.Database, actor: Actor, name: str, *, role: str | None = None,
                   disabled: bool | None = None) -> None:
    """An admin changes another account's role or disables it (``canary user role|disable``)."""
    if name == actor.name:
        raise CanaryError("change your own account from the CLI ('canary user ...'): an admin cannot lock "
                          "themselves out from here")
    with write_transaction(db):
        if role is not None:
            set_role(db, name, role)
            record(db, actor, "user.role", f"user:{name}", {"role": role})
        if disabled is not None:
            set_disabled(db, name, disabled)
            record(db, actor, "user.disable" if disabled else "user.enable", f"user:{name}")
