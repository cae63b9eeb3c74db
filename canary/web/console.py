"""The console's pages."""

from __future__ import annotations

from flask import Blueprint, render_template

from canary.store.events import list_events
from canary.store.registry import list_systems
from canary.web.auth import login_required
from canary.web.db import get_db

bp = Blueprint("console", __name__)


@bp.route("/")
@login_required
def index():
    db = get_db()
    events = list_events(db)[-20:][::-1]
    return render_template("index.html", systems=list_systems(db), events=events)
