"""A system's page: plantings, rotate and per-planting retire with a confirmation, the planner's figures."""

from __future__ import annotations

import html
import json

import pytest

from canary.store.registry import edit_system
from tests.support.accounts import audited_changes

FORM = {"csrf": "test-form-token"}
PAYLOAD = '<script>document.title="pwned"</script>'


@pytest.fixture
def planted(db, add_hand_canaries, sign_in, tmp_path):
    """ehr-mediboard with two hand-made canaries planted into a file by an admin; returns the file."""
    add_hand_canaries("ehr-mediboard", count=2)
    target = tmp_path / "export.csv"
    done = sign_in("admin").post("/systems/ehr-mediboard/plant?lang=en",
                                 data=FORM | {"target": target.as_uri(), "confirm": "yes"},
                                 follow_redirects=True).get_data(as_text=True)
    assert "2 planted" in done
    return target


@pytest.fixture
def api_admin(app, db):
    from canary.web.tokens import create_token

    return app.test_client(), {"Authorization": f"Bearer {create_token(db, 'ops', 'admin', 'test')[1]}"}


def _plantings(db) -> dict[int, str]:
    return dict(db.execute("SELECT id, state FROM plantings ORDER BY id").fetchall())


def _actions(db) -> list[str]:
    return [entry["action"] for entry in audited_changes(db)]


def test_a_viewer_reads_a_system_page_without_forms_or_figures(planted, sign_in):
    page = sign_in("viewer").get("/systems/ehr-mediboard?lang=en").get_data(as_text=True)
    assert "System ehr-mediboard" in page and 'id="plantings"' in page and "hand000000" in page
    assert 'id="rotate"' not in page and "retire-one" not in page and 'id="figures"' not in page
    assert sign_in("viewer").get("/systems/nowhere").status_code == 404


def test_retiring_one_planting_needs_its_confirmation(planted, db, sign_in):
    analyst = sign_in("analyst")
    first, second = _plantings(db)
    page = analyst.get("/systems/ehr-mediboard?lang=en").get_data(as_text=True)
    assert page.count('class="inline retire-one"') == 2
    unconfirmed = analyst.post(f"/plantings/{first}/retire?lang=en", data=FORM,
                               follow_redirects=True).get_data(as_text=True)
    assert "Tick the confirmation first: nothing was done." in unconfirmed
    assert _plantings(db) == {first: "planted", second: "planted"} and "retire" not in _actions(db)
    assert analyst.post(f"/plantings/{first}/retire", data={"confirm": "yes"}).status_code == 400  # no CSRF token
    done = analyst.post(f"/plantings/{first}/retire?lang=en", data=FORM | {"confirm": "yes", "back": "canary"})
    assert done.status_code == 302 and done.headers["Location"].endswith("/canaries/hand000000")
    shown = analyst.get(done.headers["Location"]).get_data(as_text=True)
    assert "1 retired, 0 failed." in shown
    assert shown.count('class="inline retire-one"') == 0  # its only planting is retired: nothing left to retire
    assert _plantings(db) == {first: "retired", second: "planted"}
    assert planted.read_text().count("\n") == 2  # the header and the other canary's line stay
    (entry,) = [e for e in audited_changes(db) if e["action"] == "retire"]
    assert (entry["who"], entry["via"], entry["target"]) == ("anna", "console", f"planting:{first}")
    again = analyst.post(f"/plantings/{first}/retire?lang=en", data=FORM | {"confirm": "yes"},
                         follow_redirects=True).get_data(as_text=True)
    assert "already retired" in again
    assert analyst.post("/plantings/999/retire", data=FORM | {"confirm": "yes"}).status_code == 404
    assert sign_in("viewer").post(f"/plantings/{second}/retire", data=FORM | {"confirm": "yes"}).status_code == 403


