"""The lead search's expressions have PostgreSQL statistics (``leads 0017``), so the planner
knows how many leads a term matches instead of guessing a handful."""

import re

import pytest
from django.db import connection

from leads.filters import LeadFilter
from leads.models import Lead

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="statistics on expressions are PostgreSQL's"
)


def test_the_statistics_cover_exactly_what_the_search_compares(db):
    sql, _ = LeadFilter({"search": "acme"}, queryset=Lead.objects.all()).qs.query.sql_with_params()
    searched = set(re.findall(r'UPPER\("leads_lead"\."(\w+)"::text\) LIKE', sql))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_get_statisticsobjdef(oid) FROM pg_statistic_ext "
            "WHERE stxname = 'lead_search_stats'"
        )
        (definition,) = cursor.fetchone()
    covered = set(re.findall(r"upper\((\w+)::text\)", definition))
    assert searched == covered == {"name", "contact_name", "contact_email", "company_name"}


def test_a_common_term_is_estimated_as_common(db):
    from tests.leads.factories import LeadFactory

    for n in range(300):
        LeadFactory(name=f"Globex deal {n}" if n % 2 else f"Other {n}")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE leads_lead")
        sql, params = (
            LeadFilter({"search": "globex"}, queryset=Lead.objects.all())
            .qs.order_by()
            .values("pk")
            .query.sql_with_params()
        )
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    estimated = (plan[0] if isinstance(plan, list) else plan)["Plan"]["Plan Rows"]
    assert estimated >= 75, estimated  # 150 match; without the statistics: 1
