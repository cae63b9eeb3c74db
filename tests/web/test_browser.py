"""The console in a real headless Chromium: sign in, read the systems, switch language."""

from __future__ import annotations

import os
import shutil

import pytest

from tests.support.accounts import PASSWORD

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.wait import WebDriverWait  # noqa: E402

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")


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
                 "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(20)
    # A click that submits a form does not wait for the next page; lookups do, up to this long.
    driver.implicitly_wait(10)
    yield driver
    driver.quit()


def test_sign_in_and_read_systems(browser, served):
    browser.get(served + "/?lang=fr")
    assert "Connexion" in browser.page_source
    browser.find_element(By.NAME, "username").send_keys("rssi")
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "form.login button").click()
    table = browser.find_element(By.ID, "systems")
    assert "ehr-mediboard" in table.text and "Clinique des Lilas" in table.text
    assert "Systèmes surveillés" in browser.page_source
    browser.find_element(By.LINK_TEXT, "EN").click()
    WebDriverWait(browser, 10).until(lambda b: "Watched systems" in b.page_source)
    browser.find_element(By.CSS_SELECTOR, "header form button").click()
    assert browser.find_element(By.CSS_SELECTOR, "form.login h2").text == "Sign in"


def test_wrong_password_shows_an_error(browser, served):
    browser.get(served + "/auth/login?lang=en")
    browser.find_element(By.NAME, "username").send_keys("rssi")
    browser.find_element(By.NAME, "password").send_keys("not the password")
    browser.find_element(By.CSS_SELECTOR, "form.login button").click()
    assert browser.find_element(By.CSS_SELECTOR, "[role=alert]").text == "Wrong username or password."


def _sign_in(browser, served, lang="en"):
    browser.get(f"{served}/auth/login?lang={lang}")
    browser.find_element(By.NAME, "username").send_keys("rssi")
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "form.login button").click()
    browser.find_element(By.ID, "systems")


def test_on_call_acknowledges_then_resolves_an_alert(browser, served, db_path):
    from canary.generate.seeding import derive_token
    from canary.store import open_db
    from canary.store.events import record_event
    from canary.store.registry import add_canaries
    from tests.support.records import make_record

    db = open_db(db_path)
    add_canaries(db, [{"id": "leak000001", "system": "ehr-mediboard", "generation": 1,
                       "created_at": "2026-01-01T00:00:00Z", "token": derive_token("k", "leak000001"),
                       **make_record(1)}])
    record_event(db, channel="leak", canary_id="leak000001", severity="critical", source="dump.sql.gz",
                 details={"group": "sweep:1"})
    db.close()

    _sign_in(browser, served, lang="fr")
    browser.find_element(By.LINK_TEXT, "Alertes").click()
    section = browser.find_element(By.CSS_SELECTOR, "section.alert")
    assert "ehr-mediboard" in section.text and "Clinique des Lilas" in section.text
    assert "ouverte" in section.find_element(By.CLASS_NAME, "state").text
    section.find_element(By.NAME, "note").send_keys("compte désactivé")
    section.find_element(By.CSS_SELECTOR, "button.ack").click()
    # The click reloads the page: an element found on the old page may go stale while we wait.
    WebDriverWait(browser, 10, ignored_exceptions=(StaleElementReferenceException,)).until(
        lambda b: "prise en charge" in b.find_element(By.CSS_SELECTOR, "section.alert .state").text)
    browser.find_element(By.CSS_SELECTOR, "section.alert button.resolve").click()
    WebDriverWait(browser, 10).until(lambda b: "Aucune alerte." in b.page_source)

    db = open_db(db_path)
    state, acked_by, note = db.execute("SELECT state, acked_by, note FROM alerts").fetchone()
    db.close()
    assert (state, acked_by, note) == ("resolved", "rssi", "compte désactivé")


def test_forged_alert_action_without_csrf_token_is_refused(served, db_path):
    import requests

    session = requests.Session()
    session.post(served + "/auth/login", data={"username": "rssi", "password": PASSWORD})
    assert session.post(served + "/alerts/1/ack", data={"note": "x"}).status_code == 400
