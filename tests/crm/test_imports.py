"""Spreadsheet import (crm.records.imports, crm.services.import_*): reading files in any
common encoding and delimiter and XLSX, mapping, the four modes for matching rows, the error
report, undo, cancel, permissions and the rep's visibility."""

from __future__ import annotations

import csv
import io

import openpyxl
import pytest

from crm import services
from crm.errors import Conflict, PermissionDenied
from crm.models import ImportJob, ImportMapping, ImportRow, Organization, Person
from crm.records import imports, registry
from leads.models import Lead
from tests.customfields.factories import CustomFieldFactory
from tests.factories import OrganizationFactory
from tests.leads.factories import LeadFactory


def csv_bytes(rows, *, delimiter=",", encoding="utf-8", bom=False) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter).writerows(rows)
    data = buffer.getvalue().encode(encoding)
    return (b"\xef\xbb\xbf" + data) if bom else data


def xlsx_bytes(rows) -> bytes:
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def run_import(
    by, content, *, record_type="lead", mode="skip", mapping=None, defaults=None, name="leads.csv"
):
    job = services.import_create(by=by, record_type=record_type, file_name=name, content=content)
    if mapping is not None or mode or defaults:
        services.import_configure(
            by=by, job=job, mapping={**job.mapping, **(mapping or {})}, mode=mode, defaults=defaults
        )
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.PENDING)
    return services.import_run(job_id=job.pk)


HEADER = ["Lead name", "E-mail", "Company", "Phone", "Value"]


# --- reading --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("content", "encoding", "delimiter"),
    [
        (
            csv_bytes([HEADER, ["Café Crème", "a@x.com", "Société", "", "1,200.50"]], bom=True),
            "utf-8-sig",
            ",",
        ),
        (
            csv_bytes(
                [HEADER, ["Café Crème", "a@x.com", "Société", "", "1.200,50"]],
                delimiter=";",
                encoding="cp1252",
            ),
            None,
            ";",
        ),
        (
            csv_bytes(
                [HEADER, ["Café Crème", "a@x.com", "Société", "", "1200.50"]], delimiter="\t"
            ),
            "utf-8",
            "\t",
        ),
    ],
    ids=["utf8-bom", "windows-1252-semicolons", "tabs"],
)
def test_csv_in_any_common_encoding_and_delimiter_reads_the_same(content, encoding, delimiter):
    sheet = imports.read_sheet(content, "leads.csv")
    assert sheet.headers == HEADER
    assert sheet.rows[0][0] == "Café Crème" and sheet.rows[0][2] == "Société"
    assert sheet.delimiter == delimiter
    if encoding:
        assert sheet.encoding == encoding
    else:  # charset-normalizer's guess: a single-byte Western code page
        assert sheet.encoding.replace("_", "").lower() in {
            "cp1252",
            "windows1252",
            "latin1",
            "iso88591",
            "cp1250",
        }


def test_xlsx_reads_numbers_and_dates_as_text():
    import datetime as dt

    sheet = imports.read_sheet(
        xlsx_bytes(
            [HEADER + ["Close"], ["Acme", "a@x.com", "Acme", None, 1200, dt.date(2027, 1, 31)]]
        ),
        "x.xlsx",
    )
    assert sheet.file_format == "xlsx"
    assert sheet.rows == [["Acme", "a@x.com", "Acme", "", "1200", "2027-01-31"]]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"Name,Email\r\n", "no rows"),
        (b"\x00\x01\x02binary\x00", "binary"),
        (b"PK\x03\x04not really a workbook", "Excel"),
    ],
)
def test_unreadable_files_are_refused_naming_the_file(content, message):
    with pytest.raises(imports.ImportFileError) as refused:
        imports.read_sheet(content, "f.csv")
    assert message in refused.value.message and "file" in refused.value.details


def test_blank_lines_are_not_rows_and_lines_are_counted_as_in_the_file():
    sheet = imports.read_sheet(b"Name\r\nA\r\n\r\nB\r\n", "f.csv")
    assert sheet.rows == [["A"], ["B"]] and sheet.lines == [2, 4]


