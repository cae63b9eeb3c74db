"""The console's pages. Views stay thin: reads in ``queries``/``overview``, changes in ``actions``."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, url_for

from canary.errors import CanaryError, NotFound
from canary.store.registry import SYSTEM_KINDS, get_canary, get_system
from canary.timezones import display_zone
from canary.web import actions, queries
from canary.web.audit import list_audit
from canary.web.auth import current_actor, requires
from canary.web.db import get_db
from canary.web.i18n import translate
from canary.web.overview import overview
from canary.web.roles import ROLES
from canary.web.settings_view import form_rows
from canary.web.tokens import list_tokens
from canary.web.users import list_users

bp = Blueprint("console", __name__)


@bp.app_template_filter("as_text")
def as_text(value: object) -> str:
    """Structured evidence as readable JSON text; a plain str, so autoescaping still applies to it."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, indent=1, sort_keys=True)


@bp.app_template_global()
def page_url(key: str, value: object) -> str:
    """This page again with its filters, ``key`` set to ``value`` (the next page's cursor)."""
    values: dict[str, Any] = {**(request.view_args or {}), **{k: v for k, v in request.args.items() if k != key}}
    values[key] = value
    return url_for(str(request.endpoint), **values)


def _args_page() -> tuple[int, int | None]:
    try:
        return queries.page_size(request.args.get("limit")), queries.cursor(request.args.get("before"))
    except CanaryError:
        abort(400)


@bp.app_template_filter("local")
def _local_time(value: str | None) -> str:
    """A stored UTC time in the one zone people read (setting display.timezone), as in the alert texts."""
    if "zone" not in g:
        g.zone = display_zone(get_db())
    return str(g.zone.show(value))


