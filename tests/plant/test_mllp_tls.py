"""Planting over MLLP inside TLS (mllps://) into a real hl7 MLLP server wrapped in a real ssl context."""

from __future__ import annotations

import json
import ssl
from pathlib import Path

import pytest

from canary.errors import CanaryError
from canary.plant.channels.mllp.tls import TlsConfig, client_context
from canary.plant.lifecycle import list_plantings
from canary.plant.planter import plant, retire, select_for_retire
from canary.plant.rotation import rotate
from tests.support.pki import SERVER_DNS_NAME, server_context
from tests.support.records import FixtureGenerator

TLS_VERSIONS = [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3]


def _states(db, system="ehr-a"):
    return [(r["state"], r["in_flight"]) for r in list_plantings(db, system=system)]


def test_plant_over_tls_with_a_trusted_ca_checks_the_ack(db, add_hand_canaries, pki, start_tls_peer, cli):
    canaries = add_hand_canaries("ehr-a", count=3)
    peer = start_tls_peer(server_context(pki.server))
    result = cli("plant", "ehr-a", "--to", peer.url + "&ipp_oid=1.2.250.1.999.1.1", "--tls-ca", pki.ca.cert, "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["channel"] == "mllp" and out["target"] == peer.address and sorted(out["planted"]) == sorted(
        c["id"] for c in canaries)
    assert peer.events() == ["A28"] * 3
    rows = list_plantings(db, system="ehr-a")
    assert {(r["state"], r["channel"], r["target"]) for r in rows} == {("planted", "mllp", peer.address)}
    assert {r["external_id"] for r in rows} == {c["ipp"] for c in canaries}
    assert rows[0]["options"]["tls_ca"] == pki.ca.cert

    # The ACK decides as on plain MLLP: a NACK over TLS marks the canary failed with the peer's reason.
    more = add_hand_canaries("ehr-a", count=1)
    peer.decide = lambda message: "AE"
    report = plant(db, "ehr-a", peer.url)  # the CA bundle is remembered with the target
    assert not report.ok and report.failed[0][0] == more[0]["id"] and "(AE)" in report.failed[0][1]
    assert "PID-7 date de naissance invalide" in report.failed[0][1]

    # Retiring goes through the same TLS link.
    peer.decide = lambda message: "AA"
    assert plant(db, "ehr-a", peer.url).ok
    retired = retire(db, select_for_retire(db, system="ehr-a"))
    assert len(retired.retired) == 4 and not retired.failed
    assert peer.events()[-4:] == ["A31"] * 4


@pytest.mark.parametrize("trust", ["system store", "another CA"])
def test_untrusted_server_certificate_plants_nothing(db, add_hand_canaries, pki, start_tls_peer, cli, trust):
    add_hand_canaries("ehr-a", count=2)
    peer = start_tls_peer(server_context(pki.server))
    extra = ["--tls-ca", pki.rogue_ca.cert] if trust == "another CA" else []
    result = cli("plant", "ehr-a", "--to", peer.url, *extra)
    assert result.exit_code == 1
    error = result.output.strip().splitlines()[-1]
    assert "server certificate not trusted" in error and trust.split()[-1] in error
    assert peer.messages == []
    assert _states(db) == []  # a target that never took a canary keeps no row
    # Once the right CA is given, the same canaries are planted, as creations.
    assert cli("plant", "ehr-a", "--to", peer.url, "--tls-ca", pki.ca.cert).exit_code == 0
    assert peer.events() == ["A28", "A28"]
    assert {r["state"] for r in list_plantings(db, system="ehr-a")} == {"planted"}


