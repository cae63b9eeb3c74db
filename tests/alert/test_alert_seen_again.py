"""The same dump swept again updates its alert ("seen again"); only new canaries or systems re-page."""

from __future__ import annotations

import json

from canary.alert.destinations import add_destination


def _dump_rows(canaries) -> str:
    lines = ["nom;prenom;naissance;nir;telephone"]
    for c in canaries:
        lines.append(f"{c['birth_name']};{c['first_names'][0]};{c['birth_date']};{c['nir']};{c['phones'][0]}")
    return "\n".join(lines) + "\n"


def _pages(db) -> int:
    return db.execute("SELECT COUNT(*) FROM alert_outbox WHERE kind = 'page'").fetchone()[0]


def test_same_dump_twice_is_one_alert_seen_again(cli, db, add_hand_canaries, tmp_path, fast_alerts, receiver):
    add_destination(db, receiver.url)
    ehr = add_hand_canaries("ehr-a", 3)
    drops = tmp_path / "drops"
    drops.mkdir()
    (drops / "patients.csv").write_text(_dump_rows(ehr), encoding="utf-8")
    assert cli("feed", "add", "forum", str(drops)).exit_code == 0
    assert cli("sweep").exit_code == 0
    (first,) = json.loads(cli("alerts", "--json").output)
    assert first["severity"] == "critical" and first["seen_again"] == 0
    assert _pages(db) == 1

    # the same dump, re-packaged under another name, a week later: no new alert, no new page
    (drops / "patients.csv").rename(drops / "patients-copy.csv")
    assert cli("sweep").exit_code == 0
    alerts = json.loads(cli("alerts", "--json").output)
    assert [a["id"] for a in alerts] == [first["id"]]
    assert alerts[0]["seen_again"] == 1 and _pages(db) == 1
    assert "vue à nouveau" in alerts[0]["text"]["fr"] and "seen again" in alerts[0]["text"]["en"]

    # the same source with a new canary: the alert is updated and pages again
    more = add_hand_canaries("ehr-a", 1)
    (drops / "patients-copy.csv").write_text(_dump_rows(ehr + more), encoding="utf-8")
    assert cli("sweep").exit_code == 0
    alerts = json.loads(cli("alerts", "--json").output)
    assert [a["id"] for a in alerts] == [first["id"]]
    assert more[0]["id"] in alerts[0]["canaries"] and alerts[0]["seen_again"] == 2
    assert _pages(db) == 2

    # a new system in the same dump pages too
    lab = add_hand_canaries("lab-b", 1, kind="lab")
    (drops / "patients-copy.csv").write_text(_dump_rows(ehr + more + lab), encoding="utf-8")
    assert cli("sweep").exit_code == 0
    alerts = json.loads(cli("alerts", "--json").output)
    assert len(alerts) == 1 and alerts[0]["systems"] == ["ehr-a", "lab-b"] and _pages(db) == 3


def test_a_different_dump_is_a_different_alert(cli, db, add_hand_canaries, tmp_path):
    ehr = add_hand_canaries("ehr-a", 4)
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_text(_dump_rows(ehr[:2]), encoding="utf-8")
    second.write_text(_dump_rows(ehr[2:]), encoding="utf-8")
    assert cli("scan", str(first)).exit_code == 0
    assert cli("scan", str(second)).exit_code == 0
    assert len(json.loads(cli("alerts", "--json").output)) == 2


def test_a_resolved_dump_seen_again_stays_resolved_and_silent(cli, db, add_hand_canaries, tmp_path):
    ehr = add_hand_canaries("ehr-a", 2)
    dump = tmp_path / "leak.csv"
    dump.write_text(_dump_rows(ehr), encoding="utf-8")
    assert cli("scan", str(dump)).exit_code == 0
    (alert,) = json.loads(cli("alerts", "--json").output)
    assert cli("alert", "resolve", str(alert["id"]), "--by", "soc").exit_code == 0
    assert cli("scan", str(dump)).exit_code == 0
    (again,) = json.loads(cli("alerts", "--json").output)
    assert again["id"] == alert["id"] and again["state"] == "resolved" and again["seen_again"] == 1
    assert again["version"] == alert["version"]  # not paged again
