"""Polling a FHIR server's AuditEvent resources, following ``next`` links, resuming at a cursor.

The cursor (highest ``meta.lastUpdated`` seen, plus the ids seen at exactly that instant) is saved
with the events of the last page of a run; each earlier page commits its own events, so a crash
mid-run only repeats work that the dedup key (resource id and version) makes harmless.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import sqlite_utils

from canary.errors import CanaryError
from canary.settings import get_str
from canary.store import open_db
from canary.watch.accesslog.endpoint_kind import (
    EndpointKind,
    SourceRequest,
    SourceSettings,
    no_conflict,
    refuse_database_options,
)
from canary.watch.accesslog.engine import BatchResult, Processor
from canary.watch.accesslog.fhir import entry_from_auditevent
from canary.watch.accesslog.model import Malformed
from canary.watch.accesslog.parsers import build_parser
from canary.watch.accesslog.state import clear_error, get_position, record_error, save_position
from canary.watch.accesslog.timeparse import parse_duration

if TYPE_CHECKING:
    import requests

# requests is imported where a server is polled: 'canary logs add/list' and the console read this kind's
# record without loading it.

log = logging.getLogger("canary.accesslog")

PAGE_SIZE = 200
MAX_PAGES = 10_000
TIMEOUT = 30
FIRST_LOOKBACK = timedelta(hours=1)


PREFIX = "fhir-auditevent:"
DEFAULT_EVERY = 60
FORMAT = "fhir-auditevent"


def claims(url: str) -> bool:
    return url.startswith(PREFIX)


def parse_url(url: str) -> str:
    """fhir-auditevent:https://server/fhir -> the server's base URL."""
    base = url.strip()[len(PREFIX):].rstrip("/")
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CanaryError(f"invalid --from {url!r}: expected fhir-auditevent:https://server/fhir")
    return base


def check_url(url: str) -> None:
    parse_url(url)


def check_request(request: SourceRequest) -> SourceSettings:
    """Read as AuditEvent resources, every --every (default 1m)."""
    refuse_database_options(request)
    fmt = request.fmt or FORMAT
    if fmt != FORMAT:
        raise CanaryError("a fhir-auditevent: source is read with --format fhir-auditevent")
    every = int(parse_duration(request.every, "--every").total_seconds()) if request.every else DEFAULT_EVERY
    build_parser(fmt, request.pattern, request.fields)
    return SourceSettings(fmt, every)


