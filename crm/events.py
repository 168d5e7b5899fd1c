"""Transactional outbox (SPEC §4 Events).

``emit`` (one event) and ``emit_many`` (a batch of one kind) write ``Event`` rows inside the
caller's transaction; after commit the rows' ids are handed to Celery
(``crm.tasks.process_event``). Every event is written here: the name is checked against
``EVENT_NAMES`` and the payload hooks (e.g. the automation loop guard's rule chain) tag it.
Handlers are registered by event name with ``@handles("lead.assigned")``. Each (event, handler)
pair runs at most once: its ``HandlerRun`` row is unique, locked while the handler runs, and
marked succeeded in the same transaction as the handler's own writes, so a redelivered or
re-dispatched event never repeats an effect.

A handler that fails is run again by the re-dispatch beat task (``redispatch_stale``) with an
exponential backoff, until it succeeds or has failed ``EVENT_HANDLER_MAX_ATTEMPTS`` times: it
is then *dead* (the event too), which the admin shows and can retry.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import traceback
from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from crm.cache import Backoff
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
        # Personal data erased (issue 18): the payload is the id alone, like every webhook's.
        "lead.anonymized",
        # A later marketing touch of a lead (a form submitted again, an import row): issue 15.
        "lead.touched",
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
        "person.merged",
        "person.anonymized",
        "organization.created",
        "organization.updated",
        "organization.merged",
        # Mail received on a record (issue 20: emails.inbound), a reply or a new inquiry. Its
        # record is its email activity (payload ``activity_id``), which links the lead,
        # person or deal: automation reacts to it as to an activity.
        "email.received",
    }
)

_registry: dict[str, dict[str, Handler]] = defaultdict(dict)
# Functions returning keys to add to every payload emitted now (context-dependent tags).
_payload_hooks: list[Callable[[], dict]] = []

RETRY_BACKOFF_CAP = timedelta(hours=1)


def redispatch_after() -> timedelta:
    """How old a pending event's dispatch is before the re-dispatch task sends it again
    (``EVENT_REDISPATCH_AFTER`` seconds)."""
    return timedelta(seconds=settings.EVENT_REDISPATCH_AFTER)


# Broker outage (issue 21): after a failed publish, this process leaves dispatching to the
# re-dispatch task for ``REDIS_FAILURE_BACKOFF`` seconds rather than trying (and waiting on)
# the broker again for every event a request commits; the events wait in the outbox.
# The recovery paths (the re-dispatch task, the admin's retry) try it again at once (reset).
BROKER = Backoff()


def handler_key(func: Handler) -> str:
    return f"{func.__module__}.{func.__qualname__}"


# Handlers run right after commit by the process that wrote the event (``run_inline``).
_inline: set[str] = set()


def handles(*names: str, inline: bool = False) -> Callable[[Handler], Handler]:
    """Register the decorated function as a handler of the named events.

    ``inline``: also run it right after the writing transaction commits, in the process that
    wrote the event (the web request), rather than only when a worker reaches the event: for
    cheap handlers whose delay users see — publishing a change to the open pages (measured
    under load: 2.5 s at p95 behind the worker's queue, issue 21). It still runs at most once
    (its ``HandlerRun``); a failure there is left to the worker, which runs it again."""
    unknown = set(names) - EVENT_NAMES
    if unknown:
        raise ValueError(f"Unknown event names: {sorted(unknown)}")

    def decorator(func: Handler) -> Handler:
        for name in names:
            _registry[name][handler_key(func)] = func
        if inline:
            _inline.add(handler_key(func))
        return func

    return decorator


def handlers_for(name: str) -> dict[str, Handler]:
    return dict(_registry.get(name, {}))


def add_payload_hook(hook: Callable[[], dict]) -> None:
    """Have ``hook()``'s keys added to the payload of every event emitted from now on."""
    if hook not in _payload_hooks:
        _payload_hooks.append(hook)


def _check_name(name: str) -> None:
    if name not in EVENT_NAMES:
        raise ValueError(f"Unknown event name: {name}")


def _tags() -> dict:
    tags: dict = {}
    for hook in _payload_hooks:
        tags.update(hook())
    return tags


def _actor(actor):
    return actor if getattr(actor, "pk", None) else None


def emit(name: str, *, actor=None, **payload) -> Event:
    """Record an event in the current transaction; it is dispatched once that commits."""
    _check_name(name)
    event = Event.objects.create(name=name, payload={**payload, **_tags()}, actor=_actor(actor))
    transaction.on_commit(lambda: _committed(event))
    return event


def _committed(event: Event) -> None:
    if not settings.CELERY_TASK_ALWAYS_EAGER and any(
        key in _inline for key in handlers_for(event.name)
    ):
        _inline_runner().submit(run_inline, event)
    dispatch(event.pk)


class _InlineRunner:
    """One thread per process running the inline handlers of committed events, in commit
    order, so that the request which committed them does not wait for them (a bulk action
    commits dozens of events). Work still queued when the process ends is done by the worker
    (the handlers' runs are not marked succeeded)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._pid = 0

    def submit(self, fn, *args) -> None:
        with self._lock:
            if self._executor is None or self._pid != os.getpid():  # a forked worker child
                self._executor = ThreadPoolExecutor(1, thread_name_prefix="outbox-inline")
                self._pid = os.getpid()
            self._executor.submit(self._call, fn, *args)

    @staticmethod
    def _call(fn, *args) -> None:
        from django.db import close_old_connections

        # The thread's own database connection, as a request's: closed (CONN_MAX_AGE 0) or
        # checked (CONN_HEALTH_CHECKS) around each run.
        close_old_connections()
        try:
            fn(*args)
        finally:
            close_old_connections()


_inline_runner_instance = _InlineRunner()


def _inline_runner() -> _InlineRunner:
    return _inline_runner_instance


def run_inline(event: Event) -> None:
    """The event's ``inline`` handlers, now (after its transaction committed). Nothing here
    may fail: an error is the worker's to retry (the handler's run is not marked succeeded)."""
    try:
        for key, func in handlers_for(event.name).items():
            if key in _inline:
                _run(event, key, func)
    except Exception as exc:  # noqa: BLE001 - the database went away meanwhile, say
        logger.warning("Inline handlers of event %s left to the worker (%s)", event.pk, exc)


def emit_many(
    name: str, payloads: Iterable[dict], *, actor=None, dispatch: bool = True
) -> list[int]:
    """Record one event of ``name`` per payload in the current transaction, in one INSERT on
    PostgreSQL (a bulk rescore writes thousands); returns their ids in order. After commit one task
    dispatches them all (``dispatch=False``: the caller, or the re-dispatch task, does)."""
    _check_name(name)
    tags, actor, now = _tags(), _actor(actor), timezone.now()
    documents = [{**payload, **tags} for payload in payloads]
    if connection.vendor == "postgresql":
        ids = _insert_unnest(name, documents, actor, now)
    else:
        created = Event.objects.bulk_create(
            Event(name=name, payload=document, actor=actor, created_at=now)
            for document in documents
        )
        ids = [event.pk for event in created]  # SQLite returns the ids too
    if ids and dispatch:
        transaction.on_commit(lambda: dispatch_many(ids))
    return ids


def _insert_unnest(name: str, documents: list[dict], actor, now) -> list[int]:
    """PostgreSQL: the rows in one INSERT … SELECT over an array of JSON texts, in order (a
    third of ``bulk_create``'s time for the thousands of events of a bulk rescore)."""
    if not documents:
        return []
    meta, q = Event._meta, connection.ops.quote_name
    columns = ", ".join(
        q(meta.get_field(n).column)
        for n in ("name", "payload", "status", "created_at", "dispatch_count", "actor")
    )
    encoder = meta.get_field("payload").encoder
    texts = [json.dumps(document, cls=encoder) for document in documents]
    created = meta.get_field("created_at").get_db_prep_value(now, connection)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {q(meta.db_table)} ({columns}) "
            "SELECT %s, doc::jsonb, %s, %s, 0, %s "
            "FROM unnest(%s::text[]) WITH ORDINALITY AS batch(doc, n) ORDER BY n RETURNING id",
            [name, Event.Status.PENDING, created, getattr(actor, "pk", None), texts],
        )
        return [row[0] for row in cursor.fetchall()]