@pytest.mark.parametrize("version", TLS_VERSIONS, ids=lambda v: v.name)
def test_mutual_tls_needs_the_client_certificate(db, add_hand_canaries, pki, start_tls_peer, monkeypatch, version):
    add_hand_canaries("ehr-a", count=2)
    add_hand_canaries("ehr-b", count=1)
    peer = start_tls_peer(server_context(pki.server, client_ca=pki.client_ca, maximum_version=version))
    monkeypatch.setenv("CANARY_PLANT_MLLP_TLS_CA_FILE", pki.ca.cert)

    report = plant(db, "ehr-a", peer.url)
    assert not report.ok and "client certificate" in report.stopped and "tls_cert" in report.stopped
    assert report.failed == [] and report.planted == []
    # A certificate from a CA the server does not know (from the settings), then the right one.
    monkeypatch.setenv("CANARY_PLANT_MLLP_TLS_CERT_FILE", pki.rogue_client.cert)
    monkeypatch.setenv("CANARY_PLANT_MLLP_TLS_KEY_FILE", pki.rogue_client.key)
    report = plant(db, "ehr-a", peer.url)
    assert not report.ok and "client certificate" in report.stopped
    assert peer.messages == []
    assert _states(db) == []
    monkeypatch.setenv("CANARY_PLANT_MLLP_TLS_CERT_FILE", pki.client.cert)
    monkeypatch.setenv("CANARY_PLANT_MLLP_TLS_KEY_FILE", pki.client.key)
    report = plant(db, "ehr-a", peer.url)
    assert report.ok and len(report.planted) == 2
    assert peer.events() == ["A28", "A28"]

    # The target's own certificate wins over the settings.
    report = plant(db, "ehr-b", peer.url, tls_cert=pki.rogue_client.cert, tls_key=pki.rogue_client.key)
    assert not report.ok and "client certificate" in report.stopped
    assert plant(db, "ehr-b", peer.url, tls_cert=pki.client.cert, tls_key=pki.client.key).ok
    assert peer.events() == ["A28", "A28", "A28"]


def test_tls13_server_without_session_tickets_is_still_used(db, add_hand_canaries, pki, start_tls_peer):
    """The wait for a TLS 1.3 server's acceptance is bounded: a server that sends no ticket still gets the data."""
    add_hand_canaries("ehr-a", count=2)
    context = server_context(pki.server, client_ca=pki.client_ca)
    context.num_tickets = 0
    peer = start_tls_peer(context)
    assert plant(db, "ehr-a", peer.url, tls_ca=pki.ca.cert, tls_cert=pki.client.cert, tls_key=pki.client.key).ok
    assert peer.events() == ["A28", "A28"]


@pytest.mark.parametrize("version", TLS_VERSIONS, ids=lambda v: v.name)
def test_tls_alerts_name_the_client_certificate_problem(db, add_hand_canaries, pki, mllp_peer, start_tls_front,
                                                        version):
    """Servers that send TLS alerts (stunnel, engines' TLS listeners) tell why they refuse: we say it."""
    add_hand_canaries("ehr-a", count=2)
    front = start_tls_front(server_context(pki.server, client_ca=pki.client_ca, maximum_version=version))
    report = plant(db, "ehr-a", front.url, tls_ca=pki.ca.cert)
    expected = "requires a client certificate" if version == ssl.TLSVersion.TLSv1_3 else "may require a client"
    assert not report.ok and expected in report.stopped and "tls_cert" in report.stopped
    # A target that never took a canary keeps no row, nor its options: each attempt names them all.
    report = plant(db, "ehr-a", front.url, tls_ca=pki.ca.cert, tls_cert=pki.rogue_client.cert,
                   tls_key=pki.rogue_client.key)
    assert not report.ok and "refused our client certificate (tlsv1 alert unknown ca)" in report.stopped
    assert mllp_peer.messages == []
    assert _states(db) == []
    report = plant(db, "ehr-a", front.url, tls_ca=pki.ca.cert, tls_cert=pki.client.cert, tls_key=pki.client.key)
    assert report.ok and mllp_peer.events() == ["A28", "A28"]


def test_encrypted_client_key_needs_its_passphrase_variable(db, add_hand_canaries, pki, start_tls_peer, monkeypatch):
    add_hand_canaries("ehr-a", count=1)
    peer = start_tls_peer(server_context(pki.server, client_ca=pki.client_ca))
    options = {"tls_ca": pki.ca.cert, "tls_cert": pki.client.cert, "tls_key": pki.encrypted_client_key}
    with pytest.raises(CanaryError, match="encrypted.*plant.mllp.tls_key_password_env"):
        plant(db, "ehr-a", peer.url, **options)
    assert list_plantings(db) == []  # refused before anything was planned
    monkeypatch.setenv("CANARY_PLANT_MLLP_TLS_KEY_PASSWORD_ENV", "CHU_MLLP_KEY_PASS")
    monkeypatch.setenv("CHU_MLLP_KEY_PASS", "s3cret")
    assert plant(db, "ehr-a", peer.url, **options).ok
    stored = json.dumps(list_plantings(db))
    assert "s3cret" not in stored and "CHU_MLLP_KEY_PASS" not in stored