def _days_ago(days: int) -> str:
    from datetime import UTC, datetime, timedelta

    return (datetime.now(UTC) - timedelta(days=days)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@bp.app_context_processor
def _inject_health() -> dict:
    def health_problems() -> list[str]:
        """What stops pages from going out, on every page: a blocked delivery worker, invalid settings."""
        from canary.alert.outbox import blocked_reason
        from canary.settings import setting_problems
        from canary.store.restores import last_restore, restore_notice

        db = get_db()
        reason = blocked_reason(db)
        restore = last_restore(db)
        # Shown for a week after a restore: what happened after the backup has to be looked for elsewhere.
        restored = ([restore_notice(restore)] if restore and restore["restored_at"] >= _days_ago(7) else [])
        return ([reason] if reason else []) + restored + setting_problems(db)

    return {"health_problems": health_problems}


@bp.app_context_processor
def _inject_zone() -> dict:
    def zone_name() -> str:
        if "zone" not in g:
            g.zone = display_zone(get_db())
        return str(g.zone.name)

    return {"zone_name": zone_name}


@bp.route("/")
@requires("viewer")
def index():
    from canary.web.delivery_view import failing_destinations

    return render_template("index.html", **overview(get_db(), g.account.role),
                           failing_destinations=failing_destinations(get_db(), g.account.role))


# --- alerts ----------------------------------------------------------------------------------------

@bp.route("/alerts")
@requires("viewer")
def alerts():
    # Correlation is the worker's job (canary serve); a page only reads.
    limit, before = _args_page()
    open_only = request.args.get("all") is None
    page = queries.alerts_page(get_db(), g.account.role, state="open" if open_only else None, limit=limit,
                               before=before, system=request.args.get("system") or None)
    return render_template("alerts.html", alerts=page.rows, next_before=page.next_before, open_only=open_only)


@bp.route("/alerts/<int:alert_id>")
@requires("viewer")
def alert(alert_id: int):
    try:
        story = queries.alert_story(get_db(), alert_id, g.account.role)
    except NotFound:
        abort(404)
    from canary.web.delivery_view import destination_names

    return render_template("alert.html", **story, destination_names=destination_names(get_db(), g.account.role))


@bp.route("/alerts/<int:alert_id>/<any(ack, resolve, reopen, note):action>", methods=("POST",))
@requires("analyst")
def alert_action(alert_id: int, action: str):
    try:
        actions.change_alert(get_db(), current_actor(), alert_id, action, request.form.get("note") or None)
    except CanaryError as exc:
        flash(str(exc), "error")
    back = request.form.get("back")
    return redirect(url_for("console.alert", alert_id=alert_id) if back == "story" else url_for("console.alerts"))


# --- systems and canaries --------------------------------------------------------------------------

@bp.route("/systems")
@requires("viewer")
def systems():
    from canary.web.overview import system_states

    return render_template("systems.html", systems=system_states(get_db()), kinds=SYSTEM_KINDS,
                           can_plant=g.account.role in ("analyst", "admin"))


@bp.route("/systems", methods=("POST",))
@requires("admin")
def systems_add():
    form = request.form
    try:
        actions.create_system(get_db(), current_actor(), form.get("name", "").strip(), form.get("kind", ""),
                              establishment=form.get("establishment", "").strip(),
                              finess=form.get("finess", "").strip(), notes=form.get("notes", "").strip(),
                              commune=form.get("commune", "").strip(), postcode=form.get("postcode", "").strip())
        flash(translate("system_added"), "ok")
    except CanaryError as exc:
        flash(str(exc), "error")
    return redirect(url_for("console.systems"))


@bp.route("/systems/<name>", methods=("POST",))
@requires("admin")
def systems_edit(name: str):
    form = request.form
    size = form.get("patients", "").strip()
    try:
        if size and not size.isdigit():
            raise CanaryError(translate("patients_number"))
        actions.edit_system(get_db(), current_actor(), name, establishment=form.get("establishment", "").strip(),
                            finess=form.get("finess", "").strip(), notes=form.get("notes", "").strip(),
                            commune=form.get("commune", "").strip() if "commune" in form else None,
                            patients=int(size) if size else None)
        flash(translate("system_saved"), "ok")
    except CanaryError as exc:
        flash(str(exc), "error")
    return redirect(url_for("console.system", name=name) if form.get("back") == "system"
                    else url_for("console.systems"))


@bp.route("/systems/<name>")
@requires("viewer")
def system(name: str):
    from canary.generate.self_audit import get_audit
    from canary.web.roles import allows
    from canary.web.system_view import plan_figures, system_page

    limit, before = _args_page()
    try:
        page = system_page(get_db(), name, g.account.role, limit=limit, before=before)
    except NotFound:
        abort(404)
    # The planner's figures are aggregates, but they tell how the canaries differ: analysts and admins.
    figures = plan_figures(get_db(), current_app, name) if allows(g.account.role, "analyst") else None
    # The self-audit's stored figures (`canary plan --against`), same audience.
    audit = get_audit(get_db(), name) if allows(g.account.role, "analyst") else None
    from canary.web.system_lead import open_alerts, watch_sources

    return render_template("system.html", **page, figures=figures, audit=audit,
                           can_plant=allows(g.account.role, "analyst"),
                           open_alerts=open_alerts(get_db(), name, g.account.role),
                           sources=watch_sources(get_db(), name, g.account.role))


@bp.route("/systems/<name>/seed", methods=("POST",))
@requires("admin")
def systems_seed(name: str):
    form = request.form
    try:
        count = int(form.get("count") or "")
        seed = int(form["seed"]) if form.get("seed", "").strip() else None
    except ValueError:
        flash(translate("count_number"), "error")
        return redirect(url_for("console.system", name=name))
    try:
        outcome = actions.seed_canaries(get_db(), current_app.config["DATABASE"], current_actor(), name, count, seed)
        flash(translate("seed_done").format(canaries=len(outcome["canaries"]), generation=outcome["generation"]),
              "ok")
        for warning in outcome["warnings"]:
            flash(warning, "error")
    except NotFound:
        abort(404)
    except CanaryError as exc:
        flash(str(exc), "error")
    return redirect(url_for("console.system", name=name))


@bp.route("/systems/<name>/rotate", methods=("POST",))
@requires("analyst")
def systems_rotate(name: str):
    form = request.form
    back = redirect(url_for("console.system", name=name))
    if form.get("confirm") != "yes":
        flash(translate("confirm_needed"), "error")
        return back
    try:
        count = int(form.get("count") or "")
        seed = int(form["seed"]) if form.get("seed", "").strip() else None
    except ValueError:
        flash(translate("count_number"), "error")
        return back
    try:
        outcome = actions.rotate_system(get_db(), current_app.config["DATABASE"], current_actor(), name, count, seed)
        flash(translate("rotate_done").format(generation=outcome["generation"], canaries=len(outcome["canaries"]),
                                              retired=len(outcome["retired"]["retired"]),
                                              failed=sum(len(p["failed"]) for p in outcome["plants"])
                                              + len(outcome["retired"]["failed"])),
              "ok" if outcome["ok"] else "error")
        for warning in outcome["warnings"]:
            flash(warning, "error")
    except CanaryError as exc:
        flash(str(exc), "error")
    return back


@bp.route("/plantings/<int:planting_id>/retire", methods=("POST",))
@requires("analyst")
def plantings_retire(planting_id: int):
    form = request.form
    row = get_db().execute("SELECT system, canary_id FROM plantings WHERE id = ?", [planting_id]).fetchone()
    if row is None:
        abort(404)
    back = redirect(url_for("console.canary", canary_id=row[1]) if form.get("back") == "canary"
                    else url_for("console.system", name=row[0]))
    if form.get("confirm") != "yes":
        flash(translate("confirm_needed"), "error")
        return back
    try:
        outcome = actions.retire_planting(get_db(), current_actor(), planting_id)
        flash(translate("retire_done").format(retired=len(outcome["retired"]), failed=len(outcome["failed"])),
              "error" if outcome["failed"] else "ok")
        for failure in outcome["failed"]:
            flash(f"#{failure['planting_id']}: {failure['error']}", "error")
    except CanaryError as exc:
        flash(str(exc), "error")
    return back


@bp.route("/systems/<name>/stealth")
@requires("analyst")
def systems_stealth(name: str):
    from canary.web.system_view import shared_places

    try:
        get_system(get_db(), name)  # an unknown system is a 404 before the reference tables are read
        report = queries.stealth_report(get_db(), name, shared_places(current_app).reference)
    except NotFound:
        abort(404)
    return render_template("stealth.html", **report)


@bp.route("/systems/<name>/plant", methods=("POST",))
@requires("analyst")
def systems_plant(name: str):
    form = request.form
    if form.get("confirm") != "yes":
        flash(translate("confirm_needed"), "error")
        return redirect(url_for("console.systems"))
    try:
        report = actions.plant_system(get_db(), current_actor(), name, form.get("target", "").strip())
        flash(translate("plant_done").format(planted=len(report["planted"]), already=report["already"],
                                             failed=len(report["failed"])),
              "error" if report["failed"] or report["stopped"] else "ok")
    except CanaryError as exc:
        flash(str(exc), "error")
    return redirect(url_for("console.systems"))


@bp.route("/systems/<name>/retire", methods=("POST",))
@requires("analyst")
def systems_retire(name: str):
    if request.form.get("confirm") != "yes":
        flash(translate("confirm_needed"), "error")
        return redirect(url_for("console.systems"))
    try:
        outcome = actions.retire_system(get_db(), current_actor(), name)
        flash(translate("retire_done").format(retired=len(outcome["retired"]), failed=len(outcome["failed"])),
              "error" if outcome["failed"] else "ok")
    except CanaryError as exc:
        flash(str(exc), "error")
    return redirect(url_for("console.systems"))


@bp.route("/canaries")
@requires("viewer")
def canaries():
    args = request.args
    # Searched by canary id or system only: a real-looking value typed into a URL would end up in logs.
    page = queries.canaries_page(get_db(), g.account.role, system=args.get("system") or None,
                                 prefix=(args.get("id") or "").strip() or None, after=args.get("after") or None,
                                 limit=queries.page_size(args.get("limit")) if args.get("limit", "").isdigit()
                                 else queries.PAGE)
    from canary.web.memos import with_triage

    page["items"] = with_triage(get_db(), page["items"])
    return render_template("canaries.html", page=page, system=args.get("system", ""), prefix=args.get("id", ""),
                           systems=[s["name"] for s in get_db().query("SELECT name FROM systems ORDER BY name")])


@bp.route("/canaries/<canary_id>")
@requires("viewer")
def canary(canary_id: str):
    try:
        story = queries.canary_story(get_db(), canary_id, g.account.role)
    except NotFound:
        abort(404)
    from canary.web.memos import memo_of

    return render_template("canary.html", **story, memo=memo_of(get_db(), canary_id))


@bp.route("/canaries/<canary_id>/record.json")
@requires("analyst")
def canary_download(canary_id: str):
    try:
        record = queries.canary_view(get_canary(get_db(), canary_id), "analyst")
    except NotFound:
        abort(404)
    response = current_app.json.response(record)
    response.headers["Content-Disposition"] = f'attachment; filename="{canary_id}.json"'
    return response


@bp.route("/canaries/<canary_id>/document.<any(pdf, docx, xlsx):fmt>")
@requires("analyst")
def canary_document(canary_id: str, fmt: str):
    """A callback document (report or prescription) carrying the canary's beacons, as planted by hand."""
    from canary.watch.tripwire.documents import KINDS, build_document

    kind = request.args.get("kind", KINDS[0])
    try:
        content = build_document(get_db(), canary_id, fmt=fmt, kind=kind)
    except NotFound:
        abort(404)
    except CanaryError as exc:
        flash(str(exc), "error")
        return redirect(url_for("console.canary", canary_id=canary_id))
    types = {"pdf": "application/pdf",
             "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
             "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
    return current_app.response_class(content, mimetype=types[fmt], headers={
        "Content-Disposition": f'attachment; filename="{kind}-{canary_id}.{fmt}"'})


# --- events, sweeps and feeds ----------------------------------------------------------------------

@bp.route("/events")
@requires("viewer")
def events():
    limit, before = _args_page()
    args = request.args
    page = queries.events_page(get_db(), g.account.role, system=args.get("system") or None,
                               channel=args.get("channel") or None, limit=limit, before=before)
    return render_template("events.html", events=page.rows, next_before=page.next_before)


@bp.route("/sweeps")
@requires("viewer")
def sweeps():
    limit, before = _args_page()
    page = queries.sweeps_page(get_db(), g.account.role, limit=limit, before=before)
    return render_template("sweeps.html", sweeps=page.rows, next_before=page.next_before,
                           feeds=queries.feeds(get_db(), g.account.role))


@bp.route("/feeds", methods=("POST",))
@requires("admin")
def feeds_add():
    form = request.form
    try:
        actions.add_feed(get_db(), current_actor(), form.get("name", "").strip(), form.get("source", "").strip(),
                         form.get("schedule", "").strip() or "weekly")
        flash(translate("feed_added"), "ok")
    except CanaryError as exc:
        flash(str(exc), "error")
    return redirect(url_for("console.sweeps"))


@bp.route("/feeds/<name>/run", methods=("POST",))
@requires("analyst")
def feeds_run(name: str):
    try:
        actions.start_feed_run(get_db(), current_app.config["DATABASE"], current_actor(), name)
        flash(translate("feed_started"), "ok")
    except CanaryError as exc:
        flash(str(exc), "error")
    return redirect(url_for("console.sweeps"))


@bp.route("/watch")
@requires("viewer")
def watch():
    from canary.web.watch_view import access_sources, allow_rules, tripwire_state

    return render_template("watch.html", sources=access_sources(get_db(), g.account.role),
                           allow_rules=allow_rules(get_db()),
                           tripwire=tripwire_state(get_db(), g.account.role))


@bp.route("/scan", methods=("POST",))
@requires("analyst")
def scan_upload():
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash(translate("choose_file"), "error")
        return redirect(url_for("console.sweeps"))
    try:
        scan = actions.start_upload_scan(get_db(), current_app.config["DATABASE"], current_actor(),
                                         upload.filename, upload.save)
        flash(translate("scan_started"), "ok")
    except CanaryError as exc:
        flash(str(exc), "error")
        return redirect(url_for("console.sweeps"))
    from canary.web.sweep_view import upload_sweep_id

    # The sweep's own page shows the findings as soon as the scan is over.
    sweep_id = upload_sweep_id(get_db(), scan.name)
    return redirect(url_for("triage.sweep", sweep_id=sweep_id) if sweep_id else url_for("console.sweeps"))


# --- administration --------------------------------------------------------------------------------

@bp.route("/settings")
@requires("admin")
def settings():
    from canary.alert.destinations import destination_status
    from canary.store.events import SEVERITIES
    from canary.web.settings_groups import grouped

    rows = form_rows(get_db())
    query = request.args.get("q", "").strip()[:100]
    groups = grouped(rows, query)
    return render_template("settings.html", groups=groups, query=query, total=len(rows),
                           shown=sum(len(group["rows"]) for group in groups), severities=SEVERITIES, roles=ROLES,
                           destinations=destination_status(get_db()), tokens=list_tokens(get_db()))


@bp.route("/settings/<name>", methods=("POST",))
@requires("admin")
def settings_change(name: str):
    """Set a registry value from its operator text, checked as ``canary config set`` checks it; "reset" goes
    back to the default. A refused value is flashed and nothing is written."""
    form = request.form
    reset = form.get("action") == "reset"
    try:
        actions.change_setting(get_db(), current_actor(), name, None if reset else form.get("value", ""))
        flash(translate("setting_reset" if reset else "setting_saved").format(name=name), "ok")
    except CanaryError as exc:
        flash(str(exc), "error")
    # No anchor: the outcome is flashed at the top of the page, where it is seen.
    return redirect(url_for("console.settings"))


@bp.route("/notify", methods=("POST",))
@requires("admin")
def notify_add():
    form = request.form
    systems = [name.strip() for name in form.get("systems", "").split(",") if name.strip()]
    try:
        added = actions.add_notify_target(get_db(), current_actor(), form.get("url", "").strip(),
                                          min_severity=form.get("min_severity") or "low", systems=systems)
        flash(f"#{added['id']} {added['url']}", "ok")
        if added["secret"]:
            # Shown once, like the CLI: no page or API answer shows the signing secret again.
            flash(translate("webhook_secret").format(secret=added["secret"]), "ok")
    except CanaryError as exc:
        flash(str(exc), "error")
    return redirect(url_for("console.settings"))


@bp.route("/notify/<int:destination_id>/remove", methods=("POST",))
@requires("admin")
def notify_remove(destination_id: int):
    if request.form.get("confirm") != "yes":
        flash(translate("confirm_needed"), "error")
        return redirect(url_for("console.settings"))
    try:
        actions.remove_notify_target(get_db(), current_actor(), destination_id)
    except CanaryError as exc:
        flash(str(exc), "error")
    return redirect(url_for("console.settings"))


@bp.route("/notify/test", methods=("POST",))
@requires("admin")
def notify_test():
    report = actions.send_test_notice(get_db(), current_actor())
    for row in report:
        outcome = "OK" if row["ok"] else str(row["error"])
        flash(f"#{row['id']} {row['url']}: {outcome}", "ok" if row["ok"] else "error")
    if not report:
        flash(translate("no_destination"), "error")
    return redirect(url_for("console.settings"))


@bp.route("/tokens", methods=("POST",))
@requires("admin")
def tokens_add():
    form = request.form
    try:
        days = int(form.get("days") or 90)
        row, secret = actions.create_token(get_db(), current_actor(), form.get("name", "").strip(),
                                           form.get("role", "viewer"), days, g.account.owner)
        flash(translate("token_secret").format(id=row["id"], secret=secret), "ok")
    except ValueError:
        flash(translate("days_number"), "error")
    except CanaryError as exc:
        flash(str(exc), "error")
    return redirect(url_for("console.settings"))


@bp.route("/tokens/<int:token_id>/revoke", methods=("POST",))
@requires("admin")
def tokens_revoke(token_id: int):
    try:
        actions.revoke_token(get_db(), current_actor(), token_id)
    except CanaryError as exc:
        flash(str(exc), "error")
    return redirect(url_for("console.settings"))


@bp.route("/users/<name>", methods=("POST",))
@requires("admin")
def users_change(name: str):
    form = request.form
    disabled = {"disable": True, "enable": False}.get(form.get("state", ""))
    try:
        actions.change_account(get_db(), current_actor(), name, role=form.get("role") or None, disabled=disabled)
        flash(translate("account_saved"), "ok")
    except CanaryError as exc:
        flash(str(exc), "error")
    return redirect(url_for("console.audit"))


@bp.route("/audit")
@requires("admin")
def audit():
    limit, before = _args_page()
    rows = list_audit(get_db(), limit=limit + 1, before=before, who=request.args.get("who") or None)
    return render_template("audit.html", entries=rows[:limit], users=list_users(get_db()), roles=ROLES,
                           next_before=rows[limit - 1]["id"] if len(rows) > limit else None)
