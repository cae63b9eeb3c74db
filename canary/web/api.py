"""The REST API, ``/api/v1``: what the CLI does, as JSON with the CLI's ``--json`` keys.

Bearer tokens only (``canary token add``); each route states its role like the console's pages.
Routes stay thin: reads come from ``canary.web.queries``, changes from ``canary.web.actions``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException

from canary.errors import CanaryError, NotFound
from canary.store.filters import alert_filter, event_filter
from canary.store.registry import get_canary, list_systems
from canary.web import actions, queries
from canary.web.audit import list_audit
from canary.web.auth import current_actor, requires
from canary.web.db import get_db
from canary.web.openapi import Endpoint, openapi_document
from canary.web.settings_view import settings_rows
from canary.web.tokens import list_tokens

bp = Blueprint("api", __name__, url_prefix="/api/v1")


ENDPOINTS: list[Endpoint] = []
# The role of a route anyone may read: only the API's own description, which holds no registry value.
PUBLIC = "public"


def route(rule: str, method: str, role: str, summary: str, *, query: tuple[str, ...] = (),
          body: dict[str, str] | None = None, media: str = "application/json", status: int = 200,
          also: tuple[int, ...] = ()) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        guarded = view if role == PUBLIC else requires(role)(view)
        bp.add_url_rule(rule, endpoint=view.__name__, view_func=guarded, methods=[method])
        ENDPOINTS.append(Endpoint(rule, method, role, summary, query, body or {}, media, status, also))
        return guarded

    return decorate


def _body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise CanaryError("the request body must be a JSON object")
    return data


def _integer(data: dict[str, Any], key: str, default: int | None = None) -> int | None:
    value = data.get(key, default)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise CanaryError(f"field {key!r} must be an integer")
    return value


def _text(data: dict[str, Any], key: str, required: bool = False) -> str | None:
    value = data.get(key)
    if value is None or value == "":
        if required:
            raise CanaryError(f"missing field {key!r}")
        return None
    if not isinstance(value, str):
        raise CanaryError(f"field {key!r} must be a string")
    return value


@bp.errorhandler(CanaryError)
def _operator_error(exc: CanaryError):
    return jsonify(error=str(exc)), 404 if isinstance(exc, NotFound) else 400


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    return jsonify(error=exc.description or exc.name), exc.code or 500


@bp.app_errorhandler(404)
@bp.app_errorhandler(405)
def _unrouted(exc: HTTPException):
    # No blueprint matched, so the API's own handler did not run: API clients still get JSON.
    if request.path.startswith(bp.url_prefix or "/api/v1"):
        return jsonify(error=exc.description or exc.name), exc.code or 404
    return exc


# --- systems and canaries --------------------------------------------------------------------------

@route("/systems", "GET", "viewer", "Systems with their active canary counts (canary system list --json).")
def systems_list():
    return jsonify(list_systems(get_db()))


@route("/systems", "POST", "admin", "Register a system (canary system add); commune (INSEE code or name) "
       "and postcode give its place.",
       body={"name": "string", "kind": "string", "establishment": "string", "finess": "string", "notes": "string",
             "commune": "string", "postcode": "string"}, status=201)
def systems_add():
    data = _body()
    row = actions.create_system(get_db(), current_actor(), _text(data, "name", True) or "",
                                _text(data, "kind", True) or "", establishment=_text(data, "establishment"),
                                finess=_text(data, "finess"), notes=_text(data, "notes"),
                                commune=_text(data, "commune"), postcode=_text(data, "postcode"))
    return jsonify(row), 201


@route("/systems/<name>", "PUT", "admin", "Change a system's establishment, FINESS, notes, place (commune, "
       "postcode) and size in patients: a field left out is kept, \"\" clears it.",
       body={"establishment": "string", "finess": "string", "notes": "string", "commune": "string",
             "postcode": "string", "patients": "integer"})
def systems_edit(name: str):
    data = _body()
    return jsonify(actions.edit_system(get_db(), current_actor(), name, establishment=_kept(data, "establishment"),
                                       finess=_kept(data, "finess"), notes=_kept(data, "notes"),
                                       commune=_kept(data, "commune"), postcode=_kept(data, "postcode"),
                                       patients=_integer(data, "patients")))


def _kept(data: dict[str, Any], key: str) -> str | None:
    """None when the field is absent (keep it), "" when the caller empties it, else the text."""
    if data.get(key) == "":
        return ""
    return _text(data, key)


@route("/canaries", "GET", "viewer", "Canaries by id, a page at a time; viewers get no marker value.",
       query=("system", "id_prefix", "limit", "after"))
def canaries_list():
    args = request.args
    return jsonify(queries.canaries_page(get_db(), g.account.role, system=args.get("system") or None,
                                         prefix=args.get("id_prefix") or None, after=args.get("after") or None,
                                         limit=queries.page_size(args.get("limit"))))


@route("/canaries/<canary_id>", "GET", "viewer", "One canary (canary show --json); viewers get its head only.")
def canaries_show(canary_id: str):
    return jsonify(queries.canary_view(get_canary(get_db(), canary_id), g.account.role))


@route("/canaries/<canary_id>/history", "GET", "viewer", "A canary's plantings, events and alerts.")
def canaries_history(canary_id: str):
    return jsonify(queries.canary_story(get_db(), canary_id, g.account.role))


@route("/systems/<name>/plant", "POST", "analyst", "Plant a system's active canaries into a target (canary plant "
       "SYSTEM --to URL --json); a target new to the system needs an admin.", body={"target": "string"}, also=(502,))
def systems_plant(name: str):
    report = actions.plant_system(get_db(), current_actor(), name, _text(_body(), "target", True) or "")
    return jsonify(report), 200 if not (report["failed"] or report["stopped"]) else 502


@route("/systems/<name>/retire", "POST", "analyst", "Remove every live planting of a system from its targets "
       "(canary retire --system).", also=(502,))
def systems_retire(name: str):
    outcome = actions.retire_system(get_db(), current_actor(), name)
    return jsonify(outcome), 502 if outcome["failed"] else 200


@route("/systems/<name>/seed", "POST", "admin", "Generate canaries for a system (canary seed SYSTEM --count N "
       "[--seed S]): their ids and the warnings the CLI prints.", body={"count": "integer", "seed": "integer"},
       status=201)
def systems_seed(name: str):
    data = _body()
    count = _integer(data, "count")
    if count is None:
        raise CanaryError("missing field 'count'")
    outcome = actions.seed_canaries(get_db(), current_app.config["DATABASE"], current_actor(), name, count,
                                    _integer(data, "seed"))
    return jsonify(outcome), 201


@route("/systems/<name>/rotate", "POST", "analyst", "Plant a new generation wherever the system is planted, then "
       "retire the previous one (canary rotate SYSTEM --count N); 502 if the rotation is incomplete.",
       body={"count": "integer", "seed": "integer", "keep_previous": "boolean"}, also=(502,))
def systems_rotate(name: str):
    data = _body()
    count = _integer(data, "count")
    if count is None:
        raise CanaryError("missing field 'count'")
    keep = data.get("keep_previous", False)
    if not isinstance(keep, bool):
        raise CanaryError("field 'keep_previous' must be true or false")
    outcome = actions.rotate_system(get_db(), current_app.config["DATABASE"], current_actor(), name, count,
                                    _integer(data, "seed"), keep_previous=keep)
    return jsonify(outcome), 200 if outcome["ok"] else 502


@route("/plantings/<int:planting_id>/retire", "POST", "analyst", "Remove one planting from its target (canary "
       "retire PLANTING_ID); 502 if the target did not confirm.", also=(502,))
def plantings_retire(planting_id: int):
    outcome = actions.retire_planting(get_db(), current_actor(), planting_id)
    return jsonify(outcome), 502 if outcome["failed"] else 200


@route("/plantings", "GET", "viewer", "What is planted where (canary plants --json).", query=("system",))
def plantings_list():
    return jsonify(queries.plantings_of(get_db(), g.account.role, system=request.args.get("system") or None))


# --- events and alerts -----------------------------------------------------------------------------

@route("/events", "GET", "viewer", "Events newest first, a page at a time (canary events --json items).",
       query=("system", "channel", "canary_id", "since", "limit", "before"))
def events_list():
    args = request.args
    checked = event_filter(get_db(), system=args.get("system"), channel=args.get("channel"),
                           canary_id=args.get("canary_id"), since=args.get("since"))
    page = queries.events_page(get_db(), g.account.role, system=checked.system, channel=checked.channel,
                               canary_id=checked.canary_id, since=checked.since,
                               limit=queries.page_size(args.get("limit")), before=queries.cursor(args.get("before")))
    return jsonify(page.as_dict())


@route("/alerts", "GET", "viewer", "Alerts newest first (canary alerts --json items).",
       query=("state", "system", "since", "limit", "before"))
def alerts_list():
    args = request.args
    checked = alert_filter(get_db(), state=args.get("state"), system=args.get("system"), since=args.get("since"))
    page = queries.alerts_page(get_db(), g.account.role, state=checked.state, system=checked.system,
                               since=checked.since, limit=queries.page_size(args.get("limit")),
                               before=queries.cursor(args.get("before")))
    return jsonify(page.as_dict())


@route("/alerts/<int:alert_id>", "GET", "viewer", "One alert with its events and deliveries.")
def alerts_show(alert_id: int):
    return jsonify(queries.alert_story(get_db(), alert_id, g.account.role))


@route("/alerts/<int:alert_id>/ack", "POST", "analyst", "Acknowledge an alert (canary alert ack).",
       body={"note": "string"})
def alerts_ack(alert_id: int):
    return jsonify(actions.change_alert(get_db(), current_actor(), alert_id, "ack", _text(_body(), "note")))


@route("/alerts/<int:alert_id>/resolve", "POST", "analyst", "Resolve an alert (canary alert resolve).",
       body={"note": "string"})
def alerts_resolve(alert_id: int):
    return jsonify(actions.change_alert(get_db(), current_actor(), alert_id, "resolve", _text(_body(), "note")))


@route("/alerts/<int:alert_id>/reopen", "POST", "analyst", "Reopen a resolved alert (canary alert reopen).",
       body={"note": "string"})
def alerts_reopen(alert_id: int):
    return jsonify(actions.change_alert(get_db(), current_actor(), alert_id, "reopen", _text(_body(), "note")))


@route("/alerts/<int:alert_id>/notes", "POST", "analyst", "Add a note to an alert's timeline (canary alert note).",
       body={"note": "string"}, status=201)
def alerts_note(alert_id: int):
    return jsonify(actions.change_alert(get_db(), current_actor(), alert_id, "note", _text(_body(), "note"))), 201


# --- sweeps and feeds ------------------------------------------------------------------------------

@route("/sweeps", "GET", "viewer", "Sweep runs newest first, with findings by confidence.", query=("limit", "before"))
def sweeps_list():
    args = request.args
    page = queries.sweeps_page(get_db(), g.account.role, limit=queries.page_size(args.get("limit")),
                               before=queries.cursor(args.get("before")))
    return jsonify(page.as_dict())


@route("/scans", "POST", "analyst", "Scan one uploaded file (multipart field 'file', at most web.upload_max_mb) "
       "in a worker, then delete it; answers what canary scan --json prints (422 if nothing could be read).",
       body={"file": "binary"}, media="multipart/form-data", also=(422,))
def scans_upload():
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise CanaryError("send the file to scan as the multipart field 'file'")
    scan = actions.start_upload_scan(get_db(), current_app.config["DATABASE"], current_actor(), upload.filename,
                                     upload.save)
    report = scan.wait()
    return jsonify(report), 422 if report["status"] == "nothing-read" else 200


@route("/feeds", "GET", "viewer", "Configured feeds with their last run (canary feed list --json).")
def feeds_list():
    return jsonify(queries.feeds(get_db(), g.account.role))


@route("/feeds", "POST", "admin", "Add a feed (canary feed add).",
       body={"name": "string", "source": "string", "schedule": "string"}, status=201)
def feeds_add():
    data = _body()
    row = actions.add_feed(get_db(), current_actor(), _text(data, "name", True) or "",
                           _text(data, "source", True) or "", _text(data, "schedule") or "weekly")
    return jsonify(row), 201


@route("/feeds/<name>/run", "POST", "analyst", "Run a feed now, in the background (canary sweep --feed).", status=202)
def feeds_run(name: str):
    actions.start_feed_run(get_db(), current_app.config["DATABASE"], current_actor(), name)
    return jsonify(feed=name, status="started"), 202


# --- notifications, settings, tokens, audit --------------------------------------------------------

@route("/notify", "GET", "admin", "Notification targets with their delivery health (canary notify list --json).")
def notify_list():
    from canary.alert.destinations import destination_status

    return jsonify(destination_status(get_db()))


@route("/notify", "POST", "admin", "Add a notification target (canary notify add); a webhook secret is shown once.",
       body={"url": "string", "min_severity": "string", "systems": "array"}, status=201)
def notify_add():
    data = _body()
    systems = data.get("systems") or []
    if not isinstance(systems, list) or not all(isinstance(s, str) for s in systems):
        raise CanaryError("field 'systems' must be a list of system names")
    row = actions.add_notify_target(get_db(), current_actor(), _text(data, "url", True) or "",
                                    min_severity=_text(data, "min_severity") or "low", systems=systems)
    return jsonify(row), 201


@route("/notify/<int:destination_id>", "DELETE", "admin", "Remove a notification target (canary notify remove).")
def notify_remove(destination_id: int):
    actions.remove_notify_target(get_db(), current_actor(), destination_id)
    return jsonify(id=destination_id, removed=True)


@route("/notify/test", "POST", "admin", "Send a test alert to every target and report each (canary notify test).")
def notify_test():
    return jsonify(actions.send_test_notice(get_db(), current_actor()))


@route("/settings", "GET", "admin", "Every setting with its value and where it comes from (env, registry, default).")
def settings_list():
    return jsonify(settings_rows(get_db()))


@route("/settings/<name>", "PUT", "admin", "Set a setting (canary config set); a null value resets it.",
       body={"value": "string"})
def settings_set(name: str):
    data = _body()
    if "value" not in data:
        raise CanaryError("missing field 'value' (null resets the setting to its default)")
    typed = actions.change_setting(get_db(), current_actor(), name, data["value"])
    return jsonify(name=name, value=typed)


@route("/tokens", "GET", "admin", "API tokens (never their secrets).")
def tokens_list():
    return jsonify(list_tokens(get_db()))


@route("/tokens", "POST", "admin", "Create an API token; its secret is in this answer only.",
       body={"name": "string", "role": "string", "days": "integer"}, status=201)
def tokens_add():
    data = _body()
    days = data.get("days", 90)
    if not isinstance(days, int) or isinstance(days, bool):
        raise CanaryError("field 'days' must be an integer")
    row, secret = actions.create_token(get_db(), current_actor(), _text(data, "name", True) or "",
                                       _text(data, "role", True) or "", days, g.account.owner)
    return jsonify(row | {"secret": secret}), 201


@route("/tokens/<int:token_id>", "DELETE", "admin", "Revoke an API token.")
def tokens_revoke(token_id: int):
    return jsonify(actions.revoke_token(get_db(), current_actor(), token_id))


@route("/audit", "GET", "admin", "The audit log, newest first (canary audit --json): by account, action or family "
       "(alert: alert.ack, alert.note...), door (console, api, cli) and time.",
       query=("who", "action", "via", "since", "limit", "before"))
def audit_list():
    from canary.store.timefilter import parse_since

    args = request.args
    rows = list_audit(get_db(), limit=queries.page_size(args.get("limit")), before=queries.cursor(args.get("before")),
                      who=args.get("who") or None, action=args.get("action") or None, via=args.get("via") or None,
                      since=parse_since(args["since"]) if args.get("since") else None)
    return jsonify(rows)


@route("/openapi.json", "GET", PUBLIC,
       "This document (no token needed: it describes the routes, never a registry value).")
def openapi():
    return jsonify(openapi_document(ENDPOINTS))

