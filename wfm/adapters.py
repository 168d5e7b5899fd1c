"""How the engine sees the record a project tracks, without knowing leads or deals.

``leads`` and ``deals`` each pass an ``EntityAdapter`` to ``project_transition``; the engine
asks it whether the record is deleted, which of a step's required fields are empty (by their
human labels) and what the record's score is. ``ModelAdapter`` does the common part for a
model instance whose custom field values live in a JSON field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.utils.text import capfirst

if TYPE_CHECKING:
    from wfm.models import WorkflowStep


@runtime_checkable
class EntityAdapter(Protocol):
    def label(self) -> str:
        """The record's name as users know it, e.g. "Acme Corp – website redesign"."""
        ...

    def is_deleted(self) -> bool:
        """True when the record is (soft-)deleted: a deleted record cannot move."""
        ...

    def score(self) -> int | None:
        """The record's score (0–100) for ``WorkflowStep.min_lead_score``; None if unscored."""
        ...

    def missing_fields(self, step: WorkflowStep) -> list[str]:
        """Human labels of the ``step.required_fields`` that are empty on the record."""
        ...


def is_blank(value: Any) -> bool:
    """Empty for a required field: None, blank text, an empty list or dict. 0 and False count
    as answers."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, list | tuple | set | dict):
        return not value
    return False


class ModelAdapter:
    """An ``EntityAdapter`` for a model instance.

    A required field name is either a concrete field of the model (its label is the field's
    verbose name) or a key of the instance's ``custom_values_field`` JSON (its label comes from
    ``custom_labels``, which the caller gets from the custom field definitions).
    """

    def __init__(
        self,
        obj: models.Model,
        *,
        score_field: str | None = None,
        custom_labels: Mapping[str, str] | None = None,
        custom_values_field: str = "custom_field_values",
    ) -> None:
        self.obj = obj
        self.score_field = score_field
        self.custom_labels = dict(custom_labels or {})
        self.custom_values_field = custom_values_field

    def label(self) -> str:
        return str(self.obj)

    def is_deleted(self) -> bool:
        return getattr(self.obj, "deleted_at", None) is not None

    def score(self) -> int | None:
        if not self.score_field:
            return None
        value = getattr(self.obj, self.score_field)
        return None if value is None else int(value)

    def missing_fields(self, step: WorkflowStep) -> list[str]:
        custom = getattr(self.obj, self.custom_values_field, None) or {}
        missing = []
        for name in step.required_fields:
            value, label = self._value_and_label(name, custom)
            if is_blank(value):
                missing.append(label)
        return missing

    def _value_and_label(self, name: str, custom: Mapping[str, Any]) -> tuple[Any, str]:
        try:
            field = self.obj._meta.get_field(name)
        except FieldDoesNotExist:
            field = None
        if field is not None and field.concrete:
            # attname: a foreign key is read as its id, without a query.
            return getattr(self.obj, field.attname), capfirst(str(field.verbose_name))
        label = self.custom_labels.get(name) or capfirst(name.replace("_", " "))
        return custom.get(name), label
