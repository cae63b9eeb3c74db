"""An upload from the console leads to its sweep's page, which shows the findings once the scan is over."""

from __future__ import annotations

import io
import re

from tests.support.wait import wait_for

FORM = {"csrf": "test-form-token"}


def test_an_upload_shows_its_findings_under_its_own_name(add_hand_canaries, sign_in):
    (found, other) = add_hand_canaries("ehr-mediboard", count=2)
    analyst = sign_in("analyst")
    dump = f"nir;nom\n{found['nir']};X\n".encode()
    answer = analyst.post("/scan?lang=en", data={**FORM, "file": (io.BytesIO(dump), "fuite forum.csv")},
                          content_type="multipart/form-data")
    assert answer.status_code == 302
    location = answer.headers["Location"]
    assert re.search(r"/sweeps/\d+$", location), location
    wait_for(lambda: "running" not in analyst.get(f"{location}?lang=en").get_data(as_text=True), timeout=30)
    page = analyst.get(f"{location}?lang=en").get_data(as_text=True)
    assert "fuite_forum.csv" in page and "canary-upload-" not in page and "/tmp" not in page
    findings = page[page.index('id="findings"'):]
    assert f">{found['id']}</a>" in findings and "ehr-mediboard" in findings and other["id"] not in findings
    assert "1 finding" in page
    assert 'http-equiv="refresh"' not in page  # over: no more reloading


def test_a_running_sweep_page_reloads_itself_and_an_unknown_one_is_404(sign_in, db):
    from canary.watch.sweep.findings import start_sweep

    sweep_id = start_sweep(db, ["x.csv"], "upload")
    viewer = sign_in("viewer")
    page = viewer.get(f"/sweeps/{sweep_id}?lang=en").get_data(as_text=True)
    assert 'http-equiv="refresh"' in page and "running" in page
    assert viewer.get("/sweeps/999").status_code == 404
