from django.db import migrations

from activities.schedules import install_activity_schedules, uninstall_activity_schedules
from crm.roles import sync_roles


class Migration(migrations.Migration):
    """The role permissions that name activities models (crm.roles.ROLE_PERMISSIONS), and the
    periodic tasks: overdue detection, sequence advance, webhook retries."""

    dependencies = [
        ("activities", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.RunPython(sync_roles, migrations.RunPython.noop),
        migrations.RunPython(install_activity_schedules, uninstall_activity_schedules),
    ]
