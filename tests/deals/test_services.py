"""Writes of deals: every rule of the pipeline, permissions and events."""

from datetime import date
from decimal import Decimal

import pytest

from crm import permissions
from crm.errors import Conflict, DomainError, PermissionDenied, ValidationFailed
from crm.models import Event
from deals import selectors, services
from deals.models import Deal
from tests.customfields.factories import CustomFieldFactory
from tests.deals.factories import make_deal, move_to
from tests.factories import PersonFactory, UserFactory
from wfm.defaults import DealStep
from wfm.errors import GuardFailed, RecordDeleted, StepNotInWorkflow, TransitionNotAllowed
from wfm.models import StatusHistory


def events(name: str) -> list[Event]:
    return list(Event.objects.filter(name=name).order_by("created_at", "pk"))


def reread(deal: Deal, user) -> Deal:
    return selectors.deal_get(user=user, deal_id=deal.pk)


# --- create -----------------------------------------------------------------------------------
def test_create_starts_the_sales_pipeline_and_grants_the_owner(rep1, org, person):
    deal = services.deal_create(
        by=rep1,
        name="  Robots  ",
        amount=Decimal("12000"),
        currency="usd",
        expected_close_date=date(2030, 1, 31),
        organization=org,
        person=person,
    )

    assert deal.name == "Robots" and deal.currency == "USD" and deal.owner == rep1
    assert deal.wfm_project.workflow.name == "Sales Pipeline"
    assert deal.wfm_project.current_step.name == DealStep.QUALIFICATION
    assert StatusHistory.objects.filter(project=deal.wfm_project, from_step=None).count() == 1
    assert all(permissions.can(rep1, deal, a) for a in ("view", "change", "delete"))
    assert [e.payload["deal_id"] for e in events("deal.created")] == [str(deal.pk)]
    assert deal.history.count() == 1 and deal.history.first().history_user == rep1


def test_create_uses_the_default_currency(rep1, settings):
    settings.DEFAULT_CURRENCY = "GBP"
    assert services.deal_create(by=rep1, name="X").currency == "GBP"


def test_create_needs_the_add_permission(analyst, viewer):
    for user in (analyst, viewer):
        with pytest.raises(PermissionDenied):
            services.deal_create(by=user, name="Nope")
    assert not Deal.objects.exists()


def test_create_refuses_bad_input_with_field_details(rep1):
    with pytest.raises(ValidationFailed) as exc:
        services.deal_create(by=rep1, name="", amount=Decimal("-1"))
    assert set(exc.value.details) == {"name", "amount"}
    assert not Deal.objects.exists()


def test_create_refuses_a_person_the_user_cannot_see(rep1, rep2):
    theirs = PersonFactory(owner=rep2)
    with pytest.raises(ValidationFailed) as exc:
        services.deal_create(by=rep1, name="X", person=theirs)
    assert exc.value.details == {"person": ["Unknown person."]}


def test_rep_cannot_give_a_new_deal_to_another_owner(rep1, rep2):
    with pytest.raises(PermissionDenied):
        services.deal_create(by=rep1, name="X", owner=rep2)


def test_manager_creates_a_deal_for_a_rep(manager, rep1):
    deal = services.deal_create(by=manager, name="X", owner=rep1)
    assert deal.owner == rep1 and permissions.can_delete(rep1, deal)


def test_create_with_an_assignee_grants_them_and_emits_assigned(rep1, rep2):
    deal = services.deal_create(by=rep1, name="X", assigned_to=rep2)

    assert deal.assigned_to == rep2 and deal.assigned_at is not None
    assert permissions.can_change(rep2, deal) and not permissions.can_delete(rep2, deal)
    (event,) = events("deal.assigned")
    assert event.payload == {"deal_id": str(deal.pk), "assignee_id": rep2.pk, "previous_id": None}


