"""The sending task: retries with backoff, failure visible on the message and notified to the
sender, the provider's message id (anymail), the scheduled-mail sweep."""

import smtplib
from datetime import timedelta

import pytest
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.backends.locmem import EmailBackend as LocmemBackend
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from crm.models import Notification
from emails import services, tasks
from emails.models import EmailAddressStatus, EmailMessage
from tests.leads.factories import LeadFactory

ANN = "ann@acme.example"


class FlakyBackend(BaseEmailBackend):
    """Fails ``failures`` times (a dropped connection), then sends like locmem."""

    failures = 2
    calls = 0

    def send_messages(self, messages):
        type(self).calls += 1
        if type(self).calls <= type(self).failures:
            raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
        return LocmemBackend().send_messages(messages)


class RefusingBackend(BaseEmailBackend):
    calls = 0

    def send_messages(self, messages):
        type(self).calls += 1
        raise smtplib.SMTPRecipientsRefused({ANN: (550, b"No such user")})


@pytest.fixture
def flaky(settings):
    settings.EMAIL_BACKEND = f"{__name__}.FlakyBackend"
    FlakyBackend.calls = 0
    return FlakyBackend


@pytest.fixture
def queued(rep1):
    """A queued message whose task has not run yet (the test runs it)."""
    lead = LeadFactory(owner=rep1, name="Fleet")
    return services.email_send(by=rep1, record=lead, to=[ANN], subject="Hello", body="Hi")


def run(message) -> str:
    """The task as a worker runs it, its retries included (eager: back to back)."""
    return tasks.send_email_message.apply(args=[str(message.pk)]).get()


def test_a_backend_that_fails_twice_then_succeeds_sends_on_the_third_attempt(flaky, queued):
    assert run(queued) == EmailMessage.Status.SENT
    queued.refresh_from_db()
    assert queued.status == EmailMessage.Status.SENT and queued.attempts == 3
    assert queued.error == "" and len(mail.outbox) == 1
    assert not Notification.objects.exists()


def test_the_task_retries_with_backoff_up_to_five_times():
    task = tasks.send_email_message
    assert task.autoretry_for == (services.TransientSendError,)
    assert (task.max_retries, task.retry_backoff, task.retry_jitter) == (5, 60, True)


def test_a_message_that_keeps_failing_is_marked_failed_and_its_sender_notified(flaky, queued, rep1):
    flaky.failures = 99
    try:
        assert run(queued) == EmailMessage.Status.FAILED
    finally:
        flaky.failures = 2
    queued.refresh_from_db()
    assert queued.status == EmailMessage.Status.FAILED
    assert queued.attempts == 6  # the first attempt and five retries
    assert "SMTPServerDisconnected" in queued.error and mail.outbox == []
    [note] = Notification.objects.all()
    assert note.user == rep1 and note.title == "Email not sent: Hello"
    assert note.url == f"/leads/{queued.thread.lead_id}/" and "SMTPServerDisconnected" in note.body


def test_a_refused_recipient_fails_at_once(settings, queued):
    settings.EMAIL_BACKEND = f"{__name__}.RefusingBackend"
    RefusingBackend.calls = 0
    assert run(queued) == EmailMessage.Status.FAILED
    queued.refresh_from_db()
    assert queued.attempts == 1 and RefusingBackend.calls == 1
    assert "SMTPRecipientsRefused" in queued.error


def test_a_transient_failure_is_recorded_and_raised_for_the_retry(flaky, queued):
    with pytest.raises(services.TransientSendError):
        services.email_message_deliver(message_id=queued.pk)
    queued.refresh_from_db()
    assert queued.status == EmailMessage.Status.QUEUED and queued.attempts == 1
    assert "Connection unexpectedly closed" in queued.error


def test_a_message_is_sent_once_even_when_its_task_runs_twice(queued):
    assert run(queued) == EmailMessage.Status.SENT
    assert run(queued) == EmailMessage.Status.SENT
    assert len(mail.outbox) == 1
    assert services.email_message_deliver(message_id="00000000-0000-0000-0000-000000000000") == (
        "missing"
    )


def test_the_provider_message_id_is_recorded_through_anymail(settings, queued):
    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
    assert run(queued) == EmailMessage.Status.SENT
    queued.refresh_from_db()
    [sent] = mail.outbox
    assert queued.provider_message_id == str(sent.anymail_status.message_id)
    assert queued.provider_message_id != ""
    params = sent.anymail_test_params
    assert params["metadata"] == {"pipecrm_message": str(queued.pk)}
    assert params["tags"] == ["one-to-one"]
    assert params["extra_headers"]["Message-ID"] == f"<{queued.message_id}>"


def test_an_address_that_bounced_since_writing_is_not_sent_to(queued, rep1):
    EmailAddressStatus.objects.create(address=ANN, status=EmailAddressStatus.Status.BOUNCED)
    assert run(queued) == EmailMessage.Status.FAILED
    queued.refresh_from_db()
    assert queued.attempts == 0 and "bounced" in queued.error and mail.outbox == []
    assert Notification.objects.filter(user=rep1).count() == 1


def test_the_sweep_queues_due_scheduled_mail_and_re_hands_lost_tasks(
    rep1, django_capture_on_commit_callbacks
):
    lead = LeadFactory(owner=rep1)
    now = timezone.now()
    due = services.email_schedule(
        by=rep1,
        record=lead,
        to=[ANN],
        subject="Due",
        body="x",
        scheduled_at=now + timedelta(hours=1),
    )
    later = services.email_schedule(
        by=rep1,
        record=lead,
        to=[ANN],
        subject="Later",
        body="x",
        scheduled_at=now + timedelta(days=1),
    )
    lost = services.email_send(by=rep1, record=lead, to=[ANN], subject="Lost", body="x")
    EmailMessage.objects.filter(pk=lost.pk).update(queued_at=now - timedelta(minutes=11))
    with django_capture_on_commit_callbacks(execute=True):
        handed = services.email_queue_due(now=now + timedelta(hours=1))
    assert handed == 2
    statuses = dict(EmailMessage.objects.values_list("subject", "status"))
    assert statuses == {"Due": "sent", "Later": "scheduled", "Lost": "sent"}
    assert sorted(m.subject for m in mail.outbox) == ["Due", "Lost"]
    assert due.pk and later.pk


def test_the_sweep_task_runs_every_minute_from_beat(db):
    periodic = PeriodicTask.objects.get(task="emails.tasks.send_scheduled_email")
    assert periodic.enabled and periodic.interval.every == 60
    assert tasks.send_scheduled_email.apply().get() == 0
