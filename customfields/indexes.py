"""The PostgreSQL GIN index over ``custom_field_values`` (SPEC §5).

The ``cf_`` equality and multi-select filters compile to ``custom_field_values @> '{…}'`` on
PostgreSQL (``customfields.filters``); a GIN index with the ``jsonb_path_ops`` operator class
serves exactly that operator and is smaller and faster than the default ``jsonb_ops``.

Use it in the migration of every model that stores custom field values::

    from customfields.indexes import CustomFieldValuesGinIndex

    class Migration(migrations.Migration):
        dependencies = [("leads", "0001_initial")]
        operations = [CustomFieldValuesGinIndex(model_name="lead")]

It is a no-op on every other database (SQLite in embedded mode), reversible, and adds nothing
to the migration state, so ``makemigrations`` never wants to undo it. The default index name is
``<db_table>_cfv_gin``.

On a big, live table create it without locking writes: put the operation in a migration with
``atomic = False`` and pass ``concurrently=True``.
"""

from __future__ import annotations

from django.db import migrations


class CustomFieldValuesGinIndex(migrations.operations.base.Operation):
    reversible = True
    reduces_to_sql = True

    def __init__(
        self,
        model_name: str,
        field_name: str = "custom_field_values",
        name: str | None = None,
        concurrently: bool = False,
    ):
        self.model_name = model_name
        self.field_name = field_name
        self.name = name
        self.concurrently = concurrently

    def deconstruct(self):
        kwargs = {"model_name": self.model_name}
        if self.field_name != "custom_field_values":
            kwargs["field_name"] = self.field_name
        if self.name:
            kwargs["name"] = self.name
        if self.concurrently:
            kwargs["concurrently"] = True
        return self.__class__.__qualname__, [], kwargs

    def state_forwards(self, app_label, state):
        pass  # database-only: the model state does not know about vendor-specific indexes

    def _names(self, app_label, state) -> tuple[str, str, str]:
        model = state.apps.get_model(app_label, self.model_name)
        table = model._meta.db_table
        column = model._meta.get_field(self.field_name).column
        index = self.name or f"{table}_cfv_gin"[:63]
        return table, column, index

    def _check_concurrently(self, schema_editor) -> None:
        if self.concurrently and schema_editor.atomic_migration:
            raise ValueError(
                "CustomFieldValuesGinIndex(concurrently=True) needs a migration with "
                "atomic = False."
            )

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return
        self._check_concurrently(schema_editor)
        table, column, index = self._names(app_label, to_state)
        qn = schema_editor.quote_name
        concurrently = "CONCURRENTLY " if self.concurrently else ""
        schema_editor.execute(
            f"CREATE INDEX {concurrently}IF NOT EXISTS {qn(index)} "
            f"ON {qn(table)} USING gin ({qn(column)} jsonb_path_ops)"
        )

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return
        self._check_concurrently(schema_editor)
        _, _, index = self._names(app_label, from_state)
        concurrently = "CONCURRENTLY " if self.concurrently else ""
        schema_editor.execute(
            f"DROP INDEX {concurrently}IF EXISTS {schema_editor.quote_name(index)}"
        )

    def describe(self) -> str:
        return f"Create a GIN (jsonb_path_ops) index on {self.model_name}.{self.field_name}"

    @property
    def migration_name_fragment(self) -> str:
        return f"{self.model_name.lower()}_cfv_gin"


def gin_index_operation(
    model_name: str,
    *,
    field_name: str = "custom_field_values",
    name: str | None = None,
    concurrently: bool = False,
) -> CustomFieldValuesGinIndex:
    """Shortcut: ``operations = [gin_index_operation("lead")]``."""
    return CustomFieldValuesGinIndex(
        model_name=model_name, field_name=field_name, name=name, concurrently=concurrently
    )
