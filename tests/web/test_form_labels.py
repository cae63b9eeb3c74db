"""Every input of every console page has a label a screen reader (and a person) can read."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from canary.alert.correlate import correlate_all
from canary.generate.seeding import derive_token
from canary.store import open_db
from canary.store.events import record_event
from canary.store.registry import add_canaries
from tests.support.records import make_record

# Inputs that are not asked of anyone: the form token, the values a button carries, the buttons.
UNLABELLED_TYPES = {"hidden", "submit", "button", "reset", "image"}


class _Fields(HTMLParser):
    """The page's fields (input, select, textarea) and which of them a label names."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.fields: list[dict[str, str | None]] = []
        self.label_for: set[str] = set()
        self.open_labels = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "label":
            self.open_labels += 1
            if values.get("for"):
                self.label_for.add(str(values["for"]))
        elif tag in ("input", "select", "textarea") and values.get("type") not in UNLABELLED_TYPES:
            self.fields.append({**values, "tag": tag, "wrapped": "yes" if self.open_labels else None})

    def handle_endtag(self, tag: str) -> None:
        if tag == "label" and self.open_labels:
            self.open_labels -= 1

    def unlabelled(self) -> list[str]:
        return [f"<{f['tag']} name={f.get('name')!r}>" for f in self.fields
                if not (f["wrapped"] or f.get("aria-label") or f.get("aria-labelledby")
                        or (f.get("id") and f["id"] in self.label_for))]


@pytest.fixture
def full_registry(app, db_path):
    db = open_db(db_path)
    add_canaries(db, [{"id": f"lbl{i:05d}", "system": "ehr-mediboard", "generation": 1,
                       "created_at": "2026-01-01T00:00:00Z", "token": derive_token("k", f"lbl{i:05d}"),
                       **make_record(i)} for i in range(2)])
    db.execute("INSERT INTO plantings (canary_id, system, channel, target, state, planned_at, updated_at) "
               "VALUES ('lbl00000', 'ehr-mediboard', 'file', 'file:///srv/x.csv', 'planted', 'x', 'x')")
    record_event(db, channel="http", canary_id="lbl00000", severity="high", source="198.51.100.7")
    correlate_all(db)
    db.close()


def test_every_form_field_of_every_page_has_a_label(full_registry, app, sign_in):
    client = sign_in("admin")
    pages = [rule.rule for rule in app.url_map.iter_rules()
             if "GET" in rule.methods and not rule.arguments and not rule.rule.startswith(("/api/", "/static"))
             and rule.endpoint.startswith(("console.", "auth."))]
    pages += ["/systems/ehr-mediboard", "/canaries/lbl00000", "/alerts/1", "/alerts?all=1"]
    checked = 0
    problems = {}
    for lang in ("fr", "en"):
        for url in pages:
            resp = client.get(f"{url}{'&' if '?' in url else '?'}lang={lang}")
            if resp.status_code != 200 or resp.mimetype != "text/html":
                continue
            fields = _Fields()
            fields.feed(resp.get_data(as_text=True))
            checked += len(fields.fields)
            if fields.unlabelled():
                problems[f"{url} ({lang})"] = fields.unlabelled()
    assert checked > 40
    assert problems == {}, "\n".join(f"{page}: {fields}" for page, fields in problems.items())
