"""Transactional outbox (SPEC §4 Events).

``emit`` writes an ``Event`` row inside the caller's transaction; after commit the row's id is
handed to Celery (``crm.tasks.process_event``). Handlers are registered by event name with
``@handles("lead.assigned")``. Each (event, handler) pair runs at most once: its ``HandlerRun``
row is unique, locked while the handler runs, and marked succeeded in the same transaction as
the handler's own writes, so a redelivered or re-dispatched event never repeats an effect.
"""

from __future__ import annotations

import logging
import traceback
from collections import defaultdict
from collections.abc import Callable
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from crm.models import Event, HandlerRun

logger = logging.getLogger(__name__)

Handler = Callable[[Event], None]

EVENT_NAMES = frozenset(
    {
        "lead.created",
        "lead.updated",
        "lead.assigned",
        "lead.score_changed",
        "lead.qualified",
        "lead.disqualified",
        "lead.converted",
        "lead.merged",
        "deal.created",
        "deal.updated",
        "deal.assigned",
        "deal.won",
        "deal.lost",
        "wfm.status_changed",
        "activity.created",
        "activity.completed",
        "activity.overdue",
        "person.created",
        "person.updated",
        "organization.created",
        "organization.updated",
    }
)

_registry: dict[str, dict[str, Handler]] = defaultdict(dict)

REDISPATCH_AFTER = timedelta(minutes=1)


def handler_key(func: Handler) -> str:
    return f"{func.__module__}.{func.__qualname__}"


def handles(*names: str) -> Callable[[Handler], Handler]:
    """Register the decorated function as a handler of the named events."""
    unknown = set(names) - EVENT_NAMES
    if unknown:
        raise ValueError(f"Unknown event names: {sorted(unknown)}")

    def decorator(func: Handler) -> Handler:
        for name in names:
            _registry[name][handler_key(func)] = func
        return func

    return decorator


def handlers_for(name: str) -> dict[str, Handler]:
    return dict(_registry.get(name, {}))


def emit(name: str, *, actor=None, **payload) -> Event:
    """Record an event in the current transaction; it is dispatched once that commits."""
    if name not in EVENT_NAMES:
        raise ValueError(f"Unknown event name: {name}")
    event = Event.objects.create(
        name=name, payload=payload, actor=actor if getattr(actor, "pk", None) else None
    )
    transaction.on_commit(lambda: dispatch(event.pk))
    return event


def dispatch(event_id: int) -> None:
    """Hand an event to a worker (or run it in-process in embedded mode)."""
    from crm.tasks import process_event

    Event.objects.filter(pk=event_id).update(
        dispatch_count=F("dispatch_count") + 1, last_dispatched_at=timezone.now()
    )
    try:
        process_event.delay(event_id)
    except Exception:  # broker down: the re-dispatch task will pick the event up later
        logger.exception("Could not dispatch event %s; it will be re-dispatched", event_id)


def process(event_id: int) -> bool:
    """Run every handler of the event that has not yet succeeded. True when all succeeded."""
    event = Event.objects.filter(pk=event_id).first()
    if event is None or event.status == Event.Status.PROCESSED:
        return True
    # Every handler runs even when an earlier one fails: no short-circuit.
    results = [_run(event, key, func) for key, func in handlers_for(event.name).items()]
    ok = all(results)
    if ok:
        Event.objects.filter(pk=event.pk).update(
            status=Event.Status.PROCESSED, processed_at=timezone.now()
        )
    return ok


def mark_failed(event_id: int) -> None:
    Event.objects.filter(pk=event_id).exclude(status=Event.Status.PROCESSED).update(
        status=Event.Status.FAILED
    )


def _run(event: Event, key: str, func: Handler) -> bool:
    try:
        run, _ = HandlerRun.objects.get_or_create(event=event, handler=key)
    except IntegrityError:  # another worker created it first
        run = HandlerRun.objects.get(event=event, handler=key)
    if run.status == HandlerRun.Status.SUCCEEDED:
        return True
    try:
        with transaction.atomic():
            # The row lock serializes two workers on the same pair; the second then sees
            # SUCCEEDED and does nothing.
            locked = HandlerRun.objects.select_for_update().get(pk=run.pk)
            if locked.status == HandlerRun.Status.SUCCEEDED:
                return True
            func(event)
            locked.status = HandlerRun.Status.SUCCEEDED
            locked.attempts += 1
            locked.error = ""
            locked.finished_at = timezone.now()
            locked.save(update_fields=["status", "attempts", "error", "finished_at"])
        return True
    except Exception:
        logger.exception("Handler %s failed on event %s", key, event.pk)
        HandlerRun.objects.filter(pk=run.pk).update(
            status=HandlerRun.Status.FAILED,
            attempts=F("attempts") + 1,
            error=traceback.format_exc(limit=20)[-8000:],
            finished_at=timezone.now(),
        )
        return False


def redispatch_stale(*, older_than: timedelta = REDISPATCH_AFTER, limit: int = 1000) -> int:
    """Dispatch again the pending events whose dispatch was lost (broker outage, crash)."""
    cutoff = timezone.now() - older_than
    ids = list(
        Event.objects.filter(status=Event.Status.PENDING, created_at__lt=cutoff)
        .filter(Q(last_dispatched_at__isnull=True) | Q(last_dispatched_at__lt=cutoff))
        .order_by("created_at")
        .values_list("pk", flat=True)[:limit]
    )
    for event_id in ids:
        dispatch(event_id)
    return len(ids)
