"""Every read of deals that a user sees (SPEC §4 selectors, §9 permissions).

Querysets start from what the user may see (``crm.permissions.visible``) and carry what the
table, the board, the detail page and the API show, without N+1:

- ``select_related`` of person, organization, owner, assignee and the current step (with its
  status, for name and colour);
- annotations ``probability`` (the current step's, 0–100), ``weighted_amount``
  (amount × probability / 100, rounded to cents) and ``source_lead_pk`` (the id of the lead
  the deal was converted from, through the reverse one-to-one ``Lead.converted_to_deal``;
  only the id is read, not the wide lead row).
"""

from __future__ import annotations

from django.db.models import DecimalField, Exists, F, Func, OuterRef, Q, QuerySet

from crm import permissions
from crm.models import User
from crm.selectors import get_visible
from deals.models import Deal, LostReason
from wfm.models import Project, ProjectType, Workflow, WorkflowStep

ENTITY_TYPE = "deal"


class WeightedAmount(Func):
    """amount × probability / 100, rounded to cents: exact ``numeric`` arithmetic on
    PostgreSQL; on SQLite (which stores decimals as REAL anyway) a float division, rounded."""

    arg_joiner = " * "
    template = "ROUND((%(expressions)s) / 100, 2)"
    output_field = DecimalField(max_digits=16, decimal_places=2)

    def as_sqlite(self, compiler, connection, **extra_context):
        # Integer operands would divide as integers: 12345 × 75 / 100 = 9258.
        return super().as_sqlite(
            compiler, connection, template="ROUND((%(expressions)s) / 100.0, 2)", **extra_context
        )


WEIGHTED_AMOUNT = WeightedAmount(F("amount"), F("wfm_project__current_step__probability"))


def with_display(queryset: QuerySet[Deal]) -> QuerySet[Deal]:
    """``queryset`` with the joins and annotations every deal screen shows."""
    return queryset.select_related(
        "person",
        "organization",
        "owner",
        "assigned_to",
        "wfm_project__current_step__status",
    ).annotate(
        probability=F("wfm_project__current_step__probability"),
        weighted_amount=WEIGHTED_AMOUNT,
        source_lead_pk=F("source_lead__pk"),
    )


def deal_list(*, user: User) -> QuerySet[Deal]:
    """The deals ``user`` may see, newest first, annotated and joined for lists."""
    # Visibility first, on the bare table: the permission subqueries stay small.
    visible = permissions.visible(user, Deal.objects.all())
    return with_display(visible).order_by("-created_at", "pk")


def deal_get(
    *,
    user: User,
    deal_id,
    action: permissions.Action = "view",
    include_deleted: bool = False,
) -> Deal:
    """One deal: 404 when missing or invisible, 403 when visible but not ``action``-able.

    ``include_deleted`` reaches soft-deleted deals (restore).
    """
    manager = Deal.all_objects if include_deleted else Deal.objects
    return get_visible(
        user=user,
        queryset=with_display(manager.all()).select_related("wfm_project__workflow"),
        pk=deal_id,
        action=action,
    )


def deal_steps() -> QuerySet[WorkflowStep]:
    """The steps of every workflow deals use (the project type's default workflow and any
    workflow a deal project runs in), with their statuses and workflows, the default
    workflow's first, then by workflow name and step order; one query. For board columns,
    filters and "move to" pickers. ``step.in_default_workflow`` tells the default's steps."""
    is_default = Exists(
        ProjectType.objects.filter(default_workflow=OuterRef("workflow"), entity_type=ENTITY_TYPE)
    )
    return (
        WorkflowStep.objects.filter(workflow__in=deal_workflows().values("pk"))
        .select_related("status", "workflow")
        .annotate(in_default_workflow=is_default)
        .order_by("-in_default_workflow", "workflow__name", "order")
    )


def deal_workflows() -> QuerySet[Workflow]:
    """Workflows deals can be in: the deal project type's default and those deals run in
    (a deal keeps its workflow when an administrator changes the default)."""
    runs_deals = Project.objects.filter(
        workflow=OuterRef("pk"), project_type__entity_type=ENTITY_TYPE
    )
    is_default = Exists(
        ProjectType.objects.filter(default_workflow=OuterRef("pk"), entity_type=ENTITY_TYPE)
    )
    return (
        Workflow.objects.annotate(is_deal_default=is_default)
        .filter(Q(is_deal_default=True) | Exists(runs_deals))
        .order_by("-is_deal_default", "name")
    )


def default_workflow() -> Workflow:
    from wfm.selectors import project_type_for

    return project_type_for(entity_type=ENTITY_TYPE).default_workflow


def lost_reasons() -> QuerySet[LostReason]:
    """The reasons offered when a deal is lost (the admin edits the list)."""
    return LostReason.objects.filter(is_active=True).order_by("order", "name")
