"""Celery tasks of duplicate detection: thin wrappers over its services."""

from __future__ import annotations

import logging

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(acks_late=True)
def find_duplicates() -> dict:
    """Nightly: find candidate pairs among the records changed since the last run."""
    from duplicates.services import duplicates_find

    result = duplicates_find()
    summary = {
        "checked": result.checked,
        "pairs": result.pairs,
        "seconds": round(result.seconds, 1),
    }
    logger.info("Nightly duplicates: %s", summary)
    return summary
