"""Receiving mail (issue 20): threading with real clients' headers, email-to-lead, the side
effects of a reply, attachments, idempotency, and who sees what was received."""

from __future__ import annotations

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone

from activities import selectors as activity_selectors
from activities.models import Activity, AutomationRun, SequenceEnrollment
from crm.models import Event
from crm.services import SYSTEM_USERNAME
from emails import selectors
from emails.inbound import email_receive, record_for_address, thread_subject
from emails.models import EmailAttachment, EmailMessage, EmailThread
from leads.models import Lead, TouchPoint
from tests.activities.factories import (
    ActionFactory,
    AssignmentRuleFactory,
    AutomationRuleFactory,
    SequenceFactory,
)
from tests.customfields.factories import CustomFieldFactory
from tests.emails.factories import EmailMessageFactory, EmailThreadFactory
from tests.emails.inbound_support import (
    APPLE_ID,
    GMAIL_ID,
    MARIA,
    OUTLOOK_ID,
    PROPOSAL_SUBJECT,
    compose,
    maria_lead,
    proposal,
    receive,
    sample,
)
from tests.factories import PersonFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def lead(rep1):
    return maria_lead(rep1)


@pytest.fixture
def sent(lead, rep1):
    return proposal(lead, rep1)


def inbound_activities(lead):
    return Activity.objects.filter(
        lead=lead, type=Activity.Type.EMAIL, direction=Activity.Direction.INBOUND
    )


# --- threading -----------------------------------------------------------------------------------
def test_a_reply_chain_across_gmail_outlook_and_apple_mail_stays_in_one_thread(sent, lead):
    gmail = receive("gmail_reply.eml")
    outlook = receive("outlook_reply.eml")  # James answers Maria's Gmail message
    apple = receive("apple_mail_reply.eml")  # Maria answers James from her iPhone

    assert {m.thread_id for m in (gmail, outlook, apple)} == {sent.thread_id}
    assert (gmail.message_id, outlook.message_id, apple.message_id) == (
        GMAIL_ID,
        OUTLOOK_ID,
        APPLE_ID,
    )
    assert outlook.in_reply_to == GMAIL_ID and apple.in_reply_to == OUTLOOK_ID
    assert apple.references.split()[-1] == OUTLOOK_ID
    assert outlook.from_address == "j.whitfield@acme-logistics.example"
    assert all(m.status == EmailMessage.Status.RECEIVED for m in (gmail, outlook, apple))
    assert EmailThread.objects.count() == 1
    assert inbound_activities(lead).count() == 3
    thread = EmailThread.objects.get()
    assert thread.last_message_at >= apple.received_at


def test_the_references_alone_find_the_thread(sent):
    # Apple Mail's reply arrives first: its In-Reply-To (James's Outlook message) is unknown,
    # its References still name the proposal.
    apple = receive("apple_mail_reply.eml")
    assert apple.thread_id == sent.thread_id


def test_the_activity_holds_the_new_text_without_the_quoted_history(sent, lead):
    receive("gmail_reply.eml")
    receive("outlook_reply.eml")
    notes = dict(inbound_activities(lead).values_list("email_message__message_id", "notes"))
    assert notes[GMAIL_ID].startswith("Hi Sam,") and notes[GMAIL_ID].endswith("Maria")
    assert "wrote:" not in notes[GMAIL_ID] and "> " not in notes[GMAIL_ID]
    assert "Original" not in notes[OUTLOOK_ID] and "Sent: Tuesday" not in notes[OUTLOOK_ID]
    assert "two references from logistics customers" in notes[OUTLOOK_ID]


def test_received_html_loses_scripts_styles_and_images(sent):
    gmail = receive("gmail_reply.eml")
    assert gmail.html_body.startswith("<div>") and "gmail_quote" not in gmail.html_body
    outlook = receive("outlook_reply.eml")
    assert "<style" not in outlook.html_body and "MsoNormal" not in outlook.html_body
    message = sample("gmail_reply.eml")
    message.get_body(("html",)).set_content(
        '<p onclick="steal()">Hi</p><script>alert(1)</script><img src="https://t.example/p.gif">',
        subtype="html",
    )
    del message["Message-ID"]
    message["Message-ID"] = "<html-test@mail.gmail.com>"
    stored = email_receive(message=message)
    assert stored.html_body.strip() == "<p>Hi</p>"


