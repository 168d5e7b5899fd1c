"""The periodic tasks of email (django-celery-beat rows, editable in the admin)."""

from crm.schedules import ensure_interval_task

TASKS = ("emails.tasks.send_scheduled_email",)


def install_email_schedules(apps, schema_editor=None) -> None:
    ensure_interval_task(
        apps,
        name="Send scheduled email",
        task="emails.tasks.send_scheduled_email",
        every_seconds=60,
        description="Queues the scheduled messages whose time has come (and any left queued "
        "when a worker was lost).",
    )


def uninstall_email_schedules(apps, schema_editor=None) -> None:
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(task__in=TASKS).delete()
