"""The default workflows (SPEC §5 wfm), as plain data.

The data migration ``0002_default_workflows`` installs them; code and tests refer to steps by
the names below (``LeadStep.CONVERTED``, ``DealStep.CLOSED_WON``) instead of spelling them out.
``install_defaults`` takes an app registry so the migration can run it with historical models;
it is idempotent and never changes a workflow an administrator has already edited.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

LEAD_QUALIFICATION = "Lead Qualification"
SALES_PIPELINE = "Sales Pipeline"


class LeadStep:
    NEW_LEAD = "New Lead"
    CONTACTED = "Contacted"
    QUALIFIED = "Qualified"
    CONVERTED = "Converted"
    DISQUALIFIED = "Disqualified"


class DealStep:
    QUALIFICATION = "Qualification"
    INITIAL_CONTACT = "Initial Contact"
    DISCOVERY = "Discovery"
    PROPOSAL = "Proposal"
    NEGOTIATION = "Negotiation"
    CLOSED_WON = "Closed Won"
    CLOSED_LOST = "Closed Lost"


@dataclass(frozen=True)
class StepDef:
    name: str
    color: str
    description: str
    probability: int = 0
    is_initial: bool = False
    is_final: bool = False
    outcome: str = "none"
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TransitionDef:
    from_step: str
    to_step: str
    name: str


@dataclass(frozen=True)
class WorkflowDef:
    name: str
    description: str
    steps: tuple[StepDef, ...]  # in order: the first is order 1
    transitions: tuple[TransitionDef, ...]

    def step(self, name: str) -> StepDef:
        return next(s for s in self.steps if s.name == name)

    @property
    def open_steps(self) -> tuple[StepDef, ...]:
        return tuple(s for s in self.steps if not s.is_final)


@dataclass(frozen=True)
class ProjectTypeDef:
    name: str
    entity_type: str
    workflow: str
    icon: str


def _lead_qualification() -> WorkflowDef:
    s = LeadStep
    steps = (
        StepDef(
            s.NEW_LEAD,
            "#3b82f6",
            "A new lead nobody has contacted yet.",
            probability=10,
            is_initial=True,
            metadata={"suggested_min_score": 0},
        ),
        StepDef(
            s.CONTACTED,
            "#06b6d4",
            "First contact made; needs and fit are being explored.",
            probability=20,
            metadata={"suggested_min_score": 25},
        ),
        StepDef(
            s.QUALIFIED,
            "#8b5cf6",
            "Budget, authority, need and timeline confirmed; ready to convert.",
            probability=50,
            metadata={"suggested_min_score": 50},
        ),
        StepDef(
            s.CONVERTED,
            "#22c55e",
            "Converted into a person, an organization and/or a deal.",
            probability=100,
            is_final=True,
            outcome="won",
            metadata={"suggested_min_score": 75},
        ),
        StepDef(
            s.DISQUALIFIED,
            "#ef4444",
            "Not a fit, not reachable or not interested; can be reopened.",
            probability=0,
            is_final=True,
            outcome="lost",
        ),
    )
    transitions = (
        TransitionDef(s.NEW_LEAD, s.CONTACTED, "Mark contacted"),
        TransitionDef(s.CONTACTED, s.QUALIFIED, "Qualify"),
        TransitionDef(s.QUALIFIED, s.CONVERTED, "Convert"),
        TransitionDef(s.CONTACTED, s.NEW_LEAD, "Back to New Lead"),
        TransitionDef(s.QUALIFIED, s.CONTACTED, "Back to Contacted"),
        TransitionDef(s.NEW_LEAD, s.DISQUALIFIED, "Disqualify"),
        TransitionDef(s.CONTACTED, s.DISQUALIFIED, "Disqualify"),
        TransitionDef(s.QUALIFIED, s.DISQUALIFIED, "Disqualify"),
        TransitionDef(s.DISQUALIFIED, s.NEW_LEAD, "Reopen"),
    )
    return WorkflowDef(
        LEAD_QUALIFICATION,
        "From a new lead to a converted or disqualified one.",
        steps,
        transitions,
    )


def _sales_pipeline() -> WorkflowDef:
    s = DealStep
    open_steps = (
        StepDef(
            s.QUALIFICATION,
            "#0ea5e9",
            "Checking that the opportunity is real and worth pursuing.",
            probability=10,
            is_initial=True,
        ),
        StepDef(
            s.INITIAL_CONTACT,
            "#06b6d4",
            "First conversation with the buyer.",
            probability=20,
        ),
        StepDef(
            s.DISCOVERY,
            "#14b8a6",
            "Understanding needs, decision process and budget.",
            probability=30,
        ),
        StepDef(s.PROPOSAL, "#f59e0b", "A proposal or quote has been sent.", probability=50),
        StepDef(s.NEGOTIATION, "#f97316", "Terms and price are being negotiated.", probability=75),
    )
    closed = (
        StepDef(
            s.CLOSED_WON,
            "#22c55e",
            "The customer signed.",
            probability=100,
            is_final=True,
            outcome="won",
        ),
        StepDef(
            s.CLOSED_LOST,
            "#ef4444",
            "The deal was lost or abandoned.",
            probability=0,
            is_final=True,
            outcome="lost",
        ),
    )
    transitions: list[TransitionDef] = []
    for before, after in zip(open_steps, open_steps[1:], strict=False):
        transitions.append(TransitionDef(before.name, after.name, f"Move to {after.name}"))
        transitions.append(TransitionDef(after.name, before.name, f"Back to {before.name}"))
    for step in open_steps:
        transitions.append(TransitionDef(step.name, s.CLOSED_WON, "Mark won"))
        transitions.append(TransitionDef(step.name, s.CLOSED_LOST, "Mark lost"))
    transitions.append(TransitionDef(s.CLOSED_WON, s.QUALIFICATION, "Reopen"))
    transitions.append(TransitionDef(s.CLOSED_LOST, s.QUALIFICATION, "Reopen"))
    return WorkflowDef(
        SALES_PIPELINE,
        "From a qualified opportunity to a won or lost deal.",
        open_steps + closed,
        tuple(transitions),
    )


DEFAULT_WORKFLOWS: tuple[WorkflowDef, ...] = (_lead_qualification(), _sales_pipeline())
WORKFLOWS_BY_NAME = {w.name: w for w in DEFAULT_WORKFLOWS}

DEFAULT_PROJECT_TYPES: tuple[ProjectTypeDef, ...] = (
    ProjectTypeDef("Lead", "lead", LEAD_QUALIFICATION, "person-plus"),
    ProjectTypeDef("Deal", "deal", SALES_PIPELINE, "briefcase"),
)


def install_defaults(apps, schema_editor=None) -> None:
    """Create the default statuses, workflows and project types that do not exist yet.

    ``apps`` is an app registry (historical in a migration). A workflow that already exists by
    name is left as it is: an administrator may have changed it.
    """
    Status = apps.get_model("wfm", "Status")
    Workflow = apps.get_model("wfm", "Workflow")
    WorkflowStep = apps.get_model("wfm", "WorkflowStep")
    WorkflowTransition = apps.get_model("wfm", "WorkflowTransition")
    ProjectType = apps.get_model("wfm", "ProjectType")

    for definition in DEFAULT_WORKFLOWS:
        if Workflow.objects.filter(name=definition.name).exists():
            continue
        workflow = Workflow.objects.create(
            name=definition.name, description=definition.description, is_active=True
        )
        steps = {}
        for order, step in enumerate(definition.steps, start=1):
            status, _ = Status.objects.get_or_create(
                name=step.name,
                defaults={"color": step.color, "description": step.description},
            )
            steps[step.name] = WorkflowStep.objects.create(
                workflow=workflow,
                status=status,
                order=order,
                is_initial=step.is_initial,
                is_final=step.is_final,
                probability=step.probability,
                outcome=step.outcome,
                min_lead_score=None,
                required_fields=[],
                metadata=dict(step.metadata),
            )
        WorkflowTransition.objects.bulk_create(
            WorkflowTransition(
                workflow=workflow,
                from_step=steps[t.from_step],
                to_step=steps[t.to_step],
                name=t.name,
            )
            for t in definition.transitions
        )

    for project_type in DEFAULT_PROJECT_TYPES:
        if ProjectType.objects.filter(entity_type=project_type.entity_type).exists():
            continue
        ProjectType.objects.create(
            name=project_type.name,
            entity_type=project_type.entity_type,
            default_workflow=Workflow.objects.get(name=project_type.workflow),
            icon=project_type.icon,
        )
