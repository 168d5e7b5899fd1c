from django.db import migrations

from crm.schedules import install_crm_schedules


def unschedule(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(
        task__in=["crm.tasks.redispatch_events", "crm.tasks.worker_heartbeat"]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0002_roles"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(install_crm_schedules, unschedule)]
