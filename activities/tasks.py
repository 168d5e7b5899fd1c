"""Celery tasks of activities: thin wrappers that call one service each (SPEC §4)."""

from __future__ import annotations

from celery import shared_task

from activities import services, webhooks


@shared_task(acks_late=True)
def notify_overdue_activities() -> int:
    """Beat, every 15 minutes: ``activity.overdue`` + a toast, once per activity."""
    return services.activity_notify_overdue()


@shared_task(acks_late=True)
def advance_sequences() -> int:
    """Beat, every 5 minutes: the due step of each active nurture enrolment."""
    return services.sequence_advance_due()


@shared_task(acks_late=True)
def deliver_webhook(delivery_id: str, force: bool = False) -> str:
    """One attempt of one webhook delivery; a failure schedules the next (``retry_webhooks``
    picks it up when due), the fifth failure marks it failed."""
    delivery = webhooks.delivery_attempt(delivery_id, force=force)
    return delivery.status if delivery is not None else "skipped"


@shared_task
def retry_webhooks() -> int:
    """Beat, every minute: queue the deliveries whose next attempt is due."""
    return webhooks.retry_due()
