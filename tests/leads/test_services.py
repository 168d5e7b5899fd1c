from decimal import Decimal
from unittest import mock

import pytest

from crm import permissions
from crm.errors import Conflict, PermissionDenied, ValidationFailed
from crm.models import Event, Organization, Person
from deals.models import Deal
from leads import services
from leads.errors import AlreadyConverted
from leads.models import Lead
from tests.customfields.factories import CustomFieldFactory
from tests.factories import OrganizationFactory, PersonFactory
from tests.leads.factories import LeadFactory
from wfm.defaults import LeadStep
from wfm.errors import TransitionNotAllowed
from wfm.models import StatusHistory


def step_of(lead: Lead) -> str:
    lead.wfm_project.refresh_from_db()
    return lead.wfm_project.current_step.name


# --- create / update ----------------------------------------------------------------------
def test_create_starts_at_new_lead_with_history_and_event(rep1):
    lead = services.lead_create(by=rep1, name="Website redesign", contact_email="ANN@ACME.COM")
    assert step_of(lead) == LeadStep.NEW_LEAD
    assert lead.contact_email == "ann@acme.com"
    assert lead.owner == rep1 and permissions.can_delete(rep1, lead)
    assert StatusHistory.objects.filter(project=lead.wfm_project, from_step=None).count() == 1
    assert Event.objects.filter(name="lead.created", payload__lead_id=str(lead.pk)).exists()


def test_create_with_assignee_grants_and_emits_assigned(manager, rep1):
    lead = services.lead_create(by=manager, name="X", owner=rep1, assigned_to=rep1)
    assert lead.assigned_at is not None
    assert Event.objects.filter(name="lead.assigned", payload__assignee_id=rep1.pk).exists()


def test_rep_cannot_create_a_lead_for_someone_else(rep1, rep2):
    with pytest.raises(PermissionDenied):
        services.lead_create(by=rep1, name="X", owner=rep2)


def test_analyst_cannot_create(analyst):
    with pytest.raises(PermissionDenied):
        services.lead_create(by=analyst, name="X")


def test_invalid_input_writes_nothing(rep1):
    with pytest.raises(ValidationFailed) as exc:
        services.lead_create(by=rep1, name="", contact_email="nope")
    assert {"name", "contact_email"} <= set(exc.value.details)
    assert not Lead.objects.exists()


def test_one_person_may_have_many_leads(rep1):
    person = PersonFactory(owner=rep1)
    services.lead_create(by=rep1, name="A", person=person)
    services.lead_create(by=rep1, name="B", person=person)
    assert person.leads.count() == 2


def test_linking_an_invisible_person_is_refused(rep1, rep2):
    with pytest.raises(ValidationFailed):
        services.lead_create(by=rep1, name="A", person=PersonFactory(owner=rep2))


def test_first_touch_attribution_is_kept(rep1):
    lead = services.lead_create(by=rep1, name="A", utm_source="google", utm_campaign="spring")
    services.lead_update(by=rep1, lead=lead, data={"utm_source": "newsletter", "utm_term": "crm"})
    lead.refresh_from_db()
    assert lead.utm_source == "google"  # first touch kept
    assert lead.utm_term == "crm"  # an empty attribution field is filled
    event = Event.objects.filter(name="lead.updated").latest("pk")
    assert event.payload["touch"] == {"utm_source": "newsletter"}


@pytest.mark.django_db(transaction=True)
def test_a_later_touch_is_recorded_as_an_activity(rep1):
    from activities.models import Activity

    lead = services.lead_create(by=rep1, name="A", utm_source="google")
    services.lead_update(by=rep1, lead=lead, data={"utm_source": "newsletter"})
    note = Activity.objects.get(lead=lead, metadata__kind="marketing_touch")
    assert "source: newsletter" in note.notes and note.is_system_activity
    lead.refresh_from_db()
    assert lead.utm_source == "google"


def test_update_by_other_rep_is_denied(rep1, rep2):
    lead = LeadFactory(owner=rep2)
    with pytest.raises(PermissionDenied):
        services.lead_update(by=rep1, lead=lead, data={"name": "Mine now"})


def test_soft_delete_and_restore(rep1):
    lead = LeadFactory(owner=rep1)
    services.lead_delete(by=rep1, lead=lead)
    assert not Lead.objects.filter(pk=lead.pk).exists()
    services.lead_restore(by=rep1, lead=Lead.all_objects.get(pk=lead.pk))
    assert Lead.objects.filter(pk=lead.pk).exists()


