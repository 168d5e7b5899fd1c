"""CSV injection (issue 14, finding 3): every export neutralises formula cells, and the record
tables' export (crm.records.exports) is the project's only CSV writer."""

import csv
import io
import re
from pathlib import Path

import pytest

from tests.crm.test_record_tables import LIST_URLS, _make
from tests.customfields.factories import CustomFieldFactory

ROOT = Path(__file__).resolve().parents[2]
APPS = ("config", "crm", "wfm", "customfields", "leads", "deals", "activities", "aiagent")
# Only these modules may write CSV: the one writer, and the view that streams it.
CSV_MODULES = {"crm/records/exports.py", "crm/records/tables.py"}
WRITES_CSV = re.compile(r"csv\.(writer|DictWriter)\(|text/csv|\.writerow\(")


def test_no_module_writes_csv_but_the_one_export():
    found = {
        str(path.relative_to(ROOT))
        for app in APPS
        for path in (ROOT / app).rglob("*.py")
        if "migrations" not in path.parts and WRITES_CSV.search(path.read_text())
    }
    assert found <= CSV_MODULES, f"CSV written outside crm.records.exports: {found - CSV_MODULES}"


@pytest.mark.parametrize("kind", list(LIST_URLS))
def test_every_record_types_export_neutralises_fields_and_custom_values(web, manager, kind):
    CustomFieldFactory(entity_type=kind, name="notes_cf", type="text")
    name_field = "first_name" if kind == "person" else "name"
    _make(
        kind,
        manager,
        **{name_field: "=cmd|'/c calc'!A1"},
        custom_field_values={"notes_cf": "@SUM(1+1)"},
    )
    body = b"".join(web(manager).get(f"{LIST_URLS[kind]}export.csv").streaming_content).decode()
    row = next(csv.DictReader(io.StringIO(body)))
    assert row[name_field] == "'=cmd|'/c calc'!A1"
    assert row["cf_notes_cf"] == "'@SUM(1+1)"