def test_an_analyst_rotates_a_system_with_a_confirmation(planted, db, sign_in):
    analyst = sign_in("analyst")
    page = analyst.get("/systems/ehr-mediboard?lang=en").get_data(as_text=True)
    assert 'id="rotate"' in page
    unconfirmed = analyst.post("/systems/ehr-mediboard/rotate?lang=en", data=FORM | {"count": "2"},
                               follow_redirects=True).get_data(as_text=True)
    assert "Tick the confirmation first" in unconfirmed
    bad = analyst.post("/systems/ehr-mediboard/rotate?lang=en", data=FORM | {"count": "two", "confirm": "yes"},
                       follow_redirects=True).get_data(as_text=True)
    assert "The number of canaries (and the seed) are whole numbers." in bad
    assert db.execute("SELECT COUNT(*) FROM canaries").fetchone()[0] == 2 and "rotate" not in _actions(db)
    done = analyst.post("/systems/ehr-mediboard/rotate?lang=fr", data=FORM | {"count": "2", "seed": "5",
                                                                              "confirm": "yes"},
                        follow_redirects=True).get_data(as_text=True)
    assert "Génération 2 : 2 canaris ; 2 plantations retirées, 0 en échec." in done
    generations = dict(db.execute("SELECT generation, COUNT(*) FROM canaries GROUP BY generation").fetchall())
    assert generations == {1: 2, 2: 2}
    live = db.execute("SELECT c.generation FROM plantings p JOIN canaries c ON c.id = p.canary_id "
                      "WHERE p.state = 'planted'").fetchall()
    assert live == [(2,), (2,)]
    (entry,) = [e for e in audited_changes(db) if e["action"] == "rotate"]
    assert entry["who"] == "anna" and entry["details"]["generation"] == 2
    assert sign_in("viewer").post("/systems/ehr-mediboard/rotate", data=FORM | {"count": "1", "confirm": "yes"}
                                  ).status_code == 403


def test_the_planners_figures_show_on_the_system_page_for_analysts(planted, db, sign_in, cli):
    analyst = sign_in("analyst")
    unknown = analyst.get("/systems/ehr-mediboard?lang=en").get_data(as_text=True)
    assert 'id="figures"' in unknown and "Figures unavailable: patient count unknown" in unknown
    edit_system(db, "ehr-mediboard", patients=120_000)
    page = analyst.get("/systems/ehr-mediboard?lang=en").get_data(as_text=True)
    assert 'id="plan-filters"' in page and "Stealth budget" in page
    # The figures of `canary plan` (the national mix: the system has no place).
    result = cli("plan", "ehr-mediboard", "--json")
    assert result.exit_code == 0, result.output
    plan = json.loads(result.output)
    assert "Site: none (national mix)" in page and f"Stealth budget: {plan['stealth_budget']}" in page
    chance = f"{plan['sample_chance'] * 100:.1f} %"
    assert f"Chance that a published sample of 1000 records holds a canary: {chance}" in page
    for row in plan["filters"]:
        assert f"<td>{row['name']}</td>" in html.unescape(page) and row["note"] in html.unescape(page)
    french = analyst.get("/systems/ehr-mediboard?lang=fr").get_data(as_text=True)
    assert "Budget de discrétion" in french and "aucun (répartition nationale)" in french


def test_peer_text_on_the_system_page_stays_text(planted, db, sign_in):
    edit_system(db, "ehr-mediboard", notes=PAYLOAD)
    db.execute("UPDATE plantings SET error = ? WHERE id = (SELECT MIN(id) FROM plantings)", [PAYLOAD])
    page = sign_in("analyst").get("/systems/ehr-mediboard").get_data(as_text=True)
    assert PAYLOAD not in page and html.escape(PAYLOAD, quote=False) in page.replace("&#34;", '"')


def test_the_systems_list_links_each_system_to_its_page(planted, sign_in):
    page = sign_in("viewer").get("/systems").get_data(as_text=True)
    assert 'href="/systems/ehr-mediboard"' in page and 'href="/canaries?system=ehr-mediboard"' in page


def test_the_system_page_is_paged(planted, db, sign_in):
    first, second = _plantings(db)
    page = sign_in("viewer").get("/systems/ehr-mediboard?limit=1").get_data(as_text=True)
    assert ">hand000001</a>" in page and ">hand000000</a>" not in page and f"before={second}" in page
    older = sign_in("viewer").get(f"/systems/ehr-mediboard?limit=1&before={second}").get_data(as_text=True)
    assert ">hand000000</a>" in older and "before=" not in older and first < second


