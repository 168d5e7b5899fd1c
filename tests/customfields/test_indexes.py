"""The GIN index operation: created on PostgreSQL (and used by the cf_ filters), a no-op on
SQLite."""

from types import SimpleNamespace

import pytest
from django.apps import apps
from django.db import connection
from django.db.migrations.state import ProjectState

from crm.models import Person
from customfields.filters import apply_cf_filters
from customfields.indexes import CustomFieldValuesGinIndex, gin_index_operation

INDEX = "crm_person_cfv_gin"


def index_names() -> set[str]:
    """Indexes of crm_person (PostgreSQL tests only)."""
    with connection.cursor() as cursor:
        return set(connection.introspection.get_constraints(cursor, "crm_person"))


def run(operation, direction: str = "forwards") -> None:
    state = ProjectState.from_apps(apps)
    with connection.schema_editor() as editor:
        method = getattr(operation, f"database_{direction}")
        method("crm", editor, state, state)


def test_operation_deconstructs_and_describes_itself():
    operation = gin_index_operation("person", name="custom_idx")
    name, args, kwargs = operation.deconstruct()
    assert name == "CustomFieldValuesGinIndex"
    assert kwargs == {"model_name": "person", "name": "custom_idx"}
    assert "GIN" in operation.describe()
    assert operation.migration_name_fragment == "person_cfv_gin"


def test_operation_does_not_touch_the_migration_state():
    state = ProjectState.from_apps(apps)
    before = state.clone()
    CustomFieldValuesGinIndex(model_name="person").state_forwards("crm", state)
    assert state.models == before.models


@pytest.mark.skipif(connection.vendor == "postgresql", reason="SQLite behaviour")
def test_operation_is_a_no_op_on_sqlite(db):
    # SQLite's schema editor refuses to open inside the test transaction; a recording stand-in
    # shows that nothing would be executed.
    executed = []
    editor = SimpleNamespace(
        connection=connection,
        execute=executed.append,
        quote_name=connection.ops.quote_name,
        atomic_migration=True,
    )
    state = ProjectState.from_apps(apps)
    operation = CustomFieldValuesGinIndex(model_name="person", concurrently=True)
    operation.database_forwards("crm", editor, state, state)
    operation.database_backwards("crm", editor, state, state)
    assert executed == []


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL")
def test_operation_creates_and_drops_a_jsonb_path_ops_gin_index(db):
    operation = CustomFieldValuesGinIndex(model_name="person")
    run(operation)
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", [INDEX])
        (definition,) = cursor.fetchone()
    assert "USING gin (custom_field_values jsonb_path_ops)" in definition

    run(operation)  # idempotent (IF NOT EXISTS)
    run(operation, "backwards")
    assert INDEX not in index_names()


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL")
def test_cf_equality_and_multi_select_filters_use_the_index(make_field, make_person):
    # Before any row is written: PostgreSQL refuses CREATE INDEX on a table with pending
    # (deferred) foreign-key trigger events in the same transaction.
    run(CustomFieldValuesGinIndex(model_name="person"))
    make_field(name="size", type="dropdown", options=["S", "M"])
    make_field(name="tags", type="multi_select", options=["crm", "erp"])
    make_person({"size": "S", "tags": ["crm"]})

    # all_objects: without the soft-delete filter, whose own index the planner could prefer.
    queryset = apply_cf_filters(
        Person.all_objects.order_by(), "person", {"cf_size": "S", "cf_tags": "crm"}
    )
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        sql, params = queryset.query.sql_with_params()
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert INDEX in plan
    assert queryset.count() == 1


def test_concurrently_needs_a_non_atomic_migration(db):
    if connection.vendor != "postgresql":
        pytest.skip("the check runs where the index is built")
    with pytest.raises(ValueError, match="atomic = False"):
        run(CustomFieldValuesGinIndex(model_name="person", concurrently=True))
