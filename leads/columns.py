"""The columns the lead table can show: built-in ones and one per active custom field."""

from __future__ import annotations

from dataclasses import dataclass

from customfields.models import CustomFieldDefinition
from customfields.selectors import active_fields


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    ordering: str | None  # the ordering term (None: not sortable)
    default: bool = False
    definition: CustomFieldDefinition | None = None  # the custom field, for cf_ columns


BUILT_IN = [
    Column("name", "Lead", "name", default=True),
    Column("company", "Company", "company_name", default=True),
    Column("contact", "Contact", "contact_name", default=True),
    Column("step", "Step", "step", default=True),
    Column("score", "Score", "lead_score", default=True),
    Column("value", "Value", "estimated_value", default=True),
    Column("source", "Source", "source", default=True),
    Column("priority", "Priority", "priority"),
    Column("assignee", "Assignee", "assigned_to", default=True),
    Column("owner", "Owner", "owner"),
    Column("close", "Expected close", "estimated_close_date"),
    Column("last_activity", "Last activity", "last_activity_at"),
    Column("created", "Created", "created_at", default=True),
]


def available_columns(definitions=None) -> list[Column]:
    """Built-in columns, then one per active lead custom field (``definitions``: preloaded)."""
    custom = [
        Column(d.param_name, d.label, d.param_name, default=d.show_in_table, definition=d)
        for d in active_fields("lead", definitions=definitions)
    ]
    return [*BUILT_IN, *custom]


def chosen_columns(requested: list[str] | None, columns: list[Column]) -> list[Column]:
    """The requested columns in the user's order, or the defaults; unknown keys are ignored."""
    by_key = {c.key: c for c in columns}
    chosen = [by_key[k] for k in (requested or []) if k in by_key]
    return chosen or [c for c in columns if c.default]
