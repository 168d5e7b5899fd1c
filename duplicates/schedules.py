"""The nightly duplicate run, installed by a data migration (editable in the admin)."""

from __future__ import annotations

from django.utils import timezone

NIGHTLY_DUPLICATES = "Nightly duplicate detection"


def install_schedule(apps, schema_editor=None) -> None:
    """Idempotent; never changes a schedule an administrator moved or disabled."""
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    if PeriodicTask.objects.filter(name=NIGHTLY_DUPLICATES).exists():
        return
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute="45",
        hour="3",
        day_of_week="*",
        day_of_month="*",
        month_of_year="*",
        timezone="UTC",
    )
    PeriodicTask.objects.create(
        name=NIGHTLY_DUPLICATES,
        task="duplicates.tasks.find_duplicates",
        crontab=crontab,
        enabled=True,
        description="Finds possible duplicate leads, people and organizations among the "
        "records changed since the last run (the Duplicates page lists them).",
    )
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def uninstall_schedule(apps, schema_editor=None) -> None:
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(
        name=NIGHTLY_DUPLICATES
    ).delete()
