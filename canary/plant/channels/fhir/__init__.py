"""The FHIR channel: one FR Core transaction Bundle per canary; DELETE (or an inactive Patient) to retire."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult, urlunsplit

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
    no_receiver,
    retire_strategy,
    url_host,
)
from canary.plant.markers import add_marker
from canary.plant.reports import PlantReport, RetireReport
from canary.plant.timing import document_moment
from canary.plant.transport import Pacer
from canary.settings import get_float, get_int, get_str
from canary.store.registry import get_canary
from canary.timezones import parse_iso

if TYPE_CHECKING:
    from canary.plant.channels.fhir.bundle import Establishment
    from canary.plant.channels.fhir.client import FhirClient

# fhir.resources and requests are imported where a Bundle is built or a request sent: 'canary plants',
# the console and 'canary lint' read this channel's options without loading them.

NAME = "fhir"
# ipp_by "receiver": the Patient goes without an IPP, the server allocates one (read back and recorded).
OPTIONS: dict[str, Any] = {"token_env": None, "insecure": False, "ipp_oid": None, "ipp_system": None, "retire": None,
                           "ipp_by": None}
IPP_BY = ("canary", "receiver")
# DELETE of every resource, or the Patient updated to active=false (read back either way).
RETIRE_STRATEGIES = ("delete", "inactive")


def parse_target(url: str, parts: SplitResult, port: int | None, query: dict[str, str]) -> Target:
    if not parts.hostname:
        raise CanaryError(f"invalid FHIR target {url!r}: expected http(s)://host/base")
    netloc = url_host(parts.hostname) + (f":{port}" if port is not None else "")
    base = urlunsplit((parts.scheme.lower(), netloc, parts.path.rstrip("/"), "", ""))
    return Target(NAME, base, parts.hostname, port, options=query)


def check_options(db: sqlite_utils.Database, target: Target, options: dict[str, Any]) -> None:
    check_retire_option(CHANNEL, options)
    value = options.get("ipp_by")
    if value is not None and value not in IPP_BY:
        raise CanaryError(f"invalid ipp_by {value!r}; expected one of {', '.join(IPP_BY)}")


def check_token(options: dict[str, Any]) -> None:
    """The bearer token's variable must be set before anything is planned (its value is never stored)."""
    if options.get("token_env") and options["token_env"] not in os.environ:
        raise CanaryError(f"environment variable {options['token_env']} (--token-env) is not set")


def warnings(options: dict[str, Any]) -> list[str]:
    """Real patients' IPPs carry the establishment's own identifier system; canaries must carry the same one."""
    if lacks_authority(CHANNEL, options):
        return ["IPP identifier system not configured: add ?ipp_system=... (or ?ipp_oid=...) to the URL so "
                "canaries carry the same one as real patients / système d'identifiant IPP à configurer"]
    return []


def _establishment(system_row: Row, options: dict[str, Any]) -> Establishment:
    from canary.plant.channels.fhir.bundle import Establishment

    name = system_row.get("establishment") or system_row["name"]
    if options.get("ipp_system"):
        ipp_system = options["ipp_system"]
    elif options.get("ipp_oid"):
        ipp_system = f"urn:oid:{options['ipp_oid']}"
    else:
        ipp_system = f"urn:fr:ipp:{system_row.get('finess') or system_row['name']}"
    return Establishment(name, system_row.get("finess"), ipp_system)


def _client(db: sqlite_utils.Database, target: Target, options: dict[str, Any]) -> FhirClient:
    from canary.plant.channels.fhir.client import FhirClient

    check_token(options)
    token = os.environ.get(options["token_env"]) if options.get("token_env") else None
    return FhirClient(target.address, token=token, verify=not options.get("insecure"),
                      timeout=get_float(db, "plant.timeout"),
                      retries=get_int(db, "plant.fhir.retries"),
                      backoff=get_float(db, "plant.fhir.backoff"),
                      user_agent=get_str(db, "plant.fhir.user_agent") or None)


def plant(db: sqlite_utils.Database, system_row: Row, target: Target, options: dict[str, Any], todo: list[Row],
          report: PlantReport) -> None:
    from canary.plant.channels.fhir.bundle import build_bundle, instant
    from canary.plant.channels.fhir.client import FhirError, response_locations

    site = _establishment(system_row, options)
    client = _client(db, target, options)
    pacer = Pacer.from_settings(db)
    by_receiver = options.get("ipp_by") == "receiver"
    max_age = get_float(db, "plant.fhir.document_age_days")
    try:
        for row in todo:
            record = get_canary(db, row["canary_id"])
            # An earlier attempt without an answer may have been applied: keep saying so until one succeeds.
            earlier = bool(row["in_flight"])
            if earlier and by_receiver:
                # No IPP to make the create conditional on: sending again could make a second Patient.
                error = ("an earlier transaction had no answer and the server allocates the IPP: check the server "
                         "for this patient by hand / vérifier à la main")
                lifecycle.mark_failed(db, row["id"], error, delivered_maybe=True)
                report.failed.append((row["canary_id"], error))
                continue
            moment = pacer.wait()
            # The consultation letter was written some time before the patient reached this system, each
            # canary at its own moment (never the seed's second for all of them).
            written = document_moment(row["canary_id"], _planned(row), max_age_days=max_age)
            try:
                bundle = build_bundle(record, site, today=date.today(), created=instant(written),
                                      sent_at=moment, with_ipp=not by_receiver)
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
            if by_receiver:
                _record_assigned_ipp(db, client, site, row["canary_id"], patient, report)
    finally:
        client.close()


def _record_assigned_ipp(db: sqlite_utils.Database, client: FhirClient, site: Establishment, canary_id: str,
                         patient: str, report: PlantReport) -> None:
    """Read the Patient back and record the IPP the server allocated as a marker of the canary."""
    from canary.plant.channels.fhir.bundle import assigned_ipp
    from canary.plant.channels.fhir.client import FhirError

    try:
        resource = client.read(patient)
    except FhirError as exc:
        report.warnings.append(f"{canary_id}: {patient} could not be read back for its IPP: {exc}")
        return
    ipp = assigned_ipp(resource or {}, site)
    if ipp is None:
        report.warnings.append(f"{canary_id}: the server allocated no IPP to {patient} (no identifier in "
                               f"{site.ipp_system} or of type PI)")
        return
    add_marker(db, canary_id, "ipp", ipp, report)


def _planned(row: Row) -> datetime:
    return parse_iso(row.get("planned_at")) or datetime.now(UTC)


def retire(db: sqlite_utils.Database, target: Target, options: dict[str, Any], live: list[Row],
           report: RetireReport) -> None:
    """DELETE the resources (or deactivate the Patient), then read the Patient back: only a Patient gone or
    inactive on the server counts as retired."""
    from canary.plant.channels.fhir.bundle import RETIRE_ORDER
    from canary.plant.channels.fhir.client import FhirError

    strategy = retire_strategy(db, CHANNEL, options)
    client = _client(db, target, options)
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


CHANNEL = Channel(name=NAME, schemes=("http", "https"), options=OPTIONS, retire_strategies=RETIRE_STRATEGIES,
                  authority_options=("ipp_system", "ipp_oid"),
                  parse_target=parse_target, check_options=check_options, check_target=no_check,
                  check_environment=check_token, warnings=warnings, plant=plant, retire=retire,
                  receiver=no_receiver)
