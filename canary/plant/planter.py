"""Planting canaries into a target and retiring them: the lifecycle driven channel by channel."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import hl7
import sqlite_utils

from canary.errors import CanaryError, NotFound
from canary.plant import fileexport, lifecycle
from canary.plant.fhir_bundle import RETIRE_ORDER, Establishment, build_bundle
from canary.plant.fhir_client import FhirClient, FhirError, response_locations
from canary.plant.hl7v2 import Peer, build_adt, build_merge, hd
from canary.plant.locks import target_lock
from canary.plant.mllp import MllpClient, MllpError
from canary.plant.targets import Target, parse_target
from canary.plant.tls import TlsConfig, absolute_path, client_context
from canary.settings import get_setting
from canary.store.registry import get_canary, get_system, list_canaries

# Options each channel accepts, with their defaults (None: no default).
CHANNEL_OPTIONS: dict[str, dict[str, Any]] = {
    "file": {"format": None, "mapping": "default", "delimiter": ";", "encoding": "utf-8"},
    "mllp": {"encoding": "utf-8", "app": "", "facility": "", "ipp_oid": None, "ipp_namespace": None,
             # None: the setting plant.mllp.retire decides.
             "retire": None, "merge_into": None,
             # mllps:// only: paths and a name, never key material (settings plant.mllp.tls_* otherwise).
             "tls_ca": None, "tls_cert": None, "tls_key": None, "tls_server_name": None},
    "fhir": {"token_env": None, "insecure": False, "ipp_oid": None, "ipp_system": None, "retire": None},
}
# How a planting is removed, per channel (the first is the default of the plant.*.retire settings).
RETIRE_STRATEGIES = {
    # A31 marking the identity deactivated (PID-32 DESA), or an A40 merge into a designated record.
    # ADT^A29 is not part of the IHE PAM identity feed: receivers refuse it or drop it.
    "mllp": ("a31-inactive", "a40-merge"),
    # DELETE of every resource, or the Patient updated to active=false (read back either way).
    "fhir": ("delete", "inactive"),
}
# An IPP namespace is a short code (CHUX, GAM, SIGEMS), as real feeds write CX-4.1.
_NAMESPACE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,19}")


@dataclass
class PlantReport:
    system: str
    channel: str
    target: str
    planted: list[str] = field(default_factory=list)
    already: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    stopped: str | None = None
    warnings: list[str] = field(default_factory=list)
    forgotten: int = 0  # rows dropped: the target never took a canary (nothing to resume there)

    @property
    def ok(self) -> bool:
        return not self.failed and self.stopped is None

    def as_dict(self) -> dict[str, Any]:
        return {"system": self.system, "channel": self.channel, "target": self.target,
                "planted": self.planted, "already": self.already,
                "failed": [{"canary_id": c, "error": e} for c, e in self.failed], "stopped": self.stopped,
                "warnings": self.warnings, "forgotten": self.forgotten}


@dataclass
class RetireReport:
    retired: list[int] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


# --- options ---------------------------------------------------------------------------------------

def resolve_options(db: sqlite_utils.Database, system: str, target: Target, given: dict[str, Any]) -> dict[str, Any]:
    """Defaults, then what this target was last planted with, then the URL query, then the command line."""
    allowed = CHANNEL_OPTIONS[target.channel]
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
    if target.channel == "file":
        if options["format"] is None:
            options["format"] = "json" if target.path and target.path.suffix.lower() == ".json" else "csv"
        fileexport.check_options(options["format"], options["mapping"], options["delimiter"], options["encoding"])
    if target.channel == "mllp":
        try:
            "".encode(options["encoding"])
        except LookupError as exc:
            raise CanaryError(f"unknown encoding {options['encoding']!r}") from exc
        _check_tls_options(db, target, options)
        check_receiver(target.address, options)
        namespace = options.get("ipp_namespace")
        if namespace is not None and not _NAMESPACE.fullmatch(namespace):
            raise CanaryError(f"invalid ipp_namespace {namespace!r}: a short code of letters, digits, '_', '-' or "
                              "'.' (at most 20), e.g. CHUX")
    if target.channel in RETIRE_STRATEGIES:
        check_retire_options(target.channel, options)
    return options


def check_receiver(address: str, options: dict[str, Any]) -> None:
    """MSH-5/MSH-6 route the message inside the receiver's engine: an MLLP target must name both."""
    missing = [name for name in ("app", "facility") if not (options.get(name) or "").strip()]
    if missing:
        raise CanaryError(f"{address}: receiving application and facility (MSH-5/MSH-6) are part of the target; "
                          f"add ?app=NAME&facility=NAME to the URL (or --app/--facility) / application et "
                          f"établissement destinataires manquants")


