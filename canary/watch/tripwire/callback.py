"""The HTTP callback listener: its own Flask app, with no console route in it.

Every request whose path, query or Host carries something shaped like a token goes through the
writer and waits until it is durable (committed, or journalled when the registry refuses the write)
before the answer is sent. The answer depends only on the kind of path (image, robots.txt, anything
else), never on whether the token is real.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import sqlite_utils
from flask import Flask, Response, request
from waitress.channel import HTTPChannel
from waitress.task import ErrorTask
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Rule

from canary.normalize import phone_key
from canary.settings import get_str
from canary.store.events import utcnow
from canary.watch.tripwire.hits import Hit, token_candidates
from canary.watch.tripwire.noise import Network, NoisePolicy, networks_setting, parse_ip
from canary.watch.tripwire.pages import (
    COMMON_HEADERS,
    PIXEL_GIF,
    PORTAL_PAGE,
    ROBOTS_TXT,
    is_image_path,
    path_kind,
    picture_mechanism,
)
from canary.watch.tripwire.sightings import Sighting, SightingStore, hit_payload
from canary.watch.tripwire.webhooks import read_payload, signature_ok
from canary.watch.tripwire.writer import EventWriter

log = logging.getLogger("canary.tripwire.http")

_PREFETCH_HEADERS = ("Purpose", "Sec-Purpose", "X-Purpose", "X-Moz")
_MAX_TEXT = 2000


@dataclass(frozen=True)
class CallbackConfig:
    policy: NoisePolicy
    trusted_proxies: tuple[Network, ...] = ()
    webhook_secret: str = ""
    public_base_url: str = ""
    commit_timeout: float = 15.0

    @classmethod
    def from_settings(cls, db: sqlite_utils.Database) -> CallbackConfig:
        return cls(
            policy=NoisePolicy.from_settings(db),
            trusted_proxies=networks_setting(db, "tripwire.trusted_proxies"),
            webhook_secret=get_str(db, "tripwire.webhook_secret"),
            public_base_url=get_str(db, "tripwire.base_url").rstrip("/"),
        )


def client_address(environ: dict[str, Any], trusted: tuple[Network, ...]) -> str:
    """The visitor's address: the peer, or, behind a trusted proxy, the last untrusted X-Forwarded-For hop."""
    peer = environ.get("REMOTE_ADDR") or ""
    if not _trusted(peer, trusted):
        return peer
    forwarded = environ.get("HTTP_X_FORWARDED_FOR") or ""
    client = peer
    for hop in reversed([part.strip() for part in forwarded.split(",") if part.strip()]):
        address = parse_ip(hop)
        if address is None:
            break
        client = str(address)
        if not _trusted(client, trusted):
            break
    return client


def _trusted(text: str, trusted: tuple[Network, ...]) -> bool:
    address = parse_ip(text)
    return address is not None and any(address.version == n.version and address in n for n in trusted)


