"""A folder of Telegram Desktop JSON exports as a sweep source (source_kinds/telegram.py): each message's
text, as a string or as text entities, its shared contact cards and its attached files are read; what
the export lacks or points outside of it is a skipped part; a feed reads each export once."""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

from canary.watch.sweep.feeds import add_feed, get_feed, run_feed
from canary.watch.sweep.limits import Limits


def _row(canary: dict) -> str:
    year, month, day = canary["birth_date"].split("-")
    return f"{canary['birth_name']};{canary['first_names'][0]};{day}/{month}/{year}"


def _entities(canary: dict) -> list:
    """The text as Telegram writes it once formatted: strings and entities, the name in bold."""
    year, month, day = canary["birth_date"].split("-")
    return ["Échantillon gratuit : ", {"type": "bold", "text": canary["birth_name"]}, " ",
            {"type": "italic", "text": canary["first_names"][0]}, f", né(e) le {day}/{month}/{year}, ",
            {"type": "phone", "text": "0" + canary["phones"][0][3:]}]


def _chat_export(folder: Path, canaries: list[dict]) -> Path:
    """One chat's export: a string text, an entity list, a contact card, attachments of every sort."""
    (folder / "files").mkdir(parents=True)
    (folder / "files" / "extrait.csv").write_text("nom;prenom;ddn\n" + _row(canaries[2]) + "\n", encoding="utf-8")
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w") as archive:
        archive.writestr("base/patients.csv", f"nir\n{canaries[3]['nir']}\n")
    (folder / "files" / "base.zip").write_bytes(packed.getvalue())
    (folder.parent / "ailleurs.csv").write_text(f"nir\n{canaries[4]['nir']}\n", encoding="utf-8")
    messages = [
        {"id": 1, "type": "service", "date": "2026-12-01T10:00:00", "action": "create_group", "text": ""},
        {"id": 2, "type": "message", "date": "2026-12-01T10:01:00", "from": "vendeur", "text": _row(canaries[0])},
        {"id": 3, "type": "message", "date": "2026-12-01T10:02:00", "from": "vendeur", "text": _entities(canaries[1]),
         "text_entities": [{"type": "plain", "text": "ignored when text is there"}]},
        {"id": 4, "type": "message", "date": "2026-12-01T10:03:00", "from": "vendeur", "text": "la suite",
         "file": "files/extrait.csv", "file_name": "extrait.csv", "media_type": "document", "mime_type": "text/csv"},
        {"id": 5, "type": "message", "from": "vendeur", "text": "", "file": "files/base.zip", "file_name": "base.zip"},
        {"id": 6, "type": "message", "from": "vendeur", "text": "",
         "file": "(File not included. Change data exporting settings to download.)", "file_name": "gros.sql"},
        {"id": 7, "type": "message", "from": "vendeur", "text": "", "file": "../ailleurs.csv"},
        {"id": 8, "type": "message", "from": "vendeur", "text": "", "photo": "photos/photo_1@01-12-2026.jpg"},
    ]
    (folder / "result.json").write_text(json.dumps({"name": "Ventes", "type": "private_supergroup", "id": 42,
                                                    "messages": messages}, ensure_ascii=False), encoding="utf-8")
    return folder


def _account_export(folder: Path, canary: dict) -> Path:
    """A whole account's export: chats in chats.list and left_chats.list; a contact card shared."""
    folder.mkdir(parents=True)
    card = {"first_name": canary["first_names"][0], "last_name": canary["birth_name"],
            "phone_number": "+33 " + canary["phones"][0][3:]}
    chats = {"about": "", "list": [{"name": "A", "type": "personal_chat", "id": 1, "messages": [
        {"id": 10, "type": "message", "text": "", "text_entities": [], "contact_information": card}]}]}
    (folder / "result.json").write_text(json.dumps({"about": "", "chats": chats, "left_chats": {"list": []}}),
                                        encoding="utf-8")
    return folder


def test_messages_entities_contact_cards_and_attachments_are_read(tmp_path, sweep_canaries, run_scan):
    drops = tmp_path / "telegram"
    chat = _chat_export(drops / "ChatExport_2026-12-01", sweep_canaries)
    account = _account_export(drops / "DataExport_2026-12-02", sweep_canaries[3])
    report = run_scan(f"telegram:{drops}")
    found = sorted((f.file, f.canary_id) for f in report.findings)
    assert found == sorted([
        (f"{chat}/result.json!messages", "sw0000"),
        (f"{chat}/result.json!messages", "sw0001"),
        (f"{chat}/files/extrait.csv", "sw0002"),
        (f"{chat}/files/base.zip!base/patients.csv", "sw0003"),
        (f"{account}/result.json!messages", "sw0003"),
    ]), report.to_json()
    assert report.skipped == [
        {"file": f"{chat}/result.json!message 6", "reason": "attachment not in the export (Telegram left it out: "
                                                            "export again with files of this size and type): gros.sql"},
        {"file": f"{chat}/../ailleurs.csv", "reason": "attachment outside its export folder: not read"},
        {"file": f"{chat}/photos/photo_1@01-12-2026.jpg", "reason": "attachment missing from the export"}]
    assert report.status == "partial"  # the left-out and missing files may hold canaries: never "complete"
    assert report.files == 4  # two message texts, the CSV, the zip's member