def check_retire_options(channel: str, options: dict[str, Any]) -> None:
    strategy = options.get("retire")
    if strategy is not None and strategy not in RETIRE_STRATEGIES[channel]:
        raise CanaryError(f"invalid retire {strategy!r} for {channel} targets; expected one of "
                          f"{', '.join(RETIRE_STRATEGIES[channel])}")
    if strategy == "a40-merge" and not (options.get("merge_into") or "").strip():
        raise CanaryError("retire=a40-merge needs merge_into=IPP (--merge-into): the receiver's record the canary "
                          "is merged into")


TLS_OPTIONS = ("tls_ca", "tls_cert", "tls_key", "tls_server_name")


def _check_tls_options(db: sqlite_utils.Database, target: Target, options: dict[str, Any]) -> None:
    """TLS options belong to mllps:// targets; their files must load now, before anything is planned."""
    if not target.tls:
        given = [k for k in TLS_OPTIONS if options.get(k)]
        if given:
            raise CanaryError(f"{', '.join(given)} apply to MLLP over TLS only: write the target as "
                              f"mllps://host:port")
        return
    for key in ("tls_ca", "tls_cert", "tls_key"):
        options[key] = absolute_path(options.get(key))
    name = options.get("tls_server_name")
    if name is not None and (not name.strip() or any(c in name for c in " /:@")):
        raise CanaryError(f"invalid tls_server_name {name!r}: expected a host name")
    client_context(tls_config(db, options))


def tls_config(db: sqlite_utils.Database, options: dict[str, Any]) -> TlsConfig:
    """The target's TLS options, else the settings; the client certificate and its key come as a pair."""
    if options.get("tls_cert") or options.get("tls_key"):
        cert, key = options.get("tls_cert"), options.get("tls_key")
    else:
        cert = absolute_path(get_setting(db, "plant.mllp.tls_cert_file") or None)
        key = absolute_path(get_setting(db, "plant.mllp.tls_key_file") or None)
    return TlsConfig(ca_file=options.get("tls_ca") or absolute_path(get_setting(db, "plant.mllp.tls_ca_file") or None),
                     cert_file=cert, key_file=key,
                     key_password_env=get_setting(db, "plant.mllp.tls_key_password_env") or None,
                     server_name=options.get("tls_server_name") or None)


# --- planting --------------------------------------------------------------------------------------

def plant(db: sqlite_utils.Database, system: str, url: str, **given: Any) -> PlantReport:
    """Plant every active canary of ``system`` into the target at ``url``; idempotent and resumable."""
    get_system(db, system)
    target = parse_target(url)
    return plant_target(db, system, target, resolve_options(db, system, target, given))


def plant_target(db: sqlite_utils.Database, system: str, target: Target, options: dict[str, Any]) -> PlantReport:
    if target.channel == "mllp":  # options remembered from a planting made before MSH-5/6 were required
        check_receiver(target.address, options)
    with target_lock(db, target.address):
        return _plant_locked(db, system, target, options)


def _plant_locked(db: sqlite_utils.Database, system: str, target: Target, options: dict[str, Any]) -> PlantReport:
    system_row = get_system(db, system)
    canaries = list_canaries(db, system=system, include_retired=False)
    if not canaries:
        raise CanaryError(f"system {system!r} has no active canary; create some with 'canary seed'")
    if target.channel == "fhir" and options.get("token_env") and options["token_env"] not in os.environ:
        raise CanaryError(f"environment variable {options['token_env']} (--token-env) is not set")
    lifecycle.plan(db, system, [c["id"] for c in canaries], target.channel, target.address, options)
    todo = lifecycle.rows_to_do(db, system, target.address)
    report = PlantReport(system, target.channel, target.address, already=len(canaries) - len(todo),
                         warnings=_namespace_warnings(target, options))
    todo = _refuse_tells(db, todo, report)
    if todo:
        planter = {"file": _plant_file, "mllp": _plant_mllp, "fhir": _plant_fhir}[target.channel]
        planter(db, system_row, target, options, todo, report)
    if report.stopped and not report.planted:
        report.forgotten = lifecycle.forget_unreached_target(db, system, target.address)
    return report


