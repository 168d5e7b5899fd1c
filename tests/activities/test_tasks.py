"""Periodic work: overdue detection with its notification, the beat schedule, demo data."""

import io
from datetime import timedelta
from unittest import mock

from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from activities import services
from activities.models import Activity
from activities.tasks import notify_overdue_activities
from crm.models import Event
from crm.realtime import user_group
from tests.activities.conftest import run_events
from tests.activities.factories import ActivityFactory


def test_overdue_activities_notify_their_assignee_once(
    rep1, rep2, lead, django_capture_on_commit_callbacks
):
    past = timezone.now() - timedelta(hours=2)
    late = ActivityFactory(assigned_to=rep1, lead=lead, subject="Send the quote", due_at=past)
    ActivityFactory(assigned_to=rep1, subject="Done already", due_at=past, is_done=True)
    ActivityFactory(assigned_to=rep2, subject="Not yet", due_at=timezone.now() + timedelta(hours=1))
    ActivityFactory(assigned_to=None, subject="Nobody's", due_at=past)
    with (
        mock.patch("crm.realtime.send_now") as send,
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert notify_overdue_activities() == 1
        assert notify_overdue_activities() == 0  # once per activity
    event = Event.objects.get(name="activity.overdue")
    assert event.payload["activity_id"] == str(late.pk)
    assert event.payload["assignee_id"] == rep1.pk
    group, message = send.call_args.args
    assert group == user_group(rep1.pk) and message["type"] == "send_html"
    assert "Send the quote" in message["html"] and 'hx-swap-oob="beforeend"' in message["html"]
    late.refresh_from_db()
    assert services.OVERDUE_FLAG in late.metadata


def test_a_new_due_date_rearms_the_notification(rep1, lead):
    task = services.activity_create(
        by=rep1, type="task", subject="t", due_at=timezone.now() - timedelta(hours=1), lead=lead
    )
    assert services.activity_notify_overdue() == 1
    services.activity_update(
        by=rep1, activity=task, data={"due_at": timezone.now() - timedelta(minutes=5)}
    )
    assert services.activity_notify_overdue() == 1
    assert Event.objects.filter(name="activity.overdue").count() == 2


def test_periodic_tasks_are_scheduled(db):
    tasks = {
        t.task: t.interval.every
        for t in PeriodicTask.objects.select_related("interval").filter(
            task__startswith="activities."
        )
    }
    assert tasks == {
        "activities.tasks.notify_overdue_activities": 15 * 60,
        "activities.tasks.advance_sequences": 5 * 60,
        "activities.tasks.retry_webhooks": 60,
    }


def test_celery_settings_for_at_least_once_work(settings):
    assert settings.CELERY_TASK_ACKS_LATE is True
    assert settings.CELERY_TASK_REJECT_ON_WORKER_LOST is True
    assert settings.CELERY_WORKER_PREFETCH_MULTIPLIER == 1
    assert settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] >= 3600


def test_demo_seed_is_idempotent(db):
    from activities import demo
    from crm.demo import ensure_users
    from crm.demo import seed as seed_crm
    from deals.demo import seed as seed_deals
    from leads.models import Lead
    from tests.leads.factories import LeadFactory

    users = ensure_users()
    seed_crm(users, io.StringIO())
    seed_deals(users, io.StringIO())
    for n in range(6):
        LeadFactory(owner=users["rep1"], assigned_to=users["rep1" if n % 2 else "rep2"])
    out = io.StringIO()
    demo.seed(users, out)
    run_events()  # what the commit of seed_demo's transaction dispatches
    counts = (Activity.objects.count(), Event.objects.count())
    assert Activity.objects.filter(metadata__demo=True, type="call").exists()
    assert Activity.objects.filter(metadata__demo=True, is_done=False, due_at__lt=timezone.now())
    assert Activity.objects.filter(metadata__demo=True, is_done=True).exists()
    demo.seed(users, io.StringIO())
    assert (Activity.objects.count(), Event.objects.count()) == counts
    assert "activities" in out.getvalue()
    from activities.models import AssignmentRule, AutomationRule, Sequence

    assert AssignmentRule.objects.count() == 1 and Sequence.objects.count() == 1
    assert AutomationRule.objects.filter(is_active=True).count() == 1
    # The assignment rule was made after the demo's own leads were processed: they keep
    # their assignees.
    assert Lead.objects.filter(assigned_to__isnull=True).count() == 0
