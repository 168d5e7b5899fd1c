"""The periodic tasks of the privacy app (django-celery-beat rows, editable in the admin)."""

from crm.schedules import ensure_interval_task

TASKS = ("privacy.tasks.prune_access_log", "privacy.tasks.apply_retention")


def install_privacy_schedules(apps, schema_editor=None) -> None:
    ensure_interval_task(
        apps,
        name="Prune the personal data access log",
        task="privacy.tasks.prune_access_log",
        every_seconds=24 * 3600,
        description="Deletes access log entries older than PRIVACY_ACCESS_LOG_DAYS.",
    )
    ensure_interval_task(
        apps,
        name="Apply the retention policy",
        task="privacy.tasks.apply_retention",
        every_seconds=24 * 3600,
        description="Anonymizes disqualified leads and inactive people kept longer than "
        "RETENTION_DISQUALIFIED_LEAD_DAYS / RETENTION_INACTIVE_PERSON_DAYS (0: off).",
    )


def uninstall_privacy_schedules(apps, schema_editor=None) -> None:
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(task__in=TASKS).delete()
