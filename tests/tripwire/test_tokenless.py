"""Canaries seeded before the tripwire settings carry no link: seed warns, lint reports, fill-tokens repairs."""

from __future__ import annotations

import json

import requests

from canary.store.events import list_events


def _setup(cli):
    cli("system", "add", "ehr-a", "--kind", "ehr")
    cli("system", "add", "lab-b", "--kind", "lab")
    # Blocks of 10,000 enough for the canaries with a phone at the host's block density (a canary or two each).
    cli("config", "set", "pool.phones", ",".join(f"+33756{b}{b % 10}000-+33756{b}{b % 10}199" for b in range(12, 20)))
    cli("config", "set", "pool.mail_domains", "messagerie-famille.fr")


def test_seed_warns_without_tripwire_settings(cli):
    _setup(cli)
    result = cli("seed", "ehr-a", "--count", "2", "--seed", "1")
    assert result.exit_code == 0
    assert "tripwire.base_url" in result.stderr and "tripwire.dns_zone" in result.stderr
    cli("config", "set", "tripwire.base_url", "https://portail-patient.example.fr")
    cli("config", "set", "tripwire.dns_zone", "docs.example.fr")
    quiet = cli("seed", "ehr-a", "--count", "1", "--seed", "2")
    assert "tripwire" not in quiet.stderr


def test_lint_reports_tokenless_and_fill_tokens_repairs_unplanted(cli, db, request):
    _setup(cli)
    ids = [line for line in cli("seed", "ehr-a", "--count", "3", "--seed", "1").stdout.split()]
    lint = cli("lint", "--json")
    assert lint.exit_code == 1
    rules = {(p["canary_id"], p["rule"], p["field"]) for p in json.loads(lint.stdout)["problems"]}
    assert {(cid, "no-tripwire", "tokens.url") for cid in ids} <= rules
    assert {(cid, "no-tripwire", "tokens.hostname") for cid in ids} <= rules

    refused = cli("tripwire", "fill-tokens")
    assert refused.exit_code == 1 and "tripwire.base_url" in refused.output

    # one canary is already planted: its record in the target cannot change, it is reported instead
    db.execute("INSERT INTO plantings (canary_id, system, channel, target, state, planned_at, updated_at) "
               "VALUES (?, 'ehr-a', 'file', 'file:///srv/x.csv', 'planted', ?, ?)",
               [ids[0], "2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z"])
    cli("config", "set", "tripwire.base_url", "https://portail-patient.example.fr")
    cli("config", "set", "tripwire.dns_zone", "docs.example.fr")
    filled = cli("tripwire", "fill-tokens", "--json")
    assert filled.exit_code == 0, filled.output
    outcome = json.loads(filled.stdout)
    assert sorted(outcome["filled"]) == sorted(ids[1:]) and outcome["planted"] == [ids[0]]
    shown = json.loads(cli("show", ids[1], "--json").stdout)
    assert shown["tokens"]["url"].startswith("https://portail-patient.example.fr/mon-espace/documents/")
    assert shown["tokens"]["hostname"].endswith(".docs.example.fr")
    remaining = {p["canary_id"] for p in json.loads(cli("lint", "--json").stdout)["problems"]}
    assert remaining == {ids[0]}

    # the filled link really fires
    listeners = request.getfixturevalue("start_listeners")()  # only now: it sets the tripwire settings
    path = shown["tokens"]["url"].split("example.fr", 1)[1]
    requests.get(f"http://127.0.0.1:{listeners['CallbackService'].port}{path}", timeout=5)
    assert [e["canary_id"] for e in list_events(db, channel="http")] == [ids[1]]
