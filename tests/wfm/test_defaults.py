"""The default workflows installed by the data migration (SPEC §5 wfm)."""

import pytest
from django.apps import apps

from wfm.defaults import (
    DEFAULT_WORKFLOWS,
    LEAD_QUALIFICATION,
    SALES_PIPELINE,
    DealStep,
    LeadStep,
    install_defaults,
)
from wfm.models import ProjectType, Status, Workflow, WorkflowStep, WorkflowTransition

pytestmark = pytest.mark.django_db


def steps_of(name: str) -> list[WorkflowStep]:
    return list(
        WorkflowStep.objects.filter(workflow__name=name).select_related("status").order_by("order")
    )


def moves_of(name: str) -> set[tuple[str, str]]:
    return {
        (t.from_step.name, t.to_step.name)
        for t in WorkflowTransition.objects.filter(workflow__name=name).select_related(
            "from_step__status", "to_step__status"
        )
    }


def test_lead_qualification_steps():
    steps = steps_of(LEAD_QUALIFICATION)

    assert [(s.order, s.name) for s in steps] == [
        (1, "New Lead"),
        (2, "Contacted"),
        (3, "Qualified"),
        (4, "Converted"),
        (5, "Disqualified"),
    ]
    assert [s.name for s in steps if s.is_initial] == ["New Lead"]
    assert {s.name: s.outcome for s in steps if s.is_final} == {
        "Converted": "won",
        "Disqualified": "lost",
    }
    # Score thresholds are a suggestion the UI shows; reps may move leads by hand.
    assert {s.name: s.metadata.get("suggested_min_score") for s in steps} == {
        "New Lead": 0,
        "Contacted": 25,
        "Qualified": 50,
        "Converted": 75,
        "Disqualified": None,
    }
    assert all(s.min_lead_score is None and s.required_fields == [] for s in steps)


def test_lead_qualification_transitions():
    moves = moves_of(LEAD_QUALIFICATION)
    s = LeadStep

    assert {
        (s.NEW_LEAD, s.CONTACTED),
        (s.CONTACTED, s.QUALIFIED),
        (s.QUALIFIED, s.CONVERTED),
        (s.CONTACTED, s.NEW_LEAD),
        (s.QUALIFIED, s.CONTACTED),
    } <= moves
    for open_step in (s.NEW_LEAD, s.CONTACTED, s.QUALIFIED):
        assert (open_step, s.DISQUALIFIED) in moves
    reopen = WorkflowTransition.objects.get(
        workflow__name=LEAD_QUALIFICATION, from_step__status__name=s.DISQUALIFIED
    )
    assert (reopen.to_step.name, reopen.name) == (s.NEW_LEAD, "Reopen")
    assert not any(a == s.CONVERTED for a, _ in moves)  # a conversion is not undone here


def test_sales_pipeline_steps_and_probabilities():
    steps = steps_of(SALES_PIPELINE)

    assert [(s.name, s.probability) for s in steps] == [
        ("Qualification", 10),
        ("Initial Contact", 20),
        ("Discovery", 30),
        ("Proposal", 50),
        ("Negotiation", 75),
        ("Closed Won", 100),
        ("Closed Lost", 0),
    ]
    assert [s.name for s in steps if s.is_initial] == [DealStep.QUALIFICATION]
    assert {s.name: s.outcome for s in steps if s.is_final} == {
        DealStep.CLOSED_WON: "won",
        DealStep.CLOSED_LOST: "lost",
    }


def test_sales_pipeline_transitions():
    moves = moves_of(SALES_PIPELINE)
    open_steps = [s.name for s in steps_of(SALES_PIPELINE) if not s.is_final]

    for before, after in zip(open_steps, open_steps[1:], strict=False):
        assert (before, after) in moves
        assert (after, before) in moves
    for step in open_steps:
        assert (step, DealStep.CLOSED_WON) in moves
        assert (step, DealStep.CLOSED_LOST) in moves
    assert (DealStep.CLOSED_WON, DealStep.QUALIFICATION) in moves
    assert (DealStep.CLOSED_LOST, DealStep.QUALIFICATION) in moves
    assert (DealStep.QUALIFICATION, DealStep.PROPOSAL) not in moves


def test_database_matches_the_definitions():
    for definition in DEFAULT_WORKFLOWS:
        workflow = Workflow.objects.get(name=definition.name)
        assert workflow.is_active
        assert [s.name for s in steps_of(definition.name)] == [s.name for s in definition.steps]
        assert moves_of(definition.name) == {
            (t.from_step, t.to_step) for t in definition.transitions
        }
        for step in definition.steps:
            assert Status.objects.get(name=step.name).color == step.color


def test_project_types_point_at_the_default_workflows():
    types = {p.entity_type: (p.name, p.default_workflow.name) for p in ProjectType.objects.all()}

    assert types == {"lead": ("Lead", LEAD_QUALIFICATION), "deal": ("Deal", SALES_PIPELINE)}


def test_installing_again_changes_nothing():
    Workflow.objects.filter(name=LEAD_QUALIFICATION).update(description="Edited by an admin")
    counts = [m.objects.count() for m in (Status, Workflow, WorkflowStep, WorkflowTransition)]

    install_defaults(apps)

    assert [m.objects.count() for m in (Status, Workflow, WorkflowStep, WorkflowTransition)] == (
        counts
    )
    assert Workflow.objects.get(name=LEAD_QUALIFICATION).description == "Edited by an admin"


def test_managers_may_view_workflow_configuration(manager, rep1):
    assert manager.has_perm("wfm.view_workflow")
    assert manager.has_perm("wfm.view_workflowstep")
    assert not manager.has_perm("wfm.change_workflow")
    assert not rep1.has_perm("wfm.view_workflow")
