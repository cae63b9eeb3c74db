"""Consumer mailboxes: proposed per canary, carried (planted, exported, watched) only once confirmed."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator

import pytest

from canary.generate.crowding import HostShares, domain_cap
from canary.normalize import email_key
from tests.support.peers.mail_provider import start_mail_provider

PROVIDERS = ("laposte.net", "gmail.com", "outlook.fr")


@pytest.fixture
def opened(cli, monkeypatch) -> Iterator[None]:
    """A provider on loopback where every proposed mailbox receives: each probe of 'contacts confirm' comes back."""
    pytest.importorskip("twisted.mail.imap4", reason="twisted (test extra) runs the loopback IMAP server")
    with start_mail_provider("veille@fournisseur.example", "pw-veille") as provider:
        for name, value in (("tripwire.probe_smtp_host", "127.0.0.1"), ("tripwire.probe_smtp_port", provider.smtp_port),
                            ("tripwire.probe_smtp_starttls", "false"), ("tripwire.probe_from", "accueil@boite.example"),
                            ("tripwire.imap_mailboxes",
                             f"imap://veille@fournisseur.example@127.0.0.1:{provider.imap_port}")):
            assert cli("config", "set", name, str(value)).exit_code == 0
        monkeypatch.setenv("CANARY_IMAP_PASSWORD_VEILLE_FOURNISSEUR_EXAMPLE", "pw-veille")
        yield


def _seeded(cli, count: int = 40) -> list[dict]:
    assert cli("system", "add", "ehr-a", "--kind", "ehr").exit_code == 0
    # 60 blocks of 10,000: at a 100,000-patient host's block density each carries a canary or two.
    phones = ",".join(f"+3375{b}0000-+3375{b}0199" for b in range(611, 671))
    assert cli("config", "set", "pool.phones", phones).exit_code == 0
    assert cli("config", "set", "pool.mailbox_providers", ",".join(PROVIDERS)).exit_code == 0
    assert cli("config", "set", "tripwire.base_url", "https://portail-patient.example.fr").exit_code == 0
    assert cli("config", "set", "tripwire.dns_zone", "docs.example.fr").exit_code == 0
    seeded = cli("seed", "ehr-a", "--count", str(count), "--seed", "3")
    assert seeded.exit_code == 0, seeded.output
    assert "mailboxes to open before these canaries carry them" in seeded.stderr
    return json.loads(cli("contacts", "list", "--pending", "--json").stdout)


def test_proposals_list_with_the_contract_keys(cli):
    pending = _seeded(cli)
    assert len(pending) > 10
    for row in pending:
        assert list(row) == ["canary_id", "kind", "value", "provider", "state"]
        assert row["kind"] == "email" and row["state"] == "pending" and row["provider"] in PROVIDERS
        assert row["value"].endswith("@" + row["provider"]) and row["value"] == row["value"].lower()
    assert len({row["value"] for row in pending}) == len(pending)
    assert Counter(row["provider"] for row in pending).most_common(1)[0][0] == "gmail.com"  # the largest
    table = cli("contacts", "list", "--pending")
    assert table.exit_code == 0 and pending[0]["value"] in table.output


def test_an_unconfirmed_mailbox_is_never_planted_exported_or_a_marker(cli, db, tmp_path, opened):
    pending = _seeded(cli)
    addresses = {row["value"] for row in pending}
    planted = tmp_path / "patients.csv"
    result = cli("plant", "ehr-a", "--to", planted.as_uri(), "--mapping", "mediboard")
    assert result.exit_code == 0 and "40 planted" in result.output
    exported = tmp_path / "export.json"
    assert cli("export", "--format", "json", "-o", str(exported)).exit_code == 0
    csv_export = cli("export", "--format", "csv").output
    for text in (planted.read_text(), exported.read_text(), csv_export):
        assert not any(address in text for address in addresses)
        assert "@gmail.com" not in text and "@laposte.net" not in text
    assert db.execute("SELECT COUNT(*) FROM markers WHERE kind = 'email'").fetchone()[0] == 0

    # The operator opened two of them: from now on they are the canaries' own.
    first, second = pending[0], pending[1]
    confirmed = cli("contacts", "confirm", first["value"], second["value"].upper())
    assert confirmed.exit_code == 0 and confirmed.output.strip() == "2 mailboxes confirmed"
    shown = json.loads(cli("show", first["canary_id"], "--json").output)
    assert shown["email"] == first["value"]
    markers = db.execute("SELECT value, canary_id FROM markers WHERE kind = 'email'").fetchall()
    assert sorted(markers) == sorted([(first["value"], first["canary_id"]), (second["value"], second["canary_id"])])
    assert cli("export", "--format", "json", "-o", str(exported)).exit_code == 0
    assert first["value"] in exported.read_text()
    again = tmp_path / "again.csv"
    assert cli("plant", "ehr-a", "--to", again.as_uri(), "--mapping", "mediboard").exit_code == 0
    assert first["value"] in again.read_text() and pending[2]["value"] not in again.read_text()
    left = json.loads(cli("contacts", "list", "--pending", "--json").output)
    assert {r["value"] for r in left} == addresses - {first["value"], second["value"]}
    states = Counter(r["state"] for r in json.loads(cli("contacts", "list", "--json").output))
    assert states["confirmed"] == 2
    assert cli("lint").exit_code == 0  # a confirmed provider address is the operator's own
    # A leak naming the confirmed mailbox is found by a sweep; one naming a pending proposal is not.
    leak = tmp_path / "leak.csv"
    leak.write_text(f"nom;email\nDUPONT;{first['value']}\nMARTIN;{pending[2]['value']}\n", encoding="utf-8")
    findings = json.loads(cli("scan", str(leak), "--json").output)["findings"]
    assert {f["canary_id"] for f in findings} == {first["canary_id"]}


def test_confirm_is_all_or_nothing_and_says_what_is_wrong(cli, db, opened):
    pending = _seeded(cli, count=20)
    before = db.execute("SELECT record FROM canaries ORDER BY id").fetchall()
    result = cli("contacts", "confirm", pending[0]["value"], "jean.nobody@gmail.com")
    assert result.exit_code == 1
    assert result.output.strip() == ("error: jean.nobody@gmail.com is not a proposed mailbox; see "
                                     "'canary contacts list --pending'")
    assert db.execute("SELECT record FROM canaries ORDER BY id").fetchall() == before
    assert len(json.loads(cli("contacts", "list", "--pending", "--json").output)) == len(pending)
    assert cli("contacts", "confirm").exit_code == 1
    assert cli("contacts", "confirm", "--all", pending[0]["value"]).exit_code == 1
    # Confirming twice changes nothing; --all takes the rest.
    assert cli("contacts", "confirm", pending[0]["value"]).exit_code == 0
    assert cli("contacts", "confirm", pending[0]["value"]).output.strip() == "0 mailboxes confirmed"
    assert cli("contacts", "confirm", "--all").output.strip() == f"{len(pending) - 1} mailboxes confirmed"
    emails = {email_key(r["email"]) for r in json.loads(cli("list", "--json").output) if r["email"]}
    assert emails == {r["value"] for r in pending}
    assert json.loads(cli("contacts", "list", "--pending", "--json").output) == []


def test_a_later_seed_never_proposes_an_address_already_proposed(cli):
    first = _seeded(cli, count=30)
    assert cli("seed", "ehr-a", "--count", "30", "--seed", "3").exit_code == 0
    everything = json.loads(cli("contacts", "list", "--pending", "--json").output)
    assert len(everything) > len(first)
    assert len({r["value"] for r in everything}) == len(everything)


def test_owned_domains_stay_within_the_long_tail_bound(cli):
    assert cli("system", "add", "ehr-a", "--kind", "ehr").exit_code == 0
    domains = [f"famille-{name}.fr" for name in ("martin", "durand", "lefevre", "moreau")]
    assert cli("config", "set", "pool.mail_domains", ",".join(domains)).exit_code == 0
    result = cli("seed", "ehr-a", "--count", "120", "--seed", "8")
    assert result.exit_code == 0
    per_domain = Counter(r["email"].split("@")[1] for r in json.loads(cli("list", "--json").output) if r["email"])
    cap = domain_cap(100_000, HostShares())
    assert cap == 5 and set(per_domain) == set(domains) and max(per_domain.values()) == cap
    assert "pool.mail_domains ran out" in result.stderr
    # With consumer providers too, owned domains only take the tail and the rest goes to providers.
    assert cli("config", "set", "pool.mailbox_providers", "gmail.com,laposte.net").exit_code == 0
    more = cli("seed", "ehr-a", "--count", "60", "--seed", "9")
    assert "pool.mail_domains ran out" not in more.stderr
    per_domain = Counter(r["email"].split("@")[1] for r in json.loads(cli("list", "--json").output) if r["email"])
    assert max(per_domain.values()) == cap
