from django.db import migrations

from wfm.defaults import install_defaults


class Migration(migrations.Migration):
    """The default Lead Qualification and Sales Pipeline workflows and the Lead and Deal
    project types (definitions in ``wfm.defaults``). Idempotent; reversing keeps the rows,
    which the reversal of 0001 removes with the tables."""

    dependencies = [("wfm", "0001_initial")]

    operations = [migrations.RunPython(install_defaults, migrations.RunPython.noop)]
