"""A finished, failed or cancelled import keeps no uploaded file any more (the file holds
personal data nothing needs once the import ran; ``ImportRow`` keeps each row's outcome and
what undo restores). Drop the files such imports kept until now."""

from django.db import migrations

ENDED = ("done", "failed", "cancelled")


def drop_files(apps, schema_editor):
    ImportJob = apps.get_model("crm", "ImportJob")
    ImportJob.objects.filter(status__in=ENDED).update(content=b"")


class Migration(migrations.Migration):
    dependencies = [("crm", "0012_person_anonymized_at")]

    operations = [migrations.RunPython(drop_files, migrations.RunPython.noop)]
