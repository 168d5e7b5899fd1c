"""Parallel workers: none for the app's page queries (``DB_PARALLEL_WORKERS``), the
dashboard's grouped queries ask for their own (``analytics.db.parallel_aggregates``)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from analytics import db as analytics_db
from crm.roles import Role
from tests.factories import UserFactory


def _workers() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW max_parallel_workers_per_gather")
        return cursor.fetchone()[0]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a PostgreSQL setting")
def test_no_workers_for_the_app_and_the_dashboard_asks_for_them(transactional_db):
    assert _workers() == "0"
    with analytics_db.parallel_aggregates():
        assert _workers() == "2"
    assert _workers() == "0"  # SET LOCAL: only inside


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a PostgreSQL setting")
def test_the_team_dashboard_runs_its_grouped_queries_with_workers(client, db):
    manager = UserFactory(role=Role.MANAGER)
    client.force_login(manager)
    with CaptureQueriesContext(connection) as captured:
        assert client.get("/dashboard/?period=last_90_days").status_code == 200
    statements = [q["sql"] for q in captured]
    (at,) = [i for i, sql in enumerate(statements) if "max_parallel_workers_per_gather" in sql]
    assert any("GROUP BY" in sql for sql in statements[at + 1 :])


def test_nothing_is_set_when_nothing_changes(db, settings):
    """SQLite has no such setting; on PostgreSQL, equal settings need no ``SET``."""
    if connection.vendor == "postgresql":
        settings.DASHBOARD_PARALLEL_WORKERS = settings.DB_PARALLEL_WORKERS
    with CaptureQueriesContext(connection) as captured, analytics_db.parallel_aggregates():
        pass
    assert captured.captured_queries == []
