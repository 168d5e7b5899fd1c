"""The periodic tasks of activities (django-celery-beat rows, editable in the admin)."""

from crm.schedules import ensure_interval_task

TASKS = (
    "activities.tasks.notify_overdue_activities",
    "activities.tasks.advance_sequences",
    "activities.tasks.retry_webhooks",
)


def install_activity_schedules(apps, schema_editor=None) -> None:
    ensure_interval_task(
        apps,
        name="Overdue activities",
        task="activities.tasks.notify_overdue_activities",
        every_seconds=15 * 60,
        description="Notifies assignees of open activities past due (once per activity).",
    )
    ensure_interval_task(
        apps,
        name="Advance nurture sequences",
        task="activities.tasks.advance_sequences",
        every_seconds=5 * 60,
        description="Creates the activity of each enrolment's due sequence step.",
    )
    ensure_interval_task(
        apps,
        name="Retry webhook deliveries",
        task="activities.tasks.retry_webhooks",
        every_seconds=60,
        description="Sends webhook deliveries whose next attempt (backoff) is due.",
    )


def uninstall_activity_schedules(apps, schema_editor=None) -> None:
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(task__in=TASKS).delete()
