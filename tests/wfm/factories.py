"""factory-boy factories of the workflow engine."""

from __future__ import annotations

import factory
from factory.django import DjangoModelFactory

from wfm.models import (
    Project,
    ProjectType,
    Status,
    StatusHistory,
    Workflow,
    WorkflowStep,
    WorkflowTransition,
)


class StatusFactory(DjangoModelFactory):
    class Meta:
        model = Status
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Status {n}")
    color = factory.Faker("hex_color")
    description = factory.Faker("sentence")


class WorkflowFactory(DjangoModelFactory):
    class Meta:
        model = Workflow

    name = factory.Sequence(lambda n: f"Workflow {n}")
    description = factory.Faker("sentence")
    is_active = True


class WorkflowStepFactory(DjangoModelFactory):
    class Meta:
        model = WorkflowStep

    workflow = factory.SubFactory(WorkflowFactory)
    status = factory.SubFactory(StatusFactory)
    order = factory.Sequence(lambda n: n + 1)
    probability = 0


class WorkflowTransitionFactory(DjangoModelFactory):
    class Meta:
        model = WorkflowTransition

    from_step = factory.SubFactory(WorkflowStepFactory)
    to_step = factory.SubFactory(
        WorkflowStepFactory, workflow=factory.SelfAttribute("..from_step.workflow")
    )
    workflow = factory.SelfAttribute("from_step.workflow")
    name = factory.LazyAttribute(lambda t: f"To {t.to_step.status.name}")


class ProjectTypeFactory(DjangoModelFactory):
    """The default migration already made one type per entity type; this reuses it."""

    class Meta:
        model = ProjectType
        django_get_or_create = ("entity_type",)

    name = factory.LazyAttribute(lambda p: p.entity_type.title())
    entity_type = ProjectType.EntityType.LEAD
    default_workflow = factory.SubFactory(WorkflowFactory)


class ProjectFactory(DjangoModelFactory):
    """A project placed directly on a step, without history: for reads. Use
    ``wfm.services.project_start`` where the history matters."""

    class Meta:
        model = Project

    current_step = factory.SubFactory(WorkflowStepFactory, is_initial=True)
    workflow = factory.SelfAttribute("current_step.workflow")
    project_type = None


class StatusHistoryFactory(DjangoModelFactory):
    class Meta:
        model = StatusHistory

    project = factory.SubFactory(ProjectFactory)
    from_step = None
    to_step = factory.SelfAttribute("project.current_step")


def build_workflow(
    steps: list[str],
    moves: list[tuple[str, str]],
    *,
    name: str | None = None,
    final: tuple[str, ...] = (),
    options: dict[str, dict] | None = None,
) -> tuple[Workflow, dict[str, WorkflowStep]]:
    """A workflow whose first step is initial, with the given moves as transitions.

    ``options`` maps a step name to extra fields, e.g. ``{"Qualified": {"min_lead_score": 50}}``.
    Returns the workflow and its steps by name.
    """
    options = options or {}
    workflow = WorkflowFactory(**({"name": name} if name else {}))
    by_name = {}
    for order, step_name in enumerate(steps, start=1):
        by_name[step_name] = WorkflowStepFactory(
            workflow=workflow,
            status=StatusFactory(name=step_name),
            order=order,
            is_initial=order == 1,
            is_final=step_name in final,
            **options.get(step_name, {}),
        )
    for a, b in moves:
        WorkflowTransitionFactory(
            workflow=workflow, from_step=by_name[a], to_step=by_name[b], name=f"{a} to {b}"
        )
    return workflow, by_name
