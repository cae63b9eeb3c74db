"""Folders of Telegram Desktop exports ("Export chat history" / "Export Telegram data", JSON format):
``telegram:/srv/telegram`` reads every export under the folder (a folder holding ``result.json``).

Each export gives one unit of its messages' text, one message after another (a blank line between
two): the text, whether Telegram wrote it as a string or as a list of text entities (a name in bold
is an entity of its own), and the contact cards shared; and one unit per attached file (``file``,
``photo``), named by its path in the export, read as any file (a zip, a spreadsheet...). An attachment
Telegram left out of the export, missing, or whose path leads outside the export folder is a skipped
part, never read. result.json is read message by message, never whole. A feed of this kind remembers
the exports it read (``result.json``'s size and modification time): each run reads only the exports
added or re-exported since the last good run.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from canary.errors import CanaryError
from canary.watch.sweep.limits import Limits
from canary.watch.sweep.source_kinds.base import Expansion, Resolved, SourceKind, State
from canary.watch.sweep.sources import Unit, file_units

PREFIX = "telegram:"
RESULT = "result.json"
MAX_MESSAGE = 16 * 1024 * 1024  # characters of one message's JSON at most (a longer one: the export is unreadable)
BLOCK = 1024 * 1024
_MESSAGES = re.compile(r'"messages"\s*:\s*\[')  # a key: inside a JSON string its quotes are escaped
ATTACHMENT_KEYS = ("file", "photo")  # thumbnails are smaller copies of a photo or a video's first frame
NOT_INCLUDED = "(File not included"  # Telegram's value for a file the export settings left out


def _claims(text: str) -> bool:
    return text.startswith(PREFIX)


def _folder(text: str) -> Path:
    return Path(text[len(PREFIX):])


def exports(folder: Path) -> list[Path]:
    """The export folders under ``folder`` (itself if it holds result.json), in name order; the folders
    inside an export (files, photos...) are its own."""
    found = []
    for root, dirs, names in os.walk(folder):
        dirs.sort()
        if RESULT in names:
            found.append(Path(root))
            dirs.clear()
    return found


def messages(result: Path) -> Iterator[dict[str, Any]]:
    """Every message of every chat of an export (one chat's, or a whole account's: chats and left chats),
    one at a time: result.json is read in blocks and each message decoded alone, so an export of
    gigabytes takes the memory of its largest message. ValueError if it holds no message list or is cut."""
    decoder = json.JSONDecoder()
    buffer, position, inside, found, ended = "", 0, False, False, False
    with open(result, encoding="utf-8") as handle:
        while True:
            if not inside:
                match = _MESSAGES.search(buffer, position)
                if match is not None:
                    inside, found, position = True, True, match.end()
                    continue
                if ended:
                    if not found:
                        raise ValueError("no message list: not a Telegram export")
                    return
                position = max(position, len(buffer) - 64)  # a key cut by the end of the block
            else:
                while position < len(buffer) and buffer[position] in " \t\r\n,":
                    position += 1
                if position < len(buffer) and buffer[position] == "]":
                    inside, position = False, position + 1
                    continue
                if position < len(buffer):
                    try:
                        value, position = decoder.raw_decode(buffer, position)
                    except json.JSONDecodeError:
                        if ended or len(buffer) - position > MAX_MESSAGE:
                            raise
                    else:
                        if isinstance(value, dict):
                            yield value
                        continue
                if ended:
                    raise ValueError("the message list is cut")
            buffer, position = buffer[position:], 0
            block = handle.read(BLOCK)
            ended = not block
            buffer += block


def message_text(message: dict[str, Any]) -> str:
    """What a message says: its text (a string, or a list of strings and entities {"type", "text"}) and
    the contact card it shares."""
    text = message.get("text")
    if not text and isinstance(message.get("text_entities"), list):
        text = message["text_entities"]
    parts = [_flattened(text)]
    contact = message.get("contact_information")
    if isinstance(contact, dict):
        parts.append(" ".join(str(v) for v in contact.values() if isinstance(v, (str, int))))
    return "\n".join(part for part in parts if part.strip())


def _flattened(text: Any) -> str:
    if isinstance(text, str):
        return text
    if isinstance(text, list):
        return "".join(item if isinstance(item, str) else str(item.get("text", "")) if isinstance(item, dict) else ""
                       for item in text)
    return ""


def _units(item: str, expansion: Expansion) -> list[Unit]:
    folder = _folder(item)
    if not folder.is_dir():
        expansion.skip(item, "no such folder (telegram: a folder of Telegram Desktop JSON exports)")
        return []
    found = exports(folder)
    if not found:
        expansion.skip(item, f"no Telegram export under this folder (a folder holding {RESULT})")
    units: list[Unit] = []
    for export in found:
        units.extend(_export_units(export, expansion))
    return units


def _export_units(export: Path, expansion: Expansion) -> list[Unit]:
    result = export / RESULT
    size = result.stat().st_size
    try:
        listed = list(_attachments(result))
    except (OSError, ValueError) as exc:
        expansion.skip(str(result), f"unreadable Telegram export ({exc.__class__.__name__}: {str(exc)[:200]}): "
                                    "read as a plain file, its attachments not read")
        return file_units(result, expansion.jobs, expansion.skipped, expansion.split_min, expansion.max_expanded)
    units = [Unit(name=f"{result}!messages", path=str(result), size=size, kind=SOURCE.name)]
    inside = export.resolve()
    seen: set[Path] = set()
    for message_id, value, file_name in listed:
        name = str(export / value)
        if value.startswith(NOT_INCLUDED):
            expansion.skip(f"{result}!message {message_id}", "attachment not in the export (Telegram left it out: "
                           f"export again with files of this size and type): {file_name}")
            continue
        target = (export / value).resolve()
        if inside not in target.parents:
            expansion.skip(name, "attachment outside its export folder: not read")
            continue
        if target in seen:
            continue
        seen.add(target)
        if not target.is_file():
            expansion.skip(name, "attachment missing from the export")
            continue
        units.extend(file_units(Path(name), expansion.jobs, expansion.skipped, expansion.split_min,
                                expansion.max_expanded))
    return units


def _attachments(result: Path) -> Iterator[tuple[Any, str, Any]]:
    """(message id, path in the export, file name) of each attached file."""
    for message in messages(result):
        for key in ATTACHMENT_KEYS:
            value = message.get(key)
            if isinstance(value, str) and value:
                yield message.get("id"), value, message.get("file_name")


def _open(unit: Unit, _limits: Limits) -> BinaryIO:
    """The messages' text, UTF-8, one message after another with a blank line between two."""
    assert unit.path is not None
    text = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115 - the scanner closes it
    try:
        for message in messages(Path(unit.path)):
            said = message_text(message)
            if said:
                text.write(said.encode("utf-8", errors="replace") + b"\n\n")
    except BaseException:
        text.close()
        raise
    text.seek(0)
    return text  # type: ignore[return-value]  # reads, seeks and closes like a BinaryIO


