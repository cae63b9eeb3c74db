"""Deliveries name their destination, codes are words in French and English, and a failing destination is
named where the overview counts it; `notify test` reports one readable line per destination."""

from __future__ import annotations

import json

from canary.alert.correlate import correlate_all
from canary.alert.delivery import DeliveryWorker
from canary.alert.destinations import add_destination
from canary.settings import set_setting
from canary.store import open_db
from canary.store.events import record_event
from tests.support.ports import free_port


def _failing_delivery(db_path) -> int:
    """An alert whose page to a closed port failed once (a real refused connection)."""
    db = open_db(db_path)
    set_setting(db, "alert.allowed_target_cidrs", "127.0.0.1/32")
    port = free_port()
    add_destination(db, f"json://127.0.0.1:{port}/hook")
    record_event(db, channel="http", system="ehr-mediboard", severity="high", source="203.0.113.9")
    correlate_all(db)
    worker = DeliveryWorker(db)
    try:
        assert worker.run_once() == 1
    finally:
        worker.close()
    db.close()
    return port


def test_the_overview_names_the_failing_destination_and_its_reason(app, db_path, sign_in):
    port = _failing_delivery(db_path)
    page = sign_in("admin").get("/?lang=en").get_data(as_text=True)
    failing = page[page.index('id="failing-destinations"'):]
    assert f"#1 json://127.0.0.1:{port}/hook" in failing and "1 message(s) waiting" in failing
    assert f"connection refused by 127.0.0.1:{port} (nothing listens there)" in failing
    viewer = sign_in("viewer").get("/?lang=en").get_data(as_text=True)
    assert "#1 (webhook)" in viewer and f"127.0.0.1:{port}" not in viewer


def test_an_alerts_deliveries_name_the_destination_in_the_readers_language(app, db_path, sign_in):
    port = _failing_delivery(db_path)
    admin = sign_in("admin")
    english = admin.get("/alerts/1?lang=en").get_data(as_text=True)
    deliveries = english[english.index('id="deliveries"'):]
    assert f"#1 json://127.0.0.1:{port}/hook" in deliveries and "<td>page</td><td>pending</td>" in deliveries
    french = admin.get("/alerts/1?lang=fr").get_data(as_text=True)
    assert "<td>alerte</td><td>en attente</td>" in french[french.index('id="deliveries"'):]


def test_system_kinds_are_words(app, sign_in):
    admin = sign_in("admin")
    assert "<td>DPI (dossier patient)</td>" in admin.get("/systems?lang=fr").get_data(as_text=True)
    english = admin.get("/systems/ehr-mediboard?lang=en").get_data(as_text=True)
    assert '<p id="system-head">EHR ·' in english
    assert '<option value="lab">laboratory (LIS)</option>' in admin.get("/systems?lang=en").get_data(as_text=True)


def test_notify_test_reports_one_readable_line(cli, db):
    set_setting(db, "alert.allowed_target_cidrs", "127.0.0.1/32")
    port = free_port()
    add_destination(db, f"json://127.0.0.1:{port}/hook")
    out = cli("notify", "test", "--json")
    (row,) = json.loads(out.output)
    assert row["ok"] is False and row["error"] == f"connection refused by 127.0.0.1:{port} (nothing listens there)"
