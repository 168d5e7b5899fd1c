from django.db import DatabaseError, migrations, transaction


def use_lz4(apps, schema_editor):
    """On PostgreSQL 14+ built with lz4, compress lead_score_factors with lz4: the nightly
    rescore rewrites every breakdown, and lz4 costs a fraction of the default pglz's CPU.
    Metadata only (existing values keep their compression); skipped elsewhere."""
    connection = schema_editor.connection
    if connection.vendor != "postgresql" or connection.pg_version < 140000:
        return
    try:
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            cursor.execute(
                "ALTER TABLE leads_lead ALTER COLUMN lead_score_factors SET COMPRESSION lz4"
            )
    except DatabaseError:  # a server built without lz4
        pass


def use_default(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor == "postgresql" and connection.pg_version >= 140000:
        with connection.cursor() as cursor:
            cursor.execute(
                "ALTER TABLE leads_lead ALTER COLUMN lead_score_factors SET COMPRESSION DEFAULT"
            )


class Migration(migrations.Migration):
    dependencies = [("leads", "0004_default_scoring_profile")]

    operations = [migrations.RunPython(use_lz4, use_default)]