def test_an_admin_sets_a_systems_size_so_the_figures_can_be_computed(planted, db, sign_in, api_admin):
    admin = sign_in("admin")
    bad = admin.post("/systems/ehr-mediboard?lang=en", data=FORM | {"establishment": "CH", "patients": "beaucoup",
                                                                     "back": "system"}, follow_redirects=True)
    assert "The number of patients is a whole number" in bad.get_data(as_text=True)
    assert db.execute("SELECT establishment, patients FROM systems WHERE name = 'ehr-mediboard'").fetchone() == (
        "Clinique des Lilas", None)
    done = admin.post("/systems/ehr-mediboard?lang=en", data=FORM | {"establishment": "Clinique des Lilas",
                                                                      "patients": "80000", "back": "system"})
    assert done.headers["Location"].endswith("/systems/ehr-mediboard")
    page = admin.get("/systems/ehr-mediboard?lang=en").get_data(as_text=True)
    assert 'id="plan-filters"' in page and "Patients: 80000" in page
    (entry,) = [e for e in audited_changes(db) if e["action"] == "system.edit"]
    assert entry["details"]["patients"] == 80000
    client, header = api_admin
    resp = client.put("/api/v1/systems/ehr-mediboard", json={"patients": 0}, headers=header)
    assert resp.status_code == 400 and db.execute("SELECT patients FROM systems").fetchall() == [(80000,)]
    kept = client.put("/api/v1/systems/ehr-mediboard", json={"establishment": "CH des Lilas"}, headers=header)
    assert kept.status_code == 200 and kept.get_json()["patients"] == 80000


def test_an_admin_seeds_from_the_system_page_with_the_clis_warnings(db, sign_in):
    admin = sign_in("admin")
    page = admin.get("/systems/ehr-mediboard?lang=en").get_data(as_text=True)
    assert 'id="seed"' in page and 'id="seed"' not in sign_in("analyst").get("/systems/ehr-mediboard").get_data(
        as_text=True)
    bad = admin.post("/systems/ehr-mediboard/seed?lang=en", data=FORM | {"count": "0"},
                     follow_redirects=True).get_data(as_text=True)
    assert "count must be between 1 and 100000" in bad
    done = admin.post("/systems/ehr-mediboard/seed?lang=fr", data=FORM | {"count": "2", "seed": "4"},
                      follow_redirects=True).get_data(as_text=True)
    assert "2 canaris générés (génération 1)." in done and "pool.phones" in done
    assert db.execute("SELECT COUNT(*) FROM canaries WHERE system = 'ehr-mediboard'").fetchone()[0] == 2
    assert [e["action"] for e in audited_changes(db)] == ["seed"]
    assert sign_in("analyst").post("/systems/ehr-mediboard/seed", data=FORM | {"count": "1"}).status_code == 403
    assert admin.post("/systems/nowhere/seed", data=FORM | {"count": "1"}).status_code == 404