def dispatch_many(event_ids: list[int]) -> None:
    """Hand a batch of events to one task that dispatches each (see ``dispatch``)."""
    from crm.tasks import dispatch_events

    if BROKER.down():
        return
    try:
        dispatch_events.delay(event_ids)
    except Exception as exc:  # broker down: the re-dispatch task will pick the events up later
        BROKER.failed()
        logger.warning(
            "Could not dispatch %s events (%s); they will be re-dispatched", len(event_ids), exc
        )


def dispatch(event_id: int) -> None:
    """Hand an event to a worker (or run it in-process in embedded mode)."""
    from crm.tasks import process_event

    if BROKER.down():
        return
    Event.objects.filter(pk=event_id).update(
        dispatch_count=F("dispatch_count") + 1, last_dispatched_at=timezone.now()
    )
    try:
        process_event.delay(event_id)
    except Exception as exc:  # broker down: the re-dispatch task will pick the event up later
        BROKER.failed()
        logger.warning("Could not dispatch event %s (%s); it will be re-dispatched", event_id, exc)


def max_attempts() -> int:
    return settings.EVENT_HANDLER_MAX_ATTEMPTS


def retry_delay(attempts: int) -> timedelta:
    """How long after its ``attempts``-th failure a handler runs again: doubling from
    ``EVENT_RETRY_BACKOFF`` seconds, at most an hour."""
    base = timedelta(seconds=settings.EVENT_RETRY_BACKOFF)
    return min(base * 2 ** max(attempts - 1, 0), RETRY_BACKOFF_CAP)


