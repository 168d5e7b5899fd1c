"""Built-in automations on the outbox (SPEC §6): welcome tasks, conversion, assignment rules,
replies stopping sequences."""

from datetime import datetime
from unittest import mock

import pytest
import time_machine
from django.utils import timezone

from activities import handlers, services
from activities.models import Activity, AssignmentRule
from crm import events
from crm.models import Event, HandlerRun
from crm.services import system_user
from crm.tasks import process_event
from deals import services as deal_services
from leads import services as lead_services
from leads.models import Lead
from tests.activities.conftest import run_events
from tests.activities.factories import AssignmentRuleFactory
from tests.deals.factories import make_deal
from tests.factories import UserFactory
from tests.leads.factories import LeadFactory

WELCOME = "Welcome & review"


def welcome_tasks(**links):
    return Activity.objects.filter(subject__startswith=WELCOME, **links)


# --- welcome tasks ------------------------------------------------------------------------------
def test_assigning_a_lead_gives_the_assignee_a_welcome_task_next_business_day(rep1, rep2, lead):
    friday = timezone.make_aware(datetime(2025, 3, 7, 15, 30))
    with time_machine.travel(friday, tick=False):
        lead_services.lead_assign(by=rep1, lead=lead, assignee=rep2)
        run_events()
    task = welcome_tasks(lead=lead).get()
    assert task.subject == f"{WELCOME}: {lead.name}"
    assert task.assigned_to == rep2 and task.type == Activity.Type.TASK
    assert task.is_system_activity and not task.is_done
    assert task.created_by == system_user()
    assert timezone.localtime(task.due_at).date().isoformat() == "2025-03-10"  # Monday
    assert task.metadata["automation_trigger"] == "lead.assigned"
    event = Event.objects.get(name="lead.assigned")
    assert task.metadata["source_event"] == event.pk


def test_a_duplicated_event_or_retried_task_never_creates_a_second_welcome_task(rep1, rep2, lead):
    lead_services.lead_assign(by=rep1, lead=lead, assignee=rep2)
    event = Event.objects.get(name="lead.assigned")
    events.process(event.pk)
    # Redelivery of the same event, and the Celery task run again.
    Event.objects.filter(pk=event.pk).update(status=Event.Status.PENDING)
    events.process(event.pk)
    process_event.apply(args=[event.pk])
    # Even a manual re-run of the handler itself finds its task.
    handlers.welcome_task_for_lead(Event.objects.get(pk=event.pk))
    # And a handler whose run was recorded as failed (its effect committed, its success
    # lost) runs again when the re-dispatch task retries it, without effect.
    key = events.handler_key(handlers.welcome_task_for_lead)
    HandlerRun.objects.filter(event=event, handler=key).update(status=HandlerRun.Status.FAILED)
    Event.objects.filter(pk=event.pk).update(
        status=Event.Status.FAILED, next_attempt_at=timezone.now()
    )
    assert events.redispatch_stale() == 1
    run = HandlerRun.objects.get(event=event, handler=key)
    assert run.status == HandlerRun.Status.SUCCEEDED and run.attempts == 2  # it ran again
    assert Event.objects.get(pk=event.pk).status == Event.Status.PROCESSED
    assert welcome_tasks(lead=lead).count() == 1


def test_reassigning_again_before_processing_gives_only_the_current_assignee_a_task(
    rep1, rep2, manager, lead
):
    lead_services.lead_assign(by=rep1, lead=lead, assignee=rep2)
    lead_services.lead_assign(by=rep1, lead=lead, assignee=manager)
    run_events()
    assert list(welcome_tasks(lead=lead).values_list("assigned_to", flat=True)) == [manager.pk]


def test_unassigning_creates_no_task(rep1, rep2):
    lead = LeadFactory(owner=rep1, assigned_to=rep2)
    lead_services.lead_assign(by=rep1, lead=lead, assignee=None)
    run_events()
    assert not welcome_tasks().exists()


def test_creating_a_lead_with_an_assignee_welcomes_them(rep1):
    lead = lead_services.lead_create(by=rep1, name="Fresh", assigned_to=rep1)
    run_events()
    assert welcome_tasks(lead=lead, assigned_to=rep1).count() == 1


def test_assigning_a_deal_gives_a_welcome_task(rep1, rep2, manager):
    deal = make_deal(rep1)
    deal_services.deal_assign(by=manager, deal=deal, assignee=rep2)
    run_events()
    task = welcome_tasks(deal=deal).get()
    assert task.assigned_to == rep2 and task.subject == f"{WELCOME}: {deal.name}"


# --- conversion ---------------------------------------------------------------------------------
def test_conversion_moves_the_leads_activities_onto_deal_person_and_organization(rep1):
    lead = LeadFactory(owner=rep1, assigned_to=rep1, contact_name="Maria Lopez")
    call = services.activity_create(by=rep1, type=Activity.Type.CALL, subject="Call", lead=lead)
    run_events()
    result = lead_services.lead_convert(by=rep1, lead=lead)
    run_events()
    call.refresh_from_db()
    assert call.lead == lead  # still on the lead's timeline
    assert (call.deal, call.person, call.organization) == (
        result.deal,
        result.person,
        result.organization,
    )
    converted = Activity.objects.get(metadata__automation_trigger="lead.converted")
    assert converted.is_system_activity and converted.is_done
    assert converted.subject == f"Converted: {lead.name}"
    assert (converted.lead, converted.deal, converted.person) == (lead, result.deal, result.person)
    assert "Converted by" in converted.notes
    # The deal went to the lead's own assignee: no welcome task for something they know.
    assert not welcome_tasks(deal=result.deal).exists()