# --- mapping --------------------------------------------------------------------------------
def test_headers_are_guessed_and_a_users_earlier_choice_is_remembered(rep1):
    job = services.import_create(
        by=rep1,
        record_type="lead",
        file_name="a.csv",
        content=csv_bytes([HEADER + ["Firma"], ["A", "a@x.com", "", "", "", "Acme"]]),
    )
    assert job.mapping == {
        "Lead name": "name",
        "E-mail": "contact_email",
        "Company": "company_name",
        "Phone": "contact_phone",
        "Value": "estimated_value",
        "Firma": "",
    }
    services.import_configure(
        by=rep1, job=job, mapping={**job.mapping, "Company": "", "Firma": "company_name"}
    )
    services.import_start(by=rep1, job=job)
    assert (
        ImportMapping.objects.get(user=rep1, record_type="lead").mapping["firma"] == "company_name"
    )
    again = services.import_create(
        by=rep1,
        record_type="lead",
        file_name="b.csv",
        content=csv_bytes([["Name", "Firma"], ["B", "Beta"]]),
    )
    assert again.mapping == {"Name": "name", "Firma": "company_name"}


def test_a_mapping_naming_an_unknown_field_or_a_field_twice_is_refused(rep1):
    job = services.import_create(
        by=rep1,
        record_type="lead",
        file_name="a.csv",
        content=csv_bytes([HEADER, ["A", "a@x.com", "", "", ""]]),
    )
    with pytest.raises(Exception) as refused:
        services.import_configure(
            by=rep1, job=job, mapping={"Lead name": "name", "Company": "name"}
        )
    assert "more than one column" in refused.value.message
    with pytest.raises(Exception) as refused:
        services.import_configure(by=rep1, job=job, mapping={"Lead name": "salary"})
    assert "not a lead field" in refused.value.message
    with pytest.raises(Exception) as refused:
        services.import_configure(
            by=rep1, job=job, mapping={"Lead name": "", "E-mail": "contact_email"}
        )
    assert "required" in refused.value.message


# --- writing --------------------------------------------------------------------------------
def test_a_clean_file_creates_leads_through_the_services(rep1, django_capture_on_commit_callbacks):
    rows = [HEADER] + [
        [f"Lead {i}", f"P{i}@Acme.com", "Acme", "+1 555 0100", "1,200.50"] for i in range(12)
    ]
    job = run_import(rep1, csv_bytes(rows))
    assert (job.status, job.created, job.failed, job.total_rows, job.processed) == (
        "done",
        12,
        0,
        12,
        12,
    )
    lead = Lead.objects.get(contact_email="p3@acme.com")
    assert lead.owner == rep1 and lead.created_by == rep1 and str(lead.estimated_value) == "1200.50"
    assert lead.wfm_project.current_step.is_initial
    assert rep1.has_perm("leads.change_lead", lead)  # object permissions, as lead_create grants
    assert lead.history.count() == 1  # a history row each
    from crm.models import Event

    assert Event.objects.filter(name="lead.created", payload__lead_id=str(lead.pk)).exists()
    created = ImportRow.objects.filter(job=job, outcome="created").values_list(
        "object_id", flat=True
    )
    assert str(lead.pk) in set(created)
    # The uploaded file is not kept once the import ran: the rows' outcomes say what it held.
    assert bytes(ImportJob.objects.get(pk=job.pk).content) == b""


def test_a_cancelled_draft_keeps_no_file(rep1):
    job = services.import_create(
        by=rep1, record_type="lead", file_name="a.csv", content=csv_bytes([["Name"], ["L1"]])
    )
    services.import_cancel(by=rep1, job=job)
    assert bytes(ImportJob.objects.get(pk=job.pk).content) == b""


@pytest.fixture
def existing(rep1):
    return LeadFactory(
        owner=rep1,
        contact_email="known@acme.com",
        company_name="",
        contact_phone="+1 111",
        name="Known",
    )


@pytest.mark.parametrize(
    ("mode", "outcome", "company", "phone", "name", "count"),
    [
        ("skip", "skipped", "", "+1 111", "Known", 1),
        ("update_empty", "updated", "NewCo", "+1 111", "Known", 1),
        ("overwrite", "updated", "NewCo", "+1 222", "Renamed", 1),
        ("create", "created", "", "+1 111", "Known", 2),
    ],
)
def test_the_four_modes_for_a_row_matching_an_existing_lead(
    rep1, existing, mode, outcome, company, phone, name, count
):
    rows = [HEADER, ["Renamed", "KNOWN@acme.com", "NewCo", "+1 222", ""]]
    job = run_import(rep1, csv_bytes(rows), mode=mode)
    assert ImportRow.objects.get(job=job).outcome == outcome
    existing.refresh_from_db()
    assert (existing.company_name, existing.contact_phone, existing.name) == (company, phone, name)
    assert Lead.objects.filter(contact_email="known@acme.com").count() == count


