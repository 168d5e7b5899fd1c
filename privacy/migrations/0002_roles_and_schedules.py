from django.db import migrations

from crm.roles import sync_roles
from privacy.schedules import install_privacy_schedules, uninstall_privacy_schedules


class Migration(migrations.Migration):
    dependencies = [
        ("privacy", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        # Admins get privacy.manage_personal_data (Admin holds every permission).
        migrations.RunPython(sync_roles, migrations.RunPython.noop),
        migrations.RunPython(install_privacy_schedules, uninstall_privacy_schedules),
    ]
