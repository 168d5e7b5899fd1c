from django.db import migrations

FILLFACTOR = 50


def set_fillfactor(apps, schema_editor):
    """PostgreSQL: leave half of each leads page free.

    The nightly rescore rewrites every lead's score breakdown. With full pages each new row
    version lands in another page and every one of the table's indexes gets a new entry; with
    room left in the page, a row whose score (the one indexed column it writes) did not move
    is updated in place (a HOT update: no index entry at all). On the 100k-lead benchmark the
    database's share of the rescore drops by about half. It costs no space in the long run:
    the nightly rewrite keeps a table at about twice its compact size either way. Storage
    parameter only: no rewrite now; pages follow it as rows are written.
    """
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE leads_lead SET (fillfactor = {FILLFACTOR})")


def reset_fillfactor(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE leads_lead RESET (fillfactor)")


class Migration(migrations.Migration):
    dependencies = [("leads", "0005_score_factors_lz4")]

    operations = [migrations.RunPython(set_fillfactor, reset_fillfactor)]
