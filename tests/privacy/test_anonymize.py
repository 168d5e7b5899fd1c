"""Anonymizing a lead or a person (issue 18): nothing personal left anywhere in the database,
the aggregates kept, the event carries the id alone, refusals."""

from decimal import Decimal

import pytest

from activities.models import Activity, WebhookDelivery, WebhookSubscription
from activities.services import activity_create
from crm.errors import Conflict, PermissionDenied, ValidationFailed
from crm.models import AuditLog, Event
from crm.services import person_create, person_update
from leads.models import Lead, TouchPoint
from leads.services import lead_create
from privacy import services
from privacy.models import AccessLogEntry
from tests.privacy.conftest import (
    PERSON_EMAIL,
    PERSON_NAME,
    PERSON_PHONE,
    personal_strings_in_database,
)

pytestmark = pytest.mark.django_db


def test_anonymizing_a_lead_leaves_no_personal_string_anywhere(subject, admin):
    strings = (subject.name, subject.email, subject.phone, "493055501234")
    assert personal_strings_in_database(*strings)  # the fixture did put them everywhere

    services.lead_anonymize(by=admin, lead=subject.lead, reason=f"Request of {subject.name}")

    assert personal_strings_in_database(*strings) == {}


def test_anonymizing_a_lead_keeps_the_aggregates(subject, admin):
    lead = subject.lead
    activities = Activity.objects.filter(lead=lead).count()
    step = lead.wfm_project.current_step_id

    services.lead_anonymize(by=admin, lead=lead, reason="Erasure request")

    lead = Lead.all_objects.get(pk=lead.pk)
    assert lead.anonymized_at is not None
    assert lead.contact_name == "Anonymized" and lead.contact_phone == ""
    assert lead.contact_email.endswith("@anonymized.invalid")
    assert lead.source == Lead.Source.REFERRAL
    assert lead.estimated_value == Decimal("12500.00")
    assert lead.wfm_project.current_step_id == step
    assert lead.is_converted and lead.is_qualified
    assert lead.utm_campaign == "spring"
    # Custom fields: the personal kinds go, numbers and dropdowns stay.
    assert lead.custom_field_values == {"employees": 42, "tier": "gold"}
    # AI insights: the levels stay, the quotes go.
    assert lead.ai_insights.get("budget", {}).get("level")
    assert "text_excerpt" not in lead.ai_insights
    assert Activity.objects.filter(lead=lead).count() == activities
    call = Activity.objects.get(lead=lead, type="call")
    assert call.notes == "" and call.is_done and call.direction == "outbound"
    touches = TouchPoint.objects.filter(lead=lead)
    assert {t.utm_campaign for t in touches} == {"spring", "summer"}
    assert all(t.client_ip is None and t.user_agent == "" for t in touches)
    subject.deal.refresh_from_db()
    assert subject.deal.amount == Decimal("12500.00")


def test_the_anonymized_event_carries_the_id_alone_and_reaches_webhooks_so(
    subject, admin, django_capture_on_commit_callbacks
):
    WebhookSubscription.objects.create(
        name="Privacy", url="http://127.0.0.1:9/privacy", events=["lead.anonymized"]
    )
    with django_capture_on_commit_callbacks(execute=True):
        services.lead_anonymize(by=admin, lead=subject.lead, reason="Erasure request")

    event = Event.objects.get(name="lead.anonymized")
    assert event.payload == {"lead_id": str(subject.lead.pk)}
    delivery = WebhookDelivery.objects.get(event_name="lead.anonymized")
    assert delivery.payload["data"] == {"lead_id": str(subject.lead.pk)}


def test_anonymizing_records_the_reason_in_the_access_and_audit_logs(subject, admin):
    services.lead_anonymize(by=admin, lead=subject.lead, reason=f"{subject.name} asked, by mail")

    entry = AccessLogEntry.objects.get(action="anonymize", record_id=subject.lead.pk)
    assert entry.user == admin
    assert entry.reason == "[anonymized] asked, by mail"
    audit = AuditLog.objects.get(action="lead.anonymized", object_id=str(subject.lead.pk))
    assert audit.user == admin and audit.details["reason"] == "[anonymized] asked, by mail"


def test_a_second_anonymization_is_refused(subject, admin):
    services.lead_anonymize(by=admin, lead=subject.lead, reason="Erasure request")
    with pytest.raises(Conflict):
        services.lead_anonymize(by=admin, lead=subject.lead, reason="Again")


