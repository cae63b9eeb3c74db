"""An incident in a real headless Chromium, against a real `canary serve`: from an empty system to an
acknowledged alert, in French and in English, with a screenshot of every page as a test artefact.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.parse

import pytest
import requests

from canary.store import open_db
from canary.store.events import record_event
from canary.watch.accesslog.sources import add_source
from tests.support.accounts import PASSWORD, REPO

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.wait import WebDriverWait  # noqa: E402

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
WORDS = {
    "fr": {"systems": "Systèmes", "added": "Système ajouté.", "planted": "3 plantés", "open": "ouverte",
           "acked": "prise en charge", "ack": "Prendre en charge"},
    "en": {"systems": "Systems", "added": "System added.", "planted": "3 planted", "open": "open",
           "acked": "acknowledged", "ack": "Acknowledge"},
}


@pytest.fixture
def browser(tmp_path):
    if not (CHROMIUM and CHROMEDRIVER):
        if os.environ.get("CI"):
            pytest.fail("CI must install chromium and chromium-driver (deploy/system-deps.sh)")
        pytest.skip("chromium and chromedriver are installed by deploy/system-deps.sh")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1280,1000", f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(20)
    driver.implicitly_wait(10)
    yield driver
    driver.quit()


def _canary(db_path, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "canary", "--db", str(db_path), *args], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _sign_in(browser, base: str, lang: str) -> None:
    browser.get(f"{base}/auth/login?lang={lang}")
    browser.find_element(By.NAME, "username").send_keys("rssi")
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "form.login button").click()
    browser.find_element(By.ID, "systems")


def _until(browser, predicate, timeout: float = 15):
    # Polled lookups must not each sit out the implicit wait when nothing is there yet.
    browser.implicitly_wait(0)
    try:
        return WebDriverWait(browser, timeout, ignored_exceptions=(StaleElementReferenceException,)).until(predicate)
    finally:
        browser.implicitly_wait(10)


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_an_incident_from_a_new_system_to_an_acknowledged_alert(browser, served_urls, db_path, tmp_path, lang):
    base, callback = served_urls["console"], served_urls["callback"]
    words = WORDS[lang]
    shots = tmp_path / "screenshots"
    shots.mkdir()

    def shot(name: str) -> None:
        assert browser.save_screenshot(str(shots / f"{lang}-{name}.png"))

    _sign_in(browser, base, lang)
    shot("overview-empty")
    # Add a system in the console.
    browser.find_element(By.LINK_TEXT, words["systems"]).click()
    form = browser.find_element(By.ID, "add-system")
    form.find_element(By.NAME, "name").send_keys("dpi-urgences")
    form.find_element(By.NAME, "establishment").send_keys("CH de Vienne")
    form.find_element(By.CSS_SELECTOR, "button").click()
    _until(browser, lambda b: words["added"] in b.page_source)
    shot("systems")

    # Seed (an administrator's set-up step, from the CLI), callbacks pointing at this serve's listener.
    _canary(db_path, "config", "set", "tripwire.base_url", callback)
    ids = _canary(db_path, "seed", "dpi-urgences", "--count", "3", "--seed", "7").split()
    assert len(ids) == 3

    # Plant to a file target from the console, with its confirmation.
    target = tmp_path / "export" / "patients.csv"
    target.parent.mkdir()
    row = _until(browser, lambda b: [r for r in b.find_elements(By.CSS_SELECTOR, "#systems tr")
                                     if "dpi-urgences" in r.text])[0]
    row.find_element(By.NAME, "target").send_keys(target.as_uri())
    row.find_element(By.NAME, "confirm").click()
    row.find_element(By.CSS_SELECTOR, "form.plant button").click()
    _until(browser, lambda b: words["planted"] in b.page_source)
    assert target.exists() and ids[0] not in target.read_text()  # the file holds records, not our ids
    shot("planted")

    # Someone opens a planted record's link: the canary's callback URL.
    db = open_db(db_path)
    url = json.loads(db.execute("SELECT record FROM canaries WHERE id = ?", [ids[0]]).fetchone()[0])["tokens"]["url"]
    db.close()
    assert url.startswith(callback)
    assert requests.get(url, timeout=10, headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64)"}).status_code == 200

    # The alert appears on the overview (correlated by serve's worker, no page reload magic needed).
    def alert_on_overview(b):
        b.get(f"{base}/")
        found = b.find_elements(By.CSS_SELECTOR, "section.alert")
        return found[0] if found and "dpi-urgences" in found[0].text else False

    section = _until(browser, alert_on_overview, timeout=30)
    assert words["open"] in section.find_element(By.CLASS_NAME, "state").text
    shot("overview-alert")

    # Its story, then acknowledge with a note.
    section.find_element(By.CSS_SELECTOR, "a").click()
    story = browser.find_element(By.ID, "story")
    assert "dpi-urgences" in story.text and "CH de Vienne" in story.text
    assert ids[0] in browser.find_element(By.ID, "story-events").text or "http" in browser.page_source
    shot("story")
    story.find_element(By.NAME, "note").send_keys("poste isolé")
    story.find_element(By.CSS_SELECTOR, "button.ack").click()
    _until(browser, lambda b: words["acked"] in b.find_element(By.CSS_SELECTOR, "#story .state").text)
    shot("story-acknowledged")
    for page in ("events", "canaries", "sweeps", "watch", "settings", "audit"):
        browser.get(f"{base}/{page}")
        browser.find_element(By.TAG_NAME, "h2")
        shot(page)

    db = open_db(db_path)
    state, acked_by, note = db.execute("SELECT state, acked_by, note FROM alerts").fetchone()
    audit = [row[0] for row in db.execute("SELECT action FROM web_audit WHERE via = 'console' AND action NOT IN "
                                          "('sign-in', 'sign-out') ORDER BY id").fetchall()]
    at_the_cli = [row[0] for row in db.execute("SELECT action FROM web_audit WHERE via = 'cli' ORDER BY id")]
    db.close()
    assert (state, acked_by, note) == ("acknowledged", "rssi", "poste isolé")
    assert audit == ["system.add", "plant", "alert.ack"]
    assert at_the_cli == ["setting.set", "seed"]  # the CLI's changes of the same story, in the same log
    assert len(list(shots.glob("*.png"))) == 12


PAYLOADS = ['<script>document.title="pwned"</script>', '"><img src=x onerror="document.title=\'pwned\'">',
            "<svg onload=alert(1)>"]


def test_attacker_text_is_shown_escaped_and_never_runs(browser, served_urls, db_path, tmp_path):
    base, callback = served_urls["console"], served_urls["callback"]
    _canary(db_path, "config", "set", "tripwire.base_url", callback)
    ids = _canary(db_path, "seed", "ehr-mediboard", "--count", "1").split()
    db = open_db(db_path)
    url = json.loads(db.execute("SELECT record FROM canaries WHERE id = ?", [ids[0]]).fetchone()[0])["tokens"]["url"]
    db.close()
    for payload in PAYLOADS:
        requests.get(url + "?" + urllib.parse.urlencode({"q": payload}), headers={"User-Agent": payload}, timeout=10)
    # What other peers write: a DNS name, a mail's subject and sender, an audit-log line and its account,
    # a file name in a dump, an access-log source's error.
    db = open_db(db_path)
    record_event(db, channel="dns", canary_id=ids[0], severity="high", source=PAYLOADS[1],
                 details={"qname": PAYLOADS[0] + ".docs.example.fr", "group": "x:dns"})
    record_event(db, channel="smtp", canary_id=ids[0], severity="high", source="203.0.113.9",
                 details={"subject": PAYLOADS[0], "from": PAYLOADS[1], "group": "x:smtp"})
    record_event(db, channel="access-log", canary_id=ids[0], severity="high", source="dpi", account=PAYLOADS[2],
                 action=PAYLOADS[0], details={"line": PAYLOADS[1], "group": "x:log"})
    db.execute("INSERT INTO sweeps (feed, sources, started_at, status, skipped) VALUES (NULL, ?, 'x', 'ok', ?)",
               [json.dumps([PAYLOADS[1]]), json.dumps([{"file": PAYLOADS[0], "reason": PAYLOADS[2]}])])
    add_source(db, "ehr-mediboard", "syslog+udp://127.0.0.1:5514", "mediboard", name="dpi")
    db.execute("UPDATE accesslog_sources SET last_error = ?", [PAYLOADS[1]])
    db.execute("UPDATE systems SET notes = ? WHERE name = 'ehr-mediboard'", [PAYLOADS[2]])
    last_event = db.execute("SELECT MAX(id) FROM events").fetchone()[0]
    db.close()

    _sign_in(browser, base, "en")
    section = _until(browser, lambda b: b.get(f"{base}/") or b.find_elements(By.CSS_SELECTOR, "section.alert"),
                     timeout=30)[0]
    section.find_element(By.CSS_SELECTOR, "a").click()
    browser.find_element(By.ID, "story")
    pages = {"story": browser.current_url, "events": f"{base}/events", "overview": f"{base}/",
             "alerts": f"{base}/alerts?all=1", "canary": f"{base}/canaries/{ids[0]}", "sweeps": f"{base}/sweeps",
             "watch": f"{base}/watch", "audit": f"{base}/audit", "system": f"{base}/systems/ehr-mediboard"}

    # Wait until serve's worker has folded every event written above into an alert. How many alerts that makes is
    # correlation's business (one canary's channels are one incident within alert.incident_window_seconds),
    # so wait on the events, never on a count of alerts, and look at the story of each alert there is.
    def alert_ids_once_all_folded(_browser):
        db = open_db(db_path)
        try:
            unfolded = db.execute("SELECT COUNT(*) FROM events WHERE id <= ? AND id NOT IN "
                                  "(SELECT event_id FROM alert_events)", [last_event]).fetchone()[0]
            return [] if unfolded else [row[0] for row in db.execute("SELECT id FROM alerts ORDER BY id")]
        finally:
            db.close()

    for alert_id in _until(browser, alert_ids_once_all_folded, timeout=30):
        pages[f"story-{alert_id}"] = f"{base}/alerts/{alert_id}"
    shown: list[str] = []
    for name, page in pages.items():
        browser.get(page)
        browser.find_element(By.TAG_NAME, "h2")
        browser.implicitly_wait(0)  # the lookups below expect nothing: no need to wait for it
        browser.save_screenshot(str(tmp_path / f"escaping-{name}.png"))
        assert browser.title != "pwned", name
        assert browser.find_elements(By.TAG_NAME, "script") == [], name
        assert browser.find_elements(By.CSS_SELECTOR, "[onerror], [onload], img[src=x]") == [], name
        shown.append(browser.find_element(By.TAG_NAME, "main").text)
    browser.implicitly_wait(10)
    for payload in PAYLOADS:  # each one is on screen as the text it was
        assert any(payload in text for text in shown), payload
    browser.get(pages["story"])
    evidence = browser.find_element(By.ID, "story-events").text
    assert any(payload in evidence for payload in PAYLOADS), evidence  # shown as text, exactly as sent


ACTION_WORDS = {
    "fr": {"retired": "1 retirés, 0 en échec.", "rotated": "Génération 2 : 2 canaris", "bad": "cannot read 'dix'",
           "saved": "Réglage alert.window_seconds enregistré.", "figures": "Discrétion et couverture"},
    "en": {"retired": "1 retired, 0 failed.", "rotated": "Generation 2: 2 canaries", "bad": "cannot read 'dix'",
           "saved": "Setting alert.window_seconds saved.", "figures": "Stealth and coverage"},
}


def _planting_states(db_path) -> list[str]:
    db = open_db(db_path)
    try:
        return [row[0] for row in db.execute("SELECT state FROM plantings ORDER BY id").fetchall()]
    finally:
        db.close()


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_retire_rotate_and_settings_need_their_confirmation(browser, served_urls, db_path, tmp_path, lang):
    base = served_urls["console"]
    words = ACTION_WORDS[lang]
    shots = tmp_path / "screenshots"
    shots.mkdir()

    def shot(name: str) -> None:
        assert browser.save_screenshot(str(shots / f"{lang}-{name}.png"))

    target = tmp_path / "export.csv"
    _canary(db_path, "system", "edit", "ehr-mediboard", "--patients", "150000")
    _canary(db_path, "seed", "ehr-mediboard", "--count", "2", "--seed", "3")
    _canary(db_path, "plant", "ehr-mediboard", "--to", target.as_uri())
    assert _planting_states(db_path) == ["planted", "planted"]
    _sign_in(browser, base, lang)
    browser.get(f"{base}/systems")
    browser.find_element(By.CSS_SELECTOR, "#systems a[href='/systems/ehr-mediboard']").click()
    assert words["figures"] in browser.find_element(By.ID, "figures").text
    shot("system")

    # Retire one planting: in the closed "destructive" section, sent only once its box is ticked.
    browser.find_element(By.CSS_SELECTOR, "#retire-plantings summary").click()
    form = browser.find_elements(By.CSS_SELECTOR, "form.retire-one")[0]
    form.find_element(By.TAG_NAME, "button").click()
    assert _planting_states(db_path) == ["planted", "planted"]
    form.find_element(By.NAME, "confirm").click()
    form.find_element(By.TAG_NAME, "button").click()
    _until(browser, lambda b: words["retired"] in b.page_source)
    assert sorted(_planting_states(db_path)) == ["planted", "retired"]
    shot("retired-one")

    # Rotate: same confirmation, then a new generation replaces the planted one.
    rotate = browser.find_element(By.ID, "rotate")
    count = rotate.find_element(By.NAME, "count")
    count.clear()
    count.send_keys("2")
    rotate.find_element(By.TAG_NAME, "button").click()
    assert len(_planting_states(db_path)) == 2
    rotate.find_element(By.NAME, "confirm").click()
    rotate.find_element(By.TAG_NAME, "button").click()
    _until(browser, lambda b: words["rotated"] in b.page_source)
    assert sorted(_planting_states(db_path)) == ["planted", "planted", "retired", "retired"]
    shot("rotated")

    # A setting: a bad value shows the CLI's message and changes nothing; a good one is saved.
    def edit_setting(value: str) -> None:
        row = browser.find_element(By.ID, "setting-alert.window_seconds")
        box = row.find_element(By.NAME, "value")
        box.clear()
        box.send_keys(value)
        row.find_element(By.CSS_SELECTOR, "button[value=save]").click()

    browser.get(f"{base}/settings")
    edit_setting("dix")
    _until(browser, lambda b: words["bad"] in b.page_source)
    shot("setting-refused")
    edit_setting("900")
    _until(browser, lambda b: words["saved"] in b.page_source)
    shot("setting-saved")
    db = open_db(db_path)
    stored = db.execute("SELECT value FROM settings WHERE key = 'alert.window_seconds'").fetchone()
    audit = [row[0] for row in db.execute("SELECT action FROM web_audit WHERE via = 'console' AND action NOT IN "
                                          "('sign-in', 'sign-out') ORDER BY id").fetchall()]
    db.close()
    assert stored == ("900",)
    assert audit == ["retire", "rotate", "setting.set"]
    assert len(list(shots.glob("*.png"))) == 5
