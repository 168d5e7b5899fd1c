"""Inserting many new rows fast (a spreadsheet import's thousands of leads and their history).

On PostgreSQL the rows are streamed with COPY, which skips building and parsing one INSERT
statement of tens of thousands of parameters per batch (a third of ``bulk_create``'s time for
a lead's forty columns); elsewhere ``bulk_create``. Rows go in as given: no ``save()``, no
signals, ids that the database assigns (auto keys) are not read back; the caller writes what a
save would have written besides (history, permissions, events) itself.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal

from django.db import connection, connections
from django.db.models import AutoField, BigAutoField, Field, JSONField, Model, SmallAutoField
from django.utils import timezone

AUTO_KEYS = (AutoField, BigAutoField, SmallAutoField)
# Values psycopg writes as they are: Django's preparation of them (a dozen calls a cell) only
# hands them back, so a row skips it for them (JSON and anything else still go through it).
PLAIN = (str, int, bool, float, Decimal, uuid.UUID, dt.datetime, dt.date)


def _preparer(f: Field, wrapper) -> Callable:
    if isinstance(f, JSONField):
        return lambda value: f.get_db_prep_save(value, wrapper)

    def prepare(value):
        if value is None or type(value) in PLAIN:
            return value
        return f.get_db_prep_save(value, wrapper)

    return prepare


def insert(model: type[Model], objs: Sequence[Model], *, with_ids: bool = False) -> None:
    """Insert ``objs`` (new instances of ``model``) as they are. ``with_ids``: their auto
    keys are set (on PostgreSQL taken from the key's sequence first, then written with
    the rows; elsewhere read back by ``bulk_create``)."""
    if not objs:
        return
    if connection.vendor != "postgresql":
        model._default_manager.bulk_create(objs, batch_size=1000)
        return
    fields = _copied_fields(model)
    if with_ids:
        pk = model._meta.pk
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                [model._meta.db_table, pk.column, len(objs)],
            )
            for obj, (value,) in zip(objs, cursor.fetchall(), strict=True):
                obj.pk = value
                obj._state.adding, obj._state.db = False, connection.alias  # as bulk_create
        fields = [pk, *fields]
    # (field, attribute, whether save() would set it (auto_now), how to prepare its value)
    prepared = [
        (
            f,
            f.attname,
            getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False),
            _preparer(f, _wrapper(model)),
        )
        for f in fields
    ]
    with _copy(model, fields) as copy:
        for obj in objs:
            copy.write_row(
                [
                    prepare(f.pre_save(obj, True) if auto else getattr(obj, name))
                    for f, name, auto, prepare in prepared
                ]
            )
    for obj in objs:  # saved: a later save() updates them, as after bulk_create
        obj._state.adding, obj._state.db = False, connection.alias


def insert_rows(model: type[Model], attnames: Sequence[str], rows: Iterable[Sequence]) -> None:
    """Insert new rows of ``model`` given as values of the fields ``attnames`` (``user_id``,
    not ``user``), in that order; the other fields take their defaults, as a new instance
    would. No instance is built on PostgreSQL: for the thousands of narrow rows of a batch
    (permissions, history) building them costs more than writing them."""
    if connection.vendor != "postgresql":
        model._default_manager.bulk_create(
            (model(**dict(zip(attnames, row, strict=True))) for row in rows), batch_size=1000
        )
        return
    given = [model._meta.get_field(name) for name in attnames]
    others = [f for f in _copied_fields(model) if f not in given]
    wrapper = _wrapper(model)
    prepares = [_preparer(f, wrapper) for f in [*given, *others]]
    with _copy(model, [*given, *others]) as copy:
        for row in rows:
            values = [*row, *[_default(f) for f in others]]
            copy.write_row(
                [prepare(value) for prepare, value in zip(prepares, values, strict=True)]
            )


def _default(f: Field):
    if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
        return timezone.now()
    return f.get_default()


def _copied_fields(model: type[Model]) -> list[Field]:
    return [
        f for f in model._meta.concrete_fields if not (f.primary_key and isinstance(f, AUTO_KEYS))
    ]


def _wrapper(model: type[Model]):
    return connections[model._default_manager.db]  # not the proxy: one lookup, not one a cell


@contextmanager
def _copy(model: type[Model], fields: Sequence[Field]) -> Iterator:
    q = connection.ops.quote_name
    columns = ", ".join(q(f.column) for f in fields)
    statement = f"COPY {q(model._meta.db_table)} ({columns}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
        yield copy
