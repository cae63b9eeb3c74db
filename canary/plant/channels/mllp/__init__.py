"""The MLLP channel: HL7 v2 PAM FR messages (A28 to plant, A31 or A40 to retire) over MLLP, or MLLP in TLS."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult

import sqlite_utils

from canary.errors import CanaryError
from canary.plant import lifecycle
from canary.plant.channels.base import (
    Channel,
    Row,
    Target,
    check_retire_option,
    lacks_authority,
    no_check,
    retire_strategy,
    url_host,
)
from canary.plant.markers import add_marker
from canary.plant.reports import PlantReport, RetireReport
from canary.plant.transport import Pacer, next_control_id
from canary.settings import get_float, get_str
from canary.store.registry import get_canary, get_system

if TYPE_CHECKING:
    from canary.plant.channels.mllp.client import MllpClient
    from canary.plant.channels.mllp.hl7v2 import Peer
    from canary.plant.channels.mllp.tls import TlsConfig

# The HL7, MLLP and TLS modules are imported where a message is built or a link opened: 'canary plants',
# the console and 'canary lint' read this channel's options and receiver without loading them.

NAME = "mllp"
OPTIONS: dict[str, Any] = {
    "encoding": "utf-8", "app": "", "facility": "", "ipp_oid": None, "ipp_namespace": None,
    # None: the setting plant.mllp.retire decides.
    "retire": None, "merge_into": None,
    # mllps:// only: paths and a name, never key material (settings plant.mllp.tls_* otherwise).
    "tls_ca": None, "tls_cert": None, "tls_key": None, "tls_server_name": None,
    # "receiver": the A28 carries no IPP; the receiver allocates one and returns it in its ACK (PID-3).
    "ipp_by": None,
}
IPP_BY = ("canary", "receiver")
# A31 marking the identity deactivated (PID-32 DESA, table 0445 of PAM FR), or, when chosen, an A40 merging
# each retired canary into a distinct live canary of the same target (never many identities into one chart).
# ADT^A29 is not part of the IHE PAM identity feed: receivers refuse it or drop it.
RETIRE_STRATEGIES = ("a31-inactive", "a40-merge")
TLS_OPTIONS = ("tls_ca", "tls_cert", "tls_key", "tls_server_name")
# An IPP namespace is a short code (CHUX, GAM, SIGEMS), as real feeds write CX-4.1.
_NAMESPACE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,19}")


def parse_target(url: str, parts: SplitResult, port: int | None, query: dict[str, str]) -> Target:
    scheme = parts.scheme.lower()
    if not parts.hostname or port is None:
        raise CanaryError(f"invalid MLLP target {url!r}: expected {scheme}://host:port")
    return Target(NAME, f"{scheme}://{url_host(parts.hostname)}:{port}", parts.hostname, port, options=query,
                  tls=scheme == "mllps")


def check_options(db: sqlite_utils.Database, target: Target, options: dict[str, Any]) -> None:
    try:
        "".encode(options["encoding"])
    except LookupError as exc:
        raise CanaryError(f"unknown encoding {options['encoding']!r}") from exc
    _check_tls_options(db, target, options)
    check_receiver(target, options)
    namespace = options.get("ipp_namespace")
    if namespace is not None and not _NAMESPACE.fullmatch(namespace):
        raise CanaryError(f"invalid ipp_namespace {namespace!r}: a short code of letters, digits, '_', '-' or "
                          "'.' (at most 20), e.g. CHUX")
    _check_retire_options(options)
    check_ipp_by(options)


def check_ipp_by(options: dict[str, Any]) -> None:
    value = options.get("ipp_by")
    if value is not None and value not in IPP_BY:
        raise CanaryError(f"invalid ipp_by {value!r}; expected one of {', '.join(IPP_BY)}")


def check_receiver(target: Target, options: dict[str, Any]) -> None:
    """MSH-5/MSH-6 route the message inside the receiver's engine: an MLLP target must name both."""
    missing = [name for name in ("app", "facility") if not (options.get(name) or "").strip()]
    if missing:
        raise CanaryError(f"{target.address}: receiving application and facility (MSH-5/MSH-6) are part of the "
                          f"target; add ?app=NAME&facility=NAME to the URL (or --app/--facility) / application et "
                          f"établissement destinataires manquants")