def test_create_in_another_deal_project_type(rep1):
    from wfm.models import ProjectType

    lead_type = ProjectType.objects.get(entity_type="lead")
    with pytest.raises(ValidationFailed) as exc:
        services.deal_create(by=rep1, name="X", project_type=lead_type)
    assert "project_type" in exc.value.details
    deal_type = ProjectType.objects.get(entity_type="deal")
    assert (
        services.deal_create(by=rep1, name="X", project_type=deal_type).wfm_project.project_type
        == deal_type
    )


# --- custom fields ----------------------------------------------------------------------------
@pytest.fixture
def deal_fields(db):
    CustomFieldFactory(entity_type="deal", name="budget", label="Budget", type="decimal")
    CustomFieldFactory(
        entity_type="deal",
        name="region",
        label="Region",
        type="dropdown",
        options=["EMEA", "APAC"],
        is_required=True,
    )


def test_create_validates_custom_fields(rep1, deal_fields):
    with pytest.raises(ValidationFailed) as exc:
        services.deal_create(by=rep1, name="X", custom_field_values={"budget": "lots"})
    assert set(exc.value.details) == {
        "custom_field_values.budget",
        "custom_field_values.region",
    }
    deal = services.deal_create(
        by=rep1, name="X", custom_field_values={"budget": "1250.50", "region": "emea"}
    )
    assert deal.custom_field_values == {"budget": "1250.50", "region": "EMEA"}


def test_update_validates_custom_fields_as_a_partial_update(rep1, deal_fields):
    deal = services.deal_create(by=rep1, name="X", custom_field_values={"region": "EMEA"})

    services.deal_update(by=rep1, deal=deal, data={"custom_field_values": {"budget": "10"}})
    assert deal.custom_field_values == {"budget": "10", "region": "EMEA"}

    with pytest.raises(ValidationFailed) as exc:
        services.deal_update(by=rep1, deal=deal, data={"custom_field_values": {"region": "Mars"}})
    assert list(exc.value.details) == ["custom_field_values.region"]
    with pytest.raises(ValidationFailed):
        services.deal_update(by=rep1, deal=deal, data={"custom_field_values": {"nope": 1}})


# --- update, delete, restore ------------------------------------------------------------------
def test_update_changes_fields_and_emits_updated(rep1, org):
    deal = make_deal(rep1)
    services.deal_update(
        by=rep1, deal=deal, data={"name": "Renamed", "amount": Decimal("5"), "organization": org}
    )
    deal.refresh_from_db()
    assert (deal.name, deal.amount, deal.organization) == ("Renamed", Decimal("5.00"), org)
    (event,) = events("deal.updated")
    assert sorted(event.payload["fields"]) == ["amount", "name", "organization"]


def test_update_without_changes_writes_nothing(rep1):
    deal = make_deal(rep1, name="Same")
    history = deal.history.count()
    services.deal_update(by=rep1, deal=deal, data={"name": "Same"})
    assert deal.history.count() == history and not events("deal.updated")


def test_update_refuses_unknown_fields(rep1):
    deal = make_deal(rep1)
    with pytest.raises(ValidationFailed) as exc:
        services.deal_update(by=rep1, deal=deal, data={"won_at": None})
    assert "won_at" in exc.value.details


def test_other_rep_and_analyst_cannot_update(rep1, rep2, analyst):
    deal = make_deal(rep1)
    for user in (rep2, analyst):
        with pytest.raises(PermissionDenied):
            services.deal_update(by=user, deal=deal, data={"name": "Mine"})


def test_owner_change_moves_owner_permissions(manager, rep1, rep2):
    deal = make_deal(rep1)
    services.deal_update(by=manager, deal=deal, data={"owner": rep2})
    assert deal.owner == rep2
    assert permissions.can_delete(rep2, deal) and not permissions.can_view(rep1, deal)


def test_delete_hides_the_deal_and_restore_brings_it_back(rep1):
    deal = make_deal(rep1)
    services.deal_delete(by=rep1, deal=deal)
    assert not selectors.deal_list(user=rep1).exists()
    assert Deal.all_objects.get(pk=deal.pk).is_deleted

    services.deal_restore(by=rep1, deal=deal)
    assert selectors.deal_list(user=rep1).get() == deal


