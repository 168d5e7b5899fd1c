"""The import wizard used as a person uses it (issue 15): from the leads table to Import,
choose a file, map a column the guess missed, watch the preview flag a bad cell, start, watch
the progress bar move (live, over the user's socket; a reload mid-way shows it too), download
the error report and undo."""

from __future__ import annotations

import csv
import io
import time

import pytest
from playwright.sync_api import expect

from crm.records import imports
from leads.models import Lead
from tests.e2e.helpers import in_thread, login
from tests.factories import PASSWORD, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROWS = 120
BAD = {7, 19, 33, 48, 51, 66, 70, 88, 95, 110, 111, 119}  # row indexes with a bad e-mail


def _file(path) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["Lead name", "Correo", "Company", "Value"])
    for i in range(ROWS):
        email = f"not-an-address-{i}" if i in BAD else f"buyer{i}@acme.example"
        writer.writerow([f"Imported {i}", email, f"Acme {i % 7}", f"{1000 + i}"])
    path.write_text(buffer.getvalue(), encoding="utf-8")


@pytest.fixture
def slow_batches(settings, monkeypatch):
    """Small batches that take a moment each, so a person (and the test) sees the bar move."""
    settings.IMPORT_IN_THREAD = True
    settings.IMPORT_BATCH_SIZE = 10
    real = imports.write_batch

    def slow(*args, **kwargs):
        time.sleep(0.25)
        return real(*args, **kwargs)

    monkeypatch.setattr(imports, "write_batch", slow)


def test_import_leads_map_preview_progress_errors_and_undo(page, tmp_path, slow_batches):
    from crm.roles import Role

    rep = in_thread(UserFactory, username="importer", role=Role.SALES_REP)
    path = tmp_path / "trade-show.csv"
    _file(path)
    login(page, rep.username, PASSWORD)

    page.get_by_role("link", name="Leads").first.click()
    page.get_by_test_id("import-lead").click()
    expect(page.get_by_role("heading", name="Import leads")).to_be_visible()
    page.get_by_label("Spreadsheet").set_input_files(str(path))
    page.get_by_test_id("import-upload").click()

    expect(page.get_by_role("heading", name="Import leads from trade-show.csv")).to_be_visible()
    correo = page.get_by_label("Correo")
    expect(correo).to_have_value("")  # no field is called that: the person picks one
    correo.select_option(label="Contact email")
    preview = page.get_by_test_id("import-preview")
    expect(preview.get_by_test_id("cell-error").first).to_contain_text("Enter a valid email")
    page.get_by_test_id("mode-create").check()

    page.get_by_test_id("import-start").click()
    bar = page.get_by_test_id("import-bar")
    expect(page.get_by_test_id("import-progress")).to_be_visible()
    seen = set()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        seen.add(int(bar.get_attribute("value") or 0))
        if page.get_by_test_id("import-status").inner_text() == "Done":
            break
        if len(seen) == 3:
            page.reload()  # the progress survives a reload: it is read from the import
            expect(page.get_by_test_id("import-bar")).to_be_visible()
        time.sleep(0.1)
    expect(page.get_by_test_id("import-status")).to_have_text("Done")
    intermediate = {v for v in seen if 0 < v < ROWS}
    assert len(intermediate) >= 2, f"the bar did not move by steps: {sorted(seen)}"
    expect(page.get_by_test_id("count-created")).to_have_text(str(ROWS - len(BAD)))
    expect(page.get_by_test_id("count-failed")).to_have_text(str(len(BAD)))

    with page.expect_download() as download:
        page.get_by_test_id("import-errors").click()
    report = list(csv.reader(io.StringIO(download.value.path().read_text(encoding="utf-8"))))
    assert report[0] == ["line", "reason", "Lead name", "Correo", "Company", "Value"]
    assert [int(r[0]) for r in report[1:]] == [i + 2 for i in sorted(BAD)]
    assert all(r[1] == "Correo: Enter a valid email address." for r in report[1:])

    page.get_by_test_id("rows-failed").click()
    expect(page.get_by_test_id("import-rows").locator("tbody tr")).to_have_count(len(BAD))

    page.get_by_test_id("import-undo").click()
    expect(page.get_by_test_id("import-status")).to_have_text("Undone", timeout=30_000)
    expect(page.get_by_test_id("undo-summary")).to_contain_text(f"{ROWS - len(BAD)} removed")
    assert in_thread(lambda: Lead.objects.filter(name__startswith="Imported").count()) == 0