def _check_retire_options(options: dict[str, Any]) -> None:
    check_retire_option(CHANNEL, options)
    if (options.get("merge_into") or "").strip():
        raise CanaryError("merge_into is refused: merging every retired canary into one record makes one chart "
                          "holding many identities; retire=a40-merge merges each into a distinct live canary of the "
                          "target / fusion dans un seul dossier refusée")


def _check_tls_options(db: sqlite_utils.Database, target: Target, options: dict[str, Any]) -> None:
    """TLS options belong to mllps:// targets; their files must load now, before anything is planned."""
    from canary.plant.channels.mllp.tls import absolute_path, client_context

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
    from canary.plant.channels.mllp.tls import TlsConfig, absolute_path

    if options.get("tls_cert") or options.get("tls_key"):
        cert, key = options.get("tls_cert"), options.get("tls_key")
    else:
        cert = absolute_path(get_str(db, "plant.mllp.tls_cert_file") or None)
        key = absolute_path(get_str(db, "plant.mllp.tls_key_file") or None)
    return TlsConfig(ca_file=options.get("tls_ca") or absolute_path(get_str(db, "plant.mllp.tls_ca_file") or None),
                     cert_file=cert, key_file=key,
                     key_password_env=get_str(db, "plant.mllp.tls_key_password_env") or None,
                     server_name=options.get("tls_server_name") or None)


def warnings(options: dict[str, Any]) -> list[str]:
    """Real patients' IPPs carry the establishment's own namespace; canaries must carry the same one."""
    if lacks_authority(CHANNEL, options):
        return ["IPP assigning authority not configured: add ?ipp_oid=... (or ?ipp_namespace=...) to the URL "
                "so canaries carry the same one as real patients / autorité d'affectation de l'IPP à configurer"]
    return []


def receiver(options: dict[str, Any]) -> str | None:
    """The receiving application and facility (MSH-5/MSH-6) the messages are addressed to."""
    return f"{options.get('app') or '?'}/{options.get('facility') or '?'}"


def _peer(db: sqlite_utils.Database, system_row: Row, options: dict[str, Any]) -> Peer:
    from canary.plant.channels.mllp.hl7v2 import Peer, hd

    # A short code, as real feeds write it: the target's, else the setting, else the sending application.
    namespace = (options.get("ipp_namespace") or get_str(db, "plant.hl7.ipp_namespace")
                 or get_str(db, "plant.hl7.sending_application")).upper()
    # The establishment assigns the IPP: its OID when given (HD-2 valued means HD-3 ISO), else the namespace
    # alone. A FINESS is not the IPP domain's OID, so it never fills HD-2.
    authority = hd(namespace, options["ipp_oid"], "ISO") if options.get("ipp_oid") else hd(namespace)
    facility = get_str(db, "plant.hl7.sending_facility") or system_row.get("finess") \
        or system_row.get("establishment") or ""
    return Peer(get_str(db, "plant.hl7.sending_application"), facility, options.get("app") or "",
                options.get("facility") or "", authority)


def _client(db: sqlite_utils.Database, target: Target, options: dict[str, Any]) -> MllpClient:
    from canary.plant.channels.mllp.client import MllpClient

    return MllpClient(target.host or "", target.port or 0, timeout=get_float(db, "plant.timeout"),
                      encoding=options["encoding"], tls=tls_config(db, options) if target.tls else None)


def plant(db: sqlite_utils.Database, system_row: Row, target: Target, options: dict[str, Any], todo: list[Row],
          report: PlantReport) -> None:
    from canary.plant.channels.mllp.client import MllpError
    from canary.plant.channels.mllp.hl7v2 import build_adt

    peer = _peer(db, system_row, options)
    pacer = Pacer.from_settings(db)
    by_receiver = options.get("ipp_by") == "receiver"
    link = _client(db, target, options)
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
            if earlier and by_receiver:
                # The receiver may have allocated an IPP we never learnt: another A28 would create a second
                # record, an A31 cannot name the first. Someone has to look.
                error = ("an earlier ADT^A28 had no answer and the receiver allocates the IPP: check the receiver "
                         "for this patient by hand / vérifier à la main")
                lifecycle.mark_failed(db, row["id"], error, delivered_maybe=True)
                report.failed.append((row["canary_id"], error))
                continue
            event = "A31" if earlier else "A28"
            moment = pacer.wait()
            control_id = next_control_id(db, target.address, now=moment)
            message = build_adt(record, event, peer, control_id, charset=options["encoding"], now=moment,
                                with_ipp=not by_receiver)
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
            if ack.accepted and by_receiver:
                if not ack.assigned_ipp:
                    error = "the receiver accepted the ADT^A28 but returned no IPP in its ACK (PID-3, type PI)"
                    lifecycle.mark_failed(db, row["id"], error, delivered_maybe=True)
                    report.failed.append((row["canary_id"], error))
                    continue
                # The IPP the host allocated is what a thief sees: it names the canary as its own one does.
                lifecycle.mark_planted(db, row["id"], ack.assigned_ipp)
                add_marker(db, row["canary_id"], "ipp", ack.assigned_ipp, report)
                report.planted.append(row["canary_id"])
            elif ack.accepted:
                lifecycle.mark_planted(db, row["id"], record["ipp"])
                report.planted.append(row["canary_id"])
            else:
                error = f"ADT^{event} refused ({ack.code}): {ack.text or 'no reason given'}"
                lifecycle.mark_failed(db, row["id"], error, delivered_maybe=earlier)
                report.failed.append((row["canary_id"], error))
    finally:
        link.close()


