"""Database expressions the metrics need on both engines (PostgreSQL and SQLite)."""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import connection, transaction
from django.db.models import FloatField, Func


@contextmanager
def parallel_aggregates() -> Iterator[None]:
    """PostgreSQL: the grouped queries run inside may use ``DASHBOARD_PARALLEL_WORKERS``
    parallel workers (``SET LOCAL``, in a transaction of their own), while the app's other
    queries use ``DB_PARALLEL_WORKERS`` (none by default; see the settings). The team
    dashboard reads every lead and deal of a period: at a million leads its grouped queries
    took 1.6 s with two workers, 2.0 s without."""
    workers = settings.DASHBOARD_PARALLEL_WORKERS
    if connection.vendor != "postgresql" or workers < 0 or workers == settings.DB_PARALLEL_WORKERS:
        yield
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL max_parallel_workers_per_gather = {int(workers)}")
        yield


class SecondsBetween(Func):
    """``end - start`` in seconds, as a float (NULL when either is NULL)."""

    output_field = FloatField()
    arity = 2

    def as_sql(self, compiler, connection, **extra_context):
        end, start = (compiler.compile(e) for e in self.source_expressions)
        sql = f"CAST(EXTRACT(EPOCH FROM ({end[0]} - {start[0]})) AS double precision)"
        return sql, [*end[1], *start[1]]

    def as_sqlite(self, compiler, connection, **extra_context):
        end, start = (compiler.compile(e) for e in self.source_expressions)
        return (
            f"((julianday({end[0]}) - julianday({start[0]})) * 86400.0)",
            [*end[1], *start[1]],
        )


class _SqliteMedian:
    """MEDIAN(x) on SQLite (the funnel's median time in step; PostgreSQL has
    ``percentile_cont``)."""

    def __init__(self) -> None:
        self.values: list[float] = []

    def step(self, value) -> None:
        if value is not None:
            self.values.append(float(value))

    def finalize(self) -> float | None:
        return statistics.median(self.values) if self.values else None


def register_sqlite_functions(sender, connection, **kwargs) -> None:
    """``connection_created`` receiver: the MEDIAN aggregate on SQLite connections."""
    if connection.vendor == "sqlite":
        connection.connection.create_aggregate("MEDIAN", 1, _SqliteMedian)
