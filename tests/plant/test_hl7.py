"""ADT messages and acknowledgements, read back with the hl7 package's parser (IHE PAM France 2.10)."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import hl7

from canary.plant.channels.mllp.hl7v2 import Peer, build_adt, build_merge, escape, read_ack
from canary.plant.countries import COUNTRIES
from canary.plant.identity import identity_evidence
from tests.support.hl7_strict import strict_errors
from tests.support.records import make_record

PEER = Peer("GAM", "690000880", "EHR", "CHU", "CHUX&1.2.250.1.9&ISO")
WINTER = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]


def _parse(record, event="A28", now=WINTER, **kwargs):
    return hl7.parse(build_adt(record, event, PEER, "MSG0001", now=now, **kwargs))


def _segment(message, name):
    return [s for s in message if str(s[0]) == name]


def test_used_name_first_names_and_civility_upper_case_without_accents():
    record = make_record(2, used_name="Dupont-Hérault", first_names=["Marie-Hélène", "Anne", "Louise"])
    pid = _parse(record).segment("PID")
    used, birth = pid(5)[0], pid(5)[1]
    assert (str(used[0]), str(used[1]), str(used[4]), str(used[6])) == ("DUPONT-HERAULT", "MARIE-HELENE", "MME", "D")
    assert (str(birth[0]), str(birth[2]), str(birth[6])) == (record["birth_name"], "MARIE-HELENE ANNE LOUISE", "L")


def test_infants_and_children_are_enf_not_m_or_mme():
    child = make_record(4, birth_date="2019-05-02")  # 7 years old on the day of the message
    teenager = make_record(5, birth_date="2010-01-15")  # 16
    assert {str(rep[4]) for rep in _parse(child).segment("PID")(5)} == {"ENF"}
    assert {str(rep[4]) for rep in _parse(teenager).segment("PID")(5)} == {"M"}


def test_ins_only_for_a_qualified_identity():
    for status, expected in [("QUAL", 2), ("RECUP", 1), ("VALI", 1), ("PROV", 1)]:
        pid = _parse(make_record(6, identity_status=status)).segment("PID")
        assert len(pid(3)) == expected, status
        assert str(pid(32)) == status
    qualified = _parse(make_record(6, identity_status="QUAL")).segment("PID")(3)[1]
    assert str(qualified[3]) == "ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.8&ISO" and str(qualified[4]) == "INS"


def test_born_abroad_country_in_xad6_code_in_xad9_no_city():
    record = make_record(3, birth_place={"code": "99350", "name": "Maroc"})
    bdl = [rep for rep in _parse(record).segment("PID")(11) if str(rep[6]) == "BDL"][0]
    assert str(bdl[2]) == "" and str(bdl[5]) == "MAR" and str(bdl[8]) == "99350"
    assert "Maroc" not in str(_parse(record)) and "MAROC" not in str(_parse(record))


def test_born_in_france_city_upper_case_and_fra():
    record = make_record(3, birth_place={"code": "42218", "name": "Saint-Étienne"},
                         address={"line": "3 allée des Érables", "postcode": "69003", "city": "Lyon",
                                  "commune_code": "69383"})
    pid = _parse(record).segment("PID")
    home = [rep for rep in pid(11) if str(rep[6]) == "H"][0]
    bdl = [rep for rep in pid(11) if str(rep[6]) == "BDL"][0]
    assert (str(home[0]), str(home[2]), str(home[5])) == ("3 ALLEE DES ERABLES", "LYON", "FRA")
    assert (str(bdl[2]), str(bdl[5]), str(bdl[8])) == ("SAINT-ETIENNE", "FRA", "42218")


def test_every_birth_country_of_the_generator_has_iso_codes():
    with (ROOT / "seeds" / "places" / "birth_countries.tsv").open(encoding="utf-8") as handle:
        codes = [row["code"] for row in csv.DictReader((line for line in handle if not line.startswith("#")),
                                                       delimiter="\t")]
    assert codes and [code for code in codes if code not in COUNTRIES] == []


def test_header_local_time_with_offset_and_fr_language():
    message = _parse(make_record(4), "A31")
    msh = message.segment("MSH")
    assert str(msh(9)) == "ADT^A31^ADT_A05" and str(msh(10)) == "MSG0001"
    assert str(msh(7)) == "20261128103000+0100"  # 09:30 UTC is 10:30 in Paris in November
    assert str(msh(17)) == "FRA" and str(msh(18)) == "UNICODE UTF-8" and str(msh(19)) == "FR"
    assert str(message.segment("EVN")(2)) == "20261128103000+0100"
    summer = _parse(make_record(4), now=datetime(2026, 7, 1, 22, 15, tzinfo=UTC))
    assert str(summer.segment("MSH")(7)) == "20260702001500+0200"
    assert str(message.segment("PV1")(2)) == "N"


def test_gp_in_rol_odrp_with_the_idnps():
    message = _parse(make_record(4))
    assert _segment(message, "PD1") == []
    rol = message.segment("ROL")
    assert (str(rol(1)), str(rol(2)), str(rol(3))) == ("1", "AD", "ODRP")
    xcn = rol(4)[0]
    # The IDNPS under the PS OID: '8' + the 11-digit RPPS, as FHIR writes it (FR Core, ANS).
    assert str(xcn[0]) == "810003456789" and len(str(xcn[0])) == 12
    assert (str(xcn[1]), str(xcn[2]), str(xcn[12])) == ("GIRARD", "ANNE", "RPPS")
    assert str(xcn[8]) == "ASIP-SANTE-PS&1.2.250.1.71.4.2.1&ISO"
    # Segment order of ADT_A05: PID, ROL, PV1, then the French Z segment.
    assert [str(s[0]) for s in message] == ["MSH", "EVN", "PID", "ROL", "PV1", "ZFD"]


def test_zfd_on_a_qualified_identity_names_source_insi_date_and_document():
    record = make_record(8, identity_status="QUAL", created_at="2026-03-01T10:00:00Z")
    zfd = _parse(record).segment("ZFD")
    assert (str(zfd(3)), str(zfd(4)), str(zfd(5))) == ("N", "N", "INSI")
    insi = str(zfd(6))
    assert len(insi) == 8 and "20210101" <= insi <= "20260301"
    assert str(zfd(7)) in ("CN", "PA", "CS", "LE")
    # The same canary always tells the same story, whatever the channel or the run.
    assert identity_evidence(record) == identity_evidence(dict(record))
    recup = _parse(make_record(8, identity_status="RECUP")).segment("ZFD")
    assert str(recup(5)) == "INSI" and str(recup(6)) and str(recup(7)) == ""
    vali = _parse(make_record(8, identity_status="VALI")).segment("ZFD")
    assert str(vali(5)) == "SM" and str(vali(6)) == "" and str(vali(7))


def test_deactivating_a31_and_merge_a40():
    record = make_record(9, identity_status="QUAL")
    pid32 = _parse(record, "A31", deactivate=True).segment("PID")(32)
    assert [str(rep) for rep in pid32] == ["QUAL", "DESA"]
    survivor = make_record(10, identity_status="VALI", ipp="40009999")
    merge = hl7.parse(build_merge(record, survivor, PEER, "MSG0002", now=WINTER))
    assert str(merge.segment("MSH")(9)) == "ADT^A40^ADT_A39"
    assert [str(s[0]) for s in merge] == ["MSH", "EVN", "PID", "MRG"]
    # The PID is the surviving record's full identity (PID-5 is required in 2.5), MRG-1 the retired IPP.
    pid = merge.segment("PID")
    assert str(pid(3)[0][0]) == "40009999" and str(pid(5)[0][0]) == survivor["birth_name"]
    assert str(pid(7)) == survivor["birth_date"].replace("-", "") and str(pid(32)) == "VALI"
    assert str(merge.segment("MRG")(1)[0][0]) == record["ipp"]
    assert str(merge.segment("MRG")(1)[0][3]) == "CHUX&1.2.250.1.9&ISO"


def _every_message(record):
    survivor = make_record(30, identity_status="QUAL", ipp="40009999")
    yield "A28", build_adt(record, "A28", PEER, "1", now=WINTER)
    yield "A28 without IPP", build_adt(record, "A28", PEER, "2", now=WINTER, with_ipp=False)
    yield "A31", build_adt(record, "A31", PEER, "3", now=WINTER)
    yield "A31 deactivating", build_adt(record, "A31", PEER, "4", now=WINTER, deactivate=True)
    yield "A40", build_merge(record, survivor, PEER, "5", now=WINTER)


def test_every_message_the_mllp_channel_sends_passes_hl7apy_strict_validation():
    records = [make_record(i, identity_status=status) for i, status in enumerate(("QUAL", "RECUP", "VALI", "PROV"))]
    records += [make_record(7, birth_place={"code": "99350", "name": "Maroc"}, phones=[], email=None, gp={}),
                make_record(8, birth_date="2021-02-03", used_name="Martin-Hérault")]
    refused = [(record["ipp"], kind, error) for record in records for kind, message in _every_message(record)
               if (error := strict_errors(message))]
    assert refused == []


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