def test_history_records_the_acting_user(rep1):
    lead = LeadFactory(owner=rep1)
    services.lead_update(by=rep1, lead=lead, data={"name": "Renamed"})
    assert lead.history.latest().history_user == rep1


# --- assignment ---------------------------------------------------------------------------
def test_assignment_moves_permissions(manager, rep1, rep2):
    lead = LeadFactory(owner=manager)
    services.lead_assign(by=manager, lead=lead, assignee=rep1)
    assert permissions.can_change(rep1, lead)
    services.lead_assign(by=manager, lead=lead, assignee=rep2)
    assert not permissions.can_view(rep1, lead)
    assert permissions.can_change(rep2, lead)
    assert Event.objects.filter(name="lead.assigned").count() == 2


def test_assignee_cannot_hand_the_lead_to_a_third_rep(rep1, rep2):
    owner = LeadFactory().owner
    lead = LeadFactory(owner=owner, assigned_to=rep1)
    with pytest.raises(PermissionDenied):
        services.lead_assign(by=rep1, lead=lead, assignee=rep2)


def test_owner_may_hand_own_lead_to_a_colleague(rep1, rep2):
    lead = LeadFactory(owner=rep1)
    services.lead_assign(by=rep1, lead=lead, assignee=rep2)
    assert permissions.can_change(rep2, lead)
    assert permissions.can_delete(rep1, lead)  # the owner keeps access


# --- workflow moves -----------------------------------------------------------------------
def test_transition_along_the_workflow(rep1, steps):
    lead = LeadFactory(owner=rep1)
    services.lead_transition(by=rep1, lead=lead, to_step=steps[LeadStep.CONTACTED])
    assert step_of(lead) == LeadStep.CONTACTED


def test_refused_transition_names_allowed_steps(rep1, steps):
    lead = LeadFactory(owner=rep1)
    with pytest.raises(TransitionNotAllowed) as exc:
        services.lead_transition(by=rep1, lead=lead, to_step=steps[LeadStep.QUALIFIED])
    assert LeadStep.CONTACTED in exc.value.message
    assert step_of(lead) == LeadStep.NEW_LEAD


def test_dragging_to_converted_says_use_convert(rep1, steps):
    lead = LeadFactory(owner=rep1)
    with pytest.raises(Conflict) as exc:
        services.lead_transition(by=rep1, lead=lead, to_step=steps[LeadStep.CONVERTED])
    assert exc.value.code == "use_convert"


def test_moving_to_disqualified_needs_a_reason(rep1, steps):
    lead = LeadFactory(owner=rep1)
    with pytest.raises(Conflict) as exc:
        services.lead_transition(by=rep1, lead=lead, to_step=steps[LeadStep.DISQUALIFIED])
    assert (exc.value.code, exc.value.status) == ("reason_required", 409)
    services.lead_transition(
        by=rep1, lead=lead, to_step=steps[LeadStep.DISQUALIFIED], reason="No budget"
    )
    lead.refresh_from_db()
    assert lead.disqualify_reason == "No budget" and step_of(lead) == LeadStep.DISQUALIFIED


def test_moving_onto_qualified_step_qualifies(rep1, steps):
    lead = LeadFactory(owner=rep1)
    services.lead_transition(by=rep1, lead=lead, to_step=steps[LeadStep.CONTACTED])
    services.lead_transition(by=rep1, lead=lead, to_step=steps[LeadStep.QUALIFIED])
    lead.refresh_from_db()
    assert lead.is_qualified and lead.qualified_by == rep1


# --- qualify / disqualify ------------------------------------------------------------------
def test_qualify_records_who_when_and_moves_to_qualified(rep1):
    lead = LeadFactory(owner=rep1)
    services.lead_qualify(by=rep1, lead=lead, notes="Budget confirmed")
    lead.refresh_from_db()
    assert lead.is_qualified and lead.qualified_at and lead.qualified_by == rep1
    assert lead.qualification_notes == "Budget confirmed"
    assert step_of(lead) == LeadStep.QUALIFIED
    assert Event.objects.filter(name="lead.qualified").count() == 1
    with pytest.raises(Conflict):
        services.lead_qualify(by=rep1, lead=lead)


def test_disqualify_then_reopen(rep1, steps):
    lead = LeadFactory(owner=rep1)
    services.lead_disqualify(by=rep1, lead=lead, reason="Student project")
    assert step_of(lead) == LeadStep.DISQUALIFIED
    assert Event.objects.filter(
        name="lead.disqualified", payload__reason="Student project"
    ).exists()
    services.lead_transition(by=rep1, lead=lead, to_step=steps[LeadStep.NEW_LEAD])
    assert step_of(lead) == LeadStep.NEW_LEAD


