from django.db import migrations

from crm.roles import sync_roles
from customfields.indexes import CustomFieldValuesGinIndex


class Migration(migrations.Migration):
    dependencies = [("leads", "0001_initial"), ("deals", "0002_custom_field_index_and_roles")]

    operations = [
        CustomFieldValuesGinIndex(model_name="lead"),
        migrations.RunPython(sync_roles, migrations.RunPython.noop),
    ]
