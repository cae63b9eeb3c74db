"""No transport tells: MSH-10 and the FHIR User-Agent follow the settings; no two canaries of a seed share a
creation second in what the peers received."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from canary.generate.seeding import derive_token
from canary.plant.lifecycle import list_plantings
from canary.plant.planter import plant, retire, select_for_retire
from canary.plant.timing import PARIS
from canary.settings import set_setting
from canary.store.registry import add_canaries, add_system
from tests.support.records import make_record


def add_seed(db, count: int = 3, system: str = "ehr-a", first: int = 0) -> None:
    """A seed as `canary seed` makes it: every canary created in the same second, each with a callback URL."""
    add_system(db, system, "ehr", establishment="Hôpital de test")
    add_canaries(db, [{"id": f"s{i:04d}", "system": system, "generation": 1, "created_at": "2026-11-28T10:00:00Z",
                       "token": derive_token("k", f"s{i:04d}"),
                       **make_record(i, tokens={"url": f"https://portail.example.fr/d/{i}", "hostname": None})}
                      for i in range(first, first + count)])


def control_ids(peer) -> list[str]:
    return [str(m.segment("MSH")(10)) for m in peer.messages]


def test_msh10_is_a_counter_by_default_and_goes_on_across_runs(db, mllp_peer):
    add_seed(db)
    assert plant(db, "ehr-a", mllp_peer.url).ok
    assert retire(db, select_for_retire(db, system="ehr-a")).retired
    ids = control_ids(mllp_peer)
    assert all(re.fullmatch(r"[1-9]\d{5,6}", i) for i in ids), ids
    numbers = [int(i) for i in ids]
    assert numbers == list(range(numbers[0], numbers[0] + 6))  # one counter for the target, whatever the run


def test_msh10_follows_the_setting(db, mllp_peer):
    add_seed(db)
    set_setting(db, "plant.hl7.control_id", "timestamp")
    assert plant(db, "ehr-a", mllp_peer.url).ok
    ids = control_ids(mllp_peer)
    today = datetime.now(UTC).astimezone(PARIS).strftime("%Y")
    assert all(re.fullmatch(r"\d{18}", i) and i.startswith(today) for i in ids), ids
    assert len(set(ids)) == 3


def test_fhir_user_agent_follows_the_setting(db, fhir_server):
    add_seed(db, 2)
    assert plant(db, "ehr-a", fhir_server.url).ok
    assert set(fhir_server.user_agents) == {"HAPI-FHIR/6.10.5 (FHIR Client; FHIR 4.0.1/R4; apache)"}
    set_setting(db, "plant.fhir.user_agent", "Enovacom-FHIR/4.2")
    add_seed(db, 1, system="ehr-b", first=10)
    fhir_server.user_agents.clear()
    assert plant(db, "ehr-b", fhir_server.url).ok
    assert set(fhir_server.user_agents) == {"Enovacom-FHIR/4.2"}
    assert not any("python-requests" in ua for ua in fhir_server.user_agents)


@pytest.fixture
def spaced(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sends spaced as in production, the mean kept short so the test stays quick."""
    monkeypatch.setenv("CANARY_PLANT_SEND_SPACING", "0.2")


def test_no_two_canaries_of_a_seed_share_a_second_over_mllp(db, mllp_peer, spaced):
    add_seed(db)
    assert plant(db, "ehr-a", mllp_peer.url).ok
    stamps = [str(m.segment("MSH")(7)) for m in mllp_peer.messages]
    events = [str(m.segment("EVN")(2)) for m in mllp_peer.messages]
    assert len({s[:14] for s in stamps}) == 3 and len({e[:14] for e in events}) == 3


def test_no_two_canaries_of_a_seed_share_a_second_over_fhir(db, fhir_server, spaced):
    add_seed(db)
    before = datetime.now(UTC)
    assert plant(db, "ehr-a", fhir_server.url).ok
    documents = fhir_server.of_type("DocumentReference")
    dates = [datetime.fromisoformat(d["date"]) for d in documents]
    assert len(dates) == 3 and len({d.replace(microsecond=0) for d in dates}) == 3
    assert all(d < before for d in dates)  # written before the planting, each at its own moment
    assert all(d.utcoffset() is not None for d in dates)
    patients = [e["resource"] for b in fhir_server.bundles for e in b["entry"]
                if e["resource"]["resourceType"] == "Patient"]
    updated = [datetime.fromisoformat(p["meta"]["lastUpdated"]) for p in patients]
    assert len({u.replace(microsecond=0) for u in updated}) == 3
    assert all(u >= before.replace(microsecond=0) for u in updated)


