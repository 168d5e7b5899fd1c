"""Statistics on the expressions the lead search compares (PostgreSQL).

The search (``leads.filters.LeadFilter.filter_search``) compares ``UPPER(column)`` of four
columns with ``LIKE '%…%'``. Without statistics on those expressions PostgreSQL guesses that a
handful of rows match, whatever the term, and plans for a handful: at 100,000 leads a search
matching 55,511 of them was read whole and joined row by row to every workflow step (877 ms).
With them it estimates 55,929 and reads the newest leads until it has a page (0.6 ms).
"""

from django.db import migrations

COLUMNS = ("name", "contact_name", "contact_email", "company_name")
CREATE = (
    "CREATE STATISTICS IF NOT EXISTS lead_search_stats ON "
    + ", ".join(f"(upper({column}::text))" for column in COLUMNS)
    + " FROM leads_lead"
)


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(CREATE)
    schema_editor.execute("ANALYZE leads_lead")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP STATISTICS IF EXISTS lead_search_stats")


class Migration(migrations.Migration):
    dependencies = [("leads", "0016_updated_at_index")]

    operations = [migrations.RunPython(create, drop)]
