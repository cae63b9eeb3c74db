"""Canaries from the real generator (`canary seed`) planted on every channel, then rotated."""

from __future__ import annotations

import csv
import io
import json

from canary.plant.lifecycle import list_plantings


def test_seeded_canaries_plant_everywhere_and_rotate(db, cli, tmp_path, mllp_peer, fhir_server):
    assert cli("system", "add", "ehr-gen", "--kind", "ehr", "--establishment", "CH de Villefranche",
               "--finess", "690000880").exit_code == 0
    cli("config", "set", "pool.phones", "+33612340000-+33612340099")
    cli("config", "set", "pool.mail_domains", "messagerie-patient.fr")
    seeded = cli("seed", "ehr-gen", "--count", "12", "--seed", "1")
    assert seeded.exit_code == 0, seeded.output
    export = tmp_path / "patients.csv"
    targets = [mllp_peer.url + "&ipp_oid=1.2.250.1.999.1.1", fhir_server.url + "?ipp_oid=1.2.250.1.999.1.1",
               export.as_uri()]
    for url in targets:
        extra = ["--mapping", "mediboard"] if url.startswith("file:") else []
        result = cli("plant", "ehr-gen", "--to", url, *extra)
        assert result.exit_code == 0, result.output
        assert "12 planted" in result.output

    records = {r["id"]: r for r in json.loads(cli("list", "--system", "ehr-gen", "--json").output)}
    assert len(mllp_peer.messages) == 12 and len(fhir_server.of_type("Patient")) == 12
    sent = "".join(str(m) for m in mllp_peer.messages) + json.dumps(fhir_server.bundles) + export.read_text()
    for tell in ("FICT", "1.2.250.1.213.1.4.10", "1.2.250.1.213.1.4.11", "canary"):
        assert tell not in sent
    with_ins = [r for r in records.values() if r["identity_status"] == "QUAL"]
    ins_sent = [p for p in mllp_peer.pids() if len(p(3)) == 2]
    assert len(ins_sent) == len(with_ins)
    rows = list(csv.DictReader(io.StringIO(export.read_text()), delimiter=";"))
    assert {row["matricule"] for row in rows} == {r["nir"] for r in records.values()}

    rotated = cli("rotate", "ehr-gen", "--count", "4", "--seed", "2")
    assert rotated.exit_code == 0, rotated.output
    plantings = list_plantings(db, system="ehr-gen")
    assert {(r["generation"], r["state"]) for r in plantings} == {(1, "retired"), (2, "planted")}
    assert sum(r["generation"] == 2 for r in plantings) == 12  # 4 new canaries x 3 targets
    assert len(list(csv.DictReader(io.StringIO(export.read_text()), delimiter=";"))) == 4
    assert len(fhir_server.of_type("Patient")) == 4 and mllp_peer.events().count("A31") == 12
    assert "A29" not in mllp_peer.events()
