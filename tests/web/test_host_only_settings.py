"""Settings that write files, reach other hosts or widen trust change on the host only, like the secrets.

An admin token (or a stolen admin session) must not be enough to send canary markers to any host
(a Dask scheduler), write a file anywhere the service can (a jsonl:// destination), trust any forwarded
address, allow notifications into the hospital network, or raise the upload limit without bound.
"""

from __future__ import annotations

import pytest

from canary.settings import get_setting
from canary.store import open_db

REFUSED = {
    "sweep.dask_scheduler": "tcp://203.0.113.7:8786",
    "tripwire.trusted_proxies": ["0.0.0.0/0"],
    "web.trusted_proxies": ["0.0.0.0/0"],
    "alert.allow_private_targets": True,
    "alert.allowed_target_cidrs": ["10.0.0.0/8"],
    "alert.jsonl_folder": "/",
    "web.upload_max_mb": 100000,
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_the_api_refuses_host_only_settings_with_a_clear_message(api, db_path, name):
    client, headers = api
    answer = client.put(f"/api/v1/settings/{name}", json={"value": REFUSED[name]}, headers=headers["admin"])
    assert answer.status_code == 400
    assert "canary config set" in answer.get_json()["error"] and name in answer.get_json()["error"]
    db = open_db(db_path)
    assert db.execute("SELECT COUNT(*) FROM settings WHERE key = ?", [name]).fetchone()[0] == 0  # nothing written
    db.close()


def test_the_console_refuses_them_too_and_shows_them_locked(sign_in, db_path):
    client = sign_in("admin")
    answer = client.post("/settings/sweep.dask_scheduler", data={"csrf": "test-form-token",
                                                                 "value": "tcp://203.0.113.7:8786"},
                         follow_redirects=True)
    assert "canary config set" in answer.get_data(as_text=True)
    db = open_db(db_path)
    assert get_setting(db, "sweep.dask_scheduler") == ""
    db.close()
    page = client.get("/settings").get_data(as_text=True)
    assert "hôte" in page or "host" in page


def test_an_upload_limit_within_the_ceiling_and_other_settings_still_change(api):
    client, headers = api
    assert client.put("/api/v1/settings/web.upload_max_mb", json={"value": 200},
                      headers=headers["admin"]).status_code == 200
    assert client.put("/api/v1/settings/alert.window_seconds", json={"value": 600},
                      headers=headers["admin"]).status_code == 200


def test_jsonl_destinations_from_the_api_stay_in_the_configured_folder(api, cli, tmp_path):
    client, headers = api
    outside = client.post("/api/v1/notify", json={"url": f"jsonl://{tmp_path}/alerts.jsonl"}, headers=headers["admin"])
    assert outside.status_code == 400 and "alert.jsonl_folder" in outside.get_json()["error"]
    folder = tmp_path / "alerts"
    folder.mkdir()
    assert cli("config", "set", "alert.jsonl_folder", str(folder)).exit_code == 0
    inside = client.post("/api/v1/notify", json={"url": f"jsonl://{folder}/alerts.jsonl"}, headers=headers["admin"])
    assert inside.status_code == 201, inside.get_json()
    escape = client.post("/api/v1/notify", json={"url": f"jsonl://{folder}/../escape.jsonl"},
                         headers=headers["admin"])
    assert escape.status_code == 400
    # From the host, any path the service may write.
    assert cli("notify", "add", f"jsonl://{tmp_path}/host.jsonl").exit_code == 0
