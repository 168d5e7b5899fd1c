"""Which models carry custom field values, so this app can reach records it does not own.

``customfields`` knows nothing of leads or deals (SPEC §4); instead each owning app registers its
model from its ``AppConfig.ready``::

    from customfields.registry import register_entity

    register_entity("lead", Lead, lambda: Lead.objects.all())

The registry is used to count how many records use a value (an option about to be removed) and
to find the entity type of a queryset (``filters.order_by_cf``). People and organizations are
registered by ``customfields.apps`` itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import Model, QuerySet

VALUES_FIELD = "custom_field_values"


@dataclass(frozen=True)
class Entity:
    entity_type: str
    model: type[Model]
    queryset_getter: Callable[[], QuerySet]
    values_field: str = VALUES_FIELD

    def queryset(self) -> QuerySet:
        return self.queryset_getter()

    def describe(self, count: int) -> str:
        """``"1 person"``, ``"3 people"``."""
        opts = self.model._meta
        noun = opts.verbose_name if count == 1 else opts.verbose_name_plural
        return f"{count} {noun}"


_entities: dict[str, Entity] = {}


def register_entity(
    entity_type: str,
    model: type[Model],
    queryset_getter: Callable[[], QuerySet] | None = None,
    *,
    values_field: str = VALUES_FIELD,
) -> Entity:
    """Declare that ``model`` stores the custom field values of ``entity_type``.

    ``queryset_getter`` returns the rows whose values count (typically the live, not soft-deleted
    rows); it defaults to the model's default manager. Registering again replaces the entry, so
    reloading an app config is harmless.
    """
    from customfields.models import EntityType

    if entity_type not in EntityType.values:
        raise ValueError(f"Unknown entity type {entity_type!r}; add it to EntityType first.")
    model._meta.get_field(values_field)  # fail early on a typo
    getter = queryset_getter or (lambda: model._default_manager.all())
    entity = Entity(entity_type, model, getter, values_field)
    _entities[entity_type] = entity
    return entity


def get_entity(entity_type: str) -> Entity | None:
    return _entities.get(entity_type)


def entity_for_model(model: type[Model]) -> Entity | None:
    """The registration of ``model`` (or of the concrete model a proxy stands for)."""
    concrete = model._meta.concrete_model
    for entity in _entities.values():
        if entity.model._meta.concrete_model is concrete:
            return entity
    return None


def registered_entities() -> dict[str, Entity]:
    return dict(_entities)