def test_assignee_cannot_delete(rep1, rep2):
    deal = make_deal(rep1, assigned_to=rep2)
    with pytest.raises(PermissionDenied):
        services.deal_delete(by=rep2, deal=deal)


def test_a_deleted_deal_cannot_move_or_change(rep1, steps):
    deal = make_deal(rep1)
    services.deal_delete(by=rep1, deal=deal)
    with pytest.raises(RecordDeleted):
        services.deal_transition(by=rep1, deal=deal, to_step=steps[DealStep.INITIAL_CONTACT])
    with pytest.raises(Conflict):
        services.deal_update(by=rep1, deal=deal, data={"name": "Zombie"})


# --- probability and weighted amount ----------------------------------------------------------
@pytest.mark.parametrize(
    ("step", "probability", "weighted"),
    [
        (DealStep.QUALIFICATION, 10, Decimal("1234.50")),
        (DealStep.DISCOVERY, 30, Decimal("3703.50")),
        (DealStep.PROPOSAL, 50, Decimal("6172.50")),
        (DealStep.NEGOTIATION, 75, Decimal("9258.75")),
        (DealStep.CLOSED_WON, 100, Decimal("12345.00")),
        (DealStep.CLOSED_LOST, 0, Decimal("0.00")),
    ],
)
def test_probability_comes_from_the_step_and_weights_the_amount(rep1, step, probability, weighted):
    deal = reread(make_deal(rep1, amount="12345.00", step=step), rep1)
    assert deal.probability == probability
    assert deal.weighted_amount == weighted


def test_weighted_amount_rounds_to_cents(rep1):
    deal = reread(make_deal(rep1, amount="0.05", step=DealStep.INITIAL_CONTACT), rep1)
    assert deal.weighted_amount == Decimal("0.01")  # 0.05 × 20 % = 0.01


# --- transitions, won, lost, reopen -----------------------------------------------------------
def test_transition_moves_along_the_pipeline_and_records_who(rep1, steps):
    deal = make_deal(rep1)
    services.deal_transition(
        by=rep1, deal=deal, to_step=steps[DealStep.INITIAL_CONTACT], reason="Called"
    )
    last = StatusHistory.objects.filter(project=deal.wfm_project).last()
    assert (last.from_step.name, last.to_step.name, last.changed_by, last.reason) == (
        DealStep.QUALIFICATION,
        DealStep.INITIAL_CONTACT,
        rep1,
        "Called",
    )
    (event,) = events("deal.updated")
    assert event.payload["fields"] == ["step"]
    assert events("wfm.status_changed")


def test_transition_accepts_a_step_id(rep1, steps):
    deal = make_deal(rep1)
    services.deal_transition(by=rep1, deal=deal, to_step=steps[DealStep.INITIAL_CONTACT].pk)
    assert deal.wfm_project.current_step == steps[DealStep.INITIAL_CONTACT]


def test_a_move_without_a_transition_is_refused(rep1, steps):
    deal = make_deal(rep1, step=DealStep.DISCOVERY)
    with pytest.raises(TransitionNotAllowed) as exc:
        services.deal_transition(by=rep1, deal=deal, to_step=steps[DealStep.QUALIFICATION])
    assert exc.value.status == 409
    assert "Allowed from “Discovery”" in exc.value.message
    deal.wfm_project.refresh_from_db()
    assert deal.wfm_project.current_step.name == DealStep.DISCOVERY


def test_a_step_of_another_workflow_is_409(rep1):
    from wfm.models import WorkflowStep

    lead_step = WorkflowStep.objects.filter(workflow__name="Lead Qualification").first()
    with pytest.raises(StepNotInWorkflow) as exc:
        services.deal_transition(by=rep1, deal=make_deal(rep1), to_step=lead_step)
    assert exc.value.status == 409


