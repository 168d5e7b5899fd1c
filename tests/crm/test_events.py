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
    event.refresh_from_db()
    assert event.status == Event.Status.FAILED and event.next_attempt_at is not None
    assert calls == []
    failing_handler["fail"] = False
    # The re-dispatch beat task runs it again once it is due, not before.
    assert events.redispatch_stale(now=event.next_attempt_at - timedelta(seconds=1)) == 0
    assert events.redispatch_stale(now=event.next_attempt_at) == 1
    assert calls == [event.pk]  # the failed handler did run again
    run.refresh_from_db()
    assert run.status == HandlerRun.Status.SUCCEEDED and run.attempts == 2 and run.error == ""
    event.refresh_from_db()
    assert event.status == Event.Status.PROCESSED and event.next_attempt_at is None


def test_failed_handler_is_retried_with_backoff_then_marked_dead(db, failing_handler, settings):
    settings.EVENT_HANDLER_MAX_ATTEMPTS = 3
    settings.EVENT_RETRY_BACKOFF = 60
    done: list[str] = []
    events._registry["person.created"]["tests.fine"] = lambda e: done.append("fine")
    try:
        event = Event.objects.create(name="person.created", payload={})
        events.process(event.pk)
        delays = []
        for _ in range(2):
            event.refresh_from_db()
            assert event.status == Event.Status.FAILED
            delays.append(event.next_attempt_at)
            assert events.redispatch_stale(now=event.next_attempt_at) == 1
    finally:
        events._registry["person.created"].pop("tests.fine", None)
    run = HandlerRun.objects.get(event=event, handler="tests.flaky")
    assert run.status == HandlerRun.Status.DEAD and run.attempts == 3
    event.refresh_from_db()
    assert event.status == Event.Status.DEAD and event.next_attempt_at is None
    assert done == ["fine"]  # the handler that succeeded ran once
    assert events.redispatch_stale(now=timezone.now() + timedelta(days=1)) == 0
    assert events.retry_delay(1) == timedelta(seconds=60)
    assert events.retry_delay(2) == timedelta(seconds=120)
    assert events.retry_delay(30) == timedelta(hours=1)


def test_admin_retry_gives_a_dead_handler_another_round(db, failing_handler, settings):
    settings.EVENT_HANDLER_MAX_ATTEMPTS = 1
    event = Event.objects.create(name="person.created", payload={})
    events.process(event.pk)
    assert Event.objects.get(pk=event.pk).status == Event.Status.DEAD
    failing_handler["fail"] = False
    assert events.retry([event.pk]) == 1
    assert calls == [event.pk]
    assert Event.objects.get(pk=event.pk).status == Event.Status.PROCESSED


def test_dead_handlers_are_listed_in_the_admin(db, failing_handler, settings, admin_user, client):
    settings.EVENT_HANDLER_MAX_ATTEMPTS = 1
    event = Event.objects.create(name="person.created", payload={})
    events.process(event.pk)
    client.force_login(admin_user)
    html = client.get("/admin/crm/handlerrun/?status__exact=dead").content.decode()
    assert "tests.flaky" in html
    html = client.get("/admin/crm/event/?status__exact=dead").content.decode()
    assert f"person.created #{event.pk}" in html or f">{event.pk}<" in html


def test_celery_task_runs_the_handlers_once_and_leaves_retries_to_beat(db, failing_handler):
    from crm.tasks import process_event

    event = Event.objects.create(name="person.created", payload={})
    assert process_event.run(event.pk) is False
    assert HandlerRun.objects.get(event=event, handler="tests.flaky").attempts == 1
    assert Event.objects.get(pk=event.pk).status == Event.Status.FAILED


def test_emit_many_writes_one_row_per_payload_and_dispatches_after_commit(
    db, recording_handler, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        ids = events.emit_many("person.created", [{"person_id": "a"}, {"person_id": "b"}])
    assert len(callbacks) == 1  # one task for the batch
    assert [Event.objects.get(pk=pk).payload["person_id"] for pk in ids] == ["a", "b"]
    assert sorted(calls) == sorted(ids)
    assert set(Event.objects.filter(pk__in=ids).values_list("status", flat=True)) == {
        Event.Status.PROCESSED
    }


def test_emit_many_refuses_unknown_names(db):
    with pytest.raises(ValueError):
        events.emit_many("person.exploded", [{}])
    assert not Event.objects.exists()


def test_payload_hooks_tag_single_and_bulk_events(db):
    events.add_payload_hook(_tag)
    try:
        one = events.emit("person.created", person_id="a")
        (many,) = events.emit_many("person.created", [{"person_id": "b"}])
    finally:
        events._payload_hooks.remove(_tag)
    assert one.payload == {"person_id": "a", "tag": 1}
    assert Event.objects.get(pk=many).payload == {"person_id": "b", "tag": 1}


def _tag() -> dict:
    return {"tag": 1}


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
    dead = Event.objects.create(name="person.created", created_at=old, status=Event.Status.DEAD)
    assert events.redispatch_stale() == 1
    lost.refresh_from_db()
    assert lost.status == Event.Status.PROCESSED and lost.dispatch_count == 1
    assert calls == [lost.pk]
    assert Event.objects.get(pk=fresh.pk).status == Event.Status.PENDING
    assert Event.objects.get(pk=dead.pk).status == Event.Status.DEAD


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
