"""Automation rules (SPEC §6): validation when saved, conditions, templates, actions, run log."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from activities import automation
from activities.models import (
    Activity,
    AutomationAction,
    AutomationRun,
    SequenceEnrollment,
    WebhookDelivery,
)
from crm.models import Event
from leads import services as lead_services
from leads.models import Lead
from tests.activities.conftest import run_events
from tests.activities.factories import (
    ActionFactory,
    AssignmentRuleFactory,
    AutomationRuleFactory,
    ConditionFactory,
    SequenceFactory,
    WebhookFactory,
)
from tests.factories import UserFactory
from wfm.defaults import LeadStep
from wfm.models import WorkflowStep

A = AutomationAction.Type


def lead_step(name):
    return WorkflowStep.objects.get(workflow__name="Lead Qualification", status__name=name)


# --- validation when saved ------------------------------------------------------------------------
def clean_errors(obj) -> dict:
    with pytest.raises(ValidationError) as exc:
        obj.full_clean()
    return exc.value.message_dict


@pytest.mark.parametrize(
    ("field", "operator", "value", "error_on", "message"),
    [
        ("colour", "eq", "red", "field", "Unknown field “colour”"),
        ("cf_budget", "eq", "1", "field", "no lead custom field"),
        ("lead_score", "gt", "lots", "value", "is not a whole number"),
        ("estimated_value", "lt", "1,5", "value", "is not a number"),
        ("source", "eq", "carrier-pigeon", "value", "is not a choice"),
        ("source", "gt", "web", "operator", "needs a number or a date"),
        ("is_qualified", "contains", "x", "operator", "needs text or a list"),
        ("is_qualified", "eq", "maybe", "value", "yes/no"),
        ("assigned_to", "eq", "nobody-here", "value", "no user"),
        ("step", "eq", "Nowhere", "value", "no workflow step"),
        ("estimated_close_date", "lt", "31/12/2025", "value", "is not a date"),
        ("source", "in", " , ", "value", "at least one value"),
        ("source", "zz", "web", "operator", ""),
        ("event.bad key", "eq", "x", "field", "not an event detail"),
    ],
)
def test_invalid_conditions_cannot_be_saved(db, field, operator, value, error_on, message):
    condition = ConditionFactory.build(
        rule=AutomationRuleFactory(trigger="lead.created"),
        field=field,
        operator=operator,
        value=value,
    )
    errors = clean_errors(condition)
    assert error_on in errors, errors
    assert message in " ".join(errors[error_on])


@pytest.mark.parametrize(
    ("field", "operator", "value"),
    [
        ("source", "eq", "web"),
        ("source", "in", "web, referral"),
        ("lead_score", "gt", "50"),
        ("estimated_value", "lt", "1000.50"),
        ("company_name", "contains", "acme"),
        ("is_qualified", "eq", "true"),
        ("assigned_to", "eq", ""),
        ("step", "eq", "New Lead"),
        ("estimated_close_date", "lt", "2025-12-31"),
        ("event.reason", "contains", "budget"),
    ],
)
def test_valid_conditions_save(db, rep1, field, operator, value):
    condition = ConditionFactory.build(
        rule=AutomationRuleFactory(trigger="lead.created"),
        field=field,
        operator=operator,
        value=value,
    )
    condition.full_clean()


def test_condition_fields_follow_the_triggers_record(db):
    deal_rule = AutomationRuleFactory(trigger="deal.won")
    errors = clean_errors(ConditionFactory.build(rule=deal_rule, field="lead_score", value="1"))
    assert "field" in errors
    ConditionFactory.build(rule=deal_rule, field="amount", operator="gt", value="100").full_clean()


@pytest.mark.parametrize(
    ("fields", "error_on"),
    [
        ({"type": A.CREATE_ACTIVITY, "activity_type": "", "subject": "x"}, "activity_type"),
        ({"type": A.CREATE_ACTIVITY, "subject": "Call {lead.nope}"}, "subject"),
        ({"type": A.CREATE_ACTIVITY, "subject": "Call {deal.name}"}, "subject"),
        ({"type": A.CREATE_ACTIVITY, "subject": "x", "body": "{lead.colour}"}, "body"),
        ({"type": A.ASSIGN, "subject": ""}, "user"),
        ({"type": A.SET_FIELD, "field": "lead_score", "value": "5", "subject": ""}, "field"),
        ({"type": A.SET_FIELD, "field": "priority", "value": "asap", "subject": ""}, "value"),
        ({"type": A.MOVE_STEP, "subject": ""}, "step"),
        ({"type": A.START_SEQUENCE, "subject": ""}, "sequence"),
        ({"type": A.CALL_WEBHOOK, "subject": ""}, "webhook"),
    ],
)
def test_invalid_actions_cannot_be_saved(db, fields, error_on):
    action = ActionFactory.build(rule=AutomationRuleFactory(trigger="lead.created"), **fields)
    assert error_on in clean_errors(action)


def test_actions_must_fit_the_trigger(db):
    person_rule = AutomationRuleFactory(trigger="person.created")
    assert "type" in clean_errors(ActionFactory.build(rule=person_rule, type=A.MOVE_STEP))
    deal_step = WorkflowStep.objects.filter(workflow__name="Sales Pipeline").first()
    lead_rule = AutomationRuleFactory(trigger="lead.created")
    errors = clean_errors(ActionFactory.build(rule=lead_rule, type=A.MOVE_STEP, step=deal_step))
    assert "not a step of the lead workflow" in errors["step"][0]


def test_admin_refuses_a_rule_with_an_invalid_condition(admin_client):
    data = {
        "name": "Broken",
        "description": "",
        "trigger": "lead.created",
        "is_active": "on",
        "order": "0",
        "conditions-TOTAL_FORMS": "1",
        "conditions-INITIAL_FORMS": "0",
        "conditions-MIN_NUM_FORMS": "0",
        "conditions-MAX_NUM_FORMS": "1000",
        "conditions-0-field": "lead_score",
        "conditions-0-operator": "gt",
        "conditions-0-value": "high",
        "actions-TOTAL_FORMS": "1",
        "actions-INITIAL_FORMS": "0",
        "actions-MIN_NUM_FORMS": "0",
        "actions-MAX_NUM_FORMS": "1000",
        "actions-0-order": "1",
        "actions-0-type": "create_activity",
        "actions-0-activity_type": "call",
        "actions-0-subject": "Call {lead.name}",
    }
    from activities.models import AutomationRule

    response = admin_client.post("/admin/activities/automationrule/add/", data)
    assert response.status_code == 200
    assert "“high” is not a whole number" in response.content.decode()
    assert not AutomationRule.objects.exists()

    data["conditions-0-value"] = "60"
    response = admin_client.post("/admin/activities/automationrule/add/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    rule = AutomationRule.objects.get()
    assert rule.conditions.get().value == "60" and rule.actions.get().subject == "Call {lead.name}"


def test_admin_refuses_an_action_with_an_unknown_placeholder(admin_client):
    data = {
        "name": "Bad template",
        "trigger": "lead.created",
        "order": "0",
        "conditions-TOTAL_FORMS": "0",
        "conditions-INITIAL_FORMS": "0",
        "actions-TOTAL_FORMS": "1",
        "actions-INITIAL_FORMS": "0",
        "actions-0-order": "1",
        "actions-0-type": "create_activity",
        "actions-0-activity_type": "task",
        "actions-0-subject": "Call {lead.shoe_size}",
    }
    response = admin_client.post("/admin/activities/automationrule/add/", data)
    assert response.status_code == 200
    assert "shoe_size" in response.content.decode()


def test_admin_pages_render(admin_client):
    rule = AutomationRuleFactory()
    ConditionFactory(rule=rule)
    ActionFactory(rule=rule)
    for url in [
        "/admin/activities/automationrule/",
        f"/admin/activities/automationrule/{rule.pk}/change/",
        "/admin/activities/automationrun/",
        "/admin/activities/assignmentrule/add/",
        "/admin/activities/sequence/add/",
        "/admin/activities/webhooksubscription/add/",
        "/admin/activities/webhookdelivery/",
        "/admin/activities/activity/",
    ]:
        assert admin_client.get(url).status_code == 200, url


# --- evaluation -----------------------------------------------------------------------------------
@pytest.fixture
def scored_lead(rep1):
    from tests.leads.factories import LeadFactory

    return LeadFactory(
        owner=rep1,
        source="web",
        company_name="Acme Robotics",
        estimated_value=Decimal("5000"),
        lead_score=60,
        priority="high",
    )


@pytest.mark.parametrize(
    ("field", "operator", "value", "holds"),
    [
        ("source", "eq", "web", True),
        ("source", "ne", "web", False),
        ("source", "in", "referral, web", True),
        ("lead_score", "gt", "59", True),
        ("lead_score", "lt", "60", False),
        ("estimated_value", "gt", "4999.99", True),
        ("company_name", "contains", "ROBOT", True),
        ("company_name", "eq", "acme robotics", True),
        ("priority", "in", "urgent", False),
        ("assigned_to", "eq", "", True),
        ("owner", "eq", "rep1", True),
        ("step", "eq", "new lead", True),
        ("is_qualified", "eq", "false", True),
        ("event.reason", "contains", "budget", True),
        ("event.count", "gt", "2", True),
        ("event.fields", "contains", "priority", True),
    ],
)
def test_conditions_hold(scored_lead, field, operator, value, holds):
    condition = ConditionFactory.build(field=field, operator=operator, value=value)
    payload = {"reason": "No budget", "count": 3, "fields": ["priority", "name"]}
    assert automation.condition_holds(condition, "lead", scored_lead, payload) is holds


def test_templates_render_fields_with_display_values(scored_lead, rep1):
    scored_lead.assigned_to = rep1
    text = automation.render_template(
        "Call {lead.contact_name} at {lead.company_name} ({lead.priority}, {lead.assigned_to}) "
        "{event.reason} {lead.nothing}",
        {"lead": scored_lead, "event": {"reason": "web form"}},
    )
    assert text == (
        f"Call {scored_lead.contact_name} at Acme Robotics (High, {rep1.display_name}) web form "
    )


# --- running rules --------------------------------------------------------------------------------
def test_matching_rule_creates_an_activity_from_its_template(rep1, rep2):
    rule = AutomationRuleFactory(trigger="lead.created")
    ConditionFactory(rule=rule, field="priority", operator="in", value="urgent, high")
    ActionFactory(
        rule=rule,
        activity_type="call",
        subject="Call {lead.contact_name} about {lead.name}",
        body="Value {lead.estimated_value}",
        due_in_days=1,
    )
    hot = lead_services.lead_create(
        by=rep1,
        name="Hot one",
        contact_name="Kim",
        priority="urgent",
        estimated_value=Decimal("10"),
        assigned_to=rep2,
    )
    cold = lead_services.lead_create(by=rep1, name="Cold one", priority="low")
    run_events()
    call = Activity.objects.get(lead=hot, type="call")
    assert call.subject == "Call Kim about Hot one" and call.notes == "Value 10.00"
    assert call.assigned_to == rep2 and call.is_system_activity and call.due_at is not None
    assert call.metadata["automation_rule"] == rule.pk
    assert not Activity.objects.filter(lead=cold, type="call").exists()
    run = AutomationRun.objects.get(rule=rule)
    assert run.status == "succeeded" and run.details[0]["activity"] == str(call.pk)


def test_actions_assign_set_field_move_step_and_start_sequence(rep1, rep2, manager):
    sequence = SequenceFactory(steps=[(0, "email", "Hello {lead.name}"), (2, "call", "Call")])
    rule = AutomationRuleFactory(trigger="lead.created")
    ConditionFactory(rule=rule, field="source", value="referral")
    ActionFactory(rule=rule, order=1, type=A.ASSIGN, subject="", user=rep2)
    ActionFactory(
        rule=rule, order=2, type=A.SET_FIELD, subject="", field="priority", value="urgent"
    )
    ActionFactory(
        rule=rule, order=3, type=A.MOVE_STEP, subject="", step=lead_step(LeadStep.CONTACTED)
    )
    ActionFactory(rule=rule, order=4, type=A.START_SEQUENCE, subject="", sequence=sequence)
    lead = lead_services.lead_create(by=manager, name="Referred", source="referral")
    run_events()
    lead = Lead.objects.select_related("wfm_project__current_step__status").get(pk=lead.pk)
    assert lead.assigned_to == rep2
    assert lead.priority == "urgent"
    assert lead.wfm_project.current_step.name == LeadStep.CONTACTED
    enrollment = SequenceEnrollment.objects.get(lead=lead)
    assert enrollment.status == "active"
    assert Activity.objects.filter(lead=lead, subject="Hello Referred").exists()
    assert AutomationRun.objects.get(rule=rule).status == "succeeded"


def test_assign_through_an_assignment_rule(manager):
    team = [UserFactory(username=f"rr{i}", role="Sales Rep") for i in range(2)]
    rotation = AssignmentRuleFactory(users=team, is_active=False)  # used only by the rule
    rule = AutomationRuleFactory(trigger="lead.created")
    ActionFactory(rule=rule, type=A.ASSIGN, subject="", assignment_rule=rotation)
    first = lead_services.lead_create(by=manager, name="One")
    second = lead_services.lead_create(by=manager, name="Two")
    run_events()
    assert [Lead.objects.get(pk=x.pk).assigned_to for x in (first, second)] == team


def test_call_webhook_action_creates_a_delivery(rep1):
    hook = WebhookFactory(events=[])
    rule = AutomationRuleFactory(trigger="lead.created")
    ActionFactory(rule=rule, type=A.CALL_WEBHOOK, subject="", webhook=hook)
    lead_services.lead_create(by=rep1, name="Hooked")
    run_events()
    delivery = WebhookDelivery.objects.get(subscription=hook)
    assert delivery.event_name == "lead.created" and delivery.source == f"rule:{rule.pk}"


def test_a_failing_rule_is_logged_and_other_rules_still_run(rep1):
    broken = AutomationRuleFactory(trigger="lead.created", order=1, name="Broken")
    # Contacted → Converted is no allowed move: the transition service refuses it.
    ActionFactory(rule=broken, order=1, type=A.SET_FIELD, subject="", field="priority", value="low")
    ActionFactory(
        rule=broken, order=2, type=A.MOVE_STEP, subject="", step=lead_step(LeadStep.CONVERTED)
    )
    working = AutomationRuleFactory(trigger="lead.created", order=2)
    ActionFactory(rule=working, subject="Works for {lead.name}")
    lead = lead_services.lead_create(by=rep1, name="Mixed", priority="high")
    run_events()
    run = AutomationRun.objects.get(rule=broken)
    assert run.status == "failed" and run.error
    # The broken rule's first action was rolled back with the rest of it.
    assert Lead.objects.get(pk=lead.pk).priority == "high"
    assert Activity.objects.filter(subject="Works for Mixed").exists()
    assert Event.objects.get(name="lead.created").status == Event.Status.PROCESSED


def test_a_rule_runs_once_per_event(rep1):
    rule = AutomationRuleFactory(trigger="lead.created")
    ActionFactory(rule=rule, subject="Once")
    lead_services.lead_create(by=rep1, name="L")
    run_events()
    event = Event.objects.get(name="lead.created")
    automation.run_rules(event)
    automation.run_rules(event)
    assert Activity.objects.filter(subject="Once").count() == 1
    assert AutomationRun.objects.filter(rule=rule).count() == 1


def test_a_rule_does_not_retrigger_itself(rep1):
    rule = AutomationRuleFactory(trigger="lead.updated")
    ActionFactory(rule=rule, type=A.SET_FIELD, subject="", field="sub_source", value="automated")
    lead = lead_services.lead_create(by=rep1, name="Loop")
    lead_services.lead_update(by=rep1, lead=lead, data={"description": "changed"})
    run_events()
    runs = list(AutomationRun.objects.filter(rule=rule).order_by("at"))
    assert [r.status for r in runs] == ["succeeded", "skipped"]
    assert "loop guard" in runs[1].error
    caused = Event.objects.filter(name="lead.updated", actor__username="pipecrm-system").get()
    assert caused.payload[automation.CHAIN_KEY] == [rule.pk]


def test_disabled_rules_do_not_run(rep1):
    rule = AutomationRuleFactory(trigger="lead.created", is_active=False)
    ActionFactory(rule=rule, subject="Never")
    lead_services.lead_create(by=rep1, name="L")
    run_events()
    assert not Activity.objects.filter(subject="Never").exists()


def test_activity_triggers_see_the_activitys_records(rep1, lead):
    from activities import services

    rule = AutomationRuleFactory(trigger="activity.completed")
    ConditionFactory(rule=rule, field="type", operator="eq", value="meeting")
    ActionFactory(rule=rule, subject="Send recap of {activity.subject} to {lead.contact_name}")
    meeting = services.activity_create(
        by=rep1, type="meeting", subject="Demo", is_done=False, lead=lead
    )
    services.activity_complete(by=rep1, activity=meeting)
    run_events()
    recap = Activity.objects.get(subject="Send recap of Demo to Maria Lopez")
    assert recap.lead == lead and recap.assigned_to == rep1


def test_unknown_trigger_is_refused(db):
    from activities.models import AutomationRule

    errors = clean_errors(AutomationRule(name="x", trigger="lead.exploded"))
    assert "Unknown event" in errors["trigger"][0]
