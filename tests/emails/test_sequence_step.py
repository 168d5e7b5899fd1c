"""The sequence step that sends an email from a template (``SequenceStep.Kind.EMAIL``, run by
``emails.sequences``): marketing mail from the lead's assignee; skipped (and logged) for an
unsubscribed, bounced or non-consenting address; the sequence stops when the lead replies."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import pytest
import time_machine
from anymail.inbound import AnymailInboundMessage
from django.core import mail
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from activities import services as activity_services
from activities.models import Activity, Sequence, SequenceEnrollment, SequenceStep
from activities.tasks import advance_sequences
from emails.inbound import email_receive
from emails.models import EmailAddressStatus, EmailMessage
from privacy.models import Consent
from privacy.services import consent_record
from tests.emails.factories import EmailTemplateFactory
from tests.leads.factories import LeadFactory

MARIA = "maria@acme.example"
START = timezone.make_aware(datetime(2025, 3, 3, 9, 0))  # a Monday


@pytest.fixture(autouse=True)
def _eager(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True


@pytest.fixture
def template(db):
    return EmailTemplateFactory(
        name="Nurture 1", subject="Ideas for {{ lead.name }}", body="Hi {{ lead.contact_name }}"
    )


@pytest.fixture
def lead(rep1, rep2):
    return LeadFactory(
        owner=rep1,
        assigned_to=rep2,
        name="Fleet telematics",
        contact_name="Maria Lopez",
        contact_email=MARIA,
    )


def email_sequence(template, *, then=()) -> Sequence:
    sequence = Sequence.objects.create(name="Email nurture")
    SequenceStep.objects.create(
        sequence=sequence, order=1, kind=SequenceStep.Kind.EMAIL, email_template=template
    )
    for order, (delay, kind, value) in enumerate(then, start=2):
        step = SequenceStep(sequence=sequence, order=order, delay_days=delay, kind=kind)
        if kind == SequenceStep.Kind.EMAIL:
            step.email_template = value
        else:
            step.activity_type, step.subject = Activity.Type.CALL, value
        step.full_clean()
        step.save()
    return sequence


def enroll(by, sequence, lead, capture):
    with time_machine.travel(START, tick=False), capture(execute=True):
        return activity_services.sequence_enroll(by=by, sequence=sequence, lead=lead)


def test_an_email_step_sends_the_template_as_marketing_mail_from_the_assignee(
    rep1, rep2, lead, template, django_capture_on_commit_callbacks
):
    sequence = email_sequence(template, then=[(2, SequenceStep.Kind.ACTIVITY, "Call Maria")])
    enrollment = enroll(rep1, sequence, lead, django_capture_on_commit_callbacks)
    message = EmailMessage.objects.get()
    assert message.is_marketing and message.sender == rep2 and message.template == template
    assert message.thread.lead == lead and message.to == [MARIA]
    assert message.status == EmailMessage.Status.SENT
    [sent] = mail.outbox
    assert sent.subject == "Ideas for Fleet telematics" and "List-Unsubscribe" in sent.extra_headers
    assert message.activity.type == Activity.Type.EMAIL and message.activity.lead == lead
    enrollment.refresh_from_db()
    assert enrollment.steps_done == 1 and enrollment.status == SequenceEnrollment.Status.ACTIVE

    with time_machine.travel(START + timedelta(days=2, minutes=30), tick=False):
        advance_sequences()
    assert Activity.objects.filter(lead=lead, subject="Call Maria").exists()
    enrollment.refresh_from_db()
    assert enrollment.status == SequenceEnrollment.Status.COMPLETED


@pytest.mark.parametrize(
    "status", [EmailAddressStatus.Status.UNSUBSCRIBED, EmailAddressStatus.Status.BOUNCED]
)
def test_an_unsubscribed_or_bounced_address_skips_the_step_with_its_reason(
    rep1, lead, template, status, caplog, django_capture_on_commit_callbacks
):
    EmailAddressStatus.objects.create(address=MARIA, status=status)
    sequence = email_sequence(template)
    with caplog.at_level(logging.INFO, logger="activities.services"):
        enrollment = enroll(rep1, sequence, lead, django_capture_on_commit_callbacks)
    assert not EmailMessage.objects.exists() and not mail.outbox
    assert f"step 1 skipped ({MARIA} " in caplog.text
    assert ("unsubscribed" if status == "unsubscribed" else "bounced") in caplog.text
    enrollment.refresh_from_db()
    assert enrollment.steps_done == 1  # a skipped step counts as done


def test_a_withdrawn_consent_skips_the_step(
    rep1, lead, template, caplog, django_capture_on_commit_callbacks
):
    consent_record(
        by=rep1,
        lead=lead,
        purpose=Consent.Purpose.MARKETING,
        status=Consent.Status.WITHDRAWN,
        source=Consent.Source.MANUAL,
    )
    with caplog.at_level(logging.INFO, logger="activities.services"):
        enroll(rep1, email_sequence(template), lead, django_capture_on_commit_callbacks)
    assert not EmailMessage.objects.exists()
    assert "withdrew consent to marketing mail" in caplog.text


def test_without_consent_the_step_is_skipped_when_sequences_require_it(
    settings, rep1, lead, template, caplog, django_capture_on_commit_callbacks
):
    settings.SEQUENCES_REQUIRE_MARKETING_CONSENT = True
    with caplog.at_level(logging.INFO, logger="activities.services"):
        enroll(rep1, email_sequence(template), lead, django_capture_on_commit_callbacks)
    assert not EmailMessage.objects.exists() and "no marketing consent" in caplog.text


def test_a_lead_without_address_or_a_step_without_template_is_skipped(
    rep1, lead, template, caplog, django_capture_on_commit_callbacks
):
    sequence = email_sequence(template)
    nobody = LeadFactory(owner=rep1, contact_email="")
    with caplog.at_level(logging.INFO, logger="activities.services"):
        enroll(rep1, sequence, nobody, django_capture_on_commit_callbacks)
        template.delete()  # the step stays, without its template
        enroll(rep1, sequence, lead, django_capture_on_commit_callbacks)
    assert not EmailMessage.objects.exists()
    assert "the lead has no email address" in caplog.text
    assert "its email template was deleted" in caplog.text
    assert SequenceStep.objects.get().email_template is None


def test_an_inactive_template_skips_the_step(
    rep1, lead, template, caplog, django_capture_on_commit_callbacks
):
    template.is_active = False
    template.save(update_fields=["is_active"])
    with caplog.at_level(logging.INFO, logger="activities.services"):
        enroll(rep1, email_sequence(template), lead, django_capture_on_commit_callbacks)
    assert not EmailMessage.objects.exists() and "no longer in use" in caplog.text


def reply_to(message: EmailMessage) -> AnymailInboundMessage:
    raw = (
        f"From: Maria Lopez <{MARIA}>\r\n"
        "To: crm@pipecrm.localhost\r\n"
        f"Subject: Re: {message.subject}\r\n"
        "Message-ID: <reply-1@acme.example>\r\n"
        f"In-Reply-To: <{message.message_id}>\r\n"
        f"References: <{message.message_id}>\r\n"
        "Date: Tue, 04 Mar 2025 10:00:00 +0000\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        "Interesting, tell me more.\r\n"
    )
    return AnymailInboundMessage.parse_raw_mime_bytes(raw.encode())


def test_a_reply_stops_the_sequence_before_its_next_email(
    rep1, lead, template, django_capture_on_commit_callbacks
):
    second = EmailTemplateFactory(name="Nurture 2", subject="Case study", body="Hi")
    sequence = email_sequence(template, then=[(2, SequenceStep.Kind.EMAIL, second)])
    enrollment = enroll(rep1, sequence, lead, django_capture_on_commit_callbacks)
    first = EmailMessage.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        received = email_receive(message=reply_to(first))
    assert received.thread_id == first.thread_id
    enrollment.refresh_from_db()
    assert enrollment.status == SequenceEnrollment.Status.STOPPED
    assert "replied" in enrollment.stop_reason
    with time_machine.travel(START + timedelta(days=3), tick=False):
        advance_sequences()
    assert EmailMessage.objects.filter(direction="outbound").count() == 1
    assert [m.subject for m in mail.outbox] == ["Ideas for Fleet telematics"]


def test_an_email_step_needs_a_template_and_contacts_as_an_email(template):
    sequence = Sequence.objects.create(name="S")
    step = SequenceStep(sequence=sequence, order=1, kind=SequenceStep.Kind.EMAIL)
    with pytest.raises(ValidationError) as error:
        step.full_clean()
    assert "email_template" in error.value.message_dict
    step.email_template = template
    step.full_clean()
    assert step.activity_type == Activity.Type.EMAIL and step.subject == ""
    activity = SequenceStep(sequence=sequence, order=2, kind=SequenceStep.Kind.ACTIVITY)
    with pytest.raises(ValidationError) as error:
        activity.full_clean()
    assert "subject" in error.value.message_dict


def test_the_sequence_admin_edits_the_step_kind_and_template(client, admin_user, template):
    sequence = email_sequence(template)
    client.force_login(admin_user)
    html = client.get(reverse("admin:activities_sequence_change", args=[sequence.pk])).text
    assert 'name="steps-0-kind"' in html and 'name="steps-0-email_template"' in html
    assert f'<option value="{template.pk}" selected>Nurture 1</option>' in html
    assert "Send an email from a template" in html
