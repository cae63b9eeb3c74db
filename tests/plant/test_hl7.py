"""ADT messages and acknowledgements, read back with the hl7 package's parser."""

from __future__ import annotations

from datetime import UTC, datetime

import hl7

from canary.plant.hl7v2 import Peer, build_adt, escape, read_ack
from tests.conftest import make_record

PEER = Peer("GAM", "690000880", "EHR", "CHU", "CHU X&1.2.250.1.9&ISO")


def _parse(record, event="A28"):
    text = build_adt(record, event, PEER, "MSG0001", now=datetime(2026, 11, 28, 9, 30, tzinfo=UTC))
    return hl7.parse(text)


def test_used_name_first_names_and_civility():
    record = make_record(2, used_name="DUPONT", first_names=["Marie-Hélène", "Anne", "Louise"])
    pid = _parse(record).segment("PID")
    used, birth = pid(5)[0], pid(5)[1]
    assert (str(used[0]), str(used[1]), str(used[4]), str(used[6])) == ("DUPONT", "MARIE-HÉLÈNE", "MME", "D")
    assert (str(birth[0]), str(birth[2]), str(birth[6])) == (record["birth_name"], "MARIE-HÉLÈNE ANNE LOUISE", "L")


def test_born_abroad_has_no_france_country_and_keeps_the_insee_code():
    record = make_record(3, birth_place={"code": "99350", "name": "Maroc"})
    bdl = [rep for rep in _parse(record).segment("PID")(11) if str(rep[6]) == "BDL"][0]
    assert str(bdl[8]) == "99350" and str(bdl[5]) == ""


def test_header_event_and_gp():
    message = _parse(make_record(4), "A31")
    msh = message.segment("MSH")
    assert str(msh(9)) == "ADT^A31^ADT_A05" and str(msh(10)) == "MSG0001" and str(msh(7)) == "20261128093000"
    assert str(msh(17)) == "FRA" and str(msh(18)) == "UNICODE UTF-8"
    assert str(message.segment("EVN")(2)) == "20261128093000"
    gp = message.segment("PD1")(4)
    assert str(gp[0][0]) == "810003456789" and str(gp[0][8]) == "ASIP-SANTE-PS&1.2.250.1.71.4.2.1&ISO"
    assert str(message.segment("PV1")(2)) == "N"


def test_no_phone_no_email_gives_empty_pid13():
    pid = _parse(make_record(5, phones=[], email=None)).segment("PID")
    assert str(pid(13)) == ""


def test_escape_every_delimiter():
    assert escape("a|b^c&d~e\\f\ng") == "a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f g"
    assert escape(None) == ""


def test_ack_reading():
    rejected = hl7.parse("MSH|^~\\&|A|B|C|D|20261128||ACK^A28^ACK|9|P|2.5\rMSA|AR|MSG0001")
    ack = read_ack(rejected)
    assert not ack.accepted and ack.code == "AR" and ack.control_id == "MSG0001" and ack.text == ""
    no_msa = read_ack(hl7.parse("MSH|^~\\&|A|B|C|D|20261128||ACK^A28^ACK|9|P|2.5"))
    assert not no_msa.accepted and "MSA" in no_msa.text
