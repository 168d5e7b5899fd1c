from django.db import migrations

from customfields.indexes import CustomFieldValuesGinIndex


class Migration(migrations.Migration):
    dependencies = [("crm", "0004_saved_views")]

    operations = [
        CustomFieldValuesGinIndex(model_name="person"),
        CustomFieldValuesGinIndex(model_name="organization"),
    ]
