from django.db import migrations

from crm.roles import sync_roles


class Migration(migrations.Migration):
    """Give the roles their wfm permissions (``crm.roles.ROLE_PERMISSIONS``)."""

    dependencies = [
        ("wfm", "0002_default_workflows"),
        ("crm", "0002_roles"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(sync_roles, migrations.RunPython.noop)]
