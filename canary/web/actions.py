"""State changes made from the console or the API, each written to the audit log.

Local changes and their audit entry share one transaction. Changes that talk to a peer (a notification
target, a planting target) run first and are logged when they return, with their outcome, so no
network wait holds the registry's write lock.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlite_utils

from canary.alert.model import acknowledge, add_note, reopen, resolve
from canary.alert.shapes import Alert
from canary.errors import CanaryError, NotFound
from canary.settings import all_settings, set_setting, unset_setting
from canary.store import open_db
from canary.store.registry import add_system
from canary.store.tx import write_transaction
from canary.web import tokens
from canary.web.audit import Actor, record
from canary.web.roles import allows

if TYPE_CHECKING:
    from canary.plant.planter import RetireReport

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
    from canary.generate.catchment import site_commune

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
    from canary.generate.catchment import site_commune
    from canary.store.registry import edit_system as edit_row

    site = "" if commune == "" and not postcode else site_commune(finess or None, commune or None, postcode or None)
    with write_transaction(db):
        row = edit_row(db, name, establishment=establishment, finess=finess, notes=notes, site_commune=site,
                       patients=patients)
        record(db, actor, "system.edit", f"system:{name}",
               {"establishment": row["establishment"], "finess": row["finess"], "patients": row["patients"],
                "site_commune": row["site_commune"]})
    return row


def change_setting(db: sqlite_utils.Database, actor: Actor, name: str, value: Any | None) -> Any:
    """Set ``name`` (``value`` None resets it to its default).

    Secret settings (the keys that derive tokens and sign sessions) are generated and stay CLI-only: a
    leaked API token must not be enough to swap them.
    """
    declared = all_settings().get(name)
    if declared is not None and declared.secret:
        raise CanaryError(f"{name} is a generated secret: change it with 'canary config' on the server")
    if declared is not None and declared.host_only:
        raise CanaryError(f"{name} can write files, reach other hosts or widen trust: change it with "
                          f"'canary config set {name} ...' on the server (host access), not from the console or API")
    if declared is not None and declared.console_maximum is not None and value is not None:
        number = _number(value)
        if number is not None and number > declared.console_maximum:
            raise CanaryError(f"{name} above {declared.console_maximum:g} only with 'canary config set {name} ...' "
                              "on the server (host access)")
    if declared is not None and os.environ.get(declared.env_var) is not None:
        # The environment wins over the registry: a stored value would show as saved and change nothing.
        raise CanaryError(f"{name} comes from the environment ({declared.env_var}) of the console's process: "
                          "change it there and restart")
    with write_transaction(db):
        if value is None:
            unset_setting(db, name)
            typed = None
        else:
            typed = set_setting(db, name, value)
        record(db, actor, "setting.unset" if value is None else "setting.set", f"setting:{name}",
               None if value is None else {"value": typed})
    return typed


def _number(value: Any) -> float | None:
    try:
        return float(str(value).strip())
    except ValueError:
        return None  # not a number: the setting's own check says so


def add_notify_target(db: sqlite_utils.Database, actor: Actor, url: str, *, min_severity: str,
                      systems: list[str]) -> dict[str, Any]:
    from canary.alert.destinations import add_destination, check_jsonl_folder

    check_jsonl_folder(db, url)
    destination = add_destination(db, url, min_severity=min_severity, systems=systems)
    record(db, actor, "notify.add", f"destination:{destination.id}", {"url": destination.shown_url})
    return {"id": destination.id, "url": destination.shown_url, "secret": destination.secret}


def remove_notify_target(db: sqlite_utils.Database, actor: Actor, destination_id: int) -> None:
    from canary.alert.destinations import remove_destination

    with write_transaction(db):
        remove_destination(db, destination_id)
        record(db, actor, "notify.remove", f"destination:{destination_id}")


def send_test_notice(db: sqlite_utils.Database, actor: Actor) -> list[dict[str, Any]]:
    from canary.alert.sample_alert import send_test

    report = send_test(db)
    record(db, actor, "notify.test", None, {"ok": sum(1 for r in report if r["ok"]), "failed":
                                             sum(1 for r in report if not r["ok"])})
    return report


def add_feed(db: sqlite_utils.Database, actor: Actor, name: str, source: str, schedule: str) -> dict[str, Any]:
    from canary.watch.sweep.feeds import add_feed as add
    from canary.watch.sweep.feeds import feed_json, get_feed

    with write_transaction(db):
        add(db, name, source, schedule)
        record(db, actor, "feed.add", f"feed:{name}", {"source": source, "schedule": schedule})
    return feed_json(get_feed(db, name))


# Scans of uploads running at once: each holds a worker thread and a copy of the file on disk.
MAX_UPLOAD_SCANS = 2


def start_feed_run(db: sqlite_utils.Database, db_path: str, actor: Actor, name: str) -> threading.Thread:
    """Run feed ``name`` now in a worker thread with its own connection: a sweep may take minutes."""
    from canary.watch.sweep.feeds import get_feed, run_feed
    from canary.watch.sweep.findings import sweeps_running

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
    from canary.plant.planter import plant
    from canary.plant.targets import parse_target

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
    from canary.plant.planter import retire, select_for_retire
    from canary.store.registry import get_system

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
    from werkzeug.utils import secure_filename

    from canary.watch.sweep.feeds import run_sweep
    from canary.watch.sweep.findings import finish_sweep, start_sweep

    if not db.execute("SELECT 1 FROM canaries WHERE status = 'active' LIMIT 1").fetchone():
        raise CanaryError("the registry has no active canary: a scan could find nothing (seed canaries first)")
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


# Canaries one API request may seed: the CLI's bound (canary seed --count).
MAX_SEED = 100_000


def seed_canaries(db: sqlite_utils.Database, db_path: str, actor: Actor, system: str, count: int,
                  seed: int | None) -> dict[str, Any]:
    """Generate ``count`` canaries for ``system`` as ``canary seed`` does, with its warnings as text."""
    from datetime import date

    from canary.generate.contact_points import list_contact_points
    from canary.generate.crowding import exhaustion_warnings
    from canary.generate.factory import host_and_generator
    from canary.generate.pools import pools_from_settings
    from canary.settings import get_setting
    from canary.store.registry import get_system
    from canary.store.seeding import seed_system

    get_system(db, system)
    if not 1 <= count <= MAX_SEED:
        raise CanaryError(f"count must be between 1 and {MAX_SEED}, got {count}")
    pools = pools_from_settings(db)
    warnings = []
    if not pools.phones:
        warnings.append("no phone pool configured (pool.phones): these canaries carry no phone number")
    if not (pools.mail_domains or pools.mailbox_providers):
        warnings.append("no mail pool configured (pool.mailbox_providers, pool.mail_domains): these canaries "
                        "carry no e-mail address")
    for name, channel in (("tripwire.base_url", "callback URL"), ("tripwire.dns_zone", "DNS name")):
        if not get_setting(db, name):
            warnings.append(f"{name} is not set: these canaries carry no {channel} and can never fire on it")
    host, generator = host_and_generator(db, Path(db_path), system)
    notice = host.no_place_notice()
    if notice:
        warnings.append(notice)
    budget = generator.budget
    canaries = seed_system(db, system, count, generator, seed=seed)
    warnings += exhaustion_warnings(budget, pools, len(canaries))
    warnings += [f"{p.message} (see 'canary plan {system}')" for p in host.findings(db, pools, date.today())]
    pending = sum(p["state"] == "pending" for p in list_contact_points(db, pending_only=True, system=system))
    ids = [c["id"] for c in canaries]
    record(db, actor, "seed", f"system:{system}", {"count": len(ids), "seed": seed})
    return {"system": system, "generation": canaries[0]["generation"] if canaries else None, "canaries": ids,
            "pending_mailboxes": pending, "warnings": warnings}


def rotate_system(db: sqlite_utils.Database, db_path: str, actor: Actor, system: str, count: int,
                  seed: int | None, keep_previous: bool = False) -> dict[str, Any]:
    """Plant a new generation where ``system`` is planted, then retire the previous one (``canary rotate``)."""
    from canary.generate.crowding import exhaustion_warnings
    from canary.generate.factory import generator_for_system
    from canary.plant.rotation import rotate
    from canary.store.registry import get_system

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
    from canary.plant.planter import retire, select_for_retire

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
    from canary.web.users import set_disabled, set_role

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
