"""The canaries list says when each canary was last triggered and carries a memo, stored and audited."""

from __future__ import annotations

import re

import pytest

from canary.generate.seeding import derive_token
from canary.store import open_db
from canary.store.events import record_event
from canary.store.registry import add_canaries
from canary.web.audit import list_audit
from tests.support.records import make_record

FORM = {"csrf": "test-form-token"}


@pytest.fixture
def two_canaries(app, db_path):
    db = open_db(db_path)
    add_canaries(db, [{"id": f"mem{i:05d}", "system": "ehr-mediboard", "generation": 1,
                       "created_at": "2026-01-01T00:00:00Z", "token": derive_token("k", f"mem{i:05d}"),
                       **make_record(i)} for i in range(2)])
    record_event(db, channel="dns", canary_id="mem00000", severity="high", source="198.51.100.7",
                 time="2026-03-04T10:11:12.000Z")
    db.close()


def test_the_list_shows_last_triggered_and_the_memo_an_analyst_wrote(two_canaries, db_path, sign_in):
    analyst = sign_in("analyst")
    resp = analyst.post("/canaries/mem00001/memo", data={**FORM, "memo": "Planté à la main dans le PACS (ticket 42)"})
    assert resp.status_code == 302
    page = analyst.get("/canaries?lang=en").get_data(as_text=True)
    rows = {re.search(r">(mem\d+)</a>", row).group(1): row for row in page.split('<tr class="canary"')[1:]}
    assert "Last triggered" in page and "Memo" in page
    assert "2026-03-04" in rows["mem00000"] and 'title="2026-03-04 10:11:12 UTC"' in rows["mem00000"]  # UTC on hover
    assert "never" in rows["mem00001"] and "Planté à la main dans le PACS (ticket 42)" in rows["mem00001"]
    story = analyst.get("/canaries/mem00001").get_data(as_text=True)
    assert "Planté à la main dans le PACS (ticket 42)" in story
    db = open_db(db_path)
    (entry,) = [e for e in list_audit(db) if e["action"] == "canary.memo"]
    db.close()
    assert (entry["who"], entry["target"], entry["details"]) == (
        "anna", "canary:mem00001", {"memo": "Planté à la main dans le PACS (ticket 42)"})


def test_a_memo_is_checked_and_kept_from_viewers(two_canaries, db_path, sign_in):
    assert sign_in("viewer").post("/canaries/mem00000/memo", data={**FORM, "memo": "x"}).status_code == 403
    analyst = sign_in("analyst")
    too_long = analyst.post("/canaries/mem00000/memo", data={**FORM, "memo": "x" * 501}, follow_redirects=True)
    assert "500" in too_long.get_data(as_text=True)
    assert analyst.post("/canaries/nope/memo", data={**FORM, "memo": "x"}).status_code == 404
    db = open_db(db_path)
    assert db.execute("SELECT COUNT(*) FROM canary_memos").fetchone()[0] == 0
    assert not [e for e in list_audit(db) if e["action"] == "canary.memo"]
    db.close()
    # an empty memo clears it
    analyst.post("/canaries/mem00000/memo", data={**FORM, "memo": "à voir"})
    analyst.post("/canaries/mem00000/memo", data={**FORM, "memo": "  "})
    db = open_db(db_path)
    assert db.execute("SELECT COUNT(*) FROM canary_memos").fetchone()[0] == 0
    db.close()