def test_a_reply_without_thread_headers_joins_the_thread_of_its_subject(sent):
    message = compose(subject=f"RE: [External] Re: {PROPOSAL_SUBJECT}", message_id="x1@acme")
    assert email_receive(message=message).thread_id == sent.thread_id


def test_a_reply_on_another_subject_from_the_leads_contact_starts_a_thread_on_the_lead(sent, lead):
    stored = receive("with_attachment.eml")
    assert stored.thread_id != sent.thread_id
    assert stored.thread.lead == lead and stored.thread.subject == "Fleet list for the pilot"
    assert inbound_activities(lead).get().email_message == stored


def test_a_persons_mail_is_logged_on_the_person(rep1):
    person = PersonFactory(owner=rep1, email="Ann.Lee@Example.com", first_name="Ann")
    stored = email_receive(message=compose(sender="Ann Lee <ann.lee@example.com>"))
    assert stored.thread.person == person and stored.thread.lead is None
    activity = stored.activity
    assert activity.person == person and activity.direction == Activity.Direction.INBOUND


def test_the_open_lead_comes_before_the_person_with_the_same_address(rep1, lead):
    PersonFactory(owner=rep1, email=MARIA)
    assert record_for_address(MARIA) == lead


def test_a_reply_to_a_deleted_leads_thread_starts_a_new_thread(sent, lead, rep1):
    lead.deleted_at = lead.created_at
    lead.save(update_fields=["deleted_at"])
    person = PersonFactory(owner=rep1, email=MARIA)
    stored = receive("gmail_reply.eml")
    assert stored.thread_id != sent.thread_id and stored.thread.person == person


def test_thread_subjects_ignore_reply_and_forward_prefixes():
    assert thread_subject("RE: AW: Fwd: [External]  Quote  #12") == "quote #12"
    assert thread_subject("Re[2]: Quote #12") == thread_subject("quote #12")
    assert thread_subject("Rebate offer") == "rebate offer"


# --- email-to-lead -------------------------------------------------------------------------------
def test_an_unknown_sender_writing_to_the_capture_address_becomes_a_lead(
    rep2, django_capture_on_commit_callbacks
):
    AssignmentRuleFactory(users=[rep2], sources=["email"])
    with django_capture_on_commit_callbacks(execute=True):
        stored = receive("new_inquiry.eml")
    lead = Lead.objects.get()
    assert stored.thread.lead == lead
    assert lead.source == Lead.Source.EMAIL and lead.sub_source == "leads@pipecrm.localhost"
    assert lead.contact_email == "priya.raman@brightwave-energy.example"
    assert (lead.contact_name, lead.company_name, lead.contact_phone) == (
        "Priya Raman",
        "Brightwave Energy Inc.",
        "+1 415-555-0132",
    )
    assert lead.name == "Brightwave Energy Inc. (CRM for our field sales team)"
    assert lead.description.startswith("Title (from the signature): Head of Sales Operations")
    assert "25 field technicians" in lead.description
    assert lead.touch_points.get().channel == TouchPoint.Channel.EMAIL
    # The capture's assignment rules: the system owns it, the rule for "email" assigns it.
    lead.refresh_from_db()
    assert lead.owner.username == SYSTEM_USERNAME and lead.assigned_to == rep2
    # The message is its first activity, and it counts as the contact's.
    first = lead.activities.filter(is_system_activity=False).order_by("created_at").first()
    assert first.email_message == stored and first.metadata["lead_created"] is True
    assert lead.first_activity_at == first.created_at


def test_a_lead_that_cannot_be_made_leaves_the_mail_on_no_record():
    CustomFieldFactory(entity_type="lead", name="region", is_required=True)
    stored = receive("new_inquiry.eml")
    assert not Lead.objects.exists() and stored.thread.record is None