class FhirPoller:
    def __init__(self, db: sqlite_utils.Database, source: dict[str, Any], session: requests.Session | None = None):
        self.db = db
        self.source = source
        self.name = source["name"]
        self.base_url = parse_url(source["url"])
        import requests

        self.session = session or requests.Session()
        self.session.headers.setdefault("Accept", "application/fhir+json")
        token = get_str(db, "accesslog.fhir_bearer_token")
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"
        self.processor = Processor(db, source["system"], build_parser("fhir-auditevent"), source_name=self.name)

    def _cursor(self) -> dict[str, Any]:
        position = get_position(self.db, self.name)
        if position and position["cursor"]:
            cursor: dict[str, Any] = json.loads(position["cursor"])
            return cursor
        created = datetime.fromisoformat(self.source["created_at"].replace("Z", "+00:00"))
        start = (created - FIRST_LOOKBACK).astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        return {"last_updated": start, "ids": []}

    def poll(self) -> BatchResult:
        """Fetch every AuditEvent updated since the cursor; store matches; advance the cursor."""
        total = BatchResult()
        cursor = self._cursor()
        since, seen_at_since = cursor["last_updated"], set(cursor.get("ids") or [])
        newest, newest_ids = since, set(seen_at_since)
        url: str | None = f"{self.base_url}/AuditEvent"
        params: dict[str, Any] | None = {"_lastUpdated": f"ge{since}", "_sort": "_lastUpdated",
                                         "_count": PAGE_SIZE}
        pages = 0
        while url:
            pages += 1
            if pages > MAX_PAGES:
                raise CanaryError(f"more than {MAX_PAGES} pages in one poll; stopping (next poll resumes)")
            bundle = self._get(url, params)
            params = None  # a next link carries its own query
            url = self._next_link(bundle)
            for entry in bundle.get("entry") or []:
                resource = (entry or {}).get("resource") or {}
                if resource.get("resourceType") == "OperationOutcome":
                    continue
                meta = resource.get("meta") or {}
                updated = str(meta.get("lastUpdated") or "")
                rid = str(resource.get("id") or "")
                if updated and updated == since and rid in seen_at_since:
                    continue  # read by the previous poll
                if updated > newest:
                    newest, newest_ids = updated, {rid}
                elif updated == newest:
                    newest_ids.add(rid)
                self._feed(resource, rid, str(meta.get("versionId") or ""))
            if url:
                total.add(self.processor.flush())
        new_cursor = json.dumps({"last_updated": newest, "ids": sorted(newest_ids)})
        total.add(self.processor.flush(position=lambda db: save_position(db, self.name, cursor=new_cursor)))
        clear_error(self.db, self.name)
        return total

    def _feed(self, resource: dict[str, Any], rid: str, version: str) -> None:
        processor = self.processor
        raw = json.dumps(resource, sort_keys=True).encode()
        try:
            entry = entry_from_auditevent(resource)
        except Malformed as exc:
            processor.batch.lines += 1
            processor.batch.malformed += 1
            processor.batch.last_malformed = f"AuditEvent {rid}: {exc}"
            return
        processor.feed_entry(entry, raw, f"al:{self.name}:fhir", "resource", f"{rid}/{version}",
                             extra={"auditevent": f"AuditEvent/{rid}" + (f"/_history/{version}" if version else "")})

    def _get(self, url: str, params: dict[str, Any] | None) -> dict[str, Any]:
        import requests

        base, target = urlsplit(self.base_url), urlsplit(url)
        if (target.scheme, target.netloc) != (base.scheme, base.netloc):
            raise CanaryError(f"refusing to follow a link to another server: {target.scheme}://{target.netloc}")
        try:
            response = self.session.get(url, params=params, timeout=TIMEOUT)
        except requests.RequestException as exc:
            raise CanaryError(f"FHIR server {base.netloc} unreachable: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise CanaryError(f"FHIR server {base.netloc} answered HTTP {response.status_code}")
        try:
            bundle = response.json()
        except ValueError as exc:
            raise CanaryError(f"FHIR server {base.netloc} did not answer JSON") from exc
        if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
            raise CanaryError(f"FHIR server {base.netloc} did not answer a Bundle")
        return bundle

    @staticmethod
    def _next_link(bundle: dict[str, Any]) -> str | None:
        for link in bundle.get("link") or []:
            if isinstance(link, dict) and link.get("relation") == "next" and link.get("url"):
                return str(link["url"])
        return None


class FhirPollService:
    """``canary serve`` service: a job on the shared scheduler, every ``source.every`` seconds."""

    def __init__(self, db_path: Path, source: dict[str, Any], scheduler: Any) -> None:
        self.name = f"access-log fhir {source['name']}"
        self.db_path = db_path
        self.source = source
        self.scheduler = scheduler
        self.job_id = f"accesslog-fhir-{source['name']}"

    def start(self) -> None:
        self.scheduler.add_job(self.run_once, "interval", seconds=int(self.source["every"] or DEFAULT_EVERY),
                               id=self.job_id, max_instances=1, replace_existing=True, next_run_time=datetime.now(UTC))

    def stop(self) -> None:
        try:
            self.scheduler.remove_job(self.job_id)
        except Exception:  # already gone (scheduler shut down first)
            log.debug("job %s already removed", self.job_id)

    def run_once(self) -> BatchResult | None:
        db = open_db(self.db_path)
        try:
            return FhirPoller(db, self.source).poll()
        except Exception as exc:  # the next run retries from the saved cursor
            log.warning("%s: %s", self.name, exc)
            self_db_error(db, self.source["name"], exc)
            return None
        finally:
            db.close()


def self_db_error(db: sqlite_utils.Database, name: str, exc: Exception) -> None:
    try:
        record_error(db, name, str(exc) if isinstance(exc, CanaryError) else f"{type(exc).__name__}: {exc}")
    except Exception:
        log.exception("cannot record the error of %s", name)


def _service(db_path: Path, source: dict[str, Any], scheduler: Any, _poll_interval: float) -> FhirPollService:
    return FhirPollService(db_path, source, scheduler)


ENDPOINT = EndpointKind(name="fhir", usage="fhir-auditevent:https://server/fhir", claims=claims,
                        check_url=check_url, check_request=check_request, check_conflict=no_conflict,
                        service=_service)