def test_an_unknown_step_is_400(rep1):
    with pytest.raises(ValidationFailed) as exc:
        services.deal_transition(by=rep1, deal=make_deal(rep1), to_step=999999)
    assert "to_step" in exc.value.details


def test_step_guards_apply_with_custom_field_labels(rep1, steps):
    CustomFieldFactory(entity_type="deal", name="budget", label="Budget", type="decimal")
    proposal = steps[DealStep.PROPOSAL]
    proposal.required_fields = ["budget", "expected_close_date"]
    proposal.save()
    deal = make_deal(rep1, step=DealStep.DISCOVERY)

    with pytest.raises(GuardFailed) as exc:
        services.deal_transition(by=rep1, deal=deal, to_step=proposal)
    assert "Fill in Budget and Expected close date first." in exc.value.message


def test_viewer_with_a_share_cannot_move(rep1, viewer, steps):
    deal = make_deal(rep1)
    permissions.share(viewer, deal)
    with pytest.raises(PermissionDenied):
        services.deal_transition(by=viewer, deal=deal, to_step=steps[DealStep.INITIAL_CONTACT])


def test_won_sets_won_at_and_emits_won(rep1):
    deal = make_deal(rep1, step=DealStep.NEGOTIATION, amount=500)
    services.deal_mark_won(by=rep1, deal=deal)
    deal.refresh_from_db()
    assert deal.won_at is not None and deal.lost_at is None
    assert deal.wfm_project.current_step.name == DealStep.CLOSED_WON
    (event,) = events("deal.won")
    assert event.payload["deal_id"] == str(deal.pk)


def test_dragging_to_the_won_step_is_the_same_as_marking_won(rep1, steps):
    deal = make_deal(rep1)
    services.deal_transition(by=rep1, deal=deal, to_step=steps[DealStep.CLOSED_WON])
    assert deal.won_at is not None and events("deal.won")


def test_lost_needs_a_reason(rep1, steps):
    deal = make_deal(rep1)
    # Marking lost without one is bad input (400); a move to the lost step without one does
    # not meet the move's condition (409, like a step's guard).
    for call, status in (
        (lambda: services.deal_mark_lost(by=rep1, deal=deal, reason="  "), 400),
        (
            lambda: services.deal_transition(
                by=rep1, deal=deal, to_step=steps[DealStep.CLOSED_LOST]
            ),
            409,
        ),
    ):
        with pytest.raises(DomainError) as exc:
            call()
        assert exc.value.code == "reason_required" and exc.value.status == status
    deal.refresh_from_db()
    assert deal.lost_at is None and deal.wfm_project.current_step.name == DealStep.QUALIFICATION


def test_lost_sets_lost_at_and_reason_and_emits_lost(rep1):
    deal = make_deal(rep1, step=DealStep.PROPOSAL)
    services.deal_mark_lost(by=rep1, deal=deal, reason=" No budget ")
    deal.refresh_from_db()
    assert deal.lost_at is not None and deal.won_at is None and deal.lost_reason == "No budget"
    (event,) = events("deal.lost")
    assert event.payload["reason"] == "No budget"
    history = StatusHistory.objects.filter(project=deal.wfm_project).last()
    assert history.reason == "No budget"


def test_reopening_clears_won_and_lost(rep1, steps):
    won = make_deal(rep1, step=DealStep.CLOSED_WON)
    lost = make_deal(rep1, step=DealStep.CLOSED_LOST)
    for deal in (won, lost):
        services.deal_transition(by=rep1, deal=deal, to_step=steps[DealStep.QUALIFICATION])
        deal.refresh_from_db()
        assert (deal.won_at, deal.lost_at, deal.lost_reason) == (None, None, "")


def test_a_lost_deal_cannot_be_marked_won_directly(rep1):
    deal = make_deal(rep1, step=DealStep.CLOSED_LOST)
    with pytest.raises(TransitionNotAllowed):
        services.deal_mark_won(by=rep1, deal=deal)