IDENTITY_STATUSES = ("VALI", "QUAL", "PROV", "RECUP")


def _refuse_tells(db, todo: list[dict[str, Any]], report: PlantReport) -> list[dict[str, Any]]:
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


def _namespace_warnings(target: Target, options: dict[str, Any]) -> list[str]:
    """Real patients' IPPs carry the establishment's own namespace; canaries must carry the same one."""
    if target.channel == "mllp" and not (options.get("ipp_oid") or options.get("ipp_namespace")):
        return ["IPP assigning authority not configured: add ?ipp_oid=... (or ?ipp_namespace=...) to the URL "
                "so canaries carry the same one as real patients / autorité d'affectation de l'IPP à configurer"]
    if target.channel == "fhir" and not (options.get("ipp_system") or options.get("ipp_oid")):
        return ["IPP identifier system not configured: add ?ipp_system=... (or ?ipp_oid=...) to the URL so "
                "canaries carry the same one as real patients / système d'identifiant IPP à configurer"]
    return []


def _plant_file(db, system_row, target: Target, options, todo, report: PlantReport) -> None:
    planted = lifecycle.list_plantings(db, target=target.address, states=("planted",))
    records = [get_canary(db, row["canary_id"]) for row in planted + todo]
    assert target.path is not None  # parse_target always sets it for file:// targets
    try:
        fileexport.write_export(target.path, records, fmt=options["format"], mapping=options["mapping"],
                                delimiter=options["delimiter"], encoding=options["encoding"],
                                new_mode=int(get_setting(db, "plant.file_mode"), 8))
    except (CanaryError, OSError) as exc:
        for row in todo:
            lifecycle.mark_failed(db, row["id"], str(exc), delivered_maybe=False, state="planned")
        report.stopped = str(exc)
        return
    for row, record in zip(todo, records[len(planted):], strict=True):
        lifecycle.mark_planted(db, row["id"], fileexport.row_key(record, options["mapping"]))
        report.planted.append(row["canary_id"])


def _peer(db, system_row, options) -> Peer:
    # A short code, as real feeds write it: the target's, else the setting, else the sending application.
    namespace = (options.get("ipp_namespace") or get_setting(db, "plant.hl7.ipp_namespace")
                 or get_setting(db, "plant.hl7.sending_application")).upper()
    # The establishment assigns the IPP: its OID when given, else its FINESS (a local scheme, type L).
    if options.get("ipp_oid"):
        authority = hd(namespace, options["ipp_oid"], "ISO")
    elif system_row.get("finess"):
        authority = hd(namespace, system_row["finess"], "L")
    else:
        authority = hd(namespace)
    facility = get_setting(db, "plant.hl7.sending_facility") or system_row.get("finess") \
        or system_row.get("establishment") or ""
    return Peer(get_setting(db, "plant.hl7.sending_application"), facility, options.get("app") or "",
                options.get("facility") or "", authority)


def _mllp_client(db, target: Target, options) -> MllpClient:
    return MllpClient(target.host or "", target.port or 0, timeout=float(get_setting(db, "plant.timeout")),
                      encoding=options["encoding"], tls=tls_config(db, options) if target.tls else None)


