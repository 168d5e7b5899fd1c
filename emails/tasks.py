"""Celery tasks of email: thin wrappers that call one service each (SPEC §4)."""

from __future__ import annotations

from celery import shared_task

from emails import services

MAX_RETRIES = 5


@shared_task(
    bind=True,
    acks_late=True,
    autoretry_for=(services.TransientSendError,),
    retry_backoff=60,  # 1, 2, 4, 8, 16 minutes (with jitter), then the last attempt
    retry_backoff_max=3600,
    retry_jitter=True,
    max_retries=MAX_RETRIES,
)
def send_email_message(self, message_id: str) -> str:
    """Send one queued message. A transient failure is retried with backoff; the last attempt
    (or a permanent failure) marks the message failed and notifies its sender."""
    final = self.request.retries >= MAX_RETRIES
    return services.email_message_deliver(message_id=message_id, final_attempt=final)


@shared_task(acks_late=True)
def send_scheduled_email() -> int:
    """Beat, every minute: queue the scheduled messages whose time has come."""
    return services.email_queue_due()


@shared_task(acks_late=True)
def send_bulk_email(by_id: int, template_id: int, lead_ids: list[str], started: str = "") -> int:
    """One chunk of a bulk send (``emails.bulk``): the chunks are spaced out in time by
    their countdown, so a large audience is sent at a steady rate."""
    from emails import bulk

    return bulk.email_bulk_send_chunk(
        by_id=by_id, template_id=template_id, lead_ids=lead_ids, started=started
    )
