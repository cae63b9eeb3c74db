"""Every page and the CLI's texts write times in the configured zone, with UTC on hover; JSON stays UTC."""

from __future__ import annotations

from canary.alert.correlate import correlate_all
from canary.settings import set_setting
from canary.store import open_db
from canary.store.events import record_event
from tests.web.inbox_data import add_canary


def test_pages_and_cli_texts_use_the_configured_zone(sign_in, cli, api, db_path):
    db = open_db(db_path)
    set_setting(db, "display.timezone", "America/Cayenne")  # UTC-3
    add_canary(db, "ehr-mediboard", "zone000001", 1)
    record_event(db, channel="http", canary_id="zone000001", severity="high", source="192.0.2.1",
                 time="2026-11-02T12:00:00.000Z")
    correlate_all(db)
    alert_id = db.execute("SELECT id FROM alerts").fetchone()[0]
    db.close()
    cli("alert", "note", str(alert_id), "vu", "--by", "claire")
    analyst = sign_in("analyst")
    for url in ("/events", "/canaries/zone000001", f"/alerts/{alert_id}", "/alerts", "/inbox"):
        page = analyst.get(url + "?lang=fr").get_data(as_text=True)
        assert "2026-11-02 09:00" in page, url
        assert "2026-11-02T12:00" not in page, url
    assert 'title="2026-11-02 12:00:00 UTC"' in analyst.get("/events").get_data(as_text=True)
    for command in (("alerts",), ("events",), ("alert", "show", str(alert_id))):
        table = cli(*command).output
        assert "2026-11-02 09:00" in table and "T12:00" not in table, command
        assert "America/Cayenne" in table, command
    client, headers = api
    (item,) = client.get("/api/v1/alerts", headers=headers["admin"]).get_json()["items"]
    assert item["first_seen"] == "2026-11-02T12:00:00.000Z"  # JSON: UTC, ISO with its offset (Z)
    # texts for people inside the JSON are in the zone, as the CLI's and the pages'
    assert "2026-11-02 09:00" in item["text"]["fr"] and "America/Cayenne" in item["text"]["en"]
    story = client.get("/api/v1/canaries/zone000001/history", headers=headers["admin"]).get_json()
    assert "2026-11-02 09:00" in story["alerts"][0]["text"]["en"]