def test_disqualify_without_reason_is_refused(rep1):
    with pytest.raises(ValidationFailed):
        services.lead_disqualify(by=rep1, lead=LeadFactory(owner=rep1), reason="  ")


# --- conversion ---------------------------------------------------------------------------
def test_convert_creates_person_organization_and_deal(rep1):
    lead = LeadFactory(
        owner=rep1,
        name="Robots for Acme",
        contact_name="Maria Lopez",
        contact_email="maria@acme.com",
        company_name="Acme",
        estimated_value=Decimal("12000.00"),
    )
    result = services.lead_convert(by=rep1, lead=lead)
    lead.refresh_from_db()
    assert result.created == {"person": True, "organization": True, "deal": True}
    assert (result.person.first_name, result.person.last_name) == ("Maria", "Lopez")
    assert result.person.organization == result.organization
    assert result.organization.name == "Acme" and result.organization.domain == "acme.com"
    assert result.deal.name == "Robots for Acme" and result.deal.amount == Decimal("12000.00")
    assert result.deal.person == result.person and result.deal.organization == result.organization
    assert lead.converted_to_deal == result.deal and lead.converted_by == rep1
    assert lead.converted_at is not None and step_of(lead) == LeadStep.CONVERTED
    assert result.deal.source_lead == lead
    assert result.deal.wfm_project.current_step.is_initial
    move = StatusHistory.objects.filter(project=lead.wfm_project).latest("at")
    assert move.reason == "Converted" and move.changed_by == rep1
    assert Event.objects.filter(name="lead.converted").count() == 1


def test_convert_links_existing_records(rep1):
    person, org = PersonFactory(owner=rep1), OrganizationFactory(owner=rep1)
    lead = LeadFactory(owner=rep1)
    result = services.lead_convert(by=rep1, lead=lead, person=person, organization=org, deal=False)
    assert result.person == person and result.organization == org and result.deal is None
    assert result.created == {"person": False, "organization": False, "deal": False}


def test_convert_with_deal_overrides(rep1):
    lead = LeadFactory(owner=rep1)
    result = services.lead_convert(
        by=rep1,
        lead=lead,
        person=False,
        organization=False,
        deal={"name": "Bigger deal", "amount": Decimal("99.50")},
    )
    assert result.deal.name == "Bigger deal" and result.deal.amount == Decimal("99.50")


def test_conversion_is_allowed_from_any_open_step(rep1, steps):
    lead = LeadFactory(owner=rep1)  # New Lead has no transition to Converted
    services.lead_convert(by=rep1, lead=lead, person=False, organization=False)
    assert step_of(lead) == LeadStep.CONVERTED


def test_second_conversion_is_refused(rep1):
    lead = LeadFactory(owner=rep1)
    services.lead_convert(by=rep1, lead=lead, person=False, organization=False)
    with pytest.raises(AlreadyConverted) as exc:
        services.lead_convert(by=rep1, lead=lead)
    assert exc.value.status == 409
    assert Deal.objects.count() == 1


def test_failure_after_the_deal_leaves_nothing_behind(rep1):
    lead = LeadFactory(owner=rep1, company_name="Acme", contact_name="Ann Lee")
    with (
        mock.patch(
            "leads.services.wfm_services.project_transition", side_effect=RuntimeError("boom")
        ),
        pytest.raises(RuntimeError),
    ):
        services.lead_convert(by=rep1, lead=lead)
    lead.refresh_from_db()
    assert (Person.objects.count(), Organization.objects.count(), Deal.objects.count()) == (0, 0, 0)
    assert lead.converted_at is None and lead.converted_to_deal is None
    assert step_of(lead) == LeadStep.NEW_LEAD
    assert not Event.objects.filter(name__in=["deal.created", "lead.converted"]).exists()


def test_converted_lead_cannot_be_edited_or_moved(rep1, steps):
    lead = LeadFactory(owner=rep1)
    services.lead_convert(by=rep1, lead=lead, person=False, organization=False)
    with pytest.raises(AlreadyConverted):
        services.lead_update(by=rep1, lead=lead, data={"name": "x"})
    with pytest.raises(AlreadyConverted):
        services.lead_transition(by=rep1, lead=lead, to_step=steps[LeadStep.CONTACTED])