def _plant_mllp(db, system_row, target: Target, options, todo, report: PlantReport) -> None:
    peer = _peer(db, system_row, options)
    link = _mllp_client(db, target, options)
    try:
        link.connect()
    except MllpError as exc:
        for row in todo:
            lifecycle.mark_failed(db, row["id"], str(exc), delivered_maybe=bool(row["in_flight"]), state=row["state"])
        report.stopped = str(exc)
        return
    try:
        for row in todo:
            record = get_canary(db, row["canary_id"])
            # A message whose outcome we never learnt may already be stored: update rather than create again.
            earlier = bool(row["in_flight"])
            event = "A31" if earlier else "A28"
            control_id = hl7.generate_message_control_id()
            message = build_adt(record, event, peer, control_id, charset=options["encoding"])
            try:
                message.encode(options["encoding"])
            except UnicodeEncodeError as exc:
                error = f"a value cannot be sent in {options['encoding']}: {exc.object[exc.start:exc.end]!r}"
                lifecycle.mark_failed(db, row["id"], error, delivered_maybe=earlier)
                report.failed.append((row["canary_id"], error))
                continue
            lifecycle.begin_attempt(db, row["id"])
            try:
                ack = link.send(message, control_id)
            except MllpError as exc:
                if exc.link_refused:
                    # The TLS peer refused the link (TLS 1.3 tells it after our first write): as for a
                    # refused connection, the row keeps its state and nothing is counted against the canary.
                    lifecycle.mark_failed(db, row["id"], str(exc), delivered_maybe=earlier, state=row["state"])
                    report.stopped = str(exc)
                    return
                lifecycle.mark_failed(db, row["id"], str(exc), delivered_maybe=exc.delivered_maybe or earlier)
                report.failed.append((row["canary_id"], str(exc)))
                report.stopped = str(exc)
                return
            if ack.accepted:
                lifecycle.mark_planted(db, row["id"], record["ipp"])
                report.planted.append(row["canary_id"])
            else:
                error = f"ADT^{event} refused ({ack.code}): {ack.text or 'no reason given'}"
                lifecycle.mark_failed(db, row["id"], error, delivered_maybe=earlier)
                report.failed.append((row["canary_id"], error))
    finally:
        link.close()


def _establishment(system_row, options) -> Establishment:
    name = system_row.get("establishment") or system_row["name"]
    if options.get("ipp_system"):
        ipp_system = options["ipp_system"]
    elif options.get("ipp_oid"):
        ipp_system = f"urn:oid:{options['ipp_oid']}"
    else:
        ipp_system = f"urn:fr:ipp:{system_row.get('finess') or system_row['name']}"
    return Establishment(name, system_row.get("finess"), ipp_system)


def _fhir_client(db, target: Target, options) -> FhirClient:
    token = os.environ.get(options["token_env"]) if options.get("token_env") else None
    if options.get("token_env") and token is None:
        raise CanaryError(f"environment variable {options['token_env']} (--token-env) is not set")
    return FhirClient(target.address, token=token, verify=not options.get("insecure"),
                      timeout=float(get_setting(db, "plant.timeout")),
                      retries=int(get_setting(db, "plant.fhir.retries")),
                      backoff=float(get_setting(db, "plant.fhir.backoff")))


def _plant_fhir(db, system_row, target: Target, options, todo, report: PlantReport) -> None:
    site = _establishment(system_row, options)
    client = _fhir_client(db, target, options)
    try:
        for row in todo:
            record = get_canary(db, row["canary_id"])
            # An earlier attempt without an answer may have been applied: keep saying so until one succeeds.
            earlier = bool(row["in_flight"])
            try:
                bundle = build_bundle(record, site, today=date.today(), created=record.get("created_at"))
            except CanaryError as exc:
                lifecycle.mark_failed(db, row["id"], str(exc), delivered_maybe=earlier)
                report.failed.append((row["canary_id"], str(exc)))
                continue
            lifecycle.begin_attempt(db, row["id"])
            try:
                response = client.transaction(bundle)
            except FhirError as exc:
                lifecycle.mark_failed(db, row["id"], str(exc), delivered_maybe=exc.delivered_maybe or earlier)
                report.failed.append((row["canary_id"], str(exc)))
                if exc.fatal:
                    report.stopped = str(exc)
                    return
                continue
            types = [entry["resource"]["resourceType"] for entry in bundle["entry"]]
            created: list[str] = []
            patient = None
            for kind, location in zip(types, response_locations(response), strict=False):
                if location and kind != "Practitioner":  # the GP is shared by other patients: never deleted
                    created.append(location)
                if kind == "Patient":
                    patient = location
            if not patient:
                error = f"{target.address}: the transaction-response names no Patient location"
                lifecycle.mark_failed(db, row["id"], error, delivered_maybe=True)
                report.failed.append((row["canary_id"], error))
                continue
            lifecycle.mark_planted(db, row["id"], patient, created)
            report.planted.append(row["canary_id"])
    finally:
        client.close()


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
    remover = {"file": _retire_file, "mllp": _retire_mllp, "fhir": _retire_fhir}[target.channel]
    try:
        remover(db, target, options, live, report)
    except CanaryError as exc:
        done = set(report.retired) | {pid for pid, _ in report.failed}
        pending = [r["id"] for r in live if r["id"] not in done]
        lifecycle.record_retire_error(db, pending, str(exc))
        report.failed.extend((pid, str(exc)) for pid in pending)


