"""The API's seeding, scan upload, rotation and per-planting retire: the CLI's JSON, roles, the audit trail."""

from __future__ import annotations

import io
import json
import tempfile
from pathlib import Path

import pytest

from canary.store import open_db
from tests.support.accounts import audited_changes


def _audit(db_path) -> list[dict]:
    db = open_db(db_path)
    try:
        return audited_changes(db)
    finally:
        db.close()


def _count(db_path, sql: str, params=()) -> int:
    db = open_db(db_path)
    try:
        return int(db.execute(sql, list(params)).fetchone()[0])
    finally:
        db.close()


def test_an_admin_seeds_a_system_through_the_api(api, db_path):
    client, headers = api
    resp = client.post("/api/v1/systems/ehr-mediboard/seed", json={"count": 3, "seed": 7}, headers=headers["admin"])
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert set(body) == {"system", "generation", "canaries", "pending_mailboxes", "warnings"}
    assert body["system"] == "ehr-mediboard" and body["generation"] == 1 and len(body["canaries"]) == 3
    # The CLI's warnings, as text: no pool and no tripwire base URL is configured in this registry.
    assert any("pool.phones" in w for w in body["warnings"])
    assert any("tripwire.base_url" in w for w in body["warnings"])
    assert _count(db_path, "SELECT COUNT(*) FROM canaries WHERE system = 'ehr-mediboard'") == 3
    (entry,) = [e for e in _audit(db_path) if e["action"] == "seed"]
    assert (entry["who"], entry["via"], entry["target"], entry["details"]) == (
        "token:soar-admin", "api", "system:ehr-mediboard", {"count": 3, "seed": 7})


def test_the_api_seeds_with_the_warnings_canary_seed_prints(api, cli):
    """One use case behind both doors: the same checks and the same warnings, word for word."""
    client, headers = api
    for name in ("lab-cli", "lab-api"):
        assert cli("system", "add", name, "--kind", "lab").exit_code == 0
    printed = cli("seed", "lab-cli", "--count", "2", "--seed", "3")
    assert printed.exit_code == 0, printed.output
    from_cli = [line.removeprefix("WARNING: ") for line in printed.output.splitlines() if line.startswith("WARNING: ")]
    resp = client.post("/api/v1/systems/lab-api/seed", json={"count": 2, "seed": 3}, headers=headers["admin"])
    assert resp.status_code == 201, resp.get_json()
    from_api = [w.replace("lab-api", "lab-cli") for w in resp.get_json()["warnings"]]
    assert from_cli and from_api == from_cli  # no pool, no callback base, no place: said the same way


@pytest.mark.parametrize(("body", "message"), [
    ({}, "missing field 'count'"),
    ({"count": "3"}, "field 'count' must be an integer"),
    ({"count": 0}, "count must be between 1 and 100000"),
    ({"count": 2, "seed": 1.5}, "field 'seed' must be an integer"),
])
def test_bad_seed_requests_get_one_line_and_write_nothing(api, db_path, body, message):
    client, headers = api
    resp = client.post("/api/v1/systems/ehr-mediboard/seed", json=body, headers=headers["admin"])
    assert resp.status_code == 400 and message in resp.get_json()["error"]
    assert _count(db_path, "SELECT COUNT(*) FROM canaries") == 0
    assert not [e for e in _audit(db_path) if e["action"] == "seed"]


def test_seeding_needs_an_admin_and_a_known_system(api):
    client, headers = api
    assert client.post("/api/v1/systems/ehr-mediboard/seed", json={"count": 1},
                       headers=headers["analyst"]).status_code == 403
    missing = client.post("/api/v1/systems/nowhere/seed", json={"count": 1}, headers=headers["admin"])
    assert missing.status_code == 404 and "nowhere" in missing.get_json()["error"]


def _dump(record: dict) -> bytes:
    return (f"nir;nom;prenom;naissance;ville\n{record['nir']};{record['birth_name']};{record['first_names'][0]};"
            f"{record['birth_date']};Lyon\n").encode()


def test_an_uploaded_scan_answers_the_json_of_canary_scan(api, db_path, add_hand_canaries, cli, tmp_path,
                                                          monkeypatch):
    (found, *_) = add_hand_canaries("ehr-mediboard", count=2)
    client, headers = api
    server_tmp = tmp_path / "server-tmp"
    server_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(server_tmp))  # where the console puts the upload meanwhile
    resp = client.post("/api/v1/scans", data={"file": (io.BytesIO(_dump(found)), "../<i>x</i>.csv")},
                       content_type="multipart/form-data", headers=headers["analyst"])
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    # The same file scanned by the CLI gives the same JSON, file name aside (the upload's is sanitised).
    local = tmp_path / "ix_i.csv"
    local.write_bytes(_dump(found))
    result = cli("scan", str(local), "--json")
    assert result.exit_code == 0, result.output
    theirs = json.loads(result.output)
    assert set(body) == set(theirs) and body["status"] == "complete"
    strip = lambda findings: [{k: v for k, v in f.items() if k != "file"} for f in findings]  # noqa: E731
    assert strip(body["findings"]) == strip(theirs["findings"]) and body["findings"][0]["canary_id"] == found["id"]
    assert {f["file"] for f in body["findings"]} == {"ix_i.csv"}  # the sanitised name, not a server path
    db = open_db(db_path)
    (sources,) = db.execute("SELECT sources FROM sweeps WHERE feed = 'upload'").fetchone()
    db.close()
    assert json.loads(sources) == ["ix_i.csv"]  # the upload's name, never the server's temporary path
    assert list(server_tmp.iterdir()) == []  # never kept
    (entry,) = [e for e in _audit(db_path) if e["action"] == "scan.upload"]
    assert entry["via"] == "api" and entry["details"]["file"] == "ix_i.csv"