def test_other_rep_cannot_convert(rep1, rep2):
    with pytest.raises(PermissionDenied):
        services.lead_convert(by=rep1, lead=LeadFactory(owner=rep2))


def test_manager_conversion_gives_records_to_the_lead_owner(manager, rep1):
    lead = LeadFactory(owner=rep1, company_name="Acme", contact_name="Ann Lee")
    result = services.lead_convert(by=manager, lead=lead)
    assert result.deal.owner == rep1 and result.person.owner == rep1
    assert result.organization.owner == rep1
    assert permissions.can_change(rep1, result.deal)


# --- conversion: custom fields ---------------------------------------------------------------
def test_convert_carries_matching_custom_fields_to_new_person_organization_and_deal(rep1):
    for entity_type in ("lead", "person", "organization", "deal"):
        CustomFieldFactory(entity_type=entity_type, name="region", type="text")
    CustomFieldFactory(entity_type="lead", name="budget", type="number")
    CustomFieldFactory(entity_type="organization", name="budget", type="number")
    CustomFieldFactory(entity_type="person", name="budget", type="text")  # other type: skipped
    CustomFieldFactory(entity_type="person", name="pets", type="text")  # not on leads
    lead = LeadFactory(
        owner=rep1,
        contact_name="Ann Lee",
        company_name="Acme",
        custom_field_values={"region": "EMEA", "budget": 5000},
    )
    result = services.lead_convert(by=rep1, lead=lead)
    assert result.person.custom_field_values == {"region": "EMEA"}
    assert result.organization.custom_field_values == {"region": "EMEA", "budget": 5000}
    assert result.deal.custom_field_values == {"region": "EMEA"}


def test_convert_does_not_carry_into_inactive_fields_or_values_that_do_not_fit(rep1):
    CustomFieldFactory(entity_type="lead", name="tier", type="dropdown", options=["Gold", "Tin"])
    CustomFieldFactory(entity_type="deal", name="tier", type="dropdown", options=["Gold"])
    CustomFieldFactory(entity_type="lead", name="region", type="text")
    CustomFieldFactory(entity_type="person", name="region", type="text", is_active=False)
    lead = LeadFactory(
        owner=rep1, contact_name="Ann Lee", custom_field_values={"tier": "Tin", "region": "EU"}
    )
    result = services.lead_convert(by=rep1, lead=lead, organization=False)
    assert result.person.custom_field_values == {}
    assert result.deal.custom_field_values == {}


def test_linked_records_keep_their_own_custom_field_values(rep1):
    CustomFieldFactory(entity_type="lead", name="region", type="text")
    CustomFieldFactory(entity_type="person", name="region", type="text")
    person = PersonFactory(owner=rep1, custom_field_values={"region": "APAC"})
    lead = LeadFactory(owner=rep1, custom_field_values={"region": "EMEA"})
    result = services.lead_convert(by=rep1, lead=lead, person=person, organization=False)
    person.refresh_from_db()
    assert result.person == person and person.custom_field_values == {"region": "APAC"}


@pytest.mark.parametrize("entity_type", ["person", "organization", "deal"])
def test_a_required_field_without_a_value_refuses_conversion_naming_record_and_field(
    rep1, entity_type
):
    CustomFieldFactory(entity_type=entity_type, name="vat_id", label="VAT id", is_required=True)
    lead = LeadFactory(owner=rep1, contact_name="Ann Lee", company_name="Acme")
    with pytest.raises(ValidationFailed) as exc:
        services.lead_convert(by=rep1, lead=lead)
    assert exc.value.message.startswith(
        f"The new {entity_type} cannot be created: VAT id: this field is required."
    )
    assert exc.value.details == {
        f"{entity_type}.custom_field_values.vat_id": [
            f"New {entity_type}: VAT id: this field is required."
        ]
    }
    lead.refresh_from_db()
    assert lead.converted_at is None
    assert (Person.objects.count(), Organization.objects.count(), Deal.objects.count()) == (0, 0, 0)


def test_a_required_field_filled_from_the_lead_lets_conversion_through(rep1):
    CustomFieldFactory(entity_type="person", name="vat_id", label="VAT id", is_required=True)
    CustomFieldFactory(entity_type="lead", name="vat_id", label="VAT id")
    lead = LeadFactory(owner=rep1, contact_name="Ann Lee", custom_field_values={"vat_id": "X1"})
    result = services.lead_convert(by=rep1, lead=lead, organization=False, deal=False)
    assert result.person.custom_field_values == {"vat_id": "X1"}
