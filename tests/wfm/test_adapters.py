"""ModelAdapter: the ready-made EntityAdapter over a model instance."""

import pytest
from django.utils import timezone

from tests.factories import PersonFactory
from tests.wfm.factories import WorkflowStepFactory
from wfm.adapters import EntityAdapter, ModelAdapter, is_blank

pytestmark = pytest.mark.django_db


def test_model_adapter_is_an_entity_adapter():
    assert isinstance(ModelAdapter(PersonFactory.build()), EntityAdapter)


def test_missing_model_and_custom_fields_are_named_by_label():
    person = PersonFactory(
        phone="",
        email="ann@example.org",
        custom_field_values={"budget": None, "region": "EMEA", "tags": []},
    )
    step = WorkflowStepFactory(required_fields=["email", "phone", "budget", "region", "tags"])
    adapter = ModelAdapter(person, custom_labels={"budget": "Budget (EUR)"})

    assert adapter.missing_fields(step) == ["Phone", "Budget (EUR)", "Tags"]


def test_foreign_keys_are_checked_without_a_query(django_assert_num_queries):
    person = PersonFactory(organization=None)
    step = WorkflowStepFactory(required_fields=["organization"])

    with django_assert_num_queries(0):
        assert ModelAdapter(person).missing_fields(step) == ["Organization"]


def test_deleted_score_and_label():
    person = PersonFactory(first_name="Ann", last_name="Lee")
    person.lead_score = 42  # any attribute can be the score

    adapter = ModelAdapter(person, score_field="lead_score")

    assert adapter.label() == "Ann Lee"
    assert adapter.score() == 42
    assert ModelAdapter(person).score() is None
    assert not adapter.is_deleted()
    person.deleted_at = timezone.now()
    assert adapter.is_deleted()


@pytest.mark.parametrize(
    ("value", "blank"),
    [
        (None, True),
        ("", True),
        ("  ", True),
        ([], True),
        ({}, True),
        (0, False),
        (False, False),
        ("x", False),
        ([1], False),
    ],
)
def test_what_counts_as_blank(value, blank):
    assert is_blank(value) is blank