def test_a_rep_cannot_update_a_lead_it_cannot_see_and_learns_nothing_of_it(rep1, rep2):
    LeadFactory(owner=rep2, contact_email="secret@rival.com", name="Rival secret deal")
    job = run_import(
        rep1, csv_bytes([HEADER, ["Mine", "secret@rival.com", "X", "", ""]]), mode="overwrite"
    )
    row = ImportRow.objects.get(job=job)
    assert row.outcome == "failed" and row.object_id == ""
    assert (
        row.reason == "A lead with this e-mail exists that you may not change."
        or "may not change" in row.reason
    )
    assert "Rival" not in row.reason and rep2.username not in row.reason
    assert Lead.objects.get(contact_email="secret@rival.com").name == "Rival secret deal"


def test_a_file_with_bad_rows_gives_the_exact_error_report(rep1):
    rows = [HEADER]
    for i in range(20):
        rows.append([f"Lead {i}", f"p{i}@acme.com", "Acme", "", "100"])
    rows[4] = ["Lead 3", "not-an-email", "Acme", "", "100"]  # line 5
    rows[12] = ["Lead 11", "p11@acme.com", "Acme", "", "lots"]  # line 13
    job = run_import(rep1, csv_bytes(rows))
    assert (job.created, job.failed) == (18, 2)
    report = list(
        csv.reader(
            io.StringIO(
                "\r\n".join(",".join(f'"{c}"' for c in r) for r in imports.error_report(job))
            )
        )
    )
    assert report == [
        ["line", "reason", *HEADER],
        ["5", "E-mail: Enter a valid email address.", "Lead 3", "not-an-email", "Acme", "", "100"],
        ["13", "Value: Enter a number.", "Lead 11", "p11@acme.com", "Acme", "", "lots"],
    ]
    assert not Lead.objects.filter(contact_email__in=["not-an-email"]).exists()


def test_rows_repeating_an_email_within_the_file_are_skipped_after_the_first(rep1):
    rows = [HEADER, ["A", "dup@x.com", "", "", ""], ["B", "dup@x.com", "", "", ""]]
    job = run_import(rep1, csv_bytes(rows))
    assert (job.created, job.skipped) == (1, 1)
    assert (
        ImportRow.objects.get(job=job, line=3).reason
        == "Same contact email as line 2 of this file."
    )


def test_custom_fields_choices_and_defaults(rep1):
    CustomFieldFactory(
        entity_type="lead",
        name="industry",
        label="Industry",
        type="dropdown",
        options=["Software", "Retail"],
    )
    rows = [
        ["Name", "Industry", "Priority"],
        ["A", "software", "High"],
        ["B", "Mining", "sometime"],
    ]
    job = run_import(rep1, csv_bytes(rows), defaults={"source": "event"})
    a = Lead.objects.get(name="A")
    assert (
        a.custom_field_values == {"industry": "Software"}
        and a.priority == "high"
        and a.source == "event"
    )
    reason = ImportRow.objects.get(job=job, line=3).reason
    assert reason == (
        "Priority: “sometime” is not one of: Low, Medium, High, Urgent.; "
        "Industry: 'Mining' is not one of: Software, Retail"
    )


def test_a_default_step_moves_new_leads_through_the_workflow(rep1):
    step = registry.get("lead").importing.step_choices()[1]
    job = run_import(rep1, csv_bytes([["Name"], ["Stepped"]]), defaults={"step": step[0]})
    assert job.created == 1
    assert Lead.objects.get(name="Stepped").wfm_project.current_step_id == step[0]


# --- undo and cancel --------------------------------------------------------------------------
def test_undo_removes_what_it_created_and_restores_what_it_overwrote_unless_changed_since(
    rep1, existing, django_capture_on_commit_callbacks
):
    rows = [
        HEADER,
        ["Renamed", "known@acme.com", "NewCo", "", ""],
        ["Fresh", "fresh@x.com", "", "", ""],
        ["Touched", "touched@x.com", "", "", ""],
    ]
    job = run_import(rep1, csv_bytes(rows), mode="overwrite")
    assert (job.created, job.updated) == (2, 1)
    touched = Lead.objects.get(contact_email="touched@x.com")
    services_lead_update(rep1, touched, name="Changed by hand")
    with django_capture_on_commit_callbacks(execute=True):
        services.import_undo(by=rep1, job=job)
    job.refresh_from_db()
    assert job.status == "undone" and job.undo_summary == {
        "state": "done",
        "removed": 1,
        "restored": 1,
        "kept": 1,
    }
    existing.refresh_from_db()
    assert (existing.name, existing.company_name) == ("Known", "")
    assert not Lead.objects.filter(contact_email="fresh@x.com").exists()
    assert Lead.objects.filter(contact_email="touched@x.com").exists()
    with pytest.raises(Conflict):
        services.import_undo(by=rep1, job=job)


