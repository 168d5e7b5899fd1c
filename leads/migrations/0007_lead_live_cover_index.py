from django.db import migrations

INDEX = "lead_live_cover_idx"


def create_index(apps, schema_editor):
    """PostgreSQL: a covering index over the live leads for the kanban column totals.

    The board's ``GROUP BY`` step (count and sum of ``estimated_value`` per column, for the
    leads a user sees) needs only ``id`` (visibility semi-join), ``wfm_project_id`` and
    ``estimated_value`` of the rows that are not deleted. With them in a partial index the
    totals are read by an index-only scan of a few MB instead of the whole table (the leads
    table is wide: score breakdown, insights, custom values; and half-full pages, 0006).
    PostgreSQL only: SQLite has no INCLUDE columns, and its tables are small.
    """
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {INDEX} ON leads_lead (id) "
            "INCLUDE (wfm_project_id, estimated_value) WHERE deleted_at IS NULL"
        )


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("leads", "0006_lead_fillfactor")]

    operations = [migrations.RunPython(create_index, drop_index, elidable=False)]