def test_conversion_handler_is_idempotent(rep1, lead):
    lead_services.lead_convert(by=rep1, lead=lead)
    run_events()
    event = Event.objects.get(name="lead.converted")
    handlers.follow_conversion(event)
    assert Activity.objects.filter(metadata__automation_trigger="lead.converted").count() == 1


# --- assignment rules -----------------------------------------------------------------------------
@pytest.fixture
def team(db):
    return [UserFactory(username=f"team{i}", role="Sales Rep") for i in range(3)]


def new_lead(by, source=Lead.Source.WEB, **fields):
    lead = lead_services.lead_create(
        by=by, name=f"Lead {Lead.objects.count()}", source=source, **fields
    )
    run_events()
    lead.refresh_from_db()
    return lead


def test_unassigned_new_leads_rotate_round_robin_over_the_team(manager, team):
    AssignmentRuleFactory(users=team)
    assignees = [new_lead(manager).assigned_to for _ in range(5)]
    assert assignees == [team[0], team[1], team[2], team[0], team[1]]
    # Each assignment was made by the system and welcomed the assignee.
    assert Event.objects.filter(name="lead.assigned", actor=system_user()).count() == 5
    assert welcome_tasks().count() == 5


def test_rotation_skips_away_and_inactive_users(manager, team):
    rule = AssignmentRuleFactory(users=team)
    team[1].is_away = True
    team[1].save(update_fields=["is_away"])
    team[2].is_active = False
    team[2].save(update_fields=["is_active"])
    assert [new_lead(manager).assigned_to for _ in range(2)] == [team[0], team[0]]
    rule.refresh_from_db()
    assert rule.last_assigned == team[0] and rule.assigned_count == 2


def test_rotation_position_is_stored_and_survives_a_restart(manager, team):
    rule = AssignmentRuleFactory(users=team)
    new_lead(manager)
    # A "restart": nothing kept in memory; the next lead continues from the stored position.
    fresh = AssignmentRule.objects.get(pk=rule.pk)
    assert fresh.last_assigned == team[0]
    assert services.assignment_next_user(rule=fresh) == team[1]


def test_rules_by_source_and_order(manager, team):
    AssignmentRuleFactory(name="Referrals", users=[team[2]], sources=["referral"], order=1)
    AssignmentRuleFactory(name="Everything else", users=[team[0]], order=2)
    assert new_lead(manager, source=Lead.Source.REFERRAL).assigned_to == team[2]
    assert new_lead(manager, source=Lead.Source.WEB).assigned_to == team[0]


def test_a_rule_whose_team_is_away_passes_the_lead_on(manager, team):
    away = UserFactory(username="away", role="Sales Rep", is_away=True)
    AssignmentRuleFactory(name="First", users=[away], order=1)
    AssignmentRuleFactory(name="Second", users=[team[1]], order=2)
    assert new_lead(manager).assigned_to == team[1]


def test_leads_created_with_an_assignee_and_inactive_rules_are_left_alone(manager, team, rep1):
    AssignmentRuleFactory(users=team, is_active=False)
    assert new_lead(manager).assigned_to is None
    AssignmentRuleFactory(users=team)
    assert new_lead(manager, assigned_to=rep1).assigned_to == rep1


def test_a_lead_assigned_by_hand_before_the_rules_ran_keeps_its_assignee(manager, team, rep1):
    AssignmentRuleFactory(users=team)
    lead = lead_services.lead_create(by=manager, name="Quick hands")
    lead_services.lead_assign(by=manager, lead=lead, assignee=rep1)  # before the worker ran
    run_events()
    assert Lead.objects.get(pk=lead.pk).assigned_to == rep1


def test_assignment_rule_refuses_unknown_sources(db):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        AssignmentRule(name="x", sources=["carrier-pigeon"]).full_clean()


# --- replies stop sequences -----------------------------------------------------------------------
def test_inbound_email_stops_the_leads_sequences(rep1, lead):
    from tests.activities.factories import SequenceFactory

    sequence = SequenceFactory(steps=[(2, "email", "Hello {lead.name}")])
    enrollment = services.sequence_enroll(by=rep1, sequence=sequence, lead=lead)
    services.activity_create(
        by=rep1, type=Activity.Type.EMAIL, subject="Re: hello", direction="inbound", lead=lead
    )
    run_events()
    enrollment.refresh_from_db()
    assert enrollment.status == "stopped" and "replied" in enrollment.stop_reason


def test_outbound_call_does_not_stop_sequences(rep1, lead):
    from tests.activities.factories import SequenceFactory

    sequence = SequenceFactory(steps=[(2, "email", "Hello")])
    enrollment = services.sequence_enroll(by=rep1, sequence=sequence, lead=lead)
    services.activity_create(
        by=rep1, type=Activity.Type.CALL, subject="Call", direction="outbound", lead=lead
    )
    run_events()
    enrollment.refresh_from_db()
    assert enrollment.status == "active"


def test_handlers_are_registered_on_the_outbox(db):
    assert "activities.handlers.welcome_task_for_lead" in events.handlers_for("lead.assigned")
    assert "activities.handlers.welcome_task_for_deal" in events.handlers_for("deal.assigned")
    assert "activities.handlers.follow_conversion" in events.handlers_for("lead.converted")
    assert "activities.handlers.assign_new_lead" in events.handlers_for("lead.created")
    with mock.patch.object(handlers.services, "lead_auto_assign") as auto:
        handlers.assign_new_lead(Event(name="lead.created", payload={"lead_id": None}))
    auto.assert_not_called()