def test_a_known_senders_mail_to_the_capture_address_is_logged_on_their_lead(rep1):
    lead = maria_lead(rep1, contact_email="priya.raman@brightwave-energy.example")
    stored = receive("new_inquiry.eml")
    assert Lead.objects.count() == 1 and stored.thread.lead == lead
    assert stored.activity.metadata["lead_created"] is False


@pytest.mark.parametrize(
    "headers",
    [
        {"Auto-Submitted": "auto-replied"},
        {"X-Autoreply": "yes"},
        {"Precedence": "bulk"},
    ],
)
def test_automatic_mail_to_the_capture_address_makes_no_lead(headers):
    message = compose(to="leads@pipecrm.localhost", sender="bot@vendor.example", headers=headers)
    stored = email_receive(message=message)
    assert not Lead.objects.exists() and stored.thread.record is None


def test_our_own_users_and_spam_make_no_lead():
    UserFactory(email="sam@pipecrm.localhost")
    email_receive(message=compose(to="leads@pipecrm.localhost", sender="sam@pipecrm.localhost"))
    spam = compose(to="leads@pipecrm.localhost", sender="win@prize.example", message_id="s@p")
    spam.spam_detected = True
    email_receive(message=spam)
    assert not Lead.objects.exists()


def test_the_capture_address_in_delivered_to_counts_when_it_was_a_bcc():
    message = compose(
        to="someone@else.example",
        sender="Olga Berg <olga@nordfrost.example>",
        headers={"Delivered-To": "leads@pipecrm.localhost"},
    )
    stored = email_receive(message=message)
    assert stored.thread.lead.contact_email == "olga@nordfrost.example"


def test_mail_from_an_unknown_sender_elsewhere_is_kept_on_no_record():
    stored = email_receive(message=compose(sender="stranger@nowhere.example"))
    assert stored.thread.record is None and stored.activity is None
    assert not Event.objects.filter(name="email.received").exists()


def test_a_later_reply_gives_a_thread_on_no_record_its_senders_record(rep1):
    first = email_receive(message=compose(sender=MARIA, message_id="m1@acme"))
    assert first.thread.record is None
    lead = maria_lead(rep1)
    reply = compose(
        sender=MARIA,
        subject="Re: A question",
        message_id="m2@acme",
        headers={"In-Reply-To": "<m1@acme>"},
    )
    second = email_receive(message=reply)
    assert second.thread_id == first.thread_id
    second.thread.refresh_from_db()
    assert second.thread.lead == lead and second.activity.lead == lead


# --- side effects of a reply ----------------------------------------------------------------------
def test_a_reply_moves_the_lead_rescores_it_emits_email_received_and_stops_its_sequences(
    sent, lead, rep1, django_capture_on_commit_callbacks
):
    from activities import services as activity_services

    sequence = SequenceFactory(steps=[(3, "task", "Check in with {lead.name}")])
    enrollment = activity_services.sequence_enroll(by=rep1, sequence=sequence, lead=lead)
    before = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        stored = receive("gmail_reply.eml")
    lead.refresh_from_db()
    assert before <= lead.last_activity_at <= stored.activity.created_at
    assert lead.lead_score_factors["signals"]["inbound_emails"] == 1
    enrollment.refresh_from_db()
    assert enrollment.status == SequenceEnrollment.Status.STOPPED
    assert enrollment.stop_reason == "The lead replied by email."
    event = Event.objects.get(name="email.received")
    assert event.payload["lead_id"] == str(lead.pk)
    assert event.payload["activity_id"] == str(stored.activity_id)
    assert event.payload["email_message_id"] == str(stored.pk)
    assert event.payload["lead_created"] is False
    assert event.status == Event.Status.PROCESSED


