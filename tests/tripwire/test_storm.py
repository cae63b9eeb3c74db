"""One visitor opening many canary links is one incident: one alert naming every canary and system touched."""

from __future__ import annotations

import requests

from canary.alert.correlate import correlate_all
from canary.alert.model import list_alerts
from canary.store.tokens import token_links

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"


def _url(listeners, token: str) -> str:
    return f"http://127.0.0.1:{listeners['CallbackService'].port}/mon-espace/documents/{token}"


def test_fifty_links_from_one_client_make_one_alert(start_listeners, add_hand_canaries, configured, db):
    ehr = add_hand_canaries("ehr-a", 30)
    lab = add_hand_canaries("lab-b", 20, kind="lab")
    listeners = start_listeners()
    with requests.Session() as session:
        for canary in ehr + lab:
            assert session.get(_url(listeners, canary["token"]), headers={"User-Agent": FIREFOX},
                               timeout=5).status_code == 200
    result = correlate_all(db)
    alerts = list_alerts(db)
    assert len(alerts) == 1, [a["key"] for a in alerts]
    (alert,) = alerts
    assert sorted(alert["canaries"]) == sorted(c["id"] for c in ehr + lab)
    assert alert["systems"] == ["ehr-a", "lab-b"] and alert["count"] == 50
    assert result.pages <= 2  # the first page, and one more when a second system shows up
    assert token_links(configured, ehr[0]["token"])["url"]  # the links followed are the real ones


def test_another_client_is_another_alert(start_listeners, add_hand_canaries, db):
    canaries = add_hand_canaries("ehr-a", 2)
    listeners = start_listeners()
    requests.get(_url(listeners, canaries[0]["token"]), headers={"User-Agent": FIREFOX}, timeout=5)
    requests.get(_url(listeners, canaries[1]["token"]), headers={"User-Agent": "curl/8.5.0"}, timeout=5)
    correlate_all(db)
    assert len(list_alerts(db)) == 2
