from celery import shared_task
from celery.signals import worker_ready
from django.core.cache import cache
from django.utils import timezone

from crm import events

HEARTBEAT_KEY = "pipecrm:worker-heartbeat"
MAX_EVENT_RETRIES = 5


@shared_task(bind=True, max_retries=MAX_EVENT_RETRIES, acks_late=True)
def process_event(self, event_id: int) -> None:
    """Run an event's handlers; retry failed ones with exponential backoff, then give up."""
    if events.process(event_id):
        return
    if self.request.retries >= self.max_retries:
        events.mark_failed(event_id)
        return
    raise self.retry(countdown=2 ** (self.request.retries + 1))


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
