from django.db import migrations

from leads.scoring.defaults import install_scoring_defaults, uninstall_schedules


class Migration(migrations.Migration):
    """The default active scoring profile and the nightly rescore and training schedules."""

    dependencies = [
        ("leads", "0003_scoring"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(install_scoring_defaults, uninstall_schedules)]