def _retire_file(db, target: Target, options, live, report: RetireReport) -> None:
    leaving = {r["id"] for r in live}
    keep = [r for r in lifecycle.list_plantings(db, target=target.address, states=("planted",))
            if r["id"] not in leaving]
    records = [get_canary(db, r["canary_id"]) for r in keep]
    assert target.path is not None  # parse_target always sets it for file:// targets
    fileexport.write_export(target.path, records, fmt=options["format"], mapping=options["mapping"],
                            delimiter=options["delimiter"], encoding=options["encoding"],
                            new_mode=int(get_setting(db, "plant.file_mode"), 8))
    lifecycle.mark_retired(db, list(leaving))
    report.retired.extend(leaving)


def retire_strategy(db: sqlite_utils.Database, channel: str, options: dict[str, Any]) -> str:
    """The target's retire option, else the channel's setting."""
    strategy = options.get("retire") or get_setting(db, f"plant.{channel}.retire")
    if strategy not in RETIRE_STRATEGIES[channel]:
        raise CanaryError(f"invalid retire {strategy!r} for {channel} targets; expected one of "
                          f"{', '.join(RETIRE_STRATEGIES[channel])}")
    return strategy


def _retire_mllp(db, target: Target, options, live, report: RetireReport) -> None:
    """Retire with what the PAM identity feed carries; only the receiver's AA on that message counts."""
    check_receiver(target.address, options)
    strategy = retire_strategy(db, "mllp", options)
    check_retire_options("mllp", options | {"retire": strategy})
    system_row = get_system(db, live[0]["system"])
    peer = _peer(db, system_row, options)
    with _mllp_client(db, target, options) as link:
        for row in live:
            record = get_canary(db, row["canary_id"])
            control_id = hl7.generate_message_control_id()
            if strategy == "a40-merge":
                event = "A40"
                message = build_merge(record, options["merge_into"].strip(), peer, control_id,
                                      charset=options["encoding"])
            else:
                event = "A31"
                message = build_adt(record, "A31", peer, control_id, charset=options["encoding"], deactivate=True)
            ack = link.send(message, control_id)
            if ack.accepted:
                lifecycle.mark_retired(db, [row["id"]])
                report.retired.append(row["id"])
            else:
                error = f"ADT^{event} ({strategy}) refused ({ack.code}): {ack.text or 'no reason given'}"
                lifecycle.record_retire_error(db, [row["id"]], error)
                report.failed.append((row["id"], error))


def _retire_fhir(db, target: Target, options, live, report: RetireReport) -> None:
    """DELETE the resources (or deactivate the Patient), then read the Patient back: only a Patient gone or
    inactive on the server counts as retired."""
    strategy = retire_strategy(db, "fhir", options)
    client = _fhir_client(db, target, options)
    try:
        for row in live:
            try:
                if strategy == "inactive":
                    client.deactivate(row["external_id"])
                else:
                    resources = sorted(row["resources"] or [row["external_id"]],
                                       key=lambda ref: RETIRE_ORDER.index(ref.split("/")[0])
                                       if ref.split("/")[0] in RETIRE_ORDER else -1)
                    for reference in resources:
                        client.delete(reference)
                left = client.read(row["external_id"])
            except FhirError as exc:
                lifecycle.record_retire_error(db, [row["id"]], str(exc))
                report.failed.append((row["id"], str(exc)))
                if exc.fatal:
                    raise
                continue
            if left is not None and (strategy == "delete" or left.get("active") is not False):
                error = (f"{target.address}: {row['external_id']} is still there after {strategy} (read back "
                         f"{'active' if left.get('active', True) else 'inactive'}); the server did not apply it")
                lifecycle.record_retire_error(db, [row["id"]], error)
                report.failed.append((row["id"], error))
                continue
            lifecycle.mark_retired(db, [row["id"]])
            report.retired.append(row["id"])
    finally:
        client.close()
