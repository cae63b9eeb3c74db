"""``GET /readyz``: the one console route open without a session, for probes and monitoring.

It says only whether every service can do its job (``canary.serve.readiness_problems``): 200 ``ready``,
or 503 with one line per problem (e.g. a watcher that lost sightings because neither the registry
nor its journal could keep them). No registry content is shown.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app

bp = Blueprint("health", __name__)


@bp.route("/readyz")
def readyz() -> Response:
    check = current_app.config.get("READINESS")
    problems = list(check()) if callable(check) else []
    if problems:
        return Response("not ready\n" + "".join(f"{line}\n" for line in problems), status=503,
                        mimetype="text/plain")
    return Response("ready\n", mimetype="text/plain")
