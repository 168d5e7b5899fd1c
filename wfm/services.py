"""Every write of the workflow engine (SPEC §4 services).

The engine knows no leads or deals. Their services check that the acting user may change the
record, then call ``project_start`` / ``project_transition`` with an ``EntityAdapter`` that
answers the engine's questions about the record (deleted? required fields? score?).
"""

from __future__ import annotations

from django.db import transaction

from crm import db, events
from crm.errors import NotFound, PermissionDenied, ValidationFailed
from crm.models import User
from wfm.adapters import EntityAdapter
from wfm.errors import (
    AlreadyAtStep,
    GuardFailed,
    RecordDeleted,
    StepNotInWorkflow,
    TransitionNotAllowed,
)
from wfm.guards import check_guards
from wfm.models import (
    Project,
    ProjectType,
    StatusHistory,
    Workflow,
    WorkflowStep,
    WorkflowTransition,
)


@transaction.atomic
def project_start_many(
    *, by: User | None, project_type: ProjectType, count: int, reason: str = ""
) -> list[Project]:
    """``count`` projects at the initial step of the project type's workflow, as
    ``project_start`` starts one, in two INSERTs (an import's thousands of leads)."""
    if count <= 0:
        return []
    first = project_start(by=by, project_type=project_type, reason=reason)
    if count == 1:
        return [first]
    rest = [
        Project(
            project_type=project_type,
            workflow_id=first.workflow_id,
            current_step_id=first.current_step_id,
            created_by=by,
        )
        for _ in range(count - 1)
    ]
    db.insert(Project, rest, with_ids=True)
    db.insert(
        StatusHistory,
        [
            StatusHistory(
                project=project,
                from_step=None,
                to_step_id=first.current_step_id,
                changed_by=by,
                reason=reason.strip(),
            )
            for project in rest
        ],
    )
    return [first, *rest]


def project_start(
    *,
    by: User | None,
    project_type: ProjectType | None = None,
    workflow: Workflow | None = None,
    reason: str = "",
) -> Project:
    """Start a project at the initial step of ``workflow`` (default: the project type's).

    Writes the first ``StatusHistory`` row (``from_step`` None). Precondition: the caller has
    checked that ``by`` may create the record the project tracks.
    """
    if project_type is None and workflow is None:
        raise ValidationFailed(
            "Give a project type or a workflow to start a project in.",
            details={"workflow": ["Give a project type or a workflow."]},
        )
    workflow = workflow or project_type.default_workflow
    if not workflow.is_active:
        raise ValidationFailed(
            f"Workflow “{workflow}” is not active; new records cannot start in it.",
            details={"workflow": [f"Workflow “{workflow}” is not active."]},
        )
    initial = (
        WorkflowStep.objects.select_related("status")
        .filter(workflow=workflow, is_initial=True)
        .first()
    )
    if initial is None:
        raise ValidationFailed(
            f"Workflow “{workflow}” has no initial step; an administrator must mark one.",
            details={"workflow": [f"Workflow “{workflow}” has no initial step."]},
        )
    project = Project.objects.create(
        project_type=project_type, workflow=workflow, current_step=initial, created_by=by
    )
    StatusHistory.objects.create(
        project=project, from_step=None, to_step=initial, changed_by=by, reason=reason.strip()
    )
    return project


