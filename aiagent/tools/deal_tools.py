"""Deal tools: search, read, create, change, move along the pipeline, delete."""

from __future__ import annotations

from typing import Any

from django.http import QueryDict

from aiagent.registry import ToolContext, ToolError, tool
from aiagent.tools.common import (
    CUSTOM_FIELD_VALUES,
    CUSTOM_FIELDS,
    DATE,
    LIMIT,
    MINE,
    MONEY,
    QUERY,
    USER_REF,
    UUID,
    activity_brief,
    custom_field_values_of,
    deal_brief,
    explained_custom_fields,
    field_properties,
    field_values,
    iso,
    parse_day,
    parse_money,
    require_text,
    resolve_user,
    search_results,
    short,
    table_url,
    update_data,
)
from crm import permissions
from customfields.selectors import active_values
from deals import selectors, services
from deals.filters import DealFilter
from deals.models import EDITABLE_FIELDS, Deal

DEAL_FIELDS = field_properties(Deal, EDITABLE_FIELDS)
ORDERINGS = [
    "-amount",
    "amount",
    "-created_at",
    "created_at",
    "expected_close_date",
    "name",
    "step",
    "-step",
    "-weighted_amount",
]


def _deal(ctx: ToolContext, args: dict, action: permissions.Action = "view") -> Deal:
    return selectors.deal_get(user=ctx.user, deal_id=args.get("deal_id"), action=action)


def _deal_data(ctx: ToolContext, args: dict) -> dict[str, Any]:
    """Tool arguments → the keyword values the deal services take (they upper-case the
    currency)."""
    return field_values(ctx, Deal, EDITABLE_FIELDS, args)


PERIOD_FILTERS = (
    "created_after",
    "created_before",
    "won_after",
    "won_before",
    "lost_after",
    "lost_before",
)


@tool(
    "search_deals",
    """Find deals the user can see: by words, pipeline step, outcome (open, won, lost),
    amount, close date, owner, when created, won or lost, or only the user's own. Returns
    the count, compact deals and table_url: the deal table with the same filters.""",
    {
        "query": QUERY,
        "mine": MINE,
        "owner": USER_REF,
        "step": {"type": "string", "maxLength": 100, "description": "A pipeline step name."},
        "outcome": {"type": "string", "enum": ["open", "won", "lost"]},
        "amount_min": MONEY,
        "amount_max": MONEY,
        "expected_close_after": DATE,
        "expected_close_before": DATE,
        **dict.fromkeys(PERIOD_FILTERS, DATE),
        "custom_fields": {**CUSTOM_FIELDS, "description": "Exact custom field values to match."},
        "ordering": {"type": "string", "enum": ORDERINGS},
        "limit": LIMIT,
    },
)
def search_deals(ctx: ToolContext, args: dict) -> dict:
    queryset = selectors.deal_list(user=ctx.user)
    data = QueryDict(mutable=True)
    if args.get("mine"):
        data["owner_or_assignee"] = str(ctx.user.pk)
    if args.get("owner") not in (None, ""):
        data["owner"] = str(resolve_user(ctx, args["owner"], "owner").pk)
    if args.get("query"):
        data["search"] = str(args["query"])
    if args.get("step"):
        data["step"] = ",".join(str(s.pk) for s in _deal_steps(args["step"]))
    if args.get("outcome"):
        data["outcome"] = args["outcome"]
    for key in ("amount_min", "amount_max"):
        if args.get(key) not in (None, ""):
            data[key] = str(parse_money(args[key], key))
    for key in ("expected_close_after", "expected_close_before", *PERIOD_FILTERS):
        if args.get(key):
            data[key] = parse_day(args[key], key).isoformat()
    if args.get("ordering"):
        data["ordering"] = args["ordering"]
    result = search_results(DealFilter, data, queryset, args, deal_brief)
    return {**result, "table_url": table_url("deals:list", data, args)}


