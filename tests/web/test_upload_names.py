"""An upload's name is shortened to what a file system takes, never a 500."""

from __future__ import annotations

import io


def test_a_304_character_file_name_is_shortened_not_a_server_error(api, add_hand_canaries):
    (found, *_) = add_hand_canaries("ehr-mediboard", count=1)
    client, headers = api
    name = "é" * 150 + "x" * 150 + ".csv"  # 304 characters, 454 bytes in UTF-8
    dump = f"nir;nom\n{found['nir']};X\n".encode()
    answer = client.post("/api/v1/scans", data={"file": (io.BytesIO(dump), name)}, content_type="multipart/form-data",
                         headers=headers["analyst"])
    assert answer.status_code == 200, answer.get_data(as_text=True)
    (finding,) = answer.get_json()["findings"]
    assert finding["canary_id"] == found["id"]
    assert finding["file"].endswith(".csv") and len(finding["file"].encode()) <= 255
