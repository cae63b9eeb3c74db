"""A system's place and description from the API and the console: absent fields are kept, "" clears, the
commune resolves as `canary system add|edit --commune` does."""

from __future__ import annotations

from canary.store import open_db


def _system(db_path, name: str = "ehr-mediboard") -> dict:
    db = open_db(db_path)
    try:
        return next(db.query("SELECT * FROM systems WHERE name = ?", [name]))
    finally:
        db.close()


def test_put_keeps_the_fields_it_does_not_name_and_clears_empty_ones(api, db_path):
    client, headers = api
    header = headers["admin"]
    resp = client.put("/api/v1/systems/ehr-mediboard", json={"finess": "690000880", "notes": "dossier patient"},
                      headers=header)
    assert resp.status_code == 200, resp.get_json()
    resp = client.put("/api/v1/systems/ehr-mediboard", json={"patients": 250000}, headers=header)
    assert resp.status_code == 200, resp.get_json()
    row = _system(db_path)
    assert (row["establishment"], row["finess"], row["notes"], row["patients"]) == (
        "Clinique des Lilas", "690000880", "dossier patient", 250000)
    client.put("/api/v1/systems/ehr-mediboard", json={"notes": ""}, headers=header)
    assert _system(db_path)["notes"] is None and _system(db_path)["finess"] == "690000880"


def test_the_place_resolves_like_the_cli_and_a_bad_one_changes_nothing(api, db_path):
    client, headers = api
    header = headers["admin"]
    resp = client.put("/api/v1/systems/ehr-mediboard", json={"commune": "Brest"}, headers=header)
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["site_commune"] == "29019"
    resp = client.put("/api/v1/systems/ehr-mediboard", json={"commune": "Nowhereville", "notes": "x"},
                      headers=header)
    assert resp.status_code == 400
    assert "Nowhereville" in resp.get_json()["error"]
    row = _system(db_path)
    assert (row["site_commune"], row["notes"]) == ("29019", None)
    resp = client.post("/api/v1/systems", json={"name": "lab-brest", "kind": "lab", "commune": "29019"},
                       headers=header)
    assert resp.status_code == 201 and resp.get_json()["site_commune"] == "29019"


def test_the_console_form_sets_and_clears_the_place(sign_in, db_path):
    admin = sign_in("admin")
    form = {"csrf": "test-form-token", "establishment": "Clinique des Lilas", "finess": "", "notes": "",
            "patients": "", "back": "system"}
    admin.post("/systems/ehr-mediboard", data=form | {"commune": "Lyon 3e Arrondissement"})
    assert _system(db_path)["site_commune"] == "69383"
    page = admin.get("/systems/ehr-mediboard").get_data(as_text=True)
    assert 'name="commune" value="69383"' in page
    admin.post("/systems/ehr-mediboard", data=form | {"commune": ""})
    assert _system(db_path)["site_commune"] is None