def create_callback_app(writer: EventWriter, config: CallbackConfig, sightings: SightingStore | None = None) -> Flask:
    """The callback listener's WSGI app (hits are stored through ``writer``, or journalled by it)."""
    app = Flask("canary.watch.tripwire.callback", static_folder=None)
    app.config.update(MAX_CONTENT_LENGTH=64 * 1024)
    sightings = sightings or SightingStore(config.policy)

    def store(sighting: Sighting) -> Any:
        try:
            return writer.run(sighting, timeout=config.commit_timeout)
        except Exception:
            # Neither the registry nor the journal kept it (the writer said so loudly). The answer
            # must not differ, so the whole hit goes to the log: it can still be entered by hand.
            log.exception("could not store a hit; answering anyway: %s", sighting.journal_entry())
            return None

    @app.route("/hooks/call", methods=["POST"])
    def call_hook() -> Response:
        return _webhook("phone")

    @app.route("/hooks/sms", methods=["POST"])
    def sms_hook() -> Response:
        return _webhook("sms")

    def _webhook(channel: str) -> Response:
        received = utcnow()
        body = request.get_data(cache=True)
        form = list(request.form.items(multi=True)) if request.mimetype != "application/json" else []
        url = (config.public_base_url + request.full_path.rstrip("?")) if config.public_base_url else request.url
        if not signature_ok(config.webhook_secret, body=body, headers=request.headers, url=url, form=form):
            log.warning("webhook %s refused: bad or missing signature from %s", request.path,
                        client_address(request.environ, config.trusted_proxies))
            record_token_hit()
            return _answer(request.path, status=403)  # the portal's page and headers: nothing tells it apart
        fields = request.get_json(silent=True) if request.mimetype == "application/json" else dict(form)
        payload = read_payload(fields if isinstance(fields, dict) else {})
        number = phone_key(payload["to"] or "")
        dedup = f"{channel}:{payload['provider_id']}:{payload['status'] or ''}" if payload["provider_id"] else None
        hit = Hit(channel=channel, source=payload["from"], time=received, dedup_key=dedup,
                  details={k: v for k, v in payload.items() if v is not None})

        store(sightings.sighting("webhook", {"hit": hit_payload(hit), "number": number}))
        if request.mimetype == "application/json":
            answer = Response("{}\n", mimetype="application/json")
        else:
            answer = Response('<?xml version="1.0" encoding="UTF-8"?><Response></Response>\n', mimetype="text/xml")
        answer.headers.update(COMMON_HEADERS)
        return answer

    def record_token_hit() -> None:
        received = utcnow()
        query = request.query_string.decode("latin-1")
        candidates = token_candidates(request.path, query, request.host)
        if candidates:
            hit = _http_hit(received, config)
            store(sightings.sighting("http", {"hit": hit_payload(hit), "candidates": candidates}))

    def anything(path: str = "") -> Response:
        record_token_hit()
        return _answer(request.path)

    # Rules without a method list match every method (TRACE, PROPFIND, made-up ones): no framework 405
    # page, and a token sent with any method is a hit.
    app.url_map.add(Rule("/", defaults={"path": ""}, endpoint="anything"))
    app.url_map.add(Rule("/<path:path>", endpoint="anything"))
    app.view_functions["anything"] = anything

    @app.errorhandler(HTTPException)
    def portal_error(error: HTTPException) -> Response:
        # Whatever the framework refuses (a body too large, a malformed form) is answered like the portal.
        return _answer(request.path, status=error.code or 400)

    return app


def _http_hit(received: str, config: CallbackConfig) -> Hit:
    ip = client_address(request.environ, config.trusted_proxies)
    agent = request.headers.get("User-Agent")
    hint = None
    if request.method == "HEAD":
        hint = "head-request"
    for name in _PREFETCH_HEADERS:
        value = (request.headers.get(name) or "").lower()
        if "prefetch" in value or "preview" in value:
            hint = "prefetch"
    details = {
        "method": request.method,
        "path": request.full_path.rstrip("?")[:_MAX_TEXT],
        "host": (request.host or "")[:255],
        "user_agent": (agent or "")[:_MAX_TEXT] or None,
        "client_hints": (request.headers.get("Sec-CH-UA") or "")[:_MAX_TEXT] or None,
        "referer": (request.headers.get("Referer") or "")[:_MAX_TEXT] or None,
        "peer": request.environ.get("REMOTE_ADDR"),
        "path_kind": path_kind(request.path),
        "picture": picture_mechanism(request.path),
    }
    if ip != details["peer"]:
        details["forwarded_for"] = (request.headers.get("X-Forwarded-For") or "")[:_MAX_TEXT]
    return Hit(channel="http", source=ip, source_ip=ip, user_agent=agent, time=received, noise_hint=hint,
               path_kind=details["path_kind"], client_hints=details["client_hints"],
               details={k: v for k, v in details.items() if v is not None})


def _answer(path: str, status: int = 200) -> Response:
    if path == "/robots.txt":
        response = Response(ROBOTS_TXT, status=status, mimetype="text/plain")
    elif is_image_path(path):
        response = Response(PIXEL_GIF, status=status, mimetype="image/gif")
    else:
        response = Response(PORTAL_PAGE, status=status, mimetype="text/html")
    response.headers.update(COMMON_HEADERS)
    return response


class PortalErrorTask(ErrorTask):
    """What waitress answers itself (malformed request, body over its limit): the portal page and headers."""

    def execute(self) -> None:
        error: Any = getattr(self.request, "error", None)  # set by waitress's parser on every error task
        self.status = f"{getattr(error, 'code', 400)} {getattr(error, 'reason', 'Bad Request')}"
        headers: Any = self.response_headers  # a list at run time; the stubs declare a Sequence
        headers.extend([("Content-Type", "text/html; charset=utf-8"), *COMMON_HEADERS.items()])
        self.set_close_on_finish()
        self.content_length = len(PORTAL_PAGE)
        self.write(PORTAL_PAGE)


class PortalChannel(HTTPChannel):
    error_task_class = PortalErrorTask