def test_a_reply_feeds_the_qualification_analysis_of_its_lead(
    sent, lead, rep1, django_capture_on_commit_callbacks
):
    """The reply's words are the lead's: its BANT and sentiment are read again (offline
    rules here), stored on the lead for who works it, and recorded as an analysis run."""
    from aiagent.models import AnalysisRun

    body = (
        "Hi Sam,\n\nThanks for the proposal. Our budget is around 50,000 EUR and we'd want "
        "this live within 3 months, but I need to check with my manager first. Honestly we "
        "are a bit concerned about the price.\n\nMaria\n"
    )
    reply = compose(
        subject=f"Re: {PROPOSAL_SUBJECT}",
        body=body,
        headers={"In-Reply-To": f"<{sent.message_id}>", "References": f"<{sent.message_id}>"},
    )
    assert not lead.ai_insights
    with django_capture_on_commit_callbacks(execute=True):
        email_receive(message=reply)
    lead.refresh_from_db()
    insights = lead.ai_insights
    assert insights["budget"]["level"] == "strong" and insights["budget"]["amount"] == "50000.00"
    assert insights["sentiment"]["level"] == "negative"  # "concerned about the price"
    assert "concerned about the price" in insights["sentiment"]["summary"]
    run = AnalysisRun.objects.get(lead=lead)
    assert run.user == rep1 and run.stored


def test_an_automation_rule_on_email_received_creates_a_task_on_the_lead(
    sent, lead, rep1, django_capture_on_commit_callbacks
):
    rule = AutomationRuleFactory(trigger="email.received")
    ActionFactory(rule=rule, subject="Answer {lead.contact_name}: {activity.subject}")
    rule.full_clean()
    with django_capture_on_commit_callbacks(execute=True):
        receive("gmail_reply.eml")
    assert AutomationRun.objects.get(rule=rule).status == AutomationRun.Status.SUCCEEDED
    task = Activity.objects.get(
        lead=lead, type=Activity.Type.TASK, metadata__automation_rule=rule.pk
    )
    assert task.subject == f"Answer Maria Lopez: Re: {PROPOSAL_SUBJECT}"


def test_an_automatic_reply_is_kept_on_its_thread_and_stops_nothing(sent, lead, rep1):
    from activities import services as activity_services

    sequence = SequenceFactory(steps=[(3, "task", "Check in")])
    enrollment = activity_services.sequence_enroll(by=rep1, sequence=sequence, lead=lead)
    message = compose(
        subject=f"Automatic reply: {PROPOSAL_SUBJECT}",
        headers={"Auto-Submitted": "auto-replied", "In-Reply-To": f"<{sent.message_id}>"},
        body="I am out of the office until Monday.",
    )
    stored = email_receive(message=message)
    assert stored.thread_id == sent.thread_id and stored.activity is None
    enrollment.refresh_from_db()
    assert enrollment.status == SequenceEnrollment.Status.ACTIVE
    assert not Event.objects.filter(name="email.received").exists()


# --- attachments ---------------------------------------------------------------------------------
def test_attachments_are_stored_through_the_storage_api(lead):
    stored = receive("with_attachment.eml")
    attachment = stored.attachments.get()
    assert (attachment.filename, attachment.content_type) == ("acme-pilot-fleet.csv", "text/csv")
    assert default_storage.exists(attachment.file.name)
    with attachment.file.open("rb") as handle:
        assert handle.read().startswith(b"vehicle,registration,model,depot")
    assert attachment.size == len(b"".join(attachment.file.open("rb")))
    assert "Attachments: acme-pilot-fleet.csv" in stored.activity.notes


def test_a_dangerous_attachment_is_refused_and_noted(lead):
    stored = receive("dangerous_attachment.eml")
    assert not EmailAttachment.objects.exists()
    refused = stored.activity.metadata["refused_attachments"]
    assert refused == [
        {
            "filename": "Invoice_0613.pdf.exe",
            "size": refused[0]["size"],
            "reason": "a file type that runs code (.exe)",
        }
    ]
    assert "Attachment refused, not stored: Invoice_0613.pdf.exe" in stored.activity.notes


