import pytest

from crm.models import Person
from tests.customfields.factories import CustomFieldFactory


@pytest.fixture
def make_field(db):
    return CustomFieldFactory


@pytest.fixture
def make_person(db):
    counter = iter(range(1, 10_000))

    def make(values: dict | None = None, **kwargs) -> Person:
        n = next(counter)
        return Person.objects.create(
            first_name=kwargs.pop("first_name", f"P{n}"),
            last_name=kwargs.pop("last_name", "Test"),
            custom_field_values=values or {},
            **kwargs,
        )

    return make