def test_the_self_audit_shows_on_the_system_page_for_analysts(planted, db, sign_in):
    from canary.generate.self_audit import save_audit

    analyst = sign_in("analyst")
    page = analyst.get("/systems/ehr-mediboard?lang=en").get_data(as_text=True)
    assert 'id="self-audit"' in page and "No self-audit yet" in html.unescape(page)
    save_audit(db, "ehr-mediboard", {
        "auc": 0.912, "auc_ci": [0.89, 0.93], "auc_threshold": 0.55, "threshold": 0.05, "trial": 1000,
        "rows": 200000, "per_side": 1000, "built_on": "2026-11-28",
        "unchecked": ["birth place (no birth-place column)"],
        "features": [{"name": "surname frequency in the dump", "importance": 0.21}],
        "filters": [{"name": "surname frequency in the dump", "split": "<= 0.6931", "canaries_flagged": 0.4,
                     "patients_flagged": 0.19, "noise": 0.02, "advantage": 0.19, "exceeds": True},
                    {"name": "sex", "split": "<= 0", "canaries_flagged": 0.5, "patients_flagged": 0.5,
                     "noise": 0.02, "advantage": 0.0, "exceeds": False}],
        "raw_rows": ["MUST NOT BE STORED"]})
    page = html.unescape(analyst.get("/systems/ehr-mediboard?lang=en").get_data(as_text=True))
    assert "Classifier AUC (" in page and ": 0.912 (0.890–0.930; target ≤ 0.55)" in page
    assert "Carried by: surname frequency in the dump (0.21)" in page and 'id="audit-filters"' in page
    assert "<td>surname frequency in the dump</td><td><= 0.6931</td>" in page and "<td>sex</td>" not in page
    assert "Not checked: birth place (no birth-place column)" in page
    assert "MUST NOT BE STORED" not in json.dumps(db.execute("SELECT audit FROM generate_audits").fetchall())
    french = html.unescape(analyst.get("/systems/ehr-mediboard?lang=fr").get_data(as_text=True))
    assert "Auto-contrôle (test du classifieur)" in french and "AUC du classifieur" in french
    viewer = sign_in("viewer").get("/systems/ehr-mediboard?lang=en").get_data(as_text=True)
    assert 'id="self-audit"' not in viewer


def test_the_planners_tables_read_in_the_background_at_serve_start_serve_the_first_page(app, db, sign_in,
                                                                                       add_hand_canaries):
    from canary.web.system_view import PlacesLoading, preload_places, shared_places

    preload_places(app)  # as `serve` does, before any request
    loading = app.extensions["canary.places"]
    assert isinstance(loading, PlacesLoading)
    add_hand_canaries("ehr-mediboard", count=2)
    edit_system(db, "ehr-mediboard", patients=120_000)
    page = sign_in("admin").get("/systems/ehr-mediboard?lang=en").get_data(as_text=True)
    assert 'id="plan-filters"' in page and "Patients: 120000" in page
    # The page used the tables read in the background, not a second copy.
    assert shared_places(app) is loading.result() and loading.result().reference.communes
    preload_places(app)
    assert app.extensions["canary.places"] is loading  # started once per process


def test_the_system_page_leads_with_its_open_alerts_and_watch_sources_and_sets_retire_apart(planted, db, sign_in,
                                                                                          tmp_path):
    from canary.alert.correlate import correlate_all
    from canary.store.events import record_event
    from canary.watch.accesslog.sources import add_source

    record_event(db, channel="http", canary_id="hand000000", severity="high", source="198.51.100.7")
    correlate_all(db)
    add_source(db, "ehr-mediboard", (tmp_path / "audit.log").as_uri(), "regex", name="dpi-audit",
               pattern=r"(?P<time>\S+) (?P<user>\w+) (?P<ipp>\d+)")
    page = sign_in("analyst").get("/systems/ehr-mediboard?lang=en").get_data(as_text=True)
    alerts, sources = page.index('id="system-alerts"'), page.index('id="system-sources"')
    assert alerts < sources < page.index('id="generations"') < page.index('id="plantings"')
    assert "#1" in page[alerts:sources] and "http" in page[alerts:sources]
    assert "dpi-audit" in page[sources:page.index('id="generations"')]
    # destructive actions: in a closed section of their own, after the planner's figures
    zone = page.index('<details class="danger-zone" id="retire-plantings">')
    assert zone > page.index('id="figures"') and page.count('class="inline retire-one"') == 2
    assert 'retire-one' not in page[:zone]


def test_retire_all_is_not_beside_plant_on_the_systems_page(planted, sign_in):
    page = sign_in("analyst").get("/systems?lang=en").get_data(as_text=True)
    table = page[page.index('id="systems"'):page.index("</table>", page.index('id="systems"'))]
    assert "form class=\"inline plant\"" in table and "systems_retire" not in table and "/retire" not in table
    zone = page[page.index('<details class="danger-zone" id="retire-systems">'):]
    assert "/systems/ehr-mediboard/retire" in zone
