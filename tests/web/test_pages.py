"""The console's pages on a real registry, through the Flask test client."""

from __future__ import annotations

import re

import pytest
import requests

from canary.alert.correlate import correlate_all
from canary.generate.seeding import derive_token
from canary.store import open_db
from canary.store.events import record_event
from canary.store.registry import add_canaries, add_system
from tests.support.accounts import audited_changes
from tests.support.records import make_record
from tests.support.wait import wait_for

FORM = {"csrf": "test-form-token"}


@pytest.fixture
def registry(app, db_path):
    """Three systems: one with an open alert, one whose planting failed, one never planted."""
    db = open_db(db_path)
    add_system(db, "lab-vienne", "lab", establishment="CH de Vienne")
    add_system(db, "pacs-nord", "other", establishment="Clinique du Nord")
    add_canaries(db, [{"id": f"cnr{i:05d}", "system": system, "generation": 1, "created_at": "2026-01-01T00:00:00Z",
                       "token": derive_token("k", f"cnr{i:05d}"), **make_record(i)}
                      for i, system in enumerate(["ehr-mediboard", "lab-vienne", "pacs-nord", "ehr-mediboard"])])
    db.execute("INSERT INTO plantings (canary_id, system, channel, target, state, planned_at, updated_at, error) "
               "VALUES ('cnr00001', 'lab-vienne', 'file', 'file:///srv/x.csv', 'failed', 'x', 'x', 'disk full')")
    record_event(db, channel="http", canary_id="cnr00000", severity="high", source="198.51.100.7",
                 details={"group": "tripwire:http:cnr00000", "user_agent": "curl/8"})
    correlate_all(db)
    db.close()
    return db_path


def test_overview_puts_open_alerts_and_troubled_systems_first(registry, sign_in):
    page = sign_in("viewer").get("/?lang=en").get_data(as_text=True)
    table = page[page.index('id="systems"'):]
    order = [name for name in re.findall(r"<td>([a-z-]+)</td><td>(?:EHR|laboratory \(LIS\)|other)</td>", table)]
    assert order == ["ehr-mediboard", "lab-vienne", "pacs-nord"]
    assert "alert open" in table and "plantings failed" in table and "never planted" in table
    assert 'id="alert-1"' in page and "<svg" in page and "1 events" in page
    assert "cdn" not in page.lower() and "<script" not in page


def test_an_alerts_page_reads_and_never_correlates(registry, db_path, sign_in):
    db = open_db(db_path)
    record_event(db, channel="dns", canary_id="cnr00002", severity="high", source="x", details={"group": "dns:2"})
    db.close()
    assert sign_in("viewer").get("/alerts").status_code == 200
    db = open_db(db_path)
    assert db.execute("SELECT COUNT(*) FROM alerts").fetchone()[0] == 1  # the new event waits for the worker
    db.close()