def test_anonymizing_needs_a_reason(subject, admin):
    with pytest.raises(ValidationFailed):
        services.lead_anonymize(by=admin, lead=subject.lead, reason="   ")


def test_the_owner_rep_may_not_anonymize(subject):
    with pytest.raises(PermissionDenied):
        services.lead_anonymize(by=subject.rep, lead=subject.lead, reason="Mine")
    subject.lead.refresh_from_db()
    assert subject.lead.anonymized_at is None


def test_anonymizing_a_person_takes_their_leads_and_leaves_nothing(admin, subject):
    first, last = PERSON_NAME.split(" ", 1)
    person = person_create(
        by=subject.rep, first_name=first, last_name=last, email=PERSON_EMAIL, phone="1"
    )
    person = person_update(by=subject.rep, person=person, data={"phone": PERSON_PHONE})
    lead = lead_create(
        by=subject.rep,
        name="Garden project",
        contact_name=PERSON_NAME,
        contact_email=PERSON_EMAIL,
        person=person,
    )
    activity_create(
        by=subject.rep, type="note", subject=f"Met {PERSON_NAME}", notes=PERSON_PHONE, person=person
    )
    strings = (PERSON_NAME, PERSON_EMAIL, PERSON_PHONE)
    assert personal_strings_in_database(*strings)

    services.person_anonymize(by=admin, person=person, reason="Erasure request")

    assert personal_strings_in_database(*strings) == {}
    lead.refresh_from_db()
    person.refresh_from_db()
    assert lead.anonymized_at is not None and person.anonymized_at is not None
    assert person.first_name == "Anonymized" and person.email.endswith("@anonymized.invalid")
    # The other subject's data is not touched.
    assert personal_strings_in_database(subject.name)


def test_anonymizing_a_lead_erases_the_leads_merged_into_it(admin, subject):
    """A merged-away lead is kept (soft-deleted, pointing at the survivor) with the data it
    held: the survivor's anonymization must reach it."""
    from leads.services import lead_merge

    copy = lead_create(
        by=subject.rep,
        name="Typed twice",
        contact_name="Marisol Quintana-Berg",
        contact_email="marisol.qb@example.org",
        contact_phone="+49 30 5550 9876",
    )
    lead_merge(by=admin, survivor=subject.lead, merged=[copy])
    strings = ("Marisol Quintana-Berg", "marisol.qb@example.org", "+49 30 5550 9876")
    assert personal_strings_in_database(*strings)

    services.lead_anonymize(by=admin, lead=subject.lead, reason="Erasure request")

    assert personal_strings_in_database(*strings) == {}
    assert Lead.all_objects.get(pk=copy.pk).anonymized_at is not None


def test_anonymizing_a_person_erases_the_people_merged_into_them(admin, subject):
    from crm.models import Person
    from crm.services import person_merge

    first, last = PERSON_NAME.split(" ", 1)
    person = person_create(by=subject.rep, first_name=first, last_name=last, email=PERSON_EMAIL)
    twin = person_create(
        by=subject.rep, first_name="Quentin", last_name="Twinsworth", email="qt@example.org"
    )
    person_merge(by=admin, survivor=person, merged=[twin])
    strings = ("Twinsworth", "qt@example.org")
    assert personal_strings_in_database(*strings)

    services.person_anonymize(by=admin, person=person, reason="Erasure request")

    assert personal_strings_in_database(*strings) == {}
    assert Person.all_objects.get(pk=twin.pk).anonymized_at is not None


def test_anonymizing_drops_what_the_duplicate_finder_holds_on_the_record(admin, subject):
    """The finder keeps a record's normalised email, phone and name as lookup keys: personal
    data too."""
    from duplicates.models import DuplicateKey
    from duplicates.services import duplicates_find

    lead = lead_create(
        by=subject.rep,
        name="Open enquiry",
        contact_name="Ottilie Brennecke",
        contact_email="ottilie.brennecke@brennecke-bau.example",
        contact_phone="+49 30 5550 4321",
    )
    duplicates_find(full=True)
    assert DuplicateKey.objects.filter(record_id=lead.pk).exists()

    services.lead_anonymize(by=admin, lead=lead, reason="Erasure request")

    assert not DuplicateKey.objects.filter(record_id=lead.pk).exists()
    assert personal_strings_in_database("ottilie.brennecke@brennecke-bau.example") == {}


