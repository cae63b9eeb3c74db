"""Call and SMS webhooks, signed as providers sign them, over a real HTTP client."""

from __future__ import annotations

import json
import logging

import requests

from canary.store.events import list_events
from canary.watch.tripwire.webhooks import hmac_sha256_signature, twilio_signature

WEBHOOK_SECRET = "s3cret-for-tests"  # as set by the configured fixture


def _base(listeners) -> str:
    return f"http://127.0.0.1:{listeners['CallbackService'].port}"


def test_json_sms_with_a_good_signature_is_an_event(start_listeners, canaries, db):
    base = _base(start_listeners())
    to = canaries[0]["phones"][0]
    body = json.dumps({"from": "+33699887766", "to": to, "text": "Bonjour, votre dossier ...",
                       "message_uuid": "m-1"}).encode()
    response = requests.post(f"{base}/hooks/sms", data=body, timeout=5,
                             headers={"Content-Type": "application/json",
                                      "X-Signature": hmac_sha256_signature(WEBHOOK_SECRET, body)})
    assert response.status_code == 200
    [event] = list_events(db, channel="sms")
    assert event["canary_id"] == canaries[0]["id"] and event["source"] == "+33699887766"
    assert event["severity"] == "high" and event["details"]["body"].startswith("Bonjour")
    assert event["details"]["group"].startswith("tripwire:sms:from:")  # grouped by client


def test_twilio_form_call_with_national_number_spelling(start_listeners, canaries, db):
    base = _base(start_listeners())
    national = "0" + canaries[1]["phones"][0][3:]  # +336... -> 06...
    form = {"From": "+33145678901", "To": national, "CallStatus": "ringing", "CallSid": "CA123"}
    # Twilio signs the public URL it was given (tripwire.base_url + path) and the sorted parameters.
    signature = twilio_signature(WEBHOOK_SECRET, "https://portail-patient.example.fr/hooks/call", list(form.items()))
    response = requests.post(f"{base}/hooks/call", data=form, headers={"X-Twilio-Signature": signature}, timeout=5)
    assert response.status_code == 200 and b"<Response>" in response.content
    [event] = list_events(db, channel="phone")
    assert event["canary_id"] == canaries[1]["id"] and event["details"]["status"] == "ringing"


def test_bad_or_missing_signature_is_403_no_event_but_logged(start_listeners, canaries, db, caplog):
    base = _base(start_listeners())
    body = json.dumps({"from": "+33699887766", "to": canaries[0]["phones"][0], "text": "x"}).encode()
    with caplog.at_level(logging.WARNING, logger="canary.tripwire.http"):
        bad = requests.post(f"{base}/hooks/sms", data=body, timeout=5,
                            headers={"Content-Type": "application/json",
                                     "X-Signature": hmac_sha256_signature("wrong", body)})
        missing = requests.post(f"{base}/hooks/call", data={"To": canaries[0]["phones"][0]}, timeout=5)
    assert bad.status_code == missing.status_code == 403
    assert list_events(db, channel="sms") == [] and list_events(db, channel="phone") == []
    assert sum("webhook" in r.getMessage() and "refused" in r.getMessage() for r in caplog.records) == 2
