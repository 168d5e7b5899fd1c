"""Each record type's field list exists once (issue 13).

The API's writable fields, the AI tools' create/update arguments, the automation "set field"
choices and the forms are read from the record type's one list (``leads.models.EDITABLE_FIELDS``,
``deals.models.EDITABLE_FIELDS``, ``crm.models.PERSON_FIELDS`` / ``ORGANIZATION_FIELDS``): these
tests fail when a surface keeps a copy of its own, and they set every field of the list through
every surface, so a field added to the list is known to reach all of them.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from django.db import models

from activities.automation import settable_fields
from activities.models import AutomationAction
from aiagent import registry
from aiagent.tools.common import field_key
from crm import api as crm_api
from crm.forms import OrganizationForm, PersonForm
from crm.models import ORGANIZATION_FIELDS, PERSON_FIELDS, Organization, Person
from deals import api as deal_api
from deals.forms import DealForm
from deals.models import EDITABLE_FIELDS as DEAL_FIELDS
from deals.models import Deal
from leads import api as lead_api
from leads.forms import LeadForm
from leads.models import ATTRIBUTION_FIELDS, Lead
from leads.models import EDITABLE_FIELDS as LEAD_FIELDS
from tests.activities.conftest import run_events
from tests.activities.factories import ActionFactory, AutomationRuleFactory
from tests.factories import OrganizationFactory, PersonFactory

KINDS = ("lead", "deal", "person", "organization")
MODELS = {"lead": Lead, "deal": Deal, "person": Person, "organization": Organization}
FIELDS = {
    "lead": LEAD_FIELDS,
    "deal": DEAL_FIELDS,
    "person": PERSON_FIELDS,
    "organization": ORGANIZATION_FIELDS,
}
API_PATHS = {
    "lead": "/api/v1/leads/",
    "deal": "/api/v1/deals/",
    "person": "/api/v1/people/",
    "organization": "/api/v1/organizations/",
}
# What each surface takes besides the record's own fields: who owns and works it, custom
# field values, and (deals) the pipeline to start in.
API_EXTRAS = {
    "lead": {"owner", "assigned_to", "custom_field_values"},
    "deal": {"owner", "assigned_to", "custom_field_values", "project_type"},
    "person": {"owner", "custom_field_values"},
    "organization": {"owner", "custom_field_values"},
}
INPUT_SERIALIZERS = {
    "lead": lead_api.LeadInputSerializer,
    "deal": deal_api.DealInputSerializer,
    "person": crm_api.PersonInputSerializer,
    "organization": crm_api.OrganizationInputSerializer,
}
OUTPUT_SERIALIZERS = {
    "lead": lead_api.LeadSerializer,
    "deal": deal_api.DealSerializer,
    "person": crm_api.PersonSerializer,
    "organization": crm_api.OrganizationSerializer,
}
FORMS = {"lead": LeadForm, "deal": DealForm, "person": PersonForm, "organization": OrganizationForm}


def field(kind: str, name: str) -> models.Field:
    return MODELS[kind]._meta.get_field(name)


def tool_keys(kind: str) -> set[str]:
    return {field_key(field(kind, name)) for name in FIELDS[kind]}


def properties(tool_name: str) -> set[str]:
    return set(registry.get(tool_name).input_schema["properties"])


# --- every surface's field set is the list -------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_api_writes_exactly_the_field_list(kind):
    fields = INPUT_SERIALIZERS[kind]().fields
    writable = {name for name, f in fields.items() if not f.read_only}
    assert writable == set(FIELDS[kind]) | API_EXTRAS[kind]


@pytest.mark.parametrize("kind", KINDS)
def test_api_reads_every_field_of_the_list(kind):
    fields = OUTPUT_SERIALIZERS[kind]().fields
    assert set(FIELDS[kind]) <= set(fields)
    assert all(fields[name].read_only for name in FIELDS[kind])


def test_ai_tools_take_exactly_the_field_list():
    assert properties("create_lead") == tool_keys("lead") | {"assigned_to", "custom_field_values"}
    assert properties("update_lead") == tool_keys("lead") | {"lead_id", "custom_field_values"}
    assert properties("create_deal") == tool_keys("deal") | {"assigned_to", "custom_field_values"}
    assert properties("update_deal") == tool_keys("deal") | {"deal_id", "custom_field_values"}
    assert properties("create_person") == tool_keys("person") | {"custom_field_values"}
    assert properties("create_organization") == tool_keys("organization") | {"custom_field_values"}


def test_ai_tool_schemas_are_read_from_the_model_fields():
    schema = registry.get("create_lead").input_schema["properties"]
    assert schema["name"]["maxLength"] == Lead._meta.get_field("name").max_length
    assert schema["source"]["enum"] == list(Lead.Source.values)
    assert schema["priority"]["enum"] == list(Lead.Priority.values)
    assert schema["utm_campaign"]["maxLength"] == 200
    assert schema["person_id"]["type"] == ["string", "null"]
    assert "ISO 4217" in schema["currency"]["description"]


@pytest.mark.parametrize("kind", KINDS)
def test_automation_sets_the_field_list_less_links(kind):
    expected = {name for name in FIELDS[kind] if not field(kind, name).is_relation}
    assert set(settable_fields(kind)) == expected


def test_automation_sets_no_field_of_other_records():
    assert settable_fields("activity") == ()


@pytest.mark.parametrize("kind", KINDS)
def test_forms_show_the_field_list(kind):
    expected = set(FIELDS[kind])
    if kind == "lead":  # attribution is the first touch, recorded where the lead came in
        expected -= set(ATTRIBUTION_FIELDS)
    assert set(FORMS[kind].base_fields) - {"owner", "assigned_to"} == expected


# --- every field of the list goes through every surface -------------------------------------------
@pytest.fixture
def links(rep1):
    organization = OrganizationFactory(owner=rep1)
    return {
        "person": PersonFactory(owner=rep1, organization=organization),
        "organization": organization,
    }


def raw(kind: str, name: str, links: dict) -> str:
    """A valid value of the field as a client types it (not its default)."""
    f = field(kind, name)
    if f.is_relation:
        return str(links[name].pk)
    if f.choices:
        return str(f.flatchoices[-1][0])
    if isinstance(f, models.DecimalField):
        return "1234.50"
    if isinstance(f, models.DateField):
        return "2031-05-17"
    if isinstance(f, models.EmailField):
        return "ann@example.org"
    if isinstance(f, models.URLField):
        return f"https://example.org/{name}"
    if name == "currency":
        return "USD"
    if name == "size":
        return "11-50"  # a band, as the organization form offers them
    return f"{name} text"[: f.max_length]


def stored(kind: str, name: str, links: dict) -> Any:
    """What the record holds after ``raw`` was set."""
    f = field(kind, name)
    value = raw(kind, name, links)
    if f.is_relation:
        return links[name].pk
    if isinstance(f, models.DecimalField):
        return Decimal(value)
    if isinstance(f, models.DateField):
        return date.fromisoformat(value)
    return value


def assert_every_field(kind: str, obj, names, links: dict) -> None:
    obj.refresh_from_db()
    got = {name: getattr(obj, field(kind, name).attname) for name in names}
    assert got == {name: stored(kind, name, links) for name in names}


@pytest.mark.parametrize("kind", KINDS)
def test_api_creates_a_record_with_every_field(kind, api_as, rep1, links):
    body = {name: raw(kind, name, links) for name in FIELDS[kind]}
    response = api_as(rep1).post(API_PATHS[kind], body, format="json")
    assert response.status_code == 201, response.content
    obj = MODELS[kind].objects.get(pk=response.json()["id"])
    assert_every_field(kind, obj, FIELDS[kind], links)


@pytest.mark.parametrize(
    ("kind", "tool_name", "result_key"),
    [
        ("lead", "create_lead", "lead"),
        ("deal", "create_deal", "deal"),
        ("person", "create_person", "person"),
        ("organization", "create_organization", "organization"),
    ],
)
def test_ai_create_tool_sets_every_field(kind, tool_name, result_key, rep1, links):
    arguments = {field_key(field(kind, name)): raw(kind, name, links) for name in FIELDS[kind]}
    ctx = registry.ToolContext(user=rep1, source="test")
    outcome = registry.execute(ctx, tool_name, arguments)
    assert outcome.ok, outcome.result
    obj = MODELS[kind].objects.get(pk=outcome.result[result_key]["id"])
    assert_every_field(kind, obj, FIELDS[kind], links)


@pytest.mark.parametrize(("kind", "tool_name"), [("lead", "update_lead"), ("deal", "update_deal")])
def test_ai_update_tool_sets_every_field(kind, tool_name, rep1, links):
    create = {"lead": "create_lead", "deal": "create_deal"}[kind]
    ctx = registry.ToolContext(user=rep1, source="test")
    created = registry.execute(ctx, create, {"name": "First"}).result[kind]
    arguments = {field_key(field(kind, name)): raw(kind, name, links) for name in FIELDS[kind]}
    outcome = registry.execute(ctx, tool_name, {f"{kind}_id": created["id"], **arguments})
    assert outcome.ok, outcome.result
    assert_every_field(kind, MODELS[kind].objects.get(pk=created["id"]), FIELDS[kind], links)


@pytest.mark.parametrize(("kind", "trigger"), [(k, f"{k}.created") for k in KINDS])
def test_automation_sets_every_settable_field(kind, trigger, rep1, links):
    from crm import services as crm_services
    from deals import services as deal_services
    from leads import services as lead_services

    rule = AutomationRuleFactory(trigger=trigger)
    names = settable_fields(kind)
    for name in names:
        action = ActionFactory(
            rule=rule,
            type=AutomationAction.Type.SET_FIELD,
            subject="",
            field=name,
            value=raw(kind, name, links),
        )
        action.full_clean()
    create = {
        "lead": lambda: lead_services.lead_create(by=rep1, name="Plain"),
        "deal": lambda: deal_services.deal_create(by=rep1, name="Plain"),
        "person": lambda: crm_services.person_create(by=rep1, first_name="Plain"),
        "organization": lambda: crm_services.organization_create(by=rep1, name="Plain"),
    }[kind]
    obj = create()
    run_events()
    assert_every_field(kind, obj, names, links)


@pytest.mark.parametrize("kind", KINDS)
def test_form_takes_every_field(kind, rep1, links):
    from crm import selectors

    names = list(FORMS[kind].base_fields)
    names = [n for n in names if n in FIELDS[kind]]
    kwargs = {
        "lead": {"people": Person.objects.all(), "organizations": Organization.objects.all()},
        "deal": {"people": Person.objects.all(), "organizations": Organization.objects.all()},
        "person": {"organizations": selectors.organization_list(user=rep1)},
        "organization": {},
    }[kind]
    form = FORMS[kind]({name: raw(kind, name, links) for name in names}, **kwargs)
    assert form.is_valid(), form.errors
    data = form.service_data()
    assert {name: data[name] for name in names} == {
        name: links[name] if field(kind, name).is_relation else stored(kind, name, links)
        for name in names
    }


@pytest.mark.parametrize("kind", ["lead", "deal", "person"])
def test_a_form_without_the_users_records_leaves_its_links_out(db, kind):
    """Saving a form whose view gave no records to link cannot clear the record's links."""
    links = {n for n in FIELDS[kind] if field(kind, n).is_relation}
    assert links and not links & set(FORMS[kind]().fields)


@pytest.mark.parametrize("kind", KINDS)
def test_services_create_with_every_field_and_edit_forms_start_from_them(kind, rep1, links):
    from crm import services as crm_services
    from deals import services as deal_services
    from leads import services as lead_services

    create = {
        "lead": lead_services.lead_create,
        "deal": deal_services.deal_create,
        "person": crm_services.person_create,
        "organization": crm_services.organization_create,
    }[kind]
    values = {
        name: links[name] if field(kind, name).is_relation else stored(kind, name, links)
        for name in FIELDS[kind]
    }
    obj = create(by=rep1, **values)
    assert_every_field(kind, obj, FIELDS[kind], links)
    initial = FORMS[kind].initial_for(obj)
    shown = [name for name in FORMS[kind].base_fields if name in FIELDS[kind]]
    assert {name: initial[name] for name in shown} == {
        name: stored(kind, name, links) for name in shown
    }
    if "owner" in FORMS[kind].base_fields:
        assert initial["owner"] == rep1.pk


def test_create_refuses_a_field_outside_the_list(rep1):
    from crm import services as crm_services
    from crm.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as exc:
        crm_services.person_create(by=rep1, first_name="Ann", lead_score=5)
    assert exc.value.details == {"lead_score": ["Unknown field."]}