def _feed_source(source: str) -> str:
    folder = _folder(source)
    if not folder.is_dir():
        raise CanaryError(f"feed source {source!r}: no such folder (telegram:FOLDER, a folder of Telegram Desktop "
                          "JSON exports)")
    return PREFIX + str(folder.resolve())


def _signature(result: Path) -> str:
    stat = result.stat()
    return f"{stat.st_size}:{stat.st_mtime_ns}"


def _resolve(source: str, _limits: Limits, state: State) -> Resolved:
    """The exports added or re-exported since the last good run; the state: every export's signature."""
    folder = _folder(source)
    if not folder.is_dir():
        return Resolved([source], state)  # reported by the scan as a missing folder
    kept = state.get("exports")
    read_before: dict[str, Any] = kept if isinstance(kept, dict) else {}
    now: dict[str, str] = {}
    inputs = []
    for export in exports(folder):
        key = str(export.relative_to(folder))
        now[key] = _signature(export / RESULT)
        if read_before.get(key) != now[key]:
            inputs.append(PREFIX + str(export))
    return Resolved(inputs, {"exports": now})


SOURCE = SourceKind(
    name="telegram", order=10, summary="telegram:FOLDER, a folder of Telegram Desktop JSON exports (result.json: "
    "messages and attached files; a feed reads each export once)", claims=_claims, units=_units, open=_open,
    feed_source=_feed_source, resolve=_resolve)
