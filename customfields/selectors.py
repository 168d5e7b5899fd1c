"""Reads of custom field definitions.

Every function here costs one query. A screen that needs the definitions several times (form,
filters, columns) may load them once with ``definitions_for`` and pass the list as
``definitions=`` to the helpers in ``services``, ``forms`` and ``filters``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from django.db.models import QuerySet

from crm.errors import NotFound
from customfields.models import CustomFieldDefinition
from customfields.permissions import can_manage_custom_fields

Definitions = Sequence[CustomFieldDefinition]


def definitions_for(entity_type: str) -> list[CustomFieldDefinition]:
    """All definitions of an entity type, active or not, in display order."""
    return list(
        CustomFieldDefinition.objects.filter(entity_type=entity_type).order_by(
            "display_order", "name"
        )
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