def services_lead_update(by, lead, **data):
    from leads import services as lead_services

    lead_services.lead_update(by=by, lead=lead, data=data)


def test_cancel_stops_after_the_batch_being_written(rep1, settings):
    settings.IMPORT_BATCH_SIZE = 5
    rows = [["Name"]] + [[f"L{i}"] for i in range(20)]
    job = services.import_create(
        by=rep1, record_type="lead", file_name="a.csv", content=csv_bytes(rows)
    )
    services.import_configure(by=rep1, job=job, mode="skip")
    ImportJob.objects.filter(pk=job.pk).update(status="pending")
    real = imports.write_batch
    calls = []

    def write_then_cancel(*args, **kwargs):
        calls.append(1)
        counts = real(*args, **kwargs)
        services.import_cancel(by=rep1, job=ImportJob.objects.get(pk=job.pk))
        return counts

    imports.write_batch = write_then_cancel
    try:
        job = services.import_run(job_id=job.pk)
    finally:
        imports.write_batch = real
    assert (job.status, job.processed, job.created, len(calls)) == ("cancelled", 5, 5, 1)
    assert bytes(ImportJob.objects.get(pk=job.pk).content) == b""


def test_a_run_resumes_after_the_last_committed_batch(rep1, settings):
    settings.IMPORT_BATCH_SIZE = 4
    rows = [["Name"]] + [[f"L{i}"] for i in range(10)]
    job = services.import_create(
        by=rep1, record_type="lead", file_name="a.csv", content=csv_bytes(rows)
    )
    ImportJob.objects.filter(pk=job.pk).update(status="pending")
    real = imports.write_batch
    state = {"n": 0}

    def dies_on_the_second_batch(*args, **kwargs):
        state["n"] += 1
        if state["n"] == 2:
            raise SystemExit("worker killed")
        return real(*args, **kwargs)

    imports.write_batch = dies_on_the_second_batch
    try:
        with pytest.raises(SystemExit):
            services.import_run(job_id=job.pk)
    finally:
        imports.write_batch = real
    assert ImportJob.objects.get(pk=job.pk).processed == 4
    job = services.import_run(job_id=job.pk)  # the task redelivered
    assert (job.status, job.created) == ("done", 10)
    assert Lead.objects.filter(name__startswith="L").count() == 10


# --- permissions ------------------------------------------------------------------------------
@pytest.mark.parametrize("who", ["analyst", "viewer"])
def test_analysts_and_viewers_cannot_import(db, request, who):
    user = request.getfixturevalue(who)
    with pytest.raises(PermissionDenied):
        services.import_create(
            by=user, record_type="lead", file_name="a.csv", content=csv_bytes([["Name"], ["A"]])
        )


def test_only_the_importer_or_a_manager_handles_an_import(rep1, rep2, manager):
    job = services.import_create(
        by=rep1, record_type="lead", file_name="a.csv", content=csv_bytes([["Name"], ["A"]])
    )
    with pytest.raises(PermissionDenied):
        services.import_cancel(by=rep2, job=job)
    services.import_cancel(by=manager, job=job)
    assert ImportJob.objects.get(pk=job.pk).status == "cancelled"


# --- other record types ------------------------------------------------------------------------
def test_people_link_their_organization_by_name_and_match_by_email(rep1):
    OrganizationFactory(owner=rep1, name="Acme GmbH")
    rows = [
        ["First name", "Last name", "Email", "Company"],
        ["Ada", "Lovelace", "ada@acme.com", "acme gmbh"],
        ["Bob", "X", "bob@acme.com", "Nowhere Inc"],
    ]
    job = run_import(rep1, csv_bytes(rows), record_type="person")
    ada = Person.objects.get(email="ada@acme.com")
    assert ada.organization.name == "Acme GmbH" and job.created == 1
    assert "no organization named" in ImportRow.objects.get(job=job, line=3).reason


