"""Periodic tasks are rows of django-celery-beat (editable in the admin). Data migrations of each
app call ``ensure_interval_task`` so a fresh database has its schedule."""

from django.utils import timezone


def ensure_interval_task(apps, *, name: str, task: str, every_seconds: int, description: str):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    interval, _ = IntervalSchedule.objects.get_or_create(every=every_seconds, period="seconds")
    PeriodicTask.objects.update_or_create(
        name=name,
        defaults={"task": task, "interval": interval, "enabled": True, "description": description},
    )
    # Tell a running beat that the schedule changed.
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def install_crm_schedules(apps, schema_editor=None) -> None:
    """The crm app's periodic tasks (outbox re-dispatch, worker heartbeat)."""
    ensure_interval_task(
        apps,
        name="Re-dispatch unprocessed events",
        task="crm.tasks.redispatch_events",
        every_seconds=60,
        description="Hands events left pending for over a minute to a worker again (outbox).",
    )
    ensure_interval_task(
        apps,
        name="Worker heartbeat",
        task="crm.tasks.worker_heartbeat",
        every_seconds=30,
        description="Proves to /healthz that beat and a worker are alive.",
    )


BOARD_TALLIES_TASK = "crm.tasks.rebuild_board_tallies"


def install_board_tally_schedule(apps, schema_editor=None) -> None:
    ensure_interval_task(
        apps,
        name="Rebuild board tallies",
        task=BOARD_TALLIES_TASK,
        every_seconds=24 * 3600,
        description=(
            "Counts every lead and deal again into the boards' column counts and totals, "
            "which events keep current in between (and marks the workflows as tallied)."
        ),
    )


def uninstall_board_tally_schedule(apps, schema_editor=None) -> None:
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(
        task=BOARD_TALLIES_TASK
    ).delete()
