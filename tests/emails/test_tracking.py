"""Delivery and engagement events from the provider (emails.tracking): the message's status,
bounced and complained addresses, sequences stopped, opens and clicks behind their setting."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from anymail.signals import AnymailTrackingEvent, EventType, RejectReason, tracking

from activities import services as activity_services
from activities.models import SequenceEnrollment
from emails import selectors
from emails.models import EmailAddressStatus, EmailMessage
from emails.tracking import email_tracking_record, message_for_event
from tests.activities.factories import SequenceFactory
from tests.emails.factories import EmailMessageFactory
from tests.emails.inbound_support import MARIA, PROVIDER_ID, maria_lead, proposal

pytestmark = pytest.mark.django_db

AT = datetime(2024, 6, 3, 17, 20, tzinfo=UTC)
Status = EmailMessage.Status


@pytest.fixture
def lead(rep1):
    return maria_lead(rep1)


@pytest.fixture
def sent(lead, rep1):
    return proposal(lead, rep1)


def event(kind: str, **fields) -> AnymailTrackingEvent:
    values = {"message_id": PROVIDER_ID, "recipient": MARIA, "timestamp": AT, **fields}
    return AnymailTrackingEvent(event_type=kind, **values)


def track(kind: str, **fields) -> EmailMessage | None:
    return email_tracking_record(event=event(kind, **fields), esp_name="Mailgun")


def enrolled(lead, rep1) -> SequenceEnrollment:
    sequence = SequenceFactory(steps=[(3, "task", "Check in")])
    return activity_services.sequence_enroll(by=rep1, sequence=sequence, lead=lead)


def test_delivered(sent):
    assert track(EventType.DELIVERED).status == Status.DELIVERED
    sent.refresh_from_db()
    assert sent.status == Status.DELIVERED


def test_a_hard_bounce_marks_the_message_and_the_address_and_stops_sequences(sent, lead, rep1):
    enrollment = enrolled(lead, rep1)
    message = track(EventType.BOUNCED, description="550 5.1.1 The email account does not exist")
    assert message.status == Status.BOUNCED and "does not exist" in message.error
    status = EmailAddressStatus.objects.get(address=MARIA)
    assert status.status == EmailAddressStatus.Status.BOUNCED and "Mailgun" in status.reason
    assert selectors.address_blocked(MARIA, marketing=False) == "bounced"
    enrollment.refresh_from_db()
    assert enrollment.status == SequenceEnrollment.Status.STOPPED
    assert MARIA in enrollment.stop_reason


def test_a_deferred_delivery_is_no_bounce(sent, lead, rep1):
    enrollment = enrolled(lead, rep1)
    assert track(EventType.DEFERRED).status == Status.SENT
    assert not EmailAddressStatus.objects.exists()
    enrollment.refresh_from_db()
    assert enrollment.status == SequenceEnrollment.Status.ACTIVE


def test_a_complaint_blocks_all_mail_to_the_address(sent, lead, rep1):
    enrollment = enrolled(lead, rep1)
    assert track(EventType.COMPLAINED).status == Status.COMPLAINED
    assert selectors.address_blocked(MARIA.upper(), marketing=False) == "complained"
    enrollment.refresh_from_db()
    assert enrollment.status == SequenceEnrollment.Status.STOPPED


def test_a_late_delivered_event_does_not_undo_a_bounce(sent):
    track(EventType.BOUNCED)
    assert track(EventType.DELIVERED).status == Status.BOUNCED


def test_a_bounce_is_not_downgraded_by_an_unsubscribe(sent):
    track(EventType.BOUNCED)
    track(EventType.UNSUBSCRIBED)
    assert EmailAddressStatus.objects.get().status == EmailAddressStatus.Status.BOUNCED


def test_the_providers_unsubscribe_blocks_marketing_mail_only(sent, lead, rep1):
    enrollment = enrolled(lead, rep1)
    track(EventType.UNSUBSCRIBED)
    assert selectors.address_blocked(MARIA, marketing=True) == "unsubscribed"
    assert selectors.address_blocked(MARIA, marketing=False) is None
    enrollment.refresh_from_db()
    assert enrollment.status == SequenceEnrollment.Status.ACTIVE


@pytest.mark.parametrize(
    ("reason", "address_status"),
    [
        (RejectReason.BOUNCED, EmailAddressStatus.Status.BOUNCED),
        (RejectReason.SPAM, EmailAddressStatus.Status.COMPLAINED),
        (RejectReason.OTHER, None),
    ],
)
def test_a_refusal_by_the_provider_fails_the_message(sent, reason, address_status):
    message = track(EventType.REJECTED, reject_reason=reason)
    assert message.status == Status.FAILED and reason in message.error
    assert (
        EmailAddressStatus.objects.filter(address=MARIA).values_list("status", flat=True).first()
        == address_status
    )


def test_opens_and_clicks_are_ignored_unless_tracking_is_on(sent, settings):
    settings.EMAIL_TRACK_OPENS = False
    track(EventType.OPENED)
    track(EventType.CLICKED, click_url="https://example.com")
    sent.refresh_from_db()
    assert (sent.opened_at, sent.clicked_at, sent.status) == (None, None, Status.SENT)


def test_opens_and_clicks_keep_their_first_time_when_tracking_is_on(sent, settings):
    settings.EMAIL_TRACK_OPENS = True
    later = datetime(2024, 6, 4, 9, 0, tzinfo=UTC)
    track(EventType.CLICKED, click_url="https://example.com")  # a click implies an open
    track(EventType.OPENED, timestamp=later)
    track(EventType.CLICKED, timestamp=later)
    sent.refresh_from_db()
    assert (sent.opened_at, sent.clicked_at) == (AT, AT)
    assert sent.status == Status.SENT


def test_the_message_is_found_by_our_metadata_first(lead, rep1):
    sent = proposal(lead, rep1)
    other = EmailMessageFactory(provider_message_id="")
    found = message_for_event(
        event(EventType.DELIVERED, metadata={"pipecrm_message": str(other.pk)})
    )
    assert found == other != sent
    assert (
        message_for_event(event(EventType.DELIVERED, metadata={"pipecrm_message": "junk"})) == sent
    )


def test_one_provider_id_among_several_finds_its_message(lead, rep1):
    message = EmailMessageFactory(provider_message_id="<a1@mg> <b2@mg>")
    assert message_for_event(event(EventType.DELIVERED, message_id="<b2@mg>")) == message
    assert message_for_event(event(EventType.DELIVERED, message_id="<b2@m")) is None


def test_events_about_mail_that_is_not_ours_change_no_message(sent):
    assert track(EventType.DELIVERED, message_id="someone-else@mg") is None
    sent.refresh_from_db()
    assert sent.status == Status.SENT
    # The provider still says the address bounces: nobody should write to it.
    assert track(EventType.BOUNCED, message_id="someone-else@mg", recipient="x@y.example") is None
    assert selectors.address_blocked("x@y.example", marketing=False) == "bounced"


def test_a_received_message_is_never_given_a_delivery_status(lead):
    received = EmailMessageFactory(
        direction=EmailMessage.Direction.INBOUND,
        status=Status.RECEIVED,
        provider_message_id="in@mg",
    )
    track(EventType.DELIVERED, message_id="in@mg")
    received.refresh_from_db()
    assert received.status == Status.RECEIVED


def test_the_tracking_signal_reaches_the_receiver(sent):
    tracking.send(sender=object, event=event(EventType.DELIVERED), esp_name="Mailgun")
    sent.refresh_from_db()
    assert sent.status == Status.DELIVERED
