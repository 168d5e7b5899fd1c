from django.db import migrations

from crm.schedules import install_board_tally_schedule, uninstall_board_tally_schedule


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0014_updated_at_index"),
        ("wfm", "0005_board_tallies"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.RunPython(install_board_tally_schedule, uninstall_board_tally_schedule),
    ]