def test_host_name_mismatch_fails_and_the_server_name_override_works(db, add_hand_canaries, pki, start_tls_peer):
    add_hand_canaries("ehr-a", count=1)
    named = start_tls_peer(server_context(pki.named_server))  # certificate for SERVER_DNS_NAME only
    report = plant(db, "ehr-a", named.url, tls_ca=pki.ca.cert)
    assert not report.ok and "does not match the name '127.0.0.1'" in report.stopped
    assert named.messages == [] and _states(db) == []
    # The certificate for 127.0.0.1 does not match another expected name either.
    other = start_tls_peer(server_context(pki.server))
    report = plant(db, "ehr-a", other.url, tls_ca=pki.ca.cert, tls_server_name=SERVER_DNS_NAME)
    assert not report.ok and f"does not match the name '{SERVER_DNS_NAME}'" in report.stopped
    assert other.messages == []
    # Reached by address, checked against the name its certificate carries.
    report = plant(db, "ehr-a", named.url, tls_ca=pki.ca.cert, tls_server_name=SERVER_DNS_NAME)
    assert report.ok and named.events() == ["A28"]


def test_expired_server_certificate_plants_nothing(db, add_hand_canaries, pki, start_tls_peer):
    add_hand_canaries("ehr-a", count=1)
    peer = start_tls_peer(server_context(pki.expired_server))
    report = plant(db, "ehr-a", peer.url, tls_ca=pki.ca.cert)
    assert not report.ok and "server certificate expired or not yet valid" in report.stopped
    assert peer.messages == [] and _states(db) == []


def test_plain_mllp_port_is_a_handshake_failure(db, add_hand_canaries, mllp_peer, pki, monkeypatch):
    monkeypatch.setenv("CANARY_PLANT_TIMEOUT", "0.5")  # a plain MLLP server waits for a block that never comes
    add_hand_canaries("ehr-a", count=1)
    url = mllp_peer.url.replace("mllp://", "mllps://")
    report = plant(db, "ehr-a", url, tls_ca=pki.ca.cert)
    assert not report.ok and "TLS handshake: no answer within 0.5s" in report.stopped
    assert "is the port MLLP over TLS" in report.stopped
    assert _states(db) == []


@pytest.mark.parametrize("drop", ["reset", "close"])
def test_connection_dropped_mid_message_then_resume(db, add_hand_canaries, pki, start_tls_peer, drop):
    add_hand_canaries("ehr-a", count=3)
    peer = start_tls_peer(server_context(pki.server))
    peer.decide = lambda message: drop if len(peer.messages) == 2 else "AA"
    report = plant(db, "ehr-a", peer.url, tls_ca=pki.ca.cert)
    assert len(report.planted) == 1 and report.stopped
    assert ("reset" if drop == "reset" else "closed") in report.stopped
    # The second message reached the peer without an answer: it may be stored, so it is in flight.
    assert _states(db) == [("planted", 0), ("failed", 1), ("planned", 0)]
    peer.decide = lambda message: "AA"
    assert plant(db, "ehr-a", peer.url).ok
    assert peer.events() == ["A28", "A28", "A31", "A28"]


