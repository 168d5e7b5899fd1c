"""PostgreSQL storage details of the leads table that migrations set outside Django's model
state. (That the board totals use the covering index is seen in the benchmark's plans on
100,000 leads; on a test-sized table the planner rightly prefers other paths.)"""

import pytest
from django.db import connection

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="needs PostgreSQL (INCLUDE indexes, fillfactor)"
)


def _indexdef(name: str) -> str | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", [name])
        row = cursor.fetchone()
    return row[0] if row else None


@pytest.mark.django_db
def test_live_leads_covering_index_holds_what_the_board_totals_read():
    definition = _indexdef("lead_live_cover_idx")
    assert definition is not None
    assert "INCLUDE (wfm_project_id, estimated_value)" in definition
    assert "WHERE (deleted_at IS NULL)" in definition


@pytest.mark.django_db
def test_leads_table_keeps_room_for_in_place_score_updates():
    with connection.cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE relname = 'leads_lead'")
        (options,) = cursor.fetchone()
    assert "fillfactor=50" in (options or [])
