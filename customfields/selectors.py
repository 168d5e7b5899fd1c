"""Reads of custom field definitions.

Every function here costs one query. A screen that needs the definitions several times (form,
filters, columns) may load them once with ``definitions_for`` and pass the list as
``definitions=`` to the helpers in ``services``, ``forms`` and ``filters``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from django.db.models import QuerySet

from crm import reference
from crm.errors import NotFound
from customfields.models import CustomFieldDefinition, FieldType
from customfields.permissions import can_manage_custom_fields

Definitions = Sequence[CustomFieldDefinition]


def definitions_for(*entity_types: str) -> list[CustomFieldDefinition]:
    """All definitions of the entity types, active or not, in display order (one query; the
    helpers taking ``definitions=`` pick each type's own). Cached as reference data
    (``crm.reference``) until a definition changes: tables, boards and API pages read them on
    every request."""
    return reference.cached(
        f"custom-fields:{','.join(sorted(entity_types))}",
        lambda: list(
            CustomFieldDefinition.objects.filter(entity_type__in=entity_types).order_by(
                "display_order", "name"
            )
        ),
    )


def all_fields(
    entity_type: str, *, definitions: Definitions | None = None
) -> list[CustomFieldDefinition]:
    """Active and inactive fields of an entity type: taken from ``definitions`` when given
    (no query), else loaded (one query)."""
    if definitions is None:
        return definitions_for(entity_type)
    return [d for d in definitions if d.entity_type == entity_type]


def active_fields(
    entity_type: str, *, definitions: Definitions | None = None
) -> list[CustomFieldDefinition]:
    """The active fields of an entity type in display order: what forms and detail pages show."""
    return [d for d in all_fields(entity_type, definitions=definitions) if d.is_active]


def table_fields(
    entity_type: str, *, definitions: Definitions | None = None
) -> list[CustomFieldDefinition]:
    """The active fields offered as table columns."""
    return [d for d in active_fields(entity_type, definitions=definitions) if d.show_in_table]


def active_values(
    entity_type: str, values: dict | None, *, definitions: Definitions | None = None
) -> dict:
    """The part of a record's stored values a user sees: active fields only, in display order.

    Values of inactive fields stay stored but are hidden (SPEC §6).
    """
    values = values or {}
    return {
        d.name: values[d.name]
        for d in active_fields(entity_type, definitions=definitions)
        if d.name in values
    }


def display_rows(
    entity_type: str, values: dict | None, *, definitions: Definitions | None = None
) -> list[dict]:
    """What a detail page shows: one row per active field, in display order, with the value
    as people read it (``None`` when the record has none) and how to render it."""
    from customfields.values import display_value

    values = values or {}
    return [
        {
            "definition": d,
            "value": display_value(d, values.get(d.name)),
            "is_url": d.type == FieldType.URL,
            "is_email": d.type == FieldType.EMAIL,
            "is_long": d.type == FieldType.LONG_TEXT,
        }
        for d in active_fields(entity_type, definitions=definitions)
    ]


def table_cells(
    entity_type: str, records, *, definitions: Definitions | None = None
) -> list[CustomFieldDefinition]:
    """Give each record a ``custom_cells`` list (the display values of the table fields, in
    order) and return those fields, for the column headers. No query with ``definitions``."""
    from customfields.values import display_value

    fields = table_fields(entity_type, definitions=definitions)
    for record in records:
        values = getattr(record, "custom_field_values", None) or {}
        record.custom_cells = [display_value(d, values.get(d.name)) for d in fields]
    return fields


def field_list(*, user, entity_type: str | None = None) -> QuerySet[CustomFieldDefinition]:
    """Definitions ``user`` may see: managers see inactive ones too, everyone else only active."""
    qs = CustomFieldDefinition.objects.all()
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return qs.none()
    if entity_type:
        qs = qs.filter(entity_type=entity_type)
    if not can_manage_custom_fields(user, "change"):
        qs = qs.filter(is_active=True)
    return qs.order_by("entity_type", "display_order", "name")


def field_get(*, user, field_id) -> CustomFieldDefinition:
    """One definition ``user`` may see, or ``NotFound`` (also for a malformed id)."""
    try:
        field_id = uuid.UUID(str(field_id))
    except ValueError:
        raise NotFound("Custom field not found.") from None
    field = field_list(user=user).filter(pk=field_id).first()
    if field is None:
        raise NotFound("Custom field not found.")
    return field


def field_counts() -> dict[str, dict[str, int]]:
    """``{entity_type: {"active": n, "total": n}}`` for every entity type (one query)."""
    from django.db.models import Count, Q

    from customfields.models import EntityType

    counts = {value: {"active": 0, "total": 0} for value in EntityType.values}
    rows = (
        CustomFieldDefinition.objects.values("entity_type")
        .annotate(total=Count("pk"), active=Count("pk", filter=Q(is_active=True)))
        .order_by()
    )
    for row in rows:
        counts[row["entity_type"]] = {"active": row["active"], "total": row["total"]}
    return counts