def test_a_folder_without_an_export_or_a_broken_one_says_so(tmp_path, sweep_canaries, run_scan):
    (tmp_path / "vide").mkdir()
    broken = tmp_path / "casse"
    broken.mkdir()
    (broken / "result.json").write_text('{"messages": [{"id": 1, "text": "' + _row(sweep_canaries[0]), encoding="utf-8")
    report = run_scan(f"telegram:{tmp_path / 'vide'}", f"telegram:{tmp_path / 'absent'}", f"telegram:{broken}")
    assert [s["file"] for s in report.skipped] == [f"telegram:{tmp_path / 'vide'}", f"telegram:{tmp_path / 'absent'}",
                                                   str(broken / "result.json")]
    assert report.skipped[2]["reason"].startswith("unreadable Telegram export (JSONDecodeError: ")
    # A result.json that cannot be parsed is still read, as the text it is.
    assert [(f.file, f.canary_id) for f in report.findings] == [(str(broken / "result.json"), "sw0000")]


def test_a_feed_reads_each_export_once(tmp_path, db, sweep_canaries):
    drops = tmp_path / "telegram"
    first = _account_export(drops / "DataExport_1", sweep_canaries[3])
    assert add_feed(db, "tg", f"telegram:{drops}", "daily")["source"] == f"telegram:{drops.resolve()}"
    limits = Limits(engine="python")
    assert run_feed(db, "tg", limits=limits)["findings"] == 1
    assert json.loads(get_feed(db, "tg")["source_state"]) == {"exports": {"DataExport_1": _signature(first)}}
    nothing_new = run_feed(db, "tg", limits=limits)
    assert (nothing_new["status"], nothing_new["findings"], nothing_new["files"]) == ("ok", 0, 0)

    second = _account_export(drops / "DataExport_2", sweep_canaries[1])
    again = run_feed(db, "tg", limits=limits)
    assert (again["findings"], again["files"]) == (1, 1)
    sweep = db.execute("SELECT sources FROM sweeps WHERE id = ?", [again["sweep_id"]]).fetchone()[0]
    assert json.loads(sweep) == [f"telegram:{second.resolve()}"]
    # Exported again (a longer history): read again.
    stat = (first / "result.json").stat()
    os.utime(first / "result.json", ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert run_feed(db, "tg", limits=limits)["files"] == 1


def _signature(export: Path) -> str:
    stat = (export / "result.json").stat()
    return f"{stat.st_size}:{stat.st_mtime_ns}"


def test_the_kind_claims_its_prefix_only():
    from canary.watch.sweep.source_kinds import kind_of_input

    assert kind_of_input("telegram:/srv/telegram").name == "telegram"
    assert kind_of_input("/srv/telegram").name == "path"


def test_a_long_export_is_read_message_by_message(tmp_path, sweep_canaries, run_scan):
    """result.json is read in blocks of 1 MiB, never whole: messages cut by a block's end, a whole account's
    chats after a big first one, and a JSON file that is no export (read as the plain file it is)."""
    export = tmp_path / "telegram" / "DataExport"
    export.mkdir(parents=True)
    filler = [{"id": i, "type": "message", "text": ["bonjour ", {"type": "bold", "text": f"lot {i}"}, " é" * 20]}
              for i in range(20_000)]
    last = [{"id": 20_001, "type": "message", "text": _entities(sweep_canaries[1])}]
    chats = {"list": [{"name": "A", "messages": filler}, {"name": "B", "messages": last}]}
    (export / "result.json").write_text(json.dumps({"chats": chats}, ensure_ascii=False, indent=1), encoding="utf-8")
    assert (export / "result.json").stat().st_size > 3 * 1024 * 1024
    other = tmp_path / "telegram" / "autre"
    other.mkdir()
    (other / "result.json").write_text(json.dumps({"patients": [_row(sweep_canaries[0])]}), encoding="utf-8")
    report = run_scan(f"telegram:{tmp_path / 'telegram'}")
    assert sorted((f.file, f.canary_id) for f in report.findings) == [
        (f"{export}/result.json!messages", "sw0001"), (f"{other}/result.json", "sw0000")]
    assert report.skipped == [{"file": f"{other}/result.json", "reason": "unreadable Telegram export (ValueError: no "
                               "message list: not a Telegram export): read as a plain file, its attachments not read"}]