def test_tls_options_are_checked_before_anything_is_planned(db, add_hand_canaries, pki, tmp_path, cli):
    add_hand_canaries("ehr-a", count=1)
    with pytest.raises(CanaryError, match="mllps://"):
        plant(db, "ehr-a", "mllp://127.0.0.1:2575", tls_ca=pki.ca.cert)
    with pytest.raises(CanaryError, match="mllps://"):
        plant(db, "ehr-a", f"mllp://127.0.0.1:2575?tls_ca={pki.ca.cert}")
    with pytest.raises(CanaryError, match="do not apply"):
        plant(db, "ehr-a", "https://127.0.0.1:1/fhir", tls_cert=pki.client.cert)
    with pytest.raises(CanaryError, match="missing or not readable"):
        plant(db, "ehr-a", "mllps://127.0.0.1:2575", tls_ca=str(tmp_path / "nope.pem"))
    with pytest.raises(CanaryError, match="without its certificate"):
        plant(db, "ehr-a", "mllps://127.0.0.1:2575", tls_key=pki.client.key)
    with pytest.raises(CanaryError, match="no usable certificate"):
        plant(db, "ehr-a", "mllps://127.0.0.1:2575", tls_ca=str(tmp_path))  # a folder
    (tmp_path / "empty.pem").write_text("not a certificate\n")
    with pytest.raises(CanaryError, match="no usable certificate"):
        plant(db, "ehr-a", "mllps://127.0.0.1:2575", tls_ca=str(tmp_path / "empty.pem"))
    with pytest.raises(CanaryError, match="cannot be used"):
        plant(db, "ehr-a", "mllps://127.0.0.1:2575", tls_cert=pki.client.cert, tls_key=pki.server.key)
    shared_key = tmp_path / "shared.key"
    shared_key.write_bytes(Path(pki.client.key).read_bytes())
    shared_key.chmod(0o640)
    with pytest.raises(CanaryError, match=r"other users may read it \(mode 0640\).*chmod 600"):
        plant(db, "ehr-a", "mllps://127.0.0.1:2575", tls_cert=pki.client.cert, tls_key=str(shared_key))
    result = cli("plant", "ehr-a", "--to", "mllps://127.0.0.1", "--tls-ca", pki.ca.cert)
    assert result.exit_code == 1 and "mllps://host:port" in result.output
    assert list_plantings(db) == []


def test_rotation_over_mutual_tls_reuses_the_remembered_paths(db, add_hand_canaries, pki, start_tls_peer,
                                                              monkeypatch, tmp_path):
    add_hand_canaries("ehr-a", count=2)
    peer = start_tls_peer(server_context(pki.server, client_ca=pki.client_ca))
    folder = Path(pki.ca.cert).parent
    monkeypatch.chdir(folder)  # relative paths, as an operator types them
    assert plant(db, "ehr-a", peer.url, tls_ca="ca.crt", tls_cert="client.crt", tls_key="client.key").ok
    assert list_plantings(db)[0]["options"]["tls_ca"] == str(folder / "ca.crt")
    monkeypatch.chdir(tmp_path)  # the next run starts elsewhere
    report = rotate(db, "ehr-a", 2, FixtureGenerator())
    assert report.ok and report.generation == 2
    assert peer.events() == ["A28"] * 4 + ["A31"] * 2
    states = sorted((r["generation"], r["state"]) for r in list_plantings(db))
    assert states == [(1, "retired")] * 2 + [(2, "planted")] * 2


def test_key_material_is_never_stored_nor_printed(db, db_path, add_hand_canaries, pki, start_tls_peer, cli):
    add_hand_canaries("ehr-a", count=1)
    peer = start_tls_peer(server_context(pki.server, client_ca=pki.client_ca))
    result = cli("plant", "ehr-a", "--to", peer.url, "--tls-ca", pki.ca.cert, "--tls-cert", pki.client.cert,
                 "--tls-key", pki.client.key)
    assert result.exit_code == 0, result.output
    listing = cli("plants", "--json")
    assert listing.exit_code == 0 and json.loads(listing.output)[0]["target"] == peer.address
    key_body = "".join(Path(pki.client.key).read_text().splitlines()[1:-1])
    stored = b"".join(path.read_bytes() for path in db_path.parent.iterdir() if path.name.startswith(db_path.name))
    assert pki.client.key.encode() in stored  # the registry files were read: the path is there
    for text in (result.output, listing.output, stored.decode("latin-1")):
        assert "PRIVATE KEY" not in text and key_body[:40] not in text
    assert list_plantings(db)[0]["options"]["tls_key"] == pki.client.key  # only the path


def test_client_context_verifies_and_refuses_old_protocols(pki):
    context = client_context(TlsConfig(ca_file=pki.ca.cert))
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
