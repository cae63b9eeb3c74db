"""The shapes of `canary list`, `show` and `export` (canary.store.views, canary.store.export)."""

from __future__ import annotations

import csv
import io
import json

from canary.store.export import export_text
from canary.store.views import LIST_COLUMNS, export_view, list_row, show_lines

CANARY = {"record_only": 1, "status": "active", "id": "c1", "system": "dpi", "generation": 2,
          "created_at": "2026-12-01T10:00:00+00:00", "birth_name": "MARTIN", "used_name": "DURAND",
          "first_names": ["Jeanne", "Marie"], "sex": "F", "birth_date": "1961-04-02", "email": None,
          "phones": ["+33612340001", "+33612340002"], "address": {"line": "3 rue Haute", "city": "Lyon"},
          "conditions": [{"code": "I10", "label": "Hypertension", "onset": None}]}


def test_the_export_view_puts_the_registry_fields_first():
    view = export_view(CANARY)
    assert list(view)[:5] == ["id", "system", "generation", "created_at", "status"]
    assert view["record_only"] == 1 and len(view) == len(CANARY)


def test_a_list_row_names_the_canary_as_a_person_would():
    row = list_row(CANARY)
    assert tuple(row) == LIST_COLUMNS
    assert row["name"] == "DURAND Jeanne" and row["city"] == "Lyon" and row["gen"] == 2


def test_csv_flattens_nested_fields_into_dotted_columns():
    text = export_text([export_view(CANARY)], "csv")
    (row,) = csv.DictReader(io.StringIO(text))
    assert row["address.city"] == "Lyon" and row["first_names"] == "Jeanne Marie"
    assert row["phones"] == "+33612340001;+33612340002" and row["email"] == ""
    assert json.loads(row["conditions"]) == CANARY["conditions"]


def test_json_export_is_an_array_and_show_says_missing_values_with_a_dash():
    assert json.loads(export_text([export_view(CANARY)], "json"))[0]["id"] == "c1"
    lines = show_lines(export_view(CANARY))
    assert "email: -" in lines and "conditions:" in lines and "  - code=I10, label=Hypertension" in lines