def test_mllp_receiver_allocates_the_ipp_recorded_and_watched(db, cli, mllp_peer):
    from canary.store.registry import find_by_marker

    add_seed(db, 2)
    numbers = iter(["55000101", "55000102"])
    mllp_peer.allocate_ipp = lambda: next(numbers)
    result = cli("plant", "ehr-a", "--to", mllp_peer.url, "--ipp-by", "receiver", "--json")
    assert result.exit_code == 0, result.output
    pids = [str(pid(3)) for pid in mllp_peer.pids()]
    assert not any("^PI" in p for p in pids)  # the A28 carried no IPP of ours
    assert [p["external_id"] for p in list_plantings(db)] == ["55000101", "55000102"]
    assert find_by_marker(db, "ipp", "55000101") == "s0000" and find_by_marker(db, "ipp", "55000102") == "s0001"
    # Retiring names the receiver's record by the IPP it allocated.
    assert retire(db, select_for_retire(db, system="ehr-a")).retired
    assert [str(pid(3)(1)(1)) for pid in mllp_peer.pids()[2:]] == ["55000101", "55000102"]


def test_mllp_receiver_allocating_the_ipp_gets_a_strict_a28_for_every_identity_status(db, mllp_peer):
    """Without our IPP and, below QUAL, without the INS, PID-3 (required in HL7 2.5) would be empty and a strict
    receiver refuses the A28: the sender names its own record in its own domain instead (type PT)."""
    from tests.support.hl7_strict import strict_errors

    add_system(db, "ehr-a", "ehr", establishment="Hôpital de test")
    statuses = ("QUAL", "VALI", "RECUP", "PROV")
    add_canaries(db, [{"id": f"q{i}", "system": "ehr-a", "generation": 1, "created_at": "2026-11-28T10:00:00Z",
                       "token": derive_token("k", f"q{i}"), **make_record(i, identity_status=status)}
                      for i, status in enumerate(statuses)])
    mllp_peer.decide = lambda message: "AA" if strict_errors(str(message)) is None else "AE"
    numbers = iter(["55000201", "55000202", "55000203", "55000204"])
    mllp_peer.allocate_ipp = lambda: next(numbers)
    report = plant(db, "ehr-a", mllp_peer.url, ipp_by="receiver")
    assert report.failed == [] and len(report.planted) == 4
    assert [strict_errors(str(m)) for m in mllp_peer.messages] == [None] * 4
    for message, i in zip(mllp_peer.messages, range(4), strict=True):
        identifiers = [str(cx) for cx in message.segment("PID")(3)]
        assert identifiers[0] == f"{40000000 + i}^^^GAM^PT"  # the sender's own record, not an IPP (PI)
        assert not any(cx.endswith("^PI") for cx in identifiers)
    assert [p["external_id"] for p in list_plantings(db)] == ["55000201", "55000202", "55000203", "55000204"]
    # Retiring names each record by the IPP the receiver gave it, and the strict receiver accepts the A31s.
    assert len(retire(db, select_for_retire(db, system="ehr-a")).retired) == 4
    retiring = mllp_peer.messages[4:]
    assert [str(m.segment("PID")(3)[0][0]) for m in retiring] == ["55000201", "55000202", "55000203", "55000204"]
    assert [strict_errors(str(m)) for m in retiring] == [None] * 4


def test_mllp_receiver_that_returns_no_ipp_fails_the_canary(db, mllp_peer):
    add_seed(db, 1)
    report = plant(db, "ehr-a", mllp_peer.url, ipp_by="receiver")
    assert not report.planted and "returned no IPP" in report.failed[0][1]


def test_fhir_server_allocates_the_ipp_recorded_and_watched(db, fhir_server):
    from canary.store.registry import find_by_marker

    add_seed(db, 2)
    fhir_server.allocate_ipp_system = "urn:oid:1.2.250.1.999.1"
    url = fhir_server.url + "?ipp_oid=1.2.250.1.999.1"
    report = plant(db, "ehr-a", url, ipp_by="receiver")
    assert report.ok and len(report.planted) == 2
    sent = [e for b in fhir_server.bundles for e in b["entry"] if e["resource"]["resourceType"] == "Patient"]
    assert all("ifNoneExist" not in e["request"] for e in sent)
    assert all(i["system"] != "urn:oid:1.2.250.1.999.1" for e in sent for i in e["resource"].get("identifier", []))
    allocated = sorted(i["value"] for p in fhir_server.of_type("Patient") for i in p["identifier"]
                       if i["system"] == "urn:oid:1.2.250.1.999.1")
    assert len(allocated) == 2
    assert {find_by_marker(db, "ipp", ipp) for ipp in allocated} == {"s0000", "s0001"}


def test_ipp_by_is_checked_before_anything_is_planned(db, cli, mllp_peer, tmp_path):
    add_seed(db, 1)
    result = cli("plant", "ehr-a", "--to", (tmp_path / "x.csv").as_uri(), "--ipp-by", "receiver")
    assert result.exit_code == 1 and "do not apply to file targets" in result.output
    assert list_plantings(db) == []
