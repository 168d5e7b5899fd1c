from django.db import migrations

from crm.roles import sync_roles
from customfields.indexes import CustomFieldValuesGinIndex
from deals.defaults import install_lost_reasons


class Migration(migrations.Migration):
    dependencies = [("deals", "0001_initial")]

    operations = [
        CustomFieldValuesGinIndex(model_name="deal"),
        migrations.RunPython(sync_roles, migrations.RunPython.noop),
        migrations.RunPython(install_lost_reasons, migrations.RunPython.noop),
    ]
