"""Error pages in the console's language and style; the API's paths keep their JSON answers.

Registered after every blueprint, so these handlers answer for the whole app: an unrouted ``/api/...``
path still gets JSON, a console path a page with the navigation and a way back.
"""

from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from canary.timezones import parse_iso

STYLED = (400, 403, 404, 405)


def _page(exc: HTTPException):
    code = exc.code or 500
    if request.path.startswith("/api/"):
        return jsonify(error=exc.description or exc.name), code
    return render_template("error.html", code=code), code


def _utc(value: str | None) -> str:
    """A stored time as UTC, for the hover text beside the zone's time."""
    moment = parse_iso(value)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else (value or "")


def init_app(app: Flask) -> None:
    for code in STYLED:
        app.register_error_handler(code, _page)
    app.jinja_env.filters["utc"] = _utc
