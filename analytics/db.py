"""Database expressions the metrics need on both engines (PostgreSQL and SQLite)."""

from __future__ import annotations

import statistics

from django.db.models import FloatField, Func


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
