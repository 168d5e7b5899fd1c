from django.db import migrations

from duplicates.schedules import install_schedule, uninstall_schedule


class Migration(migrations.Migration):
    dependencies = [
        ("duplicates", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(install_schedule, uninstall_schedule)]