def test_organizations_match_by_domain(rep1):
    OrganizationFactory(owner=rep1, name="Acme", domain="acme.com", industry="")
    rows = [
        ["Name", "Website", "Industry"],
        ["Acme Corp", "https://www.ACME.com/about", "Robots"],
        ["Beta", "beta.io", ""],
    ]
    job = run_import(rep1, csv_bytes(rows), record_type="organization", mode="update_empty")
    assert (job.created, job.updated) == (1, 1)
    assert Organization.objects.get(domain="acme.com").industry == "Robots"


def test_deals_are_created_with_amounts(rep1):
    rows = [["Deal", "Amount", "Close date"], ["Big one", "€ 12.500,00", "31.01.2027"]]
    job = run_import(rep1, csv_bytes(rows), record_type="deal", mode="create")
    assert job.created == 1, list(job.rows.values_list("reason", flat=True))
    from deals.models import Deal

    deal = Deal.objects.get(name="Big one")
    assert str(deal.amount) == "12500.00" and deal.expected_close_date.isoformat() == "2027-01-31"


def test_xlsx_import_end_to_end(rep1):
    content = xlsx_bytes([["Name", "Email", "Value"], ["From Excel", "xl@acme.com", 1500]])
    job = run_import(rep1, content, name="leads.xlsx")
    assert (
        job.created == 1 and Lead.objects.get(contact_email="xl@acme.com").estimated_value == 1500
    )


def test_queries_per_batch_do_not_grow_with_its_rows(rep1, django_assert_max_num_queries, settings):
    settings.IMPORT_BATCH_SIZE = 1000

    def queries_for(n):
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        rows = [HEADER] + [[f"L{i}", f"q{n}-{i}@x.com", "Acme", "", "10"] for i in range(n)]
        with CaptureQueriesContext(connection) as captured:
            run_import(rep1, csv_bytes(rows))
        return len(captured.captured_queries)

    queries_for(3)  # warm the caches (content types, permissions) a worker keeps warm
    small, large = queries_for(20), queries_for(80)
    # A statement per row would add 60 or more. What may grow: SQLite splits a multi-row
    # INSERT at its limit of variables (a lead has forty columns: one more statement per ~24
    # leads and their history rows); PostgreSQL streams them with COPY.
    assert large - small <= 8, (small, large)


def test_rows_matching_an_open_lead_add_a_touch_point_and_new_ones_get_their_first(rep1, existing):
    from crm.models import Event
    from leads.models import TouchPoint

    rows = [
        ["Name", "Email", "UTM source", "UTM campaign"],
        ["Again", "known@acme.com", "linkedin", "spring"],
        ["New one", "new@acme.com", "newsletter", "may"],
    ]
    job = run_import(
        rep1, csv_bytes(rows), mapping={"UTM source": "utm_source", "UTM campaign": "utm_campaign"}
    )
    assert (job.created, job.skipped) == (1, 1)
    touch = TouchPoint.objects.get(lead=existing)
    assert (touch.channel, touch.utm_source, touch.utm_campaign) == ("import", "linkedin", "spring")
    assert Event.objects.filter(name="lead.touched", payload__lead_id=str(existing.pk)).exists()
    existing.refresh_from_db()
    assert existing.last_touch_source == "linkedin"
    assert ImportRow.objects.get(job=job, line=2).reason.endswith("the visit is recorded on it.")
    new = Lead.objects.get(contact_email="new@acme.com")
    first = TouchPoint.objects.get(lead=new)
    assert (first.channel, first.utm_source, new.utm_source, new.last_touch_campaign) == (
        "import",
        "newsletter",
        "newsletter",
        "may",
    )


def test_the_migration_drops_the_files_imports_that_ended_had_kept(rep1):
    import importlib

    from django.apps import apps

    migration = importlib.import_module("crm.migrations.0013_drop_finished_import_files")
    kept = {
        status: ImportJob.objects.create(
            created_by=rep1,
            record_type="lead",
            file_name="a.csv",
            content=b"Name\nA\n",
            status=status,
        )
        for status in ("draft", "pending", "running", "done", "failed", "cancelled")
    }
    migration.drop_files(apps, None)
    left = {s: bytes(ImportJob.objects.get(pk=j.pk).content) for s, j in kept.items()}
    assert left == {
        "draft": b"Name\nA\n",
        "pending": b"Name\nA\n",
        "running": b"Name\nA\n",
        "done": b"",
        "failed": b"",
        "cancelled": b"",
    }
