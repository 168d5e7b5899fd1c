"""Sending from a record (``emails.services.email_send``): the thread, the message and its
email activity; threading headers on a reply; scheduling; blocked addresses, consent,
attachments and permissions."""

from datetime import timedelta

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from activities.models import Activity
from crm import permissions
from crm.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from emails import services
from emails.models import EmailAddressStatus, EmailAttachment, EmailMessage, EmailThread
from privacy.models import Consent
from tests.deals.factories import make_deal
from tests.emails.factories import EmailMessageFactory, EmailTemplateFactory, EmailThreadFactory
from tests.factories import PersonFactory
from tests.leads.factories import LeadFactory

ANN = "ann@acme.example"


@pytest.fixture
def lead(rep1):
    return LeadFactory(
        owner=rep1, name="Fleet telematics", contact_name="Ann Lee", contact_email=ANN
    )


def send(by, record, **kwargs):
    values = {"to": [ANN], "subject": "Hello", "body": "Hi there"}
    return services.email_send(by=by, record=record, **{**values, **kwargs})


def test_sending_from_a_lead_makes_a_thread_a_message_and_an_email_activity(
    rep1, lead, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        message = send(
            rep1, lead, subject="About {{ lead.name }}", body="Hi **Ann**", cc="b@x.example"
        )
    message.refresh_from_db()
    assert message.status == EmailMessage.Status.SENT and message.attempts == 1
    assert message.subject == "About Fleet telematics" and message.sent_at
    assert message.thread.lead == lead and message.thread.subject == "About Fleet telematics"
    assert message.to == [ANN] and message.cc == ["b@x.example"] and message.sender == rep1
    assert message.html_body == "<p>Hi <strong>Ann</strong></p>"
    assert "<" not in message.message_id and message.message_id.endswith("@pipecrm.localhost")
    activity = message.activity
    assert (activity.type, activity.direction) == (Activity.Type.EMAIL, Activity.Direction.OUTBOUND)
    assert activity.is_done and activity.lead == lead and activity.subject == message.subject
    assert activity.metadata == {"email_message": str(message.pk)}
    lead.refresh_from_db()
    assert lead.last_activity_at is not None

    [sent] = mail.outbox
    assert (
        sent.subject == "About Fleet telematics" and sent.to == [ANN] and sent.cc == ["b@x.example"]
    )
    assert sent.extra_headers["Message-ID"] == f"<{message.message_id}>"
    assert sent.from_email == f"{rep1.display_name} <crm@pipecrm.localhost>"
    assert sent.alternatives[0][0] == "<p>Hi <strong>Ann</strong></p>"
    assert "List-Unsubscribe" not in sent.extra_headers  # one-to-one mail


def test_nothing_is_sent_before_commit(rep1, lead, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        message = send(rep1, lead)
    assert message.status == EmailMessage.Status.QUEUED and mail.outbox == []
    assert [c for c in callbacks if "_enqueue_on_commit" in c.__qualname__]


def test_people_and_deals_send_too_on_their_own_thread(rep1):
    person = PersonFactory(owner=rep1, email=ANN)
    deal = make_deal(rep1, person=person)
    by_person = send(rep1, person)
    by_deal = send(rep1, deal)
    assert by_person.thread.person == person and by_person.thread.lead is None
    assert by_deal.thread.deal == deal and by_deal.activity.deal == deal
    assert by_deal.activity.person == person  # the deal's person's timeline shows it too


def test_a_template_fills_subject_and_body(rep1, lead):
    template = EmailTemplateFactory()
    message = services.email_send(by=rep1, record=lead, to=[ANN], template=template)
    assert message.subject == "Following up on Fleet telematics"
    assert message.text_body.startswith("Hi Ann Lee,") and message.template == template
    template.is_active = False
    template.save()
    with pytest.raises(ValidationFailed):
        services.email_send(by=rep1, record=lead, to=[ANN], template=template)


def test_a_reply_joins_the_thread_with_threading_headers(
    rep1, lead, django_capture_on_commit_callbacks
):
    thread = EmailThreadFactory(lead=lead, subject="Proposal")
    received = EmailMessageFactory(
        thread=thread,
        direction=EmailMessage.Direction.INBOUND,
        status=EmailMessage.Status.RECEIVED,
        from_address="maria@acme.example",
        subject="Re: Proposal",
        message_id="CAF3kLq7x@mail.gmail.com",
        references="root-1@pipecrm.localhost",
        in_reply_to="root-1@pipecrm.localhost",
    )
    with django_capture_on_commit_callbacks(execute=True):
        reply = services.email_send(by=rep1, reply_to=received, body="Thanks!")
    assert reply.thread == thread and EmailThread.objects.count() == 1
    assert reply.subject == "Re: Proposal" and reply.to == ["maria@acme.example"]
    assert reply.in_reply_to == "CAF3kLq7x@mail.gmail.com"
    assert reply.references == "root-1@pipecrm.localhost CAF3kLq7x@mail.gmail.com"
    [sent] = mail.outbox
    assert sent.extra_headers["In-Reply-To"] == "<CAF3kLq7x@mail.gmail.com>"
    assert (
        sent.extra_headers["References"] == "<root-1@pipecrm.localhost> <CAF3kLq7x@mail.gmail.com>"
    )
    thread.refresh_from_db()
    assert thread.last_message_at == reply.created_at

    second = services.email_send(by=rep1, reply_to=reply, body="And one more thing")
    assert second.references.split() == [
        "root-1@pipecrm.localhost",
        "CAF3kLq7x@mail.gmail.com",
        reply.message_id,
    ]


def test_a_reply_cannot_move_to_another_record(rep1, lead):
    message = EmailMessageFactory(thread=EmailThreadFactory(lead=lead))
    other = LeadFactory(owner=rep1)
    with pytest.raises(ValidationFailed) as exc:
        services.email_send(by=rep1, record=other, reply_to=message, to=[ANN], body="x")
    assert "reply_to" in exc.value.details


# --- scheduling ----------------------------------------------------------------------------------
def test_scheduled_mail_waits_for_its_time(rep1, lead, django_capture_on_commit_callbacks):
    later = timezone.now() + timedelta(hours=2)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        message = services.email_schedule(
            by=rep1, record=lead, to=[ANN], subject="Later", body="x", scheduled_at=later
        )
    assert not [c for c in callbacks if "_enqueue_on_commit" in c.__qualname__]
    assert mail.outbox == []
    assert message.status == EmailMessage.Status.SCHEDULED and message.scheduled_at == later
    assert message.activity.is_done is False and message.activity.due_at == later

    assert services.email_queue_due(now=later - timedelta(minutes=1)) == 0
    with django_capture_on_commit_callbacks(execute=True):
        assert services.email_queue_due(now=later) == 1
    message.refresh_from_db()
    assert message.status == EmailMessage.Status.SENT and len(mail.outbox) == 1
    message.activity.refresh_from_db()
    assert message.activity.is_done  # the planned email went out


def test_scheduling_in_the_past_is_refused_and_naive_times_too(rep1, lead):
    with pytest.raises(ValidationFailed):
        services.email_schedule(
            by=rep1, record=lead, to=[ANN], subject="x", body="y",
            scheduled_at=timezone.now() - timedelta(minutes=1),
        )  # fmt: skip
    with pytest.raises(ValidationFailed):
        send(rep1, lead, scheduled_at=(timezone.now() + timedelta(hours=1)).replace(tzinfo=None))


def test_a_scheduled_message_can_be_cancelled(rep1, rep2, lead):
    message = services.email_schedule(
        by=rep1, record=lead, to=[ANN], subject="x", body="y",
        scheduled_at=timezone.now() + timedelta(days=1),
    )  # fmt: skip
    activity_id = message.activity_id
    with pytest.raises(PermissionDenied):
        services.email_cancel(by=rep2, message=message)
    cancelled = services.email_cancel(by=rep1, message=message)
    assert cancelled.status == EmailMessage.Status.DRAFT and cancelled.activity is None
    assert not Activity.objects.filter(pk=activity_id).exists()
    with pytest.raises(Conflict):
        services.email_cancel(by=rep1, message=cancelled)


# --- recipients and content ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"to": []}, "to"),
        ({"to": ["not an address"]}, "to"),
        ({"cc": ["x@"]}, "cc"),
        ({"bcc": "a@b.example, c"}, "bcc"),
        ({"subject": "  "}, "subject"),
        ({"body": ""}, "body"),
        ({"to": [f"p{i}@x.example" for i in range(51)]}, "to"),
        ({"subject": "{{ lead.nope }}"}, "subject"),
    ],
)
def test_invalid_messages_are_refused(rep1, lead, kwargs, field):
    with pytest.raises(ValidationFailed) as exc:
        send(rep1, lead, **kwargs)
    assert field in exc.value.details
    assert not EmailMessage.objects.exists() and not Activity.objects.exists()


