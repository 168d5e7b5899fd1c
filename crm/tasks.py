import logging

from celery import shared_task
from celery.signals import worker_ready
from django.core.cache import cache
from django.utils import timezone

from crm import events, services

logger = logging.getLogger(__name__)
HEARTBEAT_KEY = "pipecrm:worker-heartbeat"


@shared_task(acks_late=True)
def process_event(event_id: int) -> bool:
    """Run an event's handlers. A failed one is not retried here: the event keeps when it is
    due again, and the re-dispatch beat task sends it back (``crm.events``)."""
    return events.process(event_id)


@shared_task
def dispatch_events(event_ids: list[int]) -> int:
    """Hand a batch of outbox events (``events.emit_many``) to the workers, one message per
    event, without slowing the transaction that wrote them."""
    for event_id in event_ids:
        events.dispatch(event_id)
    return len(event_ids)


@shared_task
def redispatch_events() -> int:
    return events.redispatch_stale()


@shared_task
def worker_heartbeat() -> str:
    now = timezone.now().isoformat()
    cache.set(HEARTBEAT_KEY, now, timeout=None)
    return now


@worker_ready.connect
def _heartbeat_on_worker_ready(**kwargs) -> None:
    # A fresh worker reports at once instead of waiting for beat's first tick.
    worker_heartbeat()


@shared_task(acks_late=True)
def import_run(job_id: int) -> str:
    """Write a queued spreadsheet import (``crm.services.import_run``); a redelivered task
    resumes after the last batch committed."""
    job = services.import_run(job_id=job_id)
    return job.status if job is not None else "missing"


@shared_task(acks_late=True)
def import_undo(job_id: int) -> str:
    job = services.import_undo_run(job_id=job_id)
    return job.status if job is not None else "missing"


def run_in_thread(task, job_id: int) -> None:
    """The embedded default's stand-in for a worker (``crm.services._schedule``): the task's
    body in a thread, closing the thread's database connection after."""
    from django.db import connection

    try:
        task.run(job_id)
    except Exception:
        logger.exception("Import task %s failed for job %s", task.name, job_id)
    finally:
        connection.close()


@shared_task
def rebuild_board_tallies() -> dict:
    """Count every board record again into the column tallies (``crm.records.tallies``):
    nightly, so that what reached the records without an event (a bulk ``UPDATE``) is counted
    too."""
    from crm.records import tallies

    return tallies.rebuild_all()