def retire(db: sqlite_utils.Database, target: Target, options: dict[str, Any], live: list[Row],
           report: RetireReport) -> None:
    """Retire with what the PAM identity feed carries; only the receiver's AA on that message counts."""
    from canary.plant.channels.mllp.hl7v2 import build_adt, build_merge

    check_receiver(target, options)
    strategy = retire_strategy(db, CHANNEL, options)
    _check_retire_options(options | {"retire": strategy, "merge_into": None})
    system_row = get_system(db, live[0]["system"])
    peer = _peer(db, system_row, options)
    pacer = Pacer.from_settings(db)
    survivors = _survivors(db, target, live) if strategy == "a40-merge" else []
    if strategy == "a40-merge" and len(survivors) < len(live):
        report.warnings.append(f"{target.address}: no distinct live canary left to merge "
                               f"{len(live) - len(survivors)} retired canaries into: they are deactivated (ADT^A31) "
                               "instead / pas de dossier survivant distinct, identité désactivée")
    with _client(db, target, options) as link:
        for index, row in enumerate(live):
            record = _as_planted(db, row)
            moment = pacer.wait()
            control_id = next_control_id(db, target.address, now=moment)
            if index < len(survivors):
                event, how = "A40", "a40-merge"
                message = build_merge(record, _as_planted(db, survivors[index]), peer, control_id,
                                      charset=options["encoding"], now=moment)
            else:
                event, how = "A31", "a31-inactive"
                message = build_adt(record, "A31", peer, control_id, charset=options["encoding"], deactivate=True,
                                    now=moment)
            ack = link.send(message, control_id)
            if ack.accepted:
                lifecycle.mark_retired(db, [row["id"]])
                report.retired.append(row["id"])
            else:
                error = f"ADT^{event} ({how}) refused ({ack.code}): {ack.text or 'no reason given'}"
                lifecycle.record_retire_error(db, [row["id"]], error)
                report.failed.append((row["id"], error))


def _as_planted(db: sqlite_utils.Database, row: Row) -> dict[str, Any]:
    """The canary's record under the IPP the receiver knows it by (its own, or the one the receiver allocated)."""
    record: dict[str, Any] = dict(get_canary(db, row["canary_id"]))
    if row["options"].get("ipp_by") == "receiver" and row.get("external_id"):
        record["ipp"] = row["external_id"]
    return record


def _survivors(db: sqlite_utils.Database, target: Target, live: list[Row]) -> list[Row]:
    """Distinct records to merge the retiring canaries into: canaries planted at the same target and staying
    there, newest generation first, one survivor per retired canary."""
    leaving = {row["id"] for row in live}
    staying = [r for r in lifecycle.list_plantings(db, target=target.address, states=("planted",))
               if r["id"] not in leaving and r.get("external_id")]
    staying.sort(key=lambda r: (-r["generation"], r["id"]))
    return staying[:len(live)]


CHANNEL = Channel(name=NAME, schemes=("mllp", "mllps"), options=OPTIONS, retire_strategies=RETIRE_STRATEGIES,
                  authority_options=("ipp_oid", "ipp_namespace"),
                  parse_target=parse_target, check_options=check_options, check_target=check_receiver,
                  check_environment=no_check, warnings=warnings, plant=plant, retire=retire, receiver=receiver)
