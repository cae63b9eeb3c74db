"""The triage inbox in a real headless Chromium: search, refresh in place keeping the ticks, bulk acknowledge."""

from __future__ import annotations

import os

import pytest

pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By
from selenium.webdriver.support.wait import WebDriverWait

from canary.alert.correlate import correlate_all
from canary.settings import set_setting
from canary.store import open_db
from canary.store.events import record_event
from tests.web.inbox_data import add_canary, three_incidents
from tests.web.test_browser import _sign_in, browser  # noqa: F401 (the fixture)


def _shot(browser, tmp_path, name):  # noqa: F811
    """Screenshots to look at: under CANARY_SCREENSHOTS when set, else beside the test's files."""
    folder = os.environ.get("CANARY_SCREENSHOTS") or str(tmp_path)
    browser.save_screenshot(os.path.join(folder, f"{name}.png"))


def _row_ids(browser):  # noqa: F811
    return [row.get_attribute("data-id") for row in browser.find_elements(By.CSS_SELECTOR, "#inbox-rows tr[data-id]")]


def test_refresh_keeps_the_ticks_then_bulk_acknowledge(browser, served, db_path, tmp_path):  # noqa: F811
    incidents = three_incidents(db_path)
    db = open_db(db_path)
    set_setting(db, "web.inbox_refresh_seconds", 2)
    _sign_in(browser, served, lang="en")
    browser.get(served + "/inbox?lang=en")
    assert _row_ids(browser) == [str(incidents[s]) for s in ("ehr-mediboard", "ehr-lyon", "lab-sil")]
    lab = incidents["lab-sil"]
    browser.find_element(By.ID, f"tick-{lab}").click()

    # a new incident arrives: the rows are read again in place, the tick stays
    add_canary(db, "lab-sil", "inbx000009", 9)
    record_event(db, channel="http", canary_id="inbx000009", severity="critical", source="192.0.2.44",
                 account="intrus")
    correlate_all(db)
    newest = db.execute("SELECT MAX(id) FROM alerts").fetchone()[0]
    WebDriverWait(browser, 15).until(lambda b: str(newest) in _row_ids(b))
    assert browser.find_element(By.ID, f"tick-{lab}").is_selected()
    assert not browser.find_element(By.ID, f"tick-{newest}").is_selected()
    assert browser.find_element(By.ID, "inbox-total").text == "4"
    _shot(browser, tmp_path, "inbox-refreshed")

    browser.find_element(By.ID, "bulk-note").send_keys("ticket INC-9")
    browser.find_element(By.CSS_SELECTOR, "button.bulk-ack").click()
    WebDriverWait(browser, 10).until(lambda b: "1 alert(s) acknowledged." in b.page_source)
    state, history = db.execute("SELECT state, (SELECT note FROM alert_history WHERE alert_id = alerts.id) "
                                "FROM alerts WHERE id = ?", [lab]).fetchone()
    assert (state, history) == ("acknowledged", "ticket INC-9")
    # acknowledged now: after the open ones, and no box to tick
    assert _row_ids(browser)[-1] == str(lab) and not browser.find_elements(By.ID, f"tick-{lab}")

    search = browser.find_element(By.NAME, "q")
    search.send_keys("jdupont")
    browser.find_element(By.CSS_SELECTOR, "#inbox-filter button").click()
    WebDriverWait(browser, 10).until(lambda b: _row_ids(b) == [str(incidents["ehr-lyon"])])
    assert "account jdupont" in browser.find_element(By.CSS_SELECTOR, "#inbox-rows td.what").text
    _shot(browser, tmp_path, "inbox-searched")
    db.close()
