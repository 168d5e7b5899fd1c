"""Reads of the workflow engine: what the UI and the API show."""

import pytest
from django.contrib.auth.models import AnonymousUser

from crm.errors import NotFound
from tests.wfm.factories import WorkflowFactory, WorkflowStepFactory, build_workflow
from tests.wfm.fakes import FakeEntity
from wfm import selectors, services
from wfm.defaults import LEAD_QUALIFICATION, SALES_PIPELINE, DealStep, LeadStep
from wfm.guards import check_guards
from wfm.models import Workflow


@pytest.fixture
def flow(db):
    return build_workflow(
        ["Open", "Working", "Done", "Dropped"],
        [("Open", "Working"), ("Open", "Dropped"), ("Working", "Done"), ("Working", "Open")],
        final=("Done", "Dropped"),
        options={"Done": {"required_fields": ["email"], "min_lead_score": 60}},
    )


def test_available_transitions_are_the_moves_from_the_current_step(flow, rep1):
    workflow, steps = flow
    project = services.project_start(by=rep1, workflow=workflow)

    moves = selectors.available_transitions(project=project, user=rep1)
    assert [(t.to_step.name, t.name) for t in moves] == [
        ("Working", "Open to Working"),
        ("Dropped", "Open to Dropped"),
    ]

    services.project_transition(by=rep1, project=project, to_step=steps["Working"])
    moves = selectors.available_transitions(project=project, user=rep1)
    assert [t.to_step.name for t in moves] == ["Open", "Done"]


def test_available_transitions_load_their_steps_in_one_query(flow, rep1, django_assert_num_queries):
    project = services.project_start(by=rep1, workflow=flow[0])

    with django_assert_num_queries(1):
        moves = selectors.available_transitions(project=project, user=rep1)
        assert [(t.to_step.name, t.to_step.color) for t in moves]


def test_available_transitions_are_empty_for_anonymous_users(flow, rep1):
    project = services.project_start(by=rep1, workflow=flow[0])

    assert selectors.available_transitions(project=project, user=AnonymousUser()) == []


def test_guard_report_tells_the_ui_why_a_move_would_be_refused(flow):
    done = flow[1]["Done"]

    report = check_guards(step=done, adapter=FakeEntity(lead_score=40))

    assert not report.ok
    assert report.messages == [
        "Fill in email first.",
        "Needs a lead score of at least 60 (currently 40).",
    ]
    assert check_guards(step=done, adapter=FakeEntity({"email": "x@y.z"}, lead_score=60)).ok
    assert check_guards(step=flow[1]["Working"], adapter=None).ok


def test_workflow_list_prefetches_in_constant_queries(rep1, django_assert_num_queries):
    def read():
        return [
            (w.name, [(s.name, s.color) for s in w.steps.all()], len(w.transitions.all()))
            for w in selectors.workflow_list(user=rep1)
        ]

    with django_assert_num_queries(3):
        small = read()
    for _ in range(4):
        build_workflow(["A", "B", "C"], [("A", "B"), ("B", "C")])
    with django_assert_num_queries(3):
        large = read()
    assert len(small) == 2
    assert len(large) == 6


def test_workflow_list_orders_steps_and_can_hide_inactive_workflows(rep1):
    WorkflowFactory(name="Old", is_active=False)

    workflows = {w.name: w for w in selectors.workflow_list(user=rep1)}
    assert set(workflows) == {LEAD_QUALIFICATION, SALES_PIPELINE, "Old"}
    assert [s.name for s in workflows[SALES_PIPELINE].steps.all()][0] == DealStep.QUALIFICATION
    active = selectors.workflow_list(user=rep1, active_only=True)
    assert {w.name for w in active} == {LEAD_QUALIFICATION, SALES_PIPELINE}


def test_workflow_list_is_empty_for_anonymous_users(db):
    assert list(selectors.workflow_list(user=AnonymousUser())) == []


def test_workflow_get(rep1):
    workflow = Workflow.objects.get(name=LEAD_QUALIFICATION)

    assert selectors.workflow_get(user=rep1, workflow_id=workflow.pk) == workflow
    with pytest.raises(NotFound):
        selectors.workflow_get(user=rep1, workflow_id=987654)


def test_step_lookups_of_the_default_lead_workflow(db):
    workflow = Workflow.objects.get(name=LEAD_QUALIFICATION)

    assert [s.name for s in selectors.step_list(workflow=workflow)] == [
        LeadStep.NEW_LEAD,
        LeadStep.CONTACTED,
        LeadStep.QUALIFIED,
        LeadStep.CONVERTED,
        LeadStep.DISQUALIFIED,
    ]
    assert selectors.initial_step(workflow=workflow).name == LeadStep.NEW_LEAD
    assert selectors.outcome_step(workflow=workflow, outcome="won").name == LeadStep.CONVERTED
    assert selectors.outcome_step(workflow=workflow, outcome="lost").name == LeadStep.DISQUALIFIED


def test_step_lookups_say_what_is_missing(db):
    workflow = WorkflowFactory(name="Empty")
    WorkflowStepFactory(workflow=workflow, is_initial=False)

    with pytest.raises(NotFound, match="no initial step"):
        selectors.initial_step(workflow=workflow)
    with pytest.raises(NotFound, match="outcome “won”"):
        selectors.outcome_step(workflow=workflow, outcome="won")


def test_project_type_for_an_entity_type(db):
    assert selectors.project_type_for(entity_type="lead").default_workflow.name == (
        LEAD_QUALIFICATION
    )
    assert selectors.project_type_for(entity_type="deal").default_workflow.name == SALES_PIPELINE
    with pytest.raises(NotFound):
        selectors.project_type_for(entity_type="ticket")


def test_project_history_oldest_first_in_one_query(flow, rep1, django_assert_num_queries):
    workflow, steps = flow
    project = services.project_start(by=rep1, workflow=workflow)
    services.project_transition(by=rep1, project=project, to_step=steps["Working"])
    services.project_transition(by=rep1, project=project, to_step=steps["Open"])

    with django_assert_num_queries(1):
        rows = [
            (r.from_step.name if r.from_step else None, r.to_step.name, r.changed_by.username)
            for r in selectors.project_history(project=project)
        ]
    assert rows == [
        (None, "Open", "rep1"),
        ("Open", "Working", "rep1"),
        ("Working", "Open", "rep1"),
    ]
