"""Row-level invariants of the workflow models and their database constraints."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from tests.wfm.factories import (
    WorkflowFactory,
    WorkflowStepFactory,
    WorkflowTransitionFactory,
    build_workflow,
)
from wfm.models import ProjectType, Workflow, WorkflowStep, WorkflowTransition

pytestmark = pytest.mark.django_db


def messages(exc: ValidationError) -> dict[str, list[str]]:
    return exc.message_dict


def test_transition_to_a_step_of_another_workflow_says_why():
    workflow, steps = build_workflow(["A", "B"], [], name="Support")
    other = WorkflowStepFactory(workflow=WorkflowFactory(name="Sales"))
    transition = WorkflowTransition(workflow=workflow, from_step=steps["A"], to_step=other)

    with pytest.raises(ValidationError) as exc:
        transition.full_clean()

    assert messages(exc.value)["to_step"] == [
        f"Step “{other.name}” belongs to workflow “Sales”, not to “Support”: a transition "
        "must stay inside its workflow."
    ]


def test_transition_to_its_own_step_is_invalid():
    step = WorkflowStepFactory()
    transition = WorkflowTransition(workflow=step.workflow, from_step=step, to_step=step)

    with pytest.raises(ValidationError) as exc:
        transition.full_clean()

    assert "A transition must lead to another step" in str(exc.value)


def test_database_refuses_a_self_transition_and_a_duplicate_move():
    transition = WorkflowTransitionFactory()

    with pytest.raises(IntegrityError), transaction.atomic():
        WorkflowTransition.objects.create(
            workflow=transition.workflow,
            from_step=transition.from_step,
            to_step=transition.from_step,
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        WorkflowTransition.objects.create(
            workflow=transition.workflow, from_step=transition.from_step, to_step=transition.to_step
        )


def test_database_refuses_a_second_initial_step_and_a_duplicate_order():
    first = WorkflowStepFactory(is_initial=True, order=1)

    with pytest.raises(IntegrityError), transaction.atomic():
        WorkflowStepFactory(workflow=first.workflow, is_initial=True, order=2)
    with pytest.raises(IntegrityError), transaction.atomic():
        WorkflowStepFactory(workflow=first.workflow, order=1)


def test_step_rules():
    step = WorkflowStepFactory.build(
        workflow=WorkflowFactory(),
        status=WorkflowStepFactory().status,
        is_initial=True,
        is_final=False,
        outcome="won",
        required_fields="email",
        metadata=[],
        probability=120,
    )

    with pytest.raises(ValidationError) as exc:
        step.full_clean()

    errors = messages(exc.value)
    assert errors["outcome"] == ["Only a final step can have a won or lost outcome."]
    assert errors["required_fields"] == [
        'Enter a JSON list of field names, e.g. ["contact_email"].'
    ]
    assert errors["metadata"] == ['Enter a JSON object, e.g. {"suggested_min_score": 50}.']
    assert "probability" in errors


def test_initial_step_cannot_be_final():
    step = WorkflowStepFactory.build(
        workflow=WorkflowFactory(),
        status=WorkflowStepFactory().status,
        is_initial=True,
        is_final=True,
    )

    with pytest.raises(ValidationError) as exc:
        step.full_clean()

    assert messages(exc.value)["is_final"] == ["The initial step cannot also be final."]


def test_default_workflow_of_a_project_type_cannot_be_deactivated():
    workflow = ProjectType.objects.get(entity_type="lead").default_workflow
    workflow.is_active = False

    with pytest.raises(ValidationError) as exc:
        workflow.full_clean()

    assert "default of Lead" in messages(exc.value)["is_active"][0]


def test_project_type_needs_an_active_default_workflow():
    project_type = ProjectType.objects.get(entity_type="deal")
    project_type.default_workflow = WorkflowFactory(is_active=False)

    with pytest.raises(ValidationError) as exc:
        project_type.full_clean()

    assert "active workflow" in messages(exc.value)["default_workflow"][0]


def test_step_name_and_colour_come_from_its_status():
    step = WorkflowStep.objects.select_related("status").filter(workflow__name="Sales Pipeline")[0]

    assert (step.name, step.color, str(step)) == (step.status.name, step.status.color, step.name)
    assert str(Workflow.objects.get(name="Sales Pipeline")) == "Sales Pipeline"
