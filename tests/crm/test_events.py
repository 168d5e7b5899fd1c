"""The transactional outbox (SPEC §4 Events)."""

from datetime import timedelta
from unittest import mock

import pytest
from django.db import transaction
from django.utils import timezone

from crm import events
from crm.models import Event, HandlerRun

calls: list[int] = []


@pytest.fixture
def recording_handler():
    calls.clear()

    def record(event):
        calls.append(event.pk)

    events._registry["person.created"]["tests.record"] = record
    yield record
    events._registry["person.created"].pop("tests.record", None)


@pytest.fixture
def failing_handler():
    state = {"fail": True}

    def flaky(event):
        if state["fail"]:
            raise RuntimeError("webhook endpoint down")
        calls.append(event.pk)

    events._registry["person.created"]["tests.flaky"] = flaky
    calls.clear()
    yield state
    events._registry["person.created"].pop("tests.flaky", None)


def test_emit_writes_row_inside_the_transaction_and_dispatches_on_commit(
    db, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        event = events.emit("person.created", person_id="p1")
    assert Event.objects.get(pk=event.pk).status == Event.Status.PENDING
    assert len(callbacks) == 1


def test_rolled_back_transaction_leaves_no_event(db):
    with pytest.raises(RuntimeError), transaction.atomic():
        events.emit("person.created", person_id="p1")
        raise RuntimeError("boom")
    assert not Event.objects.exists()


def test_unknown_event_name_is_refused(db):
    with pytest.raises(ValueError):
        events.emit("person.exploded")


def test_event_delivered_twice_runs_each_handler_once(db, recording_handler):
    event = Event.objects.create(name="person.created", payload={})
    assert events.process(event.pk)
    Event.objects.filter(pk=event.pk).update(status=Event.Status.PENDING)  # redelivery
    assert events.process(event.pk)
    assert calls == [event.pk]
    run = HandlerRun.objects.get(event=event, handler="tests.record")
    assert run.status == HandlerRun.Status.SUCCEEDED and run.attempts == 1


def test_failing_handler_is_recorded_and_retried_until_it_succeeds(db, failing_handler):
    event = Event.objects.create(name="person.created", payload={})
    assert not events.process(event.pk)
    run = HandlerRun.objects.get(event=event, handler="tests.flaky")
    assert run.status == HandlerRun.Status.FAILED
    assert "webhook endpoint down" in run.error
    assert Event.objects.get(pk=event.pk).status == Event.Status.PENDING
    failing_handler["fail"] = False
    assert events.process(event.pk)
    run.refresh_from_db()
    assert run.status == HandlerRun.Status.SUCCEEDED and run.attempts == 2 and run.error == ""
    assert Event.objects.get(pk=event.pk).status == Event.Status.PROCESSED
    assert calls == [event.pk]


def test_celery_task_retries_with_backoff_then_marks_failed(db, failing_handler, settings):
    from crm.tasks import MAX_EVENT_RETRIES, process_event

    event = Event.objects.create(name="person.created", payload={})
    with (
        mock.patch.object(process_event, "retry", side_effect=RuntimeError("retry")) as retry,
        pytest.raises(RuntimeError, match="retry"),
    ):
        process_event.run(event.pk)
    assert retry.call_args.kwargs["countdown"] == 2
    # On the last allowed try the event is marked failed instead of retried again.
    process_event.push_request(retries=MAX_EVENT_RETRIES)
    try:
        process_event.run(event.pk)
    finally:
        process_event.pop_request()
    assert Event.objects.get(pk=event.pk).status == Event.Status.FAILED
    assert HandlerRun.objects.get(event=event, handler="tests.flaky").attempts == 2


def test_eager_emit_processes_the_event_end_to_end(
    db, recording_handler, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        event = events.emit("person.created", person_id="p1")
    event.refresh_from_db()
    assert event.status == Event.Status.PROCESSED and event.dispatch_count == 1
    assert calls == [event.pk]


def test_redispatch_picks_up_an_event_whose_dispatch_was_lost(db, recording_handler):
    old = timezone.now() - timedelta(minutes=5)
    lost = Event.objects.create(name="person.created", payload={}, created_at=old)
    fresh = Event.objects.create(name="person.created", payload={})
    failed = Event.objects.create(name="person.created", created_at=old, status=Event.Status.FAILED)
    assert events.redispatch_stale() == 1
    lost.refresh_from_db()
    assert lost.status == Event.Status.PROCESSED and lost.dispatch_count == 1
    assert calls == [lost.pk]
    assert Event.objects.get(pk=fresh.pk).status == Event.Status.PENDING
    assert Event.objects.get(pk=failed.pk).status == Event.Status.FAILED


def test_broker_outage_at_dispatch_loses_nothing(db, recording_handler):
    from crm.tasks import process_event

    event = Event.objects.create(name="person.created", payload={})
    with mock.patch.object(process_event, "delay", side_effect=ConnectionError("broker down")):
        events.dispatch(event.pk)
    assert Event.objects.get(pk=event.pk).status == Event.Status.PENDING
    Event.objects.filter(pk=event.pk).update(
        created_at=timezone.now() - timedelta(minutes=2),
        last_dispatched_at=timezone.now() - timedelta(minutes=2),
    )
    assert events.redispatch_stale() == 1
    assert Event.objects.get(pk=event.pk).status == Event.Status.PROCESSED


def test_redispatch_is_scheduled_every_minute_by_migration(db):
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(task="crm.tasks.redispatch_events")
    assert task.enabled and task.interval.every == 60 and task.interval.period == "seconds"
