from django.db import migrations

from crm.roles import sync_roles
from emails.schedules import install_email_schedules, uninstall_email_schedules


class Migration(migrations.Migration):
    dependencies = [
        ("emails", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        # Managers manage email templates (crm.roles.ROLE_PERMISSIONS).
        migrations.RunPython(sync_roles, migrations.RunPython.noop),
        migrations.RunPython(install_email_schedules, uninstall_email_schedules),
    ]
