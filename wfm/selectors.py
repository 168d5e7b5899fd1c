"""Every read of the workflow engine (SPEC §4 selectors).

Workflow configuration is readable by every signed-in user; whether a user may see a project
is decided by the record it tracks (the lead's or deal's selector), so project reads here take
a project the caller has already been allowed to see.
"""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from crm.errors import NotFound
from crm.models import User
from wfm.models import (
    Project,
    ProjectType,
    StatusHistory,
    Workflow,
    WorkflowStep,
    WorkflowTransition,
)


def _steps() -> QuerySet[WorkflowStep]:
    return WorkflowStep.objects.select_related("status").order_by("order")


def _transitions() -> QuerySet[WorkflowTransition]:
    return WorkflowTransition.objects.order_by("from_step__order", "to_step__order", "pk")


def workflow_list(*, user: User, active_only: bool = False) -> QuerySet[Workflow]:
    """Workflows with their steps (and statuses) and transitions prefetched: three queries
    whatever the number of workflows."""
    if not user.is_authenticated:
        return Workflow.objects.none()
    qs = Workflow.objects.prefetch_related(
        Prefetch("steps", queryset=_steps()),
        Prefetch("transitions", queryset=_transitions()),
    ).order_by("name")
    if active_only:
        qs = qs.filter(is_active=True)
    return qs


def workflow_get(*, user: User, workflow_id: int) -> Workflow:
    workflow = workflow_list(user=user).filter(pk=workflow_id).first()
    if workflow is None:
        raise NotFound("Workflow not found.")
    return workflow


def step_list(*, workflow: Workflow) -> list[WorkflowStep]:
    """The steps of a workflow in order (kanban columns), with their statuses."""
    return list(_steps().filter(workflow=workflow))


def initial_step(*, workflow: Workflow) -> WorkflowStep:
    step = _steps().filter(workflow=workflow, is_initial=True).first()
    if step is None:
        raise NotFound(f"Workflow “{workflow}” has no initial step.")
    return step


def outcome_step(*, workflow: Workflow, outcome: str) -> WorkflowStep:
    """The (first) final step of ``workflow`` with this outcome: where a conversion or a won
    deal goes (``won``), or a disqualified lead or lost deal (``lost``)."""
    step = _steps().filter(workflow=workflow, is_final=True, outcome=outcome).first()
    if step is None:
        raise NotFound(f"Workflow “{workflow}” has no final step with outcome “{outcome}”.")
    return step


def project_type_for(*, entity_type: str) -> ProjectType:
    """The project type of a kind of record (``"lead"``, ``"deal"``), with its workflow."""
    project_type = (
        ProjectType.objects.select_related("default_workflow")
        .filter(entity_type=entity_type)
        .first()
    )
    if project_type is None:
        raise NotFound(f"There is no project type for “{entity_type}”.")
    return project_type


def available_transitions(*, project: Project, user: User) -> list[WorkflowTransition]:
    """The moves allowed from the project's current step, with their target steps, in the
    order of the target steps. ``user`` may already see the record the project tracks."""
    if not user.is_authenticated:
        return []
    return list(
        WorkflowTransition.objects.filter(from_step_id=project.current_step_id)
        .select_related("to_step__status")
        .order_by("to_step__order", "pk")
    )


def project_history(*, project: Project) -> QuerySet[StatusHistory]:
    """The project's moves, oldest first, with steps, statuses and users for display."""
    return (
        StatusHistory.objects.filter(project=project)
        .select_related("from_step__status", "to_step__status", "changed_by")
        .order_by("at", "pk")
    )