def test_an_analyst_acknowledges_from_the_story_with_a_note(registry, db_path, sign_in):
    client = sign_in("analyst")
    story = client.get("/alerts/1?lang=fr").get_data(as_text=True)
    assert "Histoire de l&#39;alerte" in story and "198.51.100.7" in story and "curl/8" in story
    resp = client.post("/alerts/1/ack", data=FORM | {"note": "pris par l'astreinte", "back": "story"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/alerts/1")
    again = client.get("/alerts/1?lang=en").get_data(as_text=True)
    assert "acknowledged" in again and "pris par l&#39;astreinte" in again
    refused = client.post("/alerts/1/ack", data=FORM, follow_redirects=True).get_data(as_text=True)
    assert "only an open alert can be acknowledged" in refused  # one flashed line, nothing changed
    db = open_db(db_path)
    assert [(e["action"], e["who"], e["via"]) for e in audited_changes(db)] == [("alert.ack", "anna", "console")]
    db.close()


def test_a_viewer_sees_that_a_canary_exists_but_not_what_it_holds(registry, sign_in):
    nir = make_record(0)["nir"]
    viewer = sign_in("viewer").get("/canaries/cnr00000").get_data(as_text=True)
    assert "cnr00000" in viewer and nir not in viewer and "record.json" not in viewer
    analyst = sign_in("analyst")
    page = analyst.get("/canaries/cnr00000").get_data(as_text=True)
    assert nir in page and "record.json" in page and "198.51.100.7" in page or "http" in page
    download = analyst.get("/canaries/cnr00000/record.json")
    assert download.get_json()["nir"] == nir and "attachment" in download.headers["Content-Disposition"]


def test_canaries_are_searched_by_id_or_system_and_paged(registry, sign_in):
    client = sign_in("viewer")
    by_system = client.get("/canaries?system=ehr-mediboard").get_data(as_text=True)
    assert re.findall(r">(cnr\d+)</a>", by_system) == ["cnr00000", "cnr00003"]
    by_id = client.get("/canaries?id=cnr00002").get_data(as_text=True)
    assert re.findall(r">(cnr\d+)</a>", by_id) == ["cnr00002"]
    first = client.get("/canaries?limit=2").get_data(as_text=True)
    assert re.findall(r">(cnr\d+)</a>", first) == ["cnr00000", "cnr00001"]
    older = re.search(r'class="older" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    assert re.findall(r">(cnr\d+)</a>", client.get(older).get_data(as_text=True)) == ["cnr00002", "cnr00003"]
    # A real-looking value is no search key: typed in the id box it finds nothing.
    by_nir = client.get(f"/canaries?id={make_record(0)['nir']}").get_data(as_text=True)
    assert re.findall(r">(cnr\d+)</a>", by_nir) == []


def test_an_admin_adds_a_system_and_bad_input_loses_nothing(registry, db_path, sign_in):
    client = sign_in("admin")
    bad = client.post("/systems", data=FORM | {"name": "Bad Name!", "kind": "ehr"}, follow_redirects=True)
    assert "invalid system name" in bad.get_data(as_text=True)
    good = client.post("/systems?lang=en", data=FORM | {"name": "dpi-sud", "kind": "ehr", "finess": "690000880"},
                       follow_redirects=True)
    assert "System added." in good.get_data(as_text=True) and "dpi-sud" in good.get_data(as_text=True)
    db = open_db(db_path)
    assert db.execute("SELECT COUNT(*) FROM systems").fetchone()[0] == 4
    assert [e["action"] for e in audited_changes(db)] == ["system.add"]
    db.close()


def test_planting_needs_a_confirmation_and_a_new_target_needs_an_admin(registry, db_path, sign_in, tmp_path):
    target = (tmp_path / "export.csv").as_uri()
    analyst = sign_in("analyst")
    unconfirmed = analyst.post("/systems/pacs-nord/plant?lang=en", data=FORM | {"target": target},
                               follow_redirects=True).get_data(as_text=True)
    assert "Tick the confirmation" in unconfirmed
    refused = analyst.post("/systems/pacs-nord/plant", data=FORM | {"target": target, "confirm": "yes"},
                           follow_redirects=True).get_data(as_text=True)
    assert "an admin plants there first" in refused and not (tmp_path / "export.csv").exists()
    done = sign_in("admin").post("/systems/pacs-nord/plant?lang=en", data=FORM | {"target": target, "confirm": "yes"},
                                 follow_redirects=True).get_data(as_text=True)
    assert "1 planted" in done and (tmp_path / "export.csv").exists()
    again = analyst.post("/systems/pacs-nord/plant?lang=en", data=FORM | {"target": target, "confirm": "yes"},
                         follow_redirects=True).get_data(as_text=True)
    assert "0 planted, 1 already there" in again


def test_settings_show_every_setting_with_its_source(registry, db_path, sign_in, monkeypatch):
    from canary.settings import all_settings, set_setting

    db = open_db(db_path)
    set_setting(db, "alert.window_seconds", "600")
    db.close()
    monkeypatch.setenv("CANARY_ALERT_RATE_PER_MINUTE", "30")
    page = sign_in("admin").get("/settings?lang=en").get_data(as_text=True)
    for name in all_settings():
        assert f"<code>{name}</code>" in page
    cells = r"<code>([^<]+)</code>(?:</label>)?</td><td>[^<]*</td><td>([a-z]+)</td>"
    row = {m.group(1): m.group(2) for m in re.finditer(cells, page)}
    assert row["alert.window_seconds"] == "registry" and row["alert.rate_per_minute"] == "environment"
    assert row["alert.lease_seconds"] == "default"
    assert "(set)" in page or "(unset)" in page  # secrets never shown


def test_the_callback_listener_serves_neither_console_nor_api(served_urls, db_path):
    from canary.web.tokens import create_token

    db = open_db(db_path)
    _, secret = create_token(db, "soar", "admin", "test")
    db.close()
    console, callback = served_urls["console"], served_urls["callback"]
    bearer = {"Authorization": f"Bearer {secret}"}
    assert requests.get(console + "/api/v1/systems", headers=bearer, timeout=10).status_code == 200
    for path in ("/api/v1/systems", "/api/v1/openapi.json", "/auth/login", "/alerts", "/audit", "/settings"):
        resp = requests.get(callback + path, headers=bearer, timeout=10, allow_redirects=False)
        assert "application/json" not in resp.headers.get("Content-Type", ""), path
        # The portal decoy answers, never the console: no system name, no console title, no API JSON.
        assert b"ehr-mediboard" not in resp.content and "Canary —".encode() not in resp.content, path
        assert b"openapi" not in resp.content, path


def test_watch_sources_show_counters_errors_and_tripwire_activity(registry, db_path, sign_in):
    from canary.watch.accesslog.sources import add_source

    db = open_db(db_path)
    add_source(db, "ehr-mediboard", "syslog+udp://127.0.0.1:5514", "mediboard", name="dpi-syslog")
    db.execute("UPDATE accesslog_sources SET lines = 1200, malformed = 3, last_error = 'bad <line>' "
               "WHERE name = 'dpi-syslog'")
    db.execute("INSERT INTO tripwire_imap_state VALUES ('boite@mail.example.fr', 1, 7, '2026-01-01T00:00:00Z')")
    db.execute("INSERT INTO accesslog_allow_rules (system, account, owner, reason, expires_at, created_at) "
               "VALUES ('ehr-mediboard', 'svc-backup', 'DSI', 'sauvegarde nocturne', '2999-01-01T00:00:00Z', 'x')")
    db.close()
    page = sign_in("viewer").get("/watch?lang=en").get_data(as_text=True)
    assert "dpi-syslog" in page and "1200" in page and "bad &lt;line&gt;" in page
    assert "svc-backup" in page and "sauvegarde nocturne" in page
    http_row = re.search(r"<td>http</td><td>([^<]+)</td><td>(\d+)</td>", page)
    assert http_row and http_row.group(1) != "—" and http_row.group(2) == "1"
    assert "boite@mail.example.fr" not in page  # a polled mailbox is a canary address
    assert "boite@mail.example.fr" in sign_in("analyst").get("/watch").get_data(as_text=True)


def test_an_admin_adds_and_removes_a_notification_target(registry, db_path, sign_in):
    client = sign_in("admin")
    nothing = client.post("/notify/test?lang=en", data=FORM, follow_redirects=True).get_data(as_text=True)
    assert "No destination." in nothing
    # A loopback webhook: refused by the SSRF check unless private targets are allowed, one line, nothing kept.
    refused = client.post("/notify?lang=en", data=FORM | {"url": "jsons://127.0.0.1:9/hook"},
                          follow_redirects=True).get_data(as_text=True)
    assert 'role="alert"' in refused
    db = open_db(db_path)
    assert db.execute("SELECT COUNT(*) FROM alert_destinations").fetchone()[0] == 0
    from canary.settings import set_setting

    set_setting(db, "alert.allow_private_targets", "true")
    db.close()
    added = client.post("/notify?lang=en", data=FORM | {"url": "hmac://127.0.0.1:9/hook", "min_severity": "high"},
                        follow_redirects=True).get_data(as_text=True)
    assert "HMAC secret (shown once)" in added and "127.0.0.1" in added
    secret = re.search(r"shown once\): (\S+)</p>", added).group(1)
    assert secret not in client.get("/settings").get_data(as_text=True)  # once only
    tested = client.post("/notify/test", data=FORM, follow_redirects=True).get_data(as_text=True)
    assert "#1 hmac://127.0.0.1:9" in tested and 'role="alert"' in tested  # nothing listens on port 9
    unconfirmed = client.post("/notify/1/remove?lang=en", data=FORM, follow_redirects=True).get_data(as_text=True)
    assert "Tick the confirmation" in unconfirmed
    client.post("/notify/1/remove", data=FORM | {"confirm": "yes"})
    db = open_db(db_path)
    assert db.execute("SELECT COUNT(*) FROM alert_destinations").fetchone()[0] == 0
    assert [e["action"] for e in audited_changes(db)] == ["notify.remove", "notify.test", "notify.add", "notify.test"]
    db.close()


def test_an_analyst_retires_a_systems_plantings_with_a_confirmation(registry, db_path, sign_in, tmp_path):
    target = tmp_path / "export.csv"
    sign_in("admin").post("/systems/pacs-nord/plant", data=FORM | {"target": target.as_uri(), "confirm": "yes"})
    assert "cnr" not in target.read_text() and target.read_text().count("\n") >= 2
    analyst = sign_in("analyst")
    assert "Tick the confirmation" in analyst.post("/systems/pacs-nord/retire?lang=en", data=FORM,
                                                   follow_redirects=True).get_data(as_text=True)
    done = analyst.post("/systems/pacs-nord/retire?lang=en", data=FORM | {"confirm": "yes"},
                        follow_redirects=True).get_data(as_text=True)
    assert "1 retired, 0 failed." in done
    db = open_db(db_path)
    assert db.execute("SELECT state FROM plantings WHERE system = 'pacs-nord'").fetchone()[0] == "retired"
    db.close()


def test_an_uploaded_file_is_scanned_in_a_worker_and_never_kept(registry, db_path, sign_in, tmp_path, monkeypatch):
    import io
    import tempfile

    server_tmp = tmp_path / "server-tmp"
    server_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(server_tmp))  # where the console keeps the upload meanwhile

    record = make_record(2)
    dump = (f"nir;nom;prenom;naissance;ville\n{record['nir']};{record['birth_name']};{record['first_names'][0]};"
            f"{record['birth_date']};Lyon\n").encode()
    client = sign_in("analyst")
    resp = client.post("/scan?lang=en", data=FORM | {"file": (io.BytesIO(dump), "../../etc/<b>dump</b>.csv")},
                       content_type="multipart/form-data", follow_redirects=True)
    assert "Scan started" in resp.get_data(as_text=True)

    def finished():
        db = open_db(db_path)
        row = db.execute("SELECT id, status, sources FROM sweeps WHERE feed = 'upload'").fetchone()
        db.close()
        return row if row and row[1] != "running" else None

    sweep_id, status, sources = wait_for(finished)
    assert status == "ok"
    # Named by its sanitised name (no path from the client's file name is followed), never by the server's
    # temporary folder, which is deleted once scanned.
    assert __import__("json").loads(sources) == ["etc_bdump_b.csv"]
    wait_for(lambda: not list(server_tmp.iterdir()))
    db = open_db(db_path)
    found = db.execute("SELECT canary_id FROM sweep_findings WHERE sweep_id = ?", [sweep_id]).fetchall()
    audit = [(e["action"], e["details"]["file"]) for e in audited_changes(db)]
    db.close()
    assert found == [("cnr00002",)] and audit == [("scan.upload", "etc_bdump_b.csv")]
    sweeps = client.get("/sweeps").get_data(as_text=True)
    assert "etc_bdump_b.csv" in sweeps


def test_an_upload_over_the_limit_is_refused_before_it_is_stored(registry, db_path):
    from canary.settings import set_setting
    from canary.web import create_app
    from tests.support.accounts import PASSWORD

    db = open_db(db_path)
    set_setting(db, "web.upload_max_mb", "1")
    db.close()
    client = create_app({"DATABASE": str(db_path), "TESTING": True}).test_client()
    client.post("/auth/login", data={"username": "anna", "password": PASSWORD})
    with client.session_transaction() as session:
        session["csrf"] = "test-form-token"
    import io

    resp = client.post("/scan", data=FORM | {"file": (io.BytesIO(b"x" * (2 * 1024 * 1024)), "big.csv")},
                       content_type="multipart/form-data")
    assert resp.status_code == 413
    db = open_db(db_path)
    assert db.execute("SELECT COUNT(*) FROM sweeps").fetchone()[0] == 0
    db.close()


def test_an_admin_edits_a_systems_establishment_and_finess(registry, db_path, sign_in):
    client = sign_in("admin")
    bad = client.post("/systems/lab-vienne", data=FORM | {"establishment": "CH Lucien Hussel", "finess": "12"},
                      follow_redirects=True).get_data(as_text=True)
    assert "invalid FINESS" in bad
    ok = client.post("/systems/lab-vienne?lang=en", data=FORM | {"establishment": "CH Lucien Hussel",
                                                                  "finess": "380780080"}, follow_redirects=True)
    assert "System saved." in ok.get_data(as_text=True)
    db = open_db(db_path)
    assert db.execute("SELECT establishment, finess FROM systems WHERE name = 'lab-vienne'").fetchone() == (
        "CH Lucien Hussel", "380780080")
    assert [e["action"] for e in audited_changes(db)] == ["system.edit"]
    db.close()


def test_an_analyst_downloads_the_canarys_documents_and_sees_its_markers(registry, db_path, sign_in):
    from canary.settings import set_setting

    db = open_db(db_path)
    set_setting(db, "tripwire.base_url", "https://portail-patient.example.fr")
    db.close()
    analyst = sign_in("analyst")
    page = analyst.get("/canaries/cnr00000").get_data(as_text=True)
    assert make_record(0)["nir"] in page[page.index('id="markers"'):]
    pdf = analyst.get("/canaries/cnr00000/document.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    assert "attachment" in pdf.headers["Content-Disposition"]
    docx = analyst.get("/canaries/cnr00000/document.docx?kind=ordonnance")
    assert docx.data.startswith(b"PK") and "ordonnance-cnr00000.docx" in docx.headers["Content-Disposition"]
    assert analyst.get("/canaries/cnr00000/document.docx?kind=nope", follow_redirects=True).status_code == 200
    assert sign_in("viewer").get("/canaries/cnr00000/document.pdf").status_code == 403


def test_a_feed_added_in_the_console_is_not_started_twice(registry, db_path, sign_in, tmp_path):
    admin = sign_in("admin")
    bad = admin.post("/feeds?lang=en", data=FORM | {"name": "dumps", "source": str(tmp_path / "nowhere")},
                     follow_redirects=True).get_data(as_text=True)
    assert "does not exist" in bad
    added = admin.post("/feeds?lang=en", data=FORM | {"name": "dumps", "source": str(tmp_path), "schedule": "daily"},
                       follow_redirects=True).get_data(as_text=True)
    assert "Feed added." in added and str(tmp_path) in added
    db = open_db(db_path)
    db.execute("INSERT INTO sweeps (feed, sources, started_at, status) VALUES ('dumps', '[]', 'x', 'running')")
    db.close()
    page = sign_in("analyst").post("/feeds/dumps/run", data=FORM, follow_redirects=True).get_data(as_text=True)
    assert "dumps: 1 scan(s) still running" in page


def test_an_analyst_reads_a_systems_stealth_figures(registry, db_path, sign_in):
    db = open_db(db_path)
    add_canaries(db, [{"id": "odd00001", "system": "pacs-nord", "generation": 1, "created_at": "2026-01-01T00:00:00Z",
                       "token": derive_token("k", "odd00001"),
                       **make_record(9, birth_date="1890-01-01")}])
    db.close()
    page = sign_in("analyst").get("/systems/pacs-nord/stealth?lang=en").get_data(as_text=True)
    assert "Canaries checked: 2 / 2" in page and "odd00001" in page
    assert sign_in("viewer").get("/systems/pacs-nord/stealth").status_code == 403
    assert sign_in("analyst").get("/systems/nowhere/stealth").status_code == 404


def test_an_admin_manages_tokens_and_accounts_in_the_console(registry, db_path, sign_in, client):
    from tests.support.accounts import PASSWORD

    admin = sign_in("admin")
    made = admin.post("/tokens?lang=en", data=FORM | {"name": "siem", "role": "viewer", "days": "30"},
                      follow_redirects=True).get_data(as_text=True)
    secret = re.search(r"secret shown once: (cnry_\S+)</p>", made).group(1)
    assert secret not in admin.get("/settings").get_data(as_text=True)
    assert client.get("/api/v1/systems", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    bad = admin.post("/tokens?lang=en", data=FORM | {"name": "x", "role": "viewer", "days": "soon"},
                     follow_redirects=True).get_data(as_text=True)
    assert "number of days" in bad
    admin.post("/tokens/1/revoke", data=FORM)
    assert client.get("/api/v1/systems", headers={"Authorization": f"Bearer {secret}"}).status_code == 401

    analyst = sign_in("analyst")
    assert analyst.get("/alerts").status_code == 200
    done = admin.post("/users/anna?lang=en", data=FORM | {"role": "viewer"}, follow_redirects=True)
    assert "Account saved." in done.get_data(as_text=True)
    assert analyst.post("/alerts/1/ack", data=FORM).status_code == 403  # the new role applies at once
    admin.post("/users/anna", data=FORM | {"role": "viewer", "state": "disable"})
    assert analyst.get("/alerts").status_code == 302  # her session ended
    assert client.post("/auth/login", data={"username": "anna", "password": PASSWORD}).status_code == 401
    own = admin.post("/users/rssi", data=FORM | {"role": "viewer"}, follow_redirects=True).get_data(as_text=True)
    assert "change your own account from the CLI" in own
    db = open_db(db_path)
    assert [e["action"] for e in audited_changes(db)][:4] == ["user.disable", "user.role", "user.role", "token.revoke"]
    db.close()


def test_every_page_says_the_registry_was_restored_and_how_old_its_backup_was(registry, db_path, sign_in):
    from canary.store.restores import record_restore, stamp_backup

    db = open_db(db_path)
    try:
        stamp_backup(db.conn)  # as a backup image would carry it
        db.conn.commit()
        record_restore(db, "/srv/backup/canary.bak")
    finally:
        db.close()
    page = sign_in("admin").get("/alerts?lang=en").get_data(as_text=True)
    assert re.search(r"restored from a backup of 20\d\d-\d\d-\d\dT[\d:.]+Z; events and alerts after it are gone",
                     page)