@pytest.mark.parametrize(
    ("filename", "content_type"),
    [
        ("setup.msi", "application/octet-stream"),
        ("run.JS", "text/plain"),
        ("clean-name.txt", "application/x-msdownload"),
        ("update.bat", "application/octet-stream"),
        ("screensaver.scr", "application/octet-stream"),
        ("macro.vbs", "text/plain"),
    ],
)
def test_types_that_run_code_are_refused(lead, filename, content_type):
    message = compose(sender=MARIA, attachments=[(filename, content_type, b"payload")])
    stored = email_receive(message=message)
    assert not stored.attachments.exists()
    assert stored.activity.metadata["refused_attachments"][0]["filename"] == filename


def test_an_attachment_over_the_size_limit_is_refused(lead, settings):
    settings.EMAIL_MAX_ATTACHMENT_BYTES = 100
    message = compose(
        sender=MARIA,
        attachments=[
            ("small.pdf", "application/pdf", b"%PDF" + b"x" * 50),
            ("big.pdf", "application/pdf", b"%PDF" + b"x" * 200),
        ],
    )
    stored = email_receive(message=message)
    assert [a.filename for a in stored.attachments.all()] == ["small.pdf"]
    [refused] = stored.activity.metadata["refused_attachments"]
    assert refused["filename"] == "big.pdf" and refused["reason"].startswith("larger than")


# --- idempotency ---------------------------------------------------------------------------------
def counts():
    return (
        EmailMessage.objects.count(),
        EmailThread.objects.count(),
        Activity.objects.count(),
        Lead.all_objects.count(),
        Event.objects.count(),
        EmailAttachment.objects.count(),
    )


@pytest.mark.parametrize("name", ["new_inquiry.eml", "gmail_reply.eml", "with_attachment.eml"])
def test_the_same_message_id_twice_creates_nothing_the_second_time(sent, name):
    first = receive(name)
    before = counts()
    again = receive(name)
    assert again == first and counts() == before


def test_a_concurrent_delivery_that_committed_first_undoes_this_one():
    from emails import inbound

    incoming = inbound.read_message(sample("new_inquiry.eml"))
    # Another worker stored the same Message-ID after this one looked (and before it wrote).
    EmailMessageFactory(message_id=incoming.message_id, thread=EmailThreadFactory(lead=None))
    before = counts()
    with pytest.raises(inbound._AlreadyReceived):
        inbound._receive(incoming, None)
    assert counts() == before  # the lead it had made is gone with the rest


def test_a_message_without_message_id_is_recognised_when_delivered_again(lead):
    raw = compose(sender=MARIA, message_id=None).as_bytes()
    from anymail.inbound import AnymailInboundMessage

    first = email_receive(message=AnymailInboundMessage.parse_raw_mime_bytes(raw))
    before = counts()
    again = email_receive(message=AnymailInboundMessage.parse_raw_mime_bytes(raw))
    assert first.message_id.endswith("@no-message-id.invalid")
    assert again == first and counts() == before


# --- who sees it ---------------------------------------------------------------------------------
def test_mail_received_on_a_record_is_seen_by_those_who_see_the_record(
    sent, rep1, rep2, manager, viewer
):
    stored = receive("gmail_reply.eml")
    orphan = email_receive(message=compose(sender="stranger@nowhere.example"))
    assert stored in selectors.message_list(user=rep1)
    assert stored not in selectors.message_list(user=rep2)
    assert stored not in selectors.message_list(user=viewer)
    assert stored in selectors.message_list(user=manager)
    # Mail on no record: only for those who see every record.
    assert orphan not in selectors.message_list(user=rep1)
    assert orphan in selectors.message_list(user=manager)
    # Its activity on the timeline follows the same rule.
    assert stored.activity in activity_selectors.activity_list(user=rep1)
    assert stored.activity not in activity_selectors.activity_list(user=rep2)


def test_an_email_lead_is_seen_by_its_assignee_only_among_reps(
    rep1, rep2, django_capture_on_commit_callbacks
):
    AssignmentRuleFactory(users=[rep2])
    with django_capture_on_commit_callbacks(execute=True):
        stored = receive("new_inquiry.eml")
    assert stored in selectors.message_list(user=rep2)
    assert stored not in selectors.message_list(user=rep1)
