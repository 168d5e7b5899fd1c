"""Activity tools: list, create (log or plan) and complete calls, emails, meetings and tasks."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import F
from django.utils import timezone

from aiagent.registry import ToolContext, ToolError, tool
from aiagent.tools.common import (
    LIMIT,
    MINE,
    USER_REF,
    UUID,
    activity_brief,
    limit_of,
    parse_moment,
    require_text,
    resolve_user,
)
from crm import permissions
from crm import selectors as crm_selectors
from crm.dates import local_midnight

TYPES = ["task", "call", "meeting", "email", "deadline", "note"]


def _records(ctx: ToolContext, args: dict) -> dict:
    """The linked records named in the arguments, each one the user may see."""
    from deals import selectors as deal_selectors
    from leads import selectors as lead_selectors

    records = {}
    if args.get("lead_id"):
        records["lead"] = lead_selectors.lead_get(user=ctx.user, lead_id=args["lead_id"])
    if args.get("deal_id"):
        records["deal"] = deal_selectors.deal_get(user=ctx.user, deal_id=args["deal_id"])
    if args.get("person_id"):
        records["person"] = crm_selectors.person_get(user=ctx.user, person_id=args["person_id"])
    if args.get("organization_id"):
        records["organization"] = crm_selectors.organization_get(
            user=ctx.user, organization_id=args["organization_id"]
        )
    return records


def visible_links(user, activities) -> dict[str, set]:
    """For each link (lead, deal, person, organization): the linked ids the user may see."""
    from activities.selectors import _link_models

    out: dict[str, set] = {}
    for field, model in _link_models().items():
        ids = {getattr(a, f"{field}_id") for a in activities} - {None}
        if not ids:
            out[field] = set()
            continue
        rows = permissions.visible(user, model.objects.filter(pk__in=ids))
        out[field] = set(rows.values_list("pk", flat=True))
    return out


def briefs(user, activities) -> list[dict]:
    activities = list(activities)
    links = visible_links(user, activities)
    return [activity_brief(a, visible_links=links) for a in activities]


@tool(
    "list_activities",
    """List activities (tasks, calls, meetings, emails, deadlines, notes) the user can see:
    of one record, only the user's, open / done / overdue, or of one type.""",
    {
        "lead_id": UUID,
        "deal_id": UUID,
        "person_id": UUID,
        "organization_id": UUID,
        "mine": {**MINE, "description": "Only activities assigned to the user."},
        "status": {
            "type": "string",
            "enum": ["open", "done", "overdue", "today", "week", "all"],
            "description": "open (the default), done, overdue, today (open and due today), "
            "week (open and due in the next 7 days) or all.",
        },
        "type": {"type": "string", "enum": TYPES},
        "limit": LIMIT,
    },
)
def list_activities(ctx: ToolContext, args: dict) -> dict:
    from activities import selectors

    queryset = selectors.activity_list(user=ctx.user)
    for field, record in _records(ctx, args).items():
        queryset = queryset.filter(**{field: record})
    if args.get("mine"):
        queryset = queryset.filter(assigned_to=ctx.user)
    status = args.get("status") or "open"
    if status == "open":
        queryset = queryset.filter(is_done=False)
    elif status == "done":
        queryset = queryset.filter(is_done=True)
    elif status == "overdue":
        queryset = queryset.filter(is_done=False, due_at__lt=timezone.now())
    elif status in ("today", "week"):
        start = local_midnight(timezone.localdate())
        end = start + timedelta(days=1 if status == "today" else 7)
        queryset = queryset.filter(is_done=False, due_at__gte=start, due_at__lt=end)
    if args.get("type"):
        queryset = queryset.filter(type=args["type"])
    if status == "done":
        queryset = queryset.order_by(F("done_at").desc(nulls_last=True), "-created_at", "pk")
    else:
        queryset = queryset.order_by(F("due_at").asc(nulls_last=True), "-created_at", "pk")
    total = queryset.count()
    return {"count": total, "results": briefs(ctx.user, queryset[: limit_of(args)])}


@tool(
    "create_activity",
    """Log or plan an activity on a lead, deal, person and/or organization: a follow-up call,
    a meeting, a task, an email or a note. due_at takes YYYY-MM-DDTHH:MM or a phrase such as
    "tomorrow at 10am". Assigned to the user unless said otherwise.""",
    {
        "type": {"type": "string", "enum": TYPES},
        "subject": {"type": "string", "minLength": 1, "maxLength": 255},
        "notes": {"type": "string", "maxLength": 10000},
        "due_at": {"type": "string", "maxLength": 60},
        "duration_minutes": {"type": "integer", "minimum": 1, "maximum": 1440},
        "direction": {"type": "string", "enum": ["inbound", "outbound"]},
        "outcome": {"type": "string", "maxLength": 200},
        "is_done": {"type": "boolean", "description": "Log it as already done."},
        "lead_id": UUID,
        "deal_id": UUID,
        "person_id": UUID,
        "organization_id": UUID,
        "assigned_to": USER_REF,
    },
    required=("type", "subject"),
    writes=True,
)
def create_activity(ctx: ToolContext, args: dict) -> dict:
    from activities import services

    records = _records(ctx, args)
    if not records:
        raise ToolError(
            "Link the activity to a lead, deal, person or organization.",
            code="invalid_arguments",
            details={"lead_id": ["Give at least one record."]},
        )
    assignee = resolve_user(ctx, args.get("assigned_to"), "assigned_to")
    activity = services.activity_create(
        by=ctx.user,
        type=args["type"],
        subject=require_text(args, "subject"),
        notes=str(args.get("notes") or ""),
        due_at=parse_moment(args.get("due_at"), "due_at"),
        duration_minutes=args.get("duration_minutes"),
        is_done=args.get("is_done"),
        direction=str(args.get("direction") or ""),
        outcome=str(args.get("outcome") or ""),
        assigned_to=assignee,
        **records,
    )
    return {"created": True, "activity": briefs(ctx.user, [activity])[0]}


@tool(
    "complete_activity",
    'Mark an activity as done, optionally with its outcome (e.g. "Left a voicemail").',
    {"activity_id": UUID, "outcome": {"type": "string", "maxLength": 200}},
    required=("activity_id",),
    writes=True,
)
def complete_activity(ctx: ToolContext, args: dict) -> dict:
    from activities import selectors, services

    activity = selectors.activity_get(
        user=ctx.user, activity_id=args.get("activity_id"), action="change"
    )
    activity = services.activity_complete(
        by=ctx.user, activity=activity, outcome=str(args.get("outcome") or "") or None
    )
    return {"completed": True, "activity": briefs(ctx.user, [activity])[0]}
