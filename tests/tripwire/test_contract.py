"""The export contract: seeded canaries carry tokens {url, hostname} that the listeners recognise."""

from __future__ import annotations

import json
import random
from datetime import date

import requests
from dnslib import DNSRecord

from canary.generate.seeding import seed_system
from canary.store.events import list_events
from canary.store.registry import add_system, canary_token, find_by_marker
from tests.support.records import make_record


class _HandGenerator:
    """Stands in for the patient generator until it is on main: complete records, unique per call."""

    def __init__(self, make_record):
        self.make_record = make_record
        self.count = 500

    def generate(self, rng: random.Random, *, today: date, taken) -> dict:
        self.count += 1
        return self.make_record(self.count)


def test_export_gives_tokens_that_fire_on_http_and_dns(configured, cli, start_listeners, db):
    add_system(db, "lab-sil", "lab")
    seeded = seed_system(db, "lab-sil", 2, _HandGenerator(make_record), seed=3)
    exported = json.loads(cli("export", "--format", "json").output)
    assert [c["id"] for c in exported] == [c["id"] for c in seeded]
    for canary in exported:
        token = canary_token(db, canary["id"])
        assert canary["tokens"] == {"url": f"https://portail-patient.example.fr/mon-espace/documents/{token}",
                                    "hostname": f"{token}.docs.example.fr"}
        assert "token" not in canary  # the secret itself stays in the registry
        assert find_by_marker(db, "hostname", canary["tokens"]["hostname"]) == canary["id"]
    listeners = start_listeners(dns=True)
    first = exported[0]
    path = first["tokens"]["url"].split("example.fr", 1)[1]
    # A person's browser (an HTTP library's own user agent is graded as an automated fetcher).
    requests.get(f"http://127.0.0.1:{listeners['CallbackService'].port}{path}", timeout=5,
                 headers={"User-Agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/130.0 Safari/537.36"})
    DNSRecord.question(first["tokens"]["hostname"]).send("127.0.0.1", listeners["DnsService"].port, timeout=5)
    events = json.loads(cli("events", "--system", "lab-sil", "--json").output)
    assert [(e["channel"], e["canary_id"], e["system"], e["severity"]) for e in events] == [
        ("http", first["id"], "lab-sil", "high"), ("dns", first["id"], "lab-sil", "high")]
    assert {"id", "time", "channel", "canary_id", "system", "source", "severity"} <= set(events[0])
    assert list_events(db, system="ehr-test") == []