def test_addresses_are_read_from_lists_and_texts_and_deduplicated(rep1, lead):
    message = send(
        rep1, lead, to="Ann Lee <ann@acme.example>, ANN@acme.example; ", bcc=["z@y.example"]
    )
    assert message.to == [ANN] and message.bcc == ["z@y.example"]


@pytest.mark.parametrize(
    ("status", "marketing", "blocked"),
    [
        (EmailAddressStatus.Status.BOUNCED, False, True),
        (EmailAddressStatus.Status.COMPLAINED, False, True),
        (EmailAddressStatus.Status.UNSUBSCRIBED, False, False),
        (EmailAddressStatus.Status.UNSUBSCRIBED, True, True),
    ],
)
def test_blocked_addresses_are_refused_with_the_reason(rep1, lead, status, marketing, blocked):
    EmailAddressStatus.objects.create(address="Ann@Acme.example", status=status)
    if not blocked:
        assert send(rep1, lead, is_marketing=marketing).pk
        return
    with pytest.raises(ValidationFailed) as exc:
        send(rep1, lead, is_marketing=marketing)
    assert exc.value.code == "address_blocked"
    assert ANN in exc.value.details["to"][0]
    assert {"bounced": "bounced", "complained": "spam", "unsubscribed": "unsubscribed"}[
        status
    ] in exc.value.message