def _deal_steps(name: Any) -> list:
    wanted = str(name).strip().lower()
    steps = list(selectors.deal_steps())
    found = [s for s in steps if s.name.lower() == wanted or str(s.pk) == wanted]
    if not found:
        names = ", ".join(dict.fromkeys(s.name for s in steps))
        raise ToolError(
            f"Unknown pipeline step “{short(name, 60)}”. Steps: {names}.",
            code="invalid_arguments",
            details={"step": [f"One of: {names}."]},
        )
    return found


@tool(
    "get_deal",
    """Read one deal in full: amount, step and probability, contacts, custom fields, the
    steps it can move to, and its latest activities.""",
    {"deal_id": UUID},
    required=("deal_id",),
)
def get_deal(ctx: ToolContext, args: dict) -> dict:
    from activities.selectors import timeline
    from wfm.selectors import available_transitions

    deal = _deal(ctx, args)
    can_change = permissions.can_change(ctx.user, deal)
    result = {
        **deal_brief(deal),
        "weighted_amount": f"{deal.weighted_amount:.2f} {deal.currency}"
        if getattr(deal, "weighted_amount", None) is not None
        else None,
        "lost_reason": deal.lost_reason or None,
        "custom_fields": active_values("deal", deal.custom_field_values),
        "created_at": iso(deal.created_at),
        "can_change": can_change,
    }
    if can_change:
        result["possible_moves"] = [
            t.to_step.name for t in available_transitions(project=deal.wfm_project, user=ctx.user)
        ]
    open_, done, _more = timeline(record=deal, limit=10)
    result["activities"] = [activity_brief(a) for a in [*open_[:5], *done[:5]]]
    return result


@tool(
    "create_deal",
    """Create a deal owned by the user at the first step of the Sales Pipeline; custom fields
    (required ones included) in custom_field_values.""",
    {**DEAL_FIELDS, "assigned_to": USER_REF, "custom_field_values": CUSTOM_FIELD_VALUES},
    required=("name",),
    writes=True,
)
def create_deal(ctx: ToolContext, args: dict) -> dict:
    data = _deal_data(ctx, args)
    name = require_text(args, "name")
    data.pop("name", None)
    if data.get("amount") is None:
        data.pop("amount", None)
    assignee = resolve_user(ctx, args.get("assigned_to"), "assigned_to")
    with explained_custom_fields():
        deal = services.deal_create(
            by=ctx.user,
            name=name,
            assigned_to=assignee,
            custom_field_values=custom_field_values_of(args),
            **data,
        )
    return {"created": True, "deal": deal_brief(_refreshed(ctx, deal))}


def _refreshed(ctx: ToolContext, deal: Deal) -> Deal:
    return selectors.deal_get(user=ctx.user, deal_id=deal.pk)


@tool(
    "update_deal",
    """Change fields of a deal: give only the fields to change. custom_field_values holds
    only the custom fields to change (the others keep their values; null clears one).""",
    {"deal_id": UUID, **DEAL_FIELDS, "custom_field_values": CUSTOM_FIELD_VALUES},
    required=("deal_id",),
    writes=True,
)
def update_deal(ctx: ToolContext, args: dict) -> dict:
    deal = _deal(ctx, args, "change")
    data = _deal_data(ctx, args)
    if "amount" in data and data["amount"] is None:
        raise ToolError("amount: give a number.", code="invalid_arguments")
    data = update_data(data, args)
    with explained_custom_fields():
        deal = services.deal_update(by=ctx.user, deal=deal, data=data)
    return {"updated": True, "deal": deal_brief(_refreshed(ctx, deal))}


