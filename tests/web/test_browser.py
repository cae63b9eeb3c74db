"""The console in a real headless Chromium: sign in, read the systems, switch language."""

from __future__ import annotations

import os
import shutil

import pytest

from tests.web.conftest import PASSWORD

webdriver = pytest.importorskip("selenium.webdriver")
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