def process(event_id: int) -> bool:
    """Run every handler of the event that has neither succeeded nor died. True when nothing
    is left to retry (all succeeded, or the rest are dead)."""
    event = Event.objects.filter(pk=event_id).first()
    if event is None or event.status in (Event.Status.PROCESSED, Event.Status.DEAD):
        return True
    # Every handler runs even when an earlier one fails: no short-circuit.
    outcomes = [_run(event, key, func) for key, func in handlers_for(event.name).items()]
    now = timezone.now()
    failed = [attempts for status, attempts in outcomes if status == HandlerRun.Status.FAILED]
    if failed:
        Event.objects.filter(pk=event.pk).update(
            status=Event.Status.FAILED, next_attempt_at=now + retry_delay(max(failed))
        )
        return False
    dead = any(status == HandlerRun.Status.DEAD for status, _ in outcomes)
    Event.objects.filter(pk=event.pk).update(
        status=Event.Status.DEAD if dead else Event.Status.PROCESSED,
        processed_at=None if dead else now,
        next_attempt_at=None,
    )
    return True


def _run(event: Event, key: str, func: Handler) -> tuple[str, int]:
    """Run one handler unless it succeeded or died already: ``(its status, its attempts)``."""
    try:
        run, _ = HandlerRun.objects.get_or_create(event=event, handler=key)
    except IntegrityError:  # another worker created it first
        run = HandlerRun.objects.get(event=event, handler=key)
    if run.status in (HandlerRun.Status.SUCCEEDED, HandlerRun.Status.DEAD):
        return run.status, run.attempts
    try:
        with transaction.atomic():
            # The row lock serializes two workers on the same pair; the second then sees
            # SUCCEEDED and does nothing.
            locked = HandlerRun.objects.select_for_update().get(pk=run.pk)
            if locked.status in (HandlerRun.Status.SUCCEEDED, HandlerRun.Status.DEAD):
                return locked.status, locked.attempts
            func(event)
            locked.status = HandlerRun.Status.SUCCEEDED
            locked.attempts += 1
            locked.error = ""
            locked.finished_at = timezone.now()
            locked.save(update_fields=["status", "attempts", "error", "finished_at"])
        return locked.status, locked.attempts
    except Exception:
        logger.exception("Handler %s failed on event %s", key, event.pk)
        attempts = HandlerRun.objects.get(pk=run.pk).attempts + 1
        status = HandlerRun.Status.DEAD if attempts >= max_attempts() else HandlerRun.Status.FAILED
        HandlerRun.objects.filter(pk=run.pk).update(
            status=status,
            attempts=attempts,
            error=traceback.format_exc(limit=20)[-8000:],
            finished_at=timezone.now(),
        )
        return status, attempts


def retry(event_ids: Iterable[int]) -> int:
    """Admin: give the dead and failed handlers of these events a fresh round of attempts
    and dispatch the events again now. Processed events are left alone."""
    ids = list(
        Event.objects.filter(pk__in=list(event_ids))
        .exclude(status=Event.Status.PROCESSED)
        .values_list("pk", flat=True)
    )
    BROKER.reset()
    HandlerRun.objects.filter(
        event_id__in=ids, status__in=[HandlerRun.Status.FAILED, HandlerRun.Status.DEAD]
    ).update(status=HandlerRun.Status.FAILED, attempts=0)
    Event.objects.filter(pk__in=ids).update(status=Event.Status.PENDING, next_attempt_at=None)
    for event_id in ids:
        dispatch(event_id)
    return len(ids)


def redispatch_stale(
    *, older_than: timedelta | None = None, limit: int = 1000, now: datetime | None = None
) -> int:
    """The beat task's body: dispatch again the pending events whose dispatch was lost
    (broker outage, crash) and the failed events whose next attempt is due."""
    now = now or timezone.now()
    cutoff = now - (older_than if older_than is not None else redispatch_after())
    lost = (
        Event.objects.filter(status=Event.Status.PENDING, created_at__lt=cutoff)
        .filter(Q(last_dispatched_at__isnull=True) | Q(last_dispatched_at__lt=cutoff))
        .order_by("created_at")
        .values_list("pk", flat=True)[:limit]
    )
    due = (
        Event.objects.filter(status=Event.Status.FAILED, next_attempt_at__lte=now)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    ids = [*lost, *due]
    BROKER.reset()
    for event_id in ids:
        dispatch(event_id)
    return len(ids)