def test_a_scan_upload_is_checked_refused_below_analyst_and_bounded(api, db_path, add_hand_canaries):
    from canary.settings import set_setting
    from canary.web import create_app

    client, headers = api
    assert client.post("/api/v1/scans", data={"file": (io.BytesIO(b"x"), "a.csv")},
                       content_type="multipart/form-data", headers=headers["viewer"]).status_code == 403
    none = client.post("/api/v1/scans", data={}, content_type="multipart/form-data", headers=headers["analyst"])
    assert none.status_code == 400 and "multipart field 'file'" in none.get_json()["error"]
    empty = client.post("/api/v1/scans", data={"file": (io.BytesIO(b"x"), "a.csv")},
                        content_type="multipart/form-data", headers=headers["analyst"])
    assert empty.status_code == 400 and "no active canary" in empty.get_json()["error"]
    # The check canary scan makes, in its words (the API does not show the server's path).
    assert empty.get_json()["error"] == ("the registry has no active canary: a scan could find nothing "
                                         "(wrong registry? seed canaries with 'canary seed')")
    add_hand_canaries("ehr-mediboard", count=1)
    db = open_db(db_path)
    set_setting(db, "web.upload_max_mb", "1")
    db.close()
    small = create_app({"DATABASE": str(db_path), "TESTING": True}).test_client()
    big = small.post("/api/v1/scans", data={"file": (io.BytesIO(b"x" * (2 * 1024 * 1024)), "big.csv")},
                     content_type="multipart/form-data", headers=headers["analyst"])
    assert big.status_code == 413 and big.is_json
    assert _count(db_path, "SELECT COUNT(*) FROM sweeps") == 0


def test_the_openapi_document_describes_the_new_operations(api):
    client, headers = api
    paths = client.get("/api/v1/openapi.json", headers=headers["viewer"]).get_json()["paths"]
    seed = paths["/api/v1/systems/{name}/seed"]["post"]
    assert seed["x-canary-role"] == "admin"
    assert set(seed["requestBody"]["content"]["application/json"]["schema"]["properties"]) == {"count", "seed"}
    scan = paths["/api/v1/scans"]["post"]
    assert scan["x-canary-role"] == "analyst" and "413" in scan["responses"]
    assert "file" in scan["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"]
    assert paths["/api/v1/systems/{name}/rotate"]["post"]["x-canary-role"] == "analyst"
    assert paths["/api/v1/plantings/{planting_id}/retire"]["post"]["x-canary-role"] == "analyst"


def _plant_file(client, headers, target: Path) -> None:
    resp = client.post("/api/v1/systems/ehr-mediboard/plant", json={"target": target.as_uri()},
                       headers=headers["admin"])
    assert resp.status_code == 200, resp.get_json()


def test_an_analyst_retires_one_planting_through_the_api(api, db_path, add_hand_canaries, tmp_path):
    add_hand_canaries("ehr-mediboard", count=2)
    client, headers = api
    target = tmp_path / "export.csv"
    _plant_file(client, headers, target)
    db = open_db(db_path)
    first, second = [row[0] for row in db.execute("SELECT id FROM plantings ORDER BY id").fetchall()]
    db.close()
    resp = client.post(f"/api/v1/plantings/{first}/retire", headers=headers["analyst"])
    assert resp.status_code == 200 and resp.get_json() == {"retired": [first], "failed": [], "warnings": []}
    db = open_db(db_path)
    states = dict(db.execute("SELECT id, state FROM plantings").fetchall())
    db.close()
    assert states == {first: "retired", second: "planted"}
    again = client.post(f"/api/v1/plantings/{first}/retire", headers=headers["analyst"])
    assert again.status_code == 400 and "already retired" in again.get_json()["error"]
    assert client.post("/api/v1/plantings/999/retire", headers=headers["analyst"]).status_code == 404
    (entry,) = [e for e in _audit(db_path) if e["action"] == "retire"]
    assert entry["target"] == f"planting:{first}" and entry["details"]["system"] == "ehr-mediboard"


def test_an_analyst_rotates_a_planted_system_through_the_api(api, db_path, add_hand_canaries, tmp_path):
    add_hand_canaries("ehr-mediboard", count=2)
    client, headers = api
    target = tmp_path / "export.csv"
    refused = client.post("/api/v1/systems/ehr-mediboard/rotate", json={"count": 2}, headers=headers["analyst"])
    assert refused.status_code == 400 and "nothing of system 'ehr-mediboard' is planted" in refused.get_json()["error"]
    _plant_file(client, headers, target)
    resp = client.post("/api/v1/systems/ehr-mediboard/rotate", json={"count": 2, "seed": 3},
                       headers=headers["analyst"])
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["generation"] == 2 and len(body["canaries"]) == 2 and body["ok"] is True
    assert [p["target"] for p in body["plants"]] == [target.as_uri()] and len(body["retired"]["retired"]) == 2
    assert _count(db_path, "SELECT COUNT(*) FROM plantings WHERE state = 'planted'") == 2
    (entry,) = [e for e in _audit(db_path) if e["action"] == "rotate"]
    assert entry["details"]["generation"] == 2 and entry["via"] == "api"
