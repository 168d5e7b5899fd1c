"""factory-boy factories of the customfields app."""

import factory
from factory.django import DjangoModelFactory

from customfields.models import CHOICE_TYPES, CustomFieldDefinition


class CustomFieldFactory(DjangoModelFactory):
    """A definition created directly (no service): tests of the service use the service."""

    class Meta:
        model = CustomFieldDefinition

    entity_type = "person"
    name = factory.Sequence(lambda n: f"field_{n}")
    label = factory.LazyAttribute(lambda o: o.name.replace("_", " ").capitalize())
    type = "text"
    options = factory.LazyAttribute(
        lambda o: ["small", "medium", "large"] if o.type in CHOICE_TYPES else []
    )
    display_order = factory.Sequence(lambda n: (n + 1) * 10)
