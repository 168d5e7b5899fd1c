"""Delivery and engagement of sent mail, from the provider's tracking webhook (issue 20).

anymail's tracking view for ``settings.EMAIL_PROVIDER`` (routed in ``emails.webhooks``)
checks the provider's signature and turns each event into an ``AnymailTrackingEvent`` on its
``tracking`` signal; ``on_tracking`` hands it to ``email_tracking_record``.

- delivered → the message is delivered; bounced (a final refusal: anymail reports a temporary
  one as "deferred", which changes nothing) → bounced; complained (marked as spam) →
  complained. A message never goes back: a late "delivered" does not undo a bounce.
- A bounce or a complaint (or the provider refusing an address for one of those reasons)
  marks the address (``EmailAddressStatus``, through ``emails.services``: no more mail to
  it) and stops the nurture sequences of the leads with that address. The provider's own
  unsubscribe marks it unsubscribed (marketing mail only).
- opened / clicked set ``opened_at`` / ``clicked_at`` (the first time) only when
  ``settings.EMAIL_TRACK_OPENS`` is on; otherwise they are ignored.

The message is found by the id our backend sent along (``metadata["pipecrm_message"]``), else
by the provider's message id. Events about mail we cannot find are ignored: a provider
account may send for other applications too.
"""

from __future__ import annotations

import logging

from anymail.signals import AnymailTrackingEvent, EventType, RejectReason
from anymail.signals import tracking as tracking_signal
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.dispatch import receiver
from django.utils import timezone

from activities.realtime import publish_activity_change
from emails import services
from emails.inbound import stop_sequences_to
from emails.models import EmailAddressStatus, EmailMessage

logger = logging.getLogger(__name__)

Status = EmailMessage.Status

# How far along a sent message is: an event may only move it forward.
_RANK = {
    Status.QUEUED: 0,
    Status.SENT: 1,
    Status.DELIVERED: 2,
    Status.BOUNCED: 3,
    Status.COMPLAINED: 4,
}
_STATUS_OF_EVENT = {
    EventType.DELIVERED: Status.DELIVERED,
    EventType.BOUNCED: Status.BOUNCED,
    EventType.COMPLAINED: Status.COMPLAINED,
}
# A provider refusing to send to an address it knows to be bad: the address is marked too.
_REJECT_STATUS = {
    RejectReason.BOUNCED: EmailAddressStatus.Status.BOUNCED,
    RejectReason.INVALID: EmailAddressStatus.Status.BOUNCED,
    RejectReason.SPAM: EmailAddressStatus.Status.COMPLAINED,
    RejectReason.UNSUBSCRIBED: EmailAddressStatus.Status.UNSUBSCRIBED,
}


def message_for_event(event: AnymailTrackingEvent) -> EmailMessage | None:
    """The sent message an event is about (``None``: not one of ours)."""
    ours = (event.metadata or {}).get("pipecrm_message")
    if ours:
        try:
            message = EmailMessage.objects.filter(pk=ours).first()
        except ValidationError:  # not a UUID: not ours
            message = None
        if message is not None:
            return message
    provider_id = str(event.message_id or "").strip()
    if not provider_id:
        return None
    message = EmailMessage.objects.filter(provider_message_id=provider_id).first()
    if message is not None:
        return message
    # A message to several recipients may carry one provider id each (space separated).
    candidates = EmailMessage.objects.filter(provider_message_id__contains=provider_id)[:10]
    return next((m for m in candidates if provider_id in m.provider_message_id.split()), None)


def _address_status(event: AnymailTrackingEvent) -> str | None:
    if event.event_type == EventType.BOUNCED:
        return EmailAddressStatus.Status.BOUNCED
    if event.event_type == EventType.COMPLAINED:
        return EmailAddressStatus.Status.COMPLAINED
    if event.event_type == EventType.UNSUBSCRIBED:
        return EmailAddressStatus.Status.UNSUBSCRIBED
    if event.event_type == EventType.REJECTED:
        return _REJECT_STATUS.get(event.reject_reason)
    return None


def _reason(event: AnymailTrackingEvent, esp_name: str) -> str:
    detail = event.description or event.mta_response or event.reject_reason or ""
    return f"{esp_name or 'Provider'} reported {event.event_type}: {detail}".strip(" :")[:2000]


@transaction.atomic
def email_tracking_record(
    *, event: AnymailTrackingEvent, esp_name: str = ""
) -> EmailMessage | None:
    """Apply one tracking event (see the module docstring). Returns the message it changed or
    was about; None when it is about no message of ours (the address is still marked on a
    bounce or complaint: the provider says it is bad whoever sent)."""
    address_status = _address_status(event)
    recipient = (event.recipient or "").strip().lower()
    if address_status and recipient:
        services.email_address_status_set(
            address=recipient, status=address_status, reason=_reason(event, esp_name)
        )
        if address_status != EmailAddressStatus.Status.UNSUBSCRIBED:
            what = "bounced" if address_status == EmailAddressStatus.Status.BOUNCED else "spam"
            stop_sequences_to(recipient, reason=f"Mail to {recipient}: {what}.")
    found = message_for_event(event)
    if found is None:
        return None
    message = EmailMessage.objects.select_for_update().get(pk=found.pk)
    changed = _apply(message, event, esp_name)
    if changed:
        message.save(update_fields=changed)
        if message.activity_id:
            publish_activity_change(message.activity_id, "email")
    return message


def _apply(message: EmailMessage, event: AnymailTrackingEvent, esp_name: str) -> list[str]:
    """Set what the event changes on ``message``; the names of the changed fields."""
    at = event.timestamp or timezone.now()
    if event.event_type in (EventType.OPENED, EventType.CLICKED):
        if not settings.EMAIL_TRACK_OPENS:
            return []
        name = "opened_at" if event.event_type == EventType.OPENED else "clicked_at"
        changed = [] if getattr(message, name) else [name]
        if changed:
            setattr(message, name, at)
        if name == "clicked_at" and message.opened_at is None:  # a click implies an open
            message.opened_at = at
            changed.append("opened_at")
        return changed
    status = _STATUS_OF_EVENT.get(event.event_type)
    if event.event_type == EventType.REJECTED:
        status = Status.FAILED
    if status is None or message.direction != EmailMessage.Direction.OUTBOUND:
        return []
    if status == Status.FAILED:
        if message.status in (Status.DELIVERED, Status.BOUNCED, Status.COMPLAINED):
            return []
    elif _RANK.get(status, 0) <= _RANK.get(message.status, -1):
        return []
    message.status = status
    changed = ["status"]
    if status in (Status.BOUNCED, Status.FAILED):
        message.error = _reason(event, esp_name)
        changed.append("error")
    return changed


@receiver(tracking_signal, dispatch_uid="emails.tracking.on_tracking")
def on_tracking(sender, event: AnymailTrackingEvent, esp_name: str, **kwargs) -> None:
    """anymail's tracking webhook (its signature already checked): apply the event."""
    email_tracking_record(event=event, esp_name=esp_name)
