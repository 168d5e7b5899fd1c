"""The write tools take ``custom_field_values`` and hand it to the services, which validate it
(``customfields.services.validate_values``); a refused value comes back to the model as a tool
error naming the field (SPEC §6 Custom fields, §8)."""

from __future__ import annotations

import pytest

from aiagent import registry
from crm.models import Organization, Person
from deals.models import Deal
from leads.models import Lead
from tests.customfields.factories import CustomFieldFactory

pytestmark = pytest.mark.django_db

WRITE_TOOLS = (
    "create_person",
    "create_organization",
    "create_lead",
    "update_lead",
    "create_deal",
    "update_deal",
)
CREATES = [
    ("create_person", {"first_name": "Ann"}, Person),
    ("create_organization", {"name": "Acme"}, Organization),
    ("create_lead", {"name": "Robots"}, Lead),
    ("create_deal", {"name": "Robots"}, Deal),
]


def run(actor, tool, arguments):
    return registry.execute(registry.ToolContext(user=actor, source="test"), tool, arguments)


@pytest.fixture
def fields(db):
    """On every record type: a number ``budget`` and a dropdown ``region``."""
    for entity_type in ("person", "organization", "lead", "deal"):
        CustomFieldFactory(entity_type=entity_type, name="budget", label="Budget", type="number")
        CustomFieldFactory(
            entity_type=entity_type,
            name="region",
            label="Region",
            type="dropdown",
            options=["EMEA", "APAC"],
        )


def test_the_write_tools_describe_custom_field_values_in_their_schema():
    for name in WRITE_TOOLS:
        tool = registry.get(name)
        schema = tool.input_schema["properties"]["custom_field_values"]
        assert schema["type"] == "object", name
        assert "list_custom_fields" in schema["description"], name
        assert "custom_field_values" in tool.description, name
        assert "custom_fields" not in tool.input_schema["properties"], name
        assert "custom_field_values" not in tool.input_schema["required"], name


@pytest.mark.parametrize(("tool", "arguments", "model"), CREATES)
def test_create_tools_store_normalized_values(world, fields, tool, arguments, model):
    values = {"budget": "12000", "region": "emea"}
    outcome = run(world.rep1, tool, {**arguments, "custom_field_values": values})
    assert outcome.ok, outcome.result
    record = model.objects.get(pk=outcome.result[model._meta.model_name]["id"])
    assert record.custom_field_values == {"budget": 12000, "region": "EMEA"}


@pytest.mark.parametrize(("tool", "arguments", "model"), CREATES)
def test_create_tools_still_work_without_custom_field_values(world, tool, arguments, model):
    outcome = run(world.rep1, tool, arguments)
    assert outcome.ok, outcome.result
    assert (
        model.objects.get(pk=outcome.result[model._meta.model_name]["id"]).custom_field_values == {}
    )


@pytest.mark.parametrize(("tool", "arguments", "model"), CREATES)
def test_a_bad_value_is_a_tool_error_naming_the_field_and_nothing_is_created(
    world, fields, tool, arguments, model
):
    before = model.objects.count()
    outcome = run(world.rep1, tool, {**arguments, "custom_field_values": {"budget": "lots"}})
    error = outcome.result["error"]
    assert error["code"] == "invalid_arguments"
    assert "custom_field_values.budget: Budget: 'lots' is not a whole number." in error["message"]
    assert error["details"] == {
        "custom_field_values.budget": ["Budget: 'lots' is not a whole number."]
    }
    assert outcome.tool_call.error.startswith("invalid_arguments")
    assert model.objects.count() == before


def test_every_refused_field_is_named_in_the_message(world, fields):
    CustomFieldFactory(
        entity_type="lead", name="vat_id", label="VAT id", type="text", is_required=True
    )
    outcome = run(
        world.rep1,
        "create_lead",
        {"name": "Robots", "custom_field_values": {"region": "Mars", "colour": "red"}},
    )
    message = outcome.result["error"]["message"]
    assert "custom_field_values.region: Region: 'Mars' is not one of: EMEA, APAC" in message
    assert "custom_field_values.colour: Unknown custom field 'colour'." in message
    assert "custom_field_values.vat_id: VAT id: this field is required." in message
    assert "list_custom_fields" in message
    assert not Lead.objects.filter(name="Robots").exists()


def test_update_tools_merge_values_and_null_clears_one(world, fields):
    lead, deal = world.leads1[0], world.deal1
    Lead.objects.filter(pk=lead.pk).update(custom_field_values={"budget": 5, "region": "APAC"})
    Deal.objects.filter(pk=deal.pk).update(custom_field_values={"budget": 5, "region": "APAC"})
    for tool, key, record in (("update_lead", "lead_id", lead), ("update_deal", "deal_id", deal)):
        outcome = run(
            world.rep1,
            tool,
            {key: str(record.pk), "custom_field_values": {"budget": 7, "region": None}},
        )
        assert outcome.ok, (tool, outcome.result)
        record.refresh_from_db()
        assert record.custom_field_values == {"budget": 7}, tool


def test_update_with_only_custom_field_values_is_a_change(world, fields):
    outcome = run(
        world.rep1,
        "update_lead",
        {"lead_id": str(world.leads1[0].pk), "custom_field_values": {"region": "EMEA"}},
    )
    assert outcome.ok, outcome.result
    assert Lead.objects.get(pk=world.leads1[0].pk).custom_field_values == {"region": "EMEA"}


@pytest.mark.parametrize(("tool", "key"), [("update_lead", "lead_id"), ("update_deal", "deal_id")])
def test_update_with_a_bad_value_changes_nothing(world, fields, tool, key):
    record = world.leads1[0] if tool == "update_lead" else world.deal1
    outcome = run(
        world.rep1,
        tool,
        {key: str(record.pk), "name": "Renamed", "custom_field_values": {"region": "Mars"}},
    )
    assert outcome.result["error"]["details"] == {
        "custom_field_values.region": ["Region: 'Mars' is not one of: EMEA, APAC"]
    }
    record.refresh_from_db()
    assert record.name != "Renamed" and record.custom_field_values == {}


def test_custom_field_values_must_be_an_object(world):
    outcome = run(world.rep1, "create_person", {"first_name": "Ann", "custom_field_values": [1]})
    assert outcome.result["error"]["code"] == "invalid_arguments"
    assert "custom_field_values" in outcome.result["error"]["details"]


def test_other_refusals_keep_their_own_error(world, fields):
    outcome = run(
        world.rep1,
        "create_person",
        {"first_name": "Ann", "email": "not-an-email", "custom_field_values": {"budget": 1}},
    )
    error = outcome.result["error"]
    assert error["code"] == "validation_error" and "email" in error["details"]