@transaction.atomic
def project_transition(
    *,
    by: User | None,
    project: Project,
    to_step: WorkflowStep | int,
    reason: str = "",
    adapter: EntityAdapter | None = None,
    system: bool = False,
) -> Project:
    """Move ``project`` to ``to_step`` and return it in its new state.

    The move must be one of the workflow's transitions unless ``system`` is set (a recorded
    system move such as a lead's conversion). The target step's guards (required fields,
    minimum score) always apply; with no ``adapter`` a guarded step is refused. Writes one
    ``StatusHistory`` row and emits ``wfm.status_changed``.

    The project row is locked and re-read first, so concurrent moves of one record serialize
    and each sees the step the previous one left (``project`` may be stale; it is updated in
    place). Precondition: the caller has checked that ``by`` may change the record.
    """
    # Lock the project row alone, with no join: when a concurrent move commits first,
    # PostgreSQL re-checks the locked row against the *old* joined rows (the old step), the
    # join no longer matches and the row would vanish from the result. The step and the
    # workflow are read after the lock, so they are the ones the previous move left.
    try:
        locked = Project.objects.select_for_update().get(pk=project.pk)
    except Project.DoesNotExist:
        raise NotFound("The record's workflow project does not exist.") from None
    current = WorkflowStep.objects.select_related("status", "workflow").get(
        pk=locked.current_step_id
    )
    locked.current_step = current
    if current.workflow_id == locked.workflow_id:
        locked.workflow = current.workflow
    label = adapter.label() if adapter is not None else f"Project #{locked.pk}"

    if adapter is not None and adapter.is_deleted():
        raise RecordDeleted(f"“{label}” has been deleted; it cannot move.")

    step = _resolve_step(to_step)
    if step.workflow_id != locked.workflow_id:
        message = (
            f"Step “{step}” is not part of workflow “{locked.workflow}”; “{label}” can only "
            "move to a step of its own workflow."
        )
        raise StepNotInWorkflow(message, details={"to_step": [message]})
    if step.pk == current.pk:
        message = f"“{label}” is already at “{current}”."
        raise AlreadyAtStep(message, details={"to_step": [message]})

    if not system:
        transitions = list(
            WorkflowTransition.objects.filter(from_step=current)
            .select_related("to_step__status")
            .order_by("to_step__order")
        )
        if not any(t.to_step_id == step.pk for t in transitions):
            allowed = [t.to_step.name for t in transitions]
            if allowed:
                message = (
                    f"Cannot move “{label}” from “{current}” to “{step}”. "
                    f"Allowed from “{current}”: {', '.join(allowed)}."
                )
            else:
                message = f"Cannot move “{label}” from “{current}”: no move leaves that step."
            raise TransitionNotAllowed(
                message, details={"to_step": [message], "allowed_steps": allowed}
            )

    report = check_guards(step=step, adapter=adapter)
    if not report.ok:
        message = f"“{label}” cannot move to “{step}”. {' '.join(report.messages)}"
        details: dict[str, list[str]] = {"to_step": report.messages}
        if report.missing_fields:
            details["missing_fields"] = report.missing_fields
        raise GuardFailed(message, details=details)

    locked.current_step = step
    locked.save(update_fields=["current_step", "updated_at"])
    StatusHistory.objects.create(
        project=locked,
        from_step=current,
        to_step=step,
        changed_by=by,
        reason=reason.strip(),
        is_system=system,
    )
    events.emit(
        "wfm.status_changed",
        actor=by,
        project_id=locked.pk,
        from_step_id=current.pk,
        to_step_id=step.pk,
        workflow_id=locked.workflow_id,
        system=system,
    )
    project.current_step = step
    project.updated_at = locked.updated_at
    return locked


def _resolve_step(to_step: WorkflowStep | int) -> WorkflowStep:
    if isinstance(to_step, WorkflowStep):
        if to_step.pk is None:
            message = "The step has not been saved."
            raise ValidationFailed(message, details={"to_step": [message]})
        return to_step
    step = (
        WorkflowStep.objects.select_related("status", "workflow").filter(pk=to_step).first()
        if isinstance(to_step, int) and not isinstance(to_step, bool)
        else None
    )
    if step is None:
        message = f"There is no step {to_step!r}."
        raise ValidationFailed(message, details={"to_step": [message]})
    return step


@transaction.atomic
def workflow_duplicate(*, by: User, workflow: Workflow) -> Workflow:
    """Copy a workflow with its steps and transitions, as an inactive “Copy of …”.

    The copy is inactive so that nothing starts in it before an administrator has finished it.
    """
    if not by.has_perm("wfm.add_workflow"):
        raise PermissionDenied("You may not create workflows.")
    name = _free_name(f"Copy of {workflow.name}")
    copy = Workflow.objects.create(
        name=name, description=workflow.description, is_active=False, created_by=by
    )
    new_steps: dict[int, WorkflowStep] = {}
    for step in workflow.steps.order_by("order"):
        new_steps[step.pk] = WorkflowStep.objects.create(
            workflow=copy,
            status_id=step.status_id,
            order=step.order,
            is_initial=step.is_initial,
            is_final=step.is_final,
            probability=step.probability,
            outcome=step.outcome,
            min_lead_score=step.min_lead_score,
            required_fields=list(step.required_fields),
            metadata=dict(step.metadata),
            created_by=by,
        )
    WorkflowTransition.objects.bulk_create(
        WorkflowTransition(
            workflow=copy,
            from_step=new_steps[t.from_step_id],
            to_step=new_steps[t.to_step_id],
            name=t.name,
            created_by=by,
        )
        for t in workflow.transitions.all()
    )
    return copy


def _free_name(base: str) -> str:
    max_length = Workflow._meta.get_field("name").max_length
    base = base[:max_length]
    taken = set(Workflow.objects.filter(name__startswith=base).values_list("name", flat=True))
    if base not in taken:
        return base
    n = 2
    while True:
        suffix = f" ({n})"
        candidate = base[: max_length - len(suffix)] + suffix
        if candidate not in taken:
            return candidate
        n += 1