# --- assignment -------------------------------------------------------------------------------
def test_assign_moves_permissions_to_the_new_assignee(rep1, rep2):
    third = UserFactory(username="rep3", role="Sales Rep")
    deal = make_deal(rep1, assigned_to=rep2)

    services.deal_assign(by=rep1, deal=deal, assignee=third)

    assert deal.assigned_to == third
    assert permissions.can_change(third, deal)
    assert not permissions.can_view(rep2, deal)  # the previous assignee loses it
    assert permissions.can_delete(rep1, deal)  # the owner keeps everything
    event = events("deal.assigned")[-1]
    assert event.payload == {
        "deal_id": str(deal.pk),
        "assignee_id": third.pk,
        "previous_id": rep2.pk,
    }


def test_owner_keeps_access_when_unassigned_from_themselves(rep1, rep2):
    deal = make_deal(rep1, assigned_to=rep1)
    services.deal_assign(by=rep1, deal=deal, assignee=rep2)
    assert permissions.can_change(rep1, deal) and permissions.can_change(rep2, deal)


def test_an_assignee_cannot_hand_the_deal_to_someone_else(rep1, rep2):
    third = UserFactory(username="rep3", role="Sales Rep")
    deal = make_deal(rep1, assigned_to=rep2)
    with pytest.raises(PermissionDenied):
        services.deal_assign(by=rep2, deal=deal, assignee=third)
    assert reread(deal, rep1).assigned_to == rep2


def test_a_manager_reassigns_any_deal(manager, rep1, rep2):
    deal = make_deal(rep1)
    services.deal_assign(by=manager, deal=deal, assignee=rep2)
    assert permissions.can_view(rep2, deal)


def test_an_assignee_may_unassign_themselves(rep1, rep2):
    deal = make_deal(rep1, assigned_to=rep2)
    services.deal_assign(by=rep2, deal=deal, assignee=None)
    assert deal.assigned_to is None and deal.assigned_at is None
    assert not permissions.can_view(rep2, deal)


def test_assigning_the_current_assignee_again_changes_nothing(rep1, rep2):
    deal = make_deal(rep1, assigned_to=rep2)
    services.deal_assign(by=rep1, deal=deal, assignee=rep2)
    assert len(events("deal.assigned")) == 1


def test_assigning_to_an_inactive_user_is_refused(rep1):
    gone = UserFactory(username="gone", role="Sales Rep", is_active=False)
    with pytest.raises(ValidationFailed):
        services.deal_assign(by=rep1, deal=make_deal(rep1), assignee=gone)


def test_update_with_an_assignee_goes_through_assign(rep1, rep2):
    deal = make_deal(rep1)
    services.deal_update(by=rep1, deal=deal, data={"assigned_to": rep2, "name": "New"})
    assert deal.assigned_to == rep2 and permissions.can_view(rep2, deal)
    assert events("deal.assigned") and events("deal.updated")


def test_rep_sees_only_deals_they_own_or_are_assigned(rep1, rep2, manager, analyst, viewer):
    mine = make_deal(rep1)
    assigned = make_deal(rep2, assigned_to=rep1)
    theirs = make_deal(rep2)
    assert set(selectors.deal_list(user=rep1)) == {mine, assigned}
    assert set(selectors.deal_list(user=manager)) == {mine, assigned, theirs}
    assert set(selectors.deal_list(user=analyst)) == {mine, assigned, theirs}
    assert not selectors.deal_list(user=viewer).exists()
    permissions.share(viewer, theirs)
    assert list(selectors.deal_list(user=viewer)) == [theirs]


def test_move_to_walks_the_pipeline(rep1):
    deal = make_deal(rep1, step=DealStep.NEGOTIATION)
    move_to(deal, DealStep.DISCOVERY, by=rep1)
    assert deal.wfm_project.current_step.name == DealStep.DISCOVERY
