"""Celery tasks of leads: thin wrappers over the scoring services and the predictive model."""

from __future__ import annotations

import logging

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(acks_late=True)
def rescore_lead(lead_id: str) -> int | None:
    """Rescore one open lead (scheduled, coalesced, by ``scoring.services.request_rescore``)."""
    from leads.scoring.services import rescore_requested

    result = rescore_requested(lead_id)
    return None if result is None else result.changed


@shared_task(acks_late=True)
def rescore_all_leads() -> dict:
    """Nightly: rescore every open lead; the inactivity decay lowers idle leads' scores."""
    from leads.scoring.services import rescore_leads

    result = rescore_leads()
    summary = {
        "scored": result.scored,
        "changed": result.changed,
        "auto_qualified": len(result.auto_qualified),
        "seconds": round(result.seconds, 1),
    }
    logger.info("Nightly rescore: %s", summary)
    return summary


@shared_task(acks_late=True)
def train_conversion_model() -> str:
    """Nightly: retrain the conversion likelihood model on the finished leads."""
    from leads.predictive import train_conversion_model as train

    report = train()
    logger.info("Conversion model: %s", report.message)
    return report.message


@shared_task
def dispatch_events(event_ids: list[int]) -> int:
    """Hand a batch of outbox events (a bulk rescore's ``lead.score_changed``) to the
    workers, one message per event, without slowing the rescore itself."""
    from crm.events import dispatch

    for event_id in event_ids:
        dispatch(event_id)
    return len(event_ids)
