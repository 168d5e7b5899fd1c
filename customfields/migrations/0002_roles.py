from django.db import migrations

from crm.roles import sync_roles


class Migration(migrations.Migration):
    """Give the role groups their customfields permissions (Manager: add/change/view)."""

    dependencies = [
        ("customfields", "0001_initial"),
        ("crm", "0002_roles"),
    ]

    operations = [migrations.RunPython(sync_roles, migrations.RunPython.noop)]