def test_anonymizing_cancels_a_draft_import_whose_file_holds_the_person(admin, subject):
    """An uploaded file waiting for its column mapping holds the person too (a finished
    import keeps no file): the draft is cancelled and its file dropped; another draft stays."""
    from crm.models import ImportJob

    csv = f"Name,Email,Phone\n{subject.name},{subject.email},{subject.phone}\n".encode()
    holding = ImportJob.objects.create(
        created_by=subject.rep, record_type="lead", file_name="fair.csv", content=csv
    )
    other = ImportJob.objects.create(
        created_by=subject.rep,
        record_type="lead",
        file_name="other.csv",
        content=b"Name,Email\nSomeone Else,else@example.org\n",
    )

    services.lead_anonymize(by=admin, lead=subject.lead, reason="Erasure request")

    holding.refresh_from_db()
    assert holding.status == ImportJob.Status.CANCELLED and bytes(holding.content) == b""
    assert "erased" in holding.error
    other.refresh_from_db()
    assert other.status == ImportJob.Status.DRAFT and bytes(other.content).startswith(b"Name")


def test_anonymizing_finds_the_person_in_a_draft_spreadsheet(admin, subject):
    import tablib

    from crm.models import ImportJob

    book = tablib.Dataset(headers=["Name", "Email"])
    book.append([subject.name.upper(), subject.email])
    job = ImportJob.objects.create(
        created_by=subject.rep, record_type="lead", file_name="fair.xlsx", content=book.xlsx
    )

    services.lead_anonymize(by=admin, lead=subject.lead, reason="Erasure request")

    job.refresh_from_db()
    assert job.status == ImportJob.Status.CANCELLED and bytes(job.content) == b""


def test_anonymizing_a_person_erases_the_leads_merged_into_their_leads(admin, subject):
    """A lead merged into one of the person's leads keeps what it held and may link nobody:
    the person's anonymization reaches it through the survivor."""
    from leads.services import lead_merge

    first, last = PERSON_NAME.split(" ", 1)
    person = person_create(by=subject.rep, first_name=first, last_name=last, email=PERSON_EMAIL)
    own = lead_create(by=subject.rep, name="Theirs", contact_name=PERSON_NAME)
    own.person = person
    own.save(update_fields=["person"])
    copy = lead_create(
        by=subject.rep,
        name="Typed twice",
        contact_name="Teodoro V. Lind",
        contact_email="teo.lind@old-address.example",
    )
    lead_merge(by=admin, survivor=own, merged=[copy])
    assert personal_strings_in_database("teo.lind@old-address.example")

    services.person_anonymize(by=admin, person=person, reason="Erasure request")

    assert personal_strings_in_database("teo.lind@old-address.example") == {}
    assert Lead.all_objects.get(pk=copy.pk).anonymized_at is not None


def test_anonymizing_a_lead_erases_its_mail_and_the_files_attached(
    subject, admin, settings, tmp_path, django_capture_on_commit_callbacks
):
    """Issue 20: the mail on the record (a received message with the person's signature and a
    file) is the person's: bodies and attachments go, names and addresses are scrubbed; the
    thread, the direction and the dates stay."""
    from django.core.files.base import ContentFile

    from emails.models import EmailAttachment
    from tests.emails.factories import EmailMessageFactory, EmailThreadFactory

    settings.MEDIA_ROOT = str(tmp_path)
    thread = EmailThreadFactory(lead=subject.lead, subject=f"Call with {subject.name}")
    message = EmailMessageFactory(
        thread=thread,
        direction="inbound",
        status="received",
        from_name=subject.name,
        from_address=subject.email,
        to=["sales@pipecrm.example"],
        subject=f"Re: Call with {subject.name}",
        text_body=f"Talk soon.\n--\n{subject.name}\n{subject.phone}",
        html_body=f"<p>Talk soon.</p><p>{subject.name}</p>",
    )
    attachment = EmailAttachment.objects.create(
        message=message, file=ContentFile(b"CV", name="cv.pdf"), filename="cv.pdf", size=2
    )
    stored = tmp_path / attachment.file.name
    assert stored.exists()

    with django_capture_on_commit_callbacks(execute=True):
        services.lead_anonymize(by=admin, lead=subject.lead, reason="Erasure request")

    assert personal_strings_in_database(subject.name, subject.email, subject.phone) == {}
    message.refresh_from_db()
    assert message.text_body == "" and message.html_body == ""
    assert message.direction == "inbound" and message.thread_id == thread.pk
    assert not EmailAttachment.objects.filter(message=message).exists()
    assert not stored.exists()