def test_marketing_mail_goes_to_one_consenting_recipient(rep1, lead):
    with pytest.raises(ValidationFailed) as exc:
        send(rep1, lead, is_marketing=True, to=[ANN, "b@x.example"])
    assert "to" in exc.value.details
    Consent.objects.create(lead=lead, status=Consent.Status.WITHDRAWN)
    with pytest.raises(ValidationFailed) as exc:
        send(rep1, lead, is_marketing=True)
    assert exc.value.code == "no_consent"
    assert send(rep1, lead).pk  # one-to-one mail still goes


def test_attachments_are_stored_and_sent(rep1, lead, django_capture_on_commit_callbacks):
    upload = SimpleUploadedFile("offer.pdf", b"%PDF-1.4 tiny", content_type="application/pdf")
    with django_capture_on_commit_callbacks(execute=True):
        message = send(rep1, lead, attachments=[upload, ("notes.txt", b"hello", "text/plain")])
    stored = list(message.attachments.order_by("pk"))
    assert [(a.filename, a.content_type, a.size) for a in stored] == [
        ("offer.pdf", "application/pdf", 13),
        ("notes.txt", "text/plain", 5),
    ]
    assert stored[0].file.name.startswith("email/") and stored[0].file.read() == b"%PDF-1.4 tiny"
    [sent] = mail.outbox
    assert [tuple(a) for a in sent.attachments] == [
        ("offer.pdf", b"%PDF-1.4 tiny", "application/pdf"),
        ("notes.txt", "hello", "text/plain"),  # text is attached as text
    ]


def test_attachments_over_the_size_limit_are_refused(rep1, lead, settings):
    settings.EMAIL_MAX_ATTACHMENT_BYTES = 10
    with pytest.raises(ValidationFailed) as exc:
        send(rep1, lead, attachments=[("big.bin", b"x" * 11, "")])
    assert exc.value.code == "attachment_refused"
    assert "big.bin is larger than 10" in exc.value.details["attachments"][0]
    assert not EmailAttachment.objects.exists() and not EmailMessage.objects.exists()
    assert send(rep1, lead, attachments=[("ok.bin", b"x" * 10, "")]).attachments.count() == 1


# --- permissions ---------------------------------------------------------------------------------
def test_a_rep_cannot_send_from_a_record_it_cannot_see(rep1, rep2, lead):
    with pytest.raises(NotFound):
        send(rep2, lead)
    assert not EmailMessage.objects.exists()


def test_seeing_a_record_is_not_enough_to_send_from_it(rep1, rep2, analyst, viewer, lead):
    permissions.share(rep2, lead)
    permissions.share(viewer, lead)
    for user in (rep2, analyst, viewer):
        with pytest.raises(PermissionDenied):
            send(user, lead)
    assert not EmailMessage.objects.exists()


def test_managers_send_from_any_record_and_assignees_from_theirs(rep1, rep2, manager, lead):
    assert send(manager, lead).sender == manager
    permissions.move_assignee(lead, previous=None, new=rep2, owner=rep1)
    assert send(rep2, lead).sender == rep2


def test_a_deleted_record_is_not_found(rep1, lead):
    lead.deleted_at = timezone.now()
    lead.save(update_fields=["deleted_at"])
    with pytest.raises(NotFound):
        send(rep1, lead)
