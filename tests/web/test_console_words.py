"""One time zone everywhere, French severity words on the French console, no noise words in the test alert."""

from __future__ import annotations

import json

import requests

from canary.alert.correlate import correlate_all
from canary.alert.model import list_alerts
from canary.alert.sample_alert import sample_alert
from canary.settings import set_setting
from canary.store.events import record_event

PASSWORD = "un mot de passe solide"


def test_console_and_alert_text_share_one_time_zone_and_translate_severity(served, db, add_hand_canaries):
    canary = add_hand_canaries("ehr-mediboard", 1)[0]
    set_setting(db, "display.timezone", "America/Cayenne")  # UTC-3, a French hospital's zone too
    record_event(db, channel="leak", canary_id=canary["id"], severity="critical", time="2026-11-02T12:00:00.000Z",
                 details={"group": "sweep:1"})
    correlate_all(db)
    (alert,) = list_alerts(db)
    assert "2026-11-02 09:00" in alert["text"]["fr"] and "America/Cayenne" in alert["text"]["fr"]

    session = requests.Session()
    session.post(served + "/auth/login?lang=fr", data={"username": "rssi", "password": PASSWORD})
    home = session.get(served + "/?lang=fr").text
    assert "2026-11-02 09:00" in home and "2026-11-02T12:00" not in home
    assert "America/Cayenne" in home
    assert ">critique<" in home and ">critical<" not in home
    alerts = session.get(served + "/alerts?lang=fr").text
    assert "2026-11-02 09:00" in alerts and ">critique<" in alerts
    english = session.get(served + "/alerts?lang=en").text
    assert ">critical<" in english


def test_the_test_alert_has_no_noise_words():
    view = sample_alert()
    strings = json.dumps({k: view[k] for k in ("title", "text", "first_action", "confidence")}, ensure_ascii=False)
    assert "?" not in strings and "documents of" not in strings and "documents de" not in strings
    assert "test" in view["first_action"]["en"].lower()


def test_a_setting_that_stops_delivery_shows_on_every_page(served, db):
    # a value stored by an older version (config set refuses it now): the running worker cannot run
    db.execute("INSERT INTO settings (key, value, updated_at) VALUES ('alert.allowed_target_cidrs', ?, ?)",
               [json.dumps(["not-a-cidr"]), "2026-01-01T00:00:00"])
    session = requests.Session()
    session.post(served + "/auth/login?lang=fr", data={"username": "rssi", "password": PASSWORD})
    for page in ("/", "/alerts"):
        text = session.get(served + page).text
        assert 'role="alert"' in text and "alert.allowed_target_cidrs" in text and "not-a-cidr" in text
