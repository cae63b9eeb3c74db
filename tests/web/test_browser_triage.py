"""The triage additions in a real headless Chromium against a real `canary serve`, French and English, with
screenshots: an upload that lands on its findings, a canary memo on the list, the system page with its
destructive section closed, the settings searched."""

from __future__ import annotations

import pytest

from canary.store.events import record_event
from tests.web.test_browser_flow import _sign_in, _until, browser  # noqa: F401 - the fixture

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By  # noqa: E402

WORDS = {"fr": {"found": "1 détection(s)", "memo": "Mémo enregistré.", "open": "Alertes en cours"},
         "en": {"found": "1 finding(s)", "memo": "Memo saved.", "open": "Open alerts"}}


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_upload_memo_system_page_and_settings_search(browser, served_urls, db, add_hand_canaries,  # noqa: F811
                                                      tmp_path, lang):
    base = served_urls["console"]
    words = WORDS[lang]
    shots = tmp_path / "screenshots"
    shots.mkdir()

    def shot(name: str) -> None:
        assert browser.save_screenshot(str(shots / f"{lang}-{name}.png"))

    found, quiet = add_hand_canaries("ehr-mediboard", count=2)
    record_event(db, channel="http", canary_id=found["id"], severity="high", source="198.51.100.7")
    dump = tmp_path / "fuite.csv"
    dump.write_text(f"nir;nom\n{found['nir']};X\n", encoding="utf-8")
    _sign_in(browser, base, lang)

    # An upload leads to its sweep's page, which reloads itself until the findings are in.
    browser.get(f"{base}/sweeps")
    browser.find_element(By.CSS_SELECTOR, "#scan-upload input[type=file]").send_keys(str(dump))
    browser.find_element(By.CSS_SELECTOR, "#scan-upload button").click()
    _until(browser, lambda b: words["found"] in b.page_source, timeout=30)
    findings = browser.find_element(By.ID, "findings").text
    assert found["id"] in findings and "fuite.csv" in findings and quiet["id"] not in findings
    assert "canary-upload-" not in browser.page_source
    shot("upload-findings")

    # A memo written on the canary's page is on the list, beside when it was last triggered.
    browser.get(f"{base}/canaries/{quiet['id']}")
    memo = browser.find_element(By.NAME, "memo")
    memo.send_keys("Planté à la main dans le PACS")
    browser.find_element(By.CSS_SELECTOR, "#memo button").click()
    _until(browser, lambda b: words["memo"] in b.page_source)
    browser.get(f"{base}/canaries")
    rows = {row.find_element(By.TAG_NAME, "a").text: row.text for row in browser.find_elements(By.CSS_SELECTOR,
                                                                                                "tr.canary")}
    assert "Planté à la main dans le PACS" in rows[quiet["id"]]
    assert rows[found["id"]].count(":") >= 1  # a time, in the display zone
    shot("canaries")

    # The system page opens on its open alerts; the retire buttons wait in a closed section.
    browser.get(f"{base}/systems/ehr-mediboard")
    _until(browser, lambda b: words["open"] in b.find_element(By.ID, "system-alerts").text, timeout=30)
    shot("system")

    # Settings: searched, grouped.
    browser.get(f"{base}/settings")
    search = browser.find_element(By.NAME, "q")
    search.send_keys("window")
    browser.find_element(By.CSS_SELECTOR, "#settings-search button").click()
    _until(browser, lambda b: "q=window" in b.current_url)
    assert browser.find_elements(By.ID, "setting-alert.window_seconds")
    assert not browser.find_elements(By.ID, "setting-pool.mail_domains")
    shot("settings-search")
    assert len(list(shots.glob("*.png"))) == 4