def _propose_move(ctx: ToolContext, args: dict) -> str:
    from wfm.selectors import available_transitions

    deal = _deal(ctx, args, "change")
    step = _deal_step(deal, args["step"])
    current = deal.wfm_project.current_step
    allowed = {t.to_step_id for t in available_transitions(project=deal.wfm_project, user=ctx.user)}
    if step.pk not in allowed:
        raise ToolError(
            f"“{short(deal.name, 120)}” cannot move from {current.name} to {step.name}.",
            code="transition_not_allowed",
        )
    if step.outcome == "lost" and not str(args.get("reason") or "").strip():
        raise ToolError(
            "Say why the deal was lost (a reason).",
            code="invalid_arguments",
            details={"reason": ["Required for a lost deal."]},
        )
    return (
        f"Move the deal “{short(deal.name, 120)}” from {current.name} to {step.name} "
        f"({step.probability}%)."
    )


@tool(
    "move_deal_stage",
    """Move a deal to another step of its pipeline (by step name, e.g. Proposal, Negotiation,
    Closed Won, Closed Lost). Only the workflow's allowed moves work; Closed Lost needs a
    reason. Needs the user's confirmation: calling it creates a proposal; nothing changes
    before they confirm.""",
    {
        "deal_id": UUID,
        "step": {"type": "string", "minLength": 1, "maxLength": 100},
        "reason": {"type": "string", "maxLength": 300},
    },
    required=("deal_id", "step"),
    propose=_propose_move,
)
def move_deal_stage(ctx: ToolContext, args: dict) -> dict:
    deal = _deal(ctx, args, "change")
    step = _deal_step(deal, args["step"])
    services.deal_transition(
        by=ctx.user, deal=deal, to_step=step, reason=str(args.get("reason") or "")
    )
    return {"moved": True, "deal": deal_brief(_refreshed(ctx, deal))}


def _deal_step(deal: Deal, name: Any):
    wanted = str(name).strip().lower()
    steps = [s for s in selectors.deal_steps() if s.workflow_id == deal.wfm_project.workflow_id]
    step = next((s for s in steps if s.name.lower() == wanted or str(s.pk) == wanted), None)
    if step is None:
        step = next((s for s in steps if wanted in s.name.lower()), None)
    if step is None:
        names = ", ".join(s.name for s in steps)
        raise ToolError(
            f"This deal's pipeline has no step “{short(name, 60)}”. Steps: {names}.",
            code="invalid_arguments",
            details={"step": [f"One of: {names}."]},
        )
    return step


def _propose_assign(ctx: ToolContext, args: dict) -> str:
    deal = _deal(ctx, args, "change")
    assignee = resolve_user(ctx, args.get("user"))
    who = assignee.display_name if assignee else "nobody"
    return f"Assign the deal “{short(deal.name, 120)}” to {who}."


@tool(
    "assign_deal",
    """Give a deal to a user (id, username or "me"); null unassigns it. Needs the user's
    confirmation: calling it creates a proposal; nothing changes before they confirm.""",
    {"deal_id": UUID, "user": USER_REF},
    required=("deal_id", "user"),
    propose=_propose_assign,
)
def assign_deal(ctx: ToolContext, args: dict) -> dict:
    deal = _deal(ctx, args, "change")
    assignee = resolve_user(ctx, args.get("user"))
    deal = services.deal_assign(by=ctx.user, deal=deal, assignee=assignee)
    return {"assigned": True, "deal": deal_brief(_refreshed(ctx, deal))}


def _propose_delete(ctx: ToolContext, args: dict) -> str:
    deal = _deal(ctx, args, "delete")
    return f"Delete the deal “{short(deal.name, 120)}” (an administrator can restore it)."


@tool(
    "delete_deal",
    """Delete a deal (soft delete). Needs the user's confirmation: calling it creates a
    proposal; nothing changes before they confirm.""",
    {"deal_id": UUID},
    required=("deal_id",),
    propose=_propose_delete,
)
def delete_deal(ctx: ToolContext, args: dict) -> dict:
    deal = _deal(ctx, args, "delete")
    services.deal_delete(by=ctx.user, deal=deal)
    return {"deleted": True, "deal": {"id": str(deal.pk), "name": deal.name}}
