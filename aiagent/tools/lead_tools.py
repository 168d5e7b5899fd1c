"""Lead tools: search, read, create, change, assign, qualify, disqualify, convert, delete,
rescore, analyse, next actions and metrics. Reads go through ``leads.selectors`` (visibility),
writes through ``leads.services`` (permission checks, events)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import Avg, Count, Q
from django.http import QueryDict
from django.utils import timezone

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
    deal_url,
    explained_custom_fields,
    field_properties,
    field_values,
    iso,
    lead_brief,
    organization_brief,
    organization_url,
    parse_day,
    parse_money,
    person_brief,
    person_url,
    require_text,
    resolve_user,
    search_results,
    short,
    table_url,
    update_data,
)
from crm import permissions
from crm.formatting import HOT_FROM, WARM_FROM
from customfields.selectors import active_values
from leads import selectors, services
from leads.filters import STATES, LeadFilter
from leads.models import EDITABLE_FIELDS, Lead

LEAD_FIELDS = field_properties(Lead, EDITABLE_FIELDS)
ORDERINGS = [
    "-lead_score",
    "lead_score",
    "-created_at",
    "created_at",
    "name",
    "-estimated_value",
    "estimated_close_date",
    "-last_activity_at",
]


def _lead(ctx: ToolContext, args: dict, action: permissions.Action = "view") -> Lead:
    return selectors.lead_get(user=ctx.user, lead_id=args.get("lead_id"), action=action)


def _lead_data(ctx: ToolContext, args: dict) -> dict[str, Any]:
    """Tool arguments → the keyword values the lead services take."""
    data = field_values(ctx, Lead, EDITABLE_FIELDS, args)
    if "currency" in data:
        data["currency"] = str(data["currency"] or "").upper()
    return data


# --- reads ------------------------------------------------------------------------------------
TEMPERATURE_SCORES = {  # the score bands of the badges (crm.formatting)
    "hot": (HOT_FROM, None),
    "warm": (WARM_FROM, HOT_FROM - 1),
    "cold": (None, WARM_FROM - 1),
}


@tool(
    "search_leads",
    """Find leads the user can see. Combine filters freely; without any, returns the newest
    open leads (neither converted nor disqualified). Hot leads score 70 or more, warm 40-69,
    cold under 40. Returns the total count, compact leads (id, name, company, contact, step,
    score, value, source, owner, assignee, url) and table_url: the lead table with the same
    filters, for "show all".""",
    {
        "query": QUERY,
        "mine": MINE,
        "temperature": {"type": "string", "enum": list(TEMPERATURE_SCORES)},
        "hot": {"type": "boolean", "description": "Only hot leads (same as temperature hot)."},
        "step": {
            "type": "string",
            "maxLength": 100,
            "description": "A step of the lead workflow, e.g. New Lead, Contacted, Qualified.",
        },
        "source": {"type": "string", "enum": list(Lead.Source.values)},
        "is_qualified": {"type": "boolean"},
        "state": {
            "type": "string",
            "enum": [value for value, _ in STATES] + ["all"],
            "description": "open (the default), closed, converted, disqualified or all.",
        },
        "include_converted": {
            "type": "boolean",
            "description": "Also closed leads (converted or disqualified): the same as state all.",
        },
        "score_min": {"type": "integer", "minimum": 0, "maximum": 100},
        "score_max": {"type": "integer", "minimum": 0, "maximum": 100},
        "owner": USER_REF,
        "assigned_to": {
            **USER_REF,
            "description": 'The assignee: id, username or "me"; 0 for unassigned leads.',
        },
        "inactive_days": {
            "type": "integer",
            "minimum": 1,
            "maximum": 3650,
            "description": "Only leads with no activity in this many days (or never).",
        },
        "created_after": DATE,
        "created_before": DATE,
        "close_after": DATE,
        "close_before": DATE,
        "custom_fields": {
            **CUSTOM_FIELDS,
            "description": "Exact custom field values to match, keyed by field name.",
        },
        "ordering": {"type": "string", "enum": ORDERINGS},
        "limit": LIMIT,
    },
)
def search_leads(ctx: ToolContext, args: dict) -> dict:
    queryset = selectors.lead_list(user=ctx.user)
    data = QueryDict(mutable=True)
    # Every filter goes through the table's FilterSet parameters, so table_url shows the
    # same leads (one rule: ``LeadFilter``).
    state = args.get("state") or ("all" if args.get("include_converted") else "open")
    if state != "all":
        data["state"] = state
    if args.get("mine"):
        data["owner_or_assignee"] = str(ctx.user.pk)
    if args.get("query"):
        data["search"] = str(args["query"])
    if args.get("step"):
        data["step"] = str(_lead_step(args["step"]).pk)
    if args.get("source"):
        data.setlist("source", [args["source"]])
    if "is_qualified" in args and args["is_qualified"] is not None:
        data["is_qualified"] = "true" if args["is_qualified"] else "false"
    temperature = args.get("temperature") or ("hot" if args.get("hot") else None)
    score_min, score_max = args.get("score_min"), args.get("score_max")
    if temperature:
        low, high = TEMPERATURE_SCORES[temperature]
        if low is not None:
            score_min = max(score_min or 0, low)
        if high is not None:
            score_max = high if score_max is None else min(score_max, high)
    if score_min is not None:
        data["score_min"] = str(score_min)
    if score_max is not None:
        data["score_max"] = str(score_max)
    if args.get("owner") not in (None, ""):
        data["owner"] = str(resolve_user(ctx, args["owner"], "owner").pk)
    assignee = args.get("assigned_to")
    if assignee in (0, "0"):
        data["assigned_to"] = "0"
    elif assignee not in (None, ""):
        data["assigned_to"] = str(resolve_user(ctx, assignee, "assigned_to").pk)
    if args.get("inactive_days"):
        data["inactive_days"] = str(int(args["inactive_days"]))
    for key in ("created_after", "created_before", "close_after", "close_before"):
        if args.get(key):
            data[key] = parse_day(args[key], key).isoformat()
    hot_first = temperature in ("hot", "warm") or args.get("hot")
    data["ordering"] = args.get("ordering") or ("-lead_score" if hot_first else "-created_at")
    result = search_results(LeadFilter, data, queryset, args, lead_brief)
    return {**result, "table_url": table_url("leads:list", data, args)}


def _lead_step(name: Any):
    wanted = str(name).strip().lower()
    steps = selectors.lead_steps()
    for step in steps:
        if step.name.lower() == wanted or str(step.pk) == wanted:
            return step
    names = ", ".join(s.name for s in steps)
    raise ToolError(
        f"Unknown lead step “{short(name, 60)}”. Steps: {names}.",
        code="invalid_arguments",
        details={"step": [f"One of: {names}."]},
    )


@tool(
    "get_lead",
    """Read one lead in full: fields, custom fields, score and its reasons, AI insights, the
    moves it can make, and its latest activities.""",
    {"lead_id": UUID},
    required=("lead_id",),
)
def get_lead(ctx: ToolContext, args: dict) -> dict:
    from activities.selectors import timeline
    from wfm.selectors import available_transitions

    lead = _lead(ctx, args)
    can_change = permissions.can_change(ctx.user, lead)
    result = {
        **lead_brief(lead),
        "priority": lead.priority,
        "phone": lead.contact_phone or None,
        "estimated_close_date": iso(lead.estimated_close_date),
        "description": short(lead.description, 1500) or None,
        "qualification_notes": short(lead.qualification_notes) or None,
        "disqualify_reason": short(lead.disqualify_reason) or None,
        "custom_fields": active_values("lead", lead.custom_field_values),
        "score_breakdown": _score_summary(lead),
        "ai_insights": insight_summary(lead.ai_insights),
        "created_at": iso(lead.created_at),
        "last_activity_at": iso(lead.last_activity_at),
        "can_change": can_change,
    }
    if can_change and not lead.is_converted:
        result["possible_moves"] = [
            t.to_step.name for t in available_transitions(project=lead.wfm_project, user=ctx.user)
        ]
    open_, done, _more = timeline(record=lead, limit=10)
    result["activities"] = [activity_brief(a) for a in [*open_[:5], *done[:5]]]
    converted = {}
    for name, obj, link in (
        ("deal", lead.converted_to_deal, deal_url),
        ("person", lead.converted_to_person, person_url),
        ("organization", lead.converted_to_organization, organization_url),
    ):
        if obj is not None and permissions.can_view(ctx.user, obj):
            converted[name] = {
                "type": name,
                "id": str(obj.pk),
                "name": str(obj),
                "url": link(obj.pk),
            }
    if converted:
        result["converted_to"] = converted
    return result


def _score_summary(lead: Lead) -> dict:
    factors = lead.lead_score_factors or {}
    categories = [
        {"name": c.get("name"), "score": c.get("score"), "weight": c.get("weight")}
        for c in factors.get("categories", [])
    ]
    summary = {"total": lead.lead_score, "categories": categories}
    if (factors.get("decay") or {}).get("reason"):
        summary["decay"] = factors["decay"]["reason"]
    return summary


def insight_summary(insights: dict | None) -> dict | None:
    if not insights:
        return None
    out: dict[str, Any] = {}
    for key in ("budget", "authority", "need", "timeline", "sentiment", "intent"):
        value = insights.get(key)
        if isinstance(value, dict):
            out[key] = {
                k: v
                for k, v in value.items()
                if k in ("level", "summary", "amount", "currency", "date")
            }
    if insights.get("next_actions"):
        out["next_actions"] = insights["next_actions"][:5]
    out["analyzed_at"] = insights.get("analyzed_at")
    out["source"] = insights.get("source")
    return out


# --- writes -----------------------------------------------------------------------------------
@tool(
    "create_lead",
    """Create a lead owned by the user, at the start of the lead workflow. Only "name" is
    required (and any required custom fields); give whatever else is known, custom fields in
    custom_field_values. Returns the new lead.""",
    {
        **LEAD_FIELDS,
        "assigned_to": USER_REF,
        "custom_field_values": CUSTOM_FIELD_VALUES,
    },
    required=("name",),
    writes=True,
)
def create_lead(ctx: ToolContext, args: dict) -> dict:
    data = _lead_data(ctx, args)
    name = require_text(args, "name")
    data.pop("name", None)
    source = data.pop("source", Lead.Source.OTHER)
    assignee = resolve_user(ctx, args.get("assigned_to"), "assigned_to")
    with explained_custom_fields():
        lead = services.lead_create(
            by=ctx.user,
            name=name,
            source=source,
            assigned_to=assignee,
            custom_field_values=custom_field_values_of(args),
            **data,
        )
    return {"created": True, "lead": lead_brief(lead)}


@tool(
    "update_lead",
    """Change fields of a lead: give only the fields to change. custom_field_values holds
    only the custom fields to change (the others keep their values; null clears one).""",
    {"lead_id": UUID, **LEAD_FIELDS, "custom_field_values": CUSTOM_FIELD_VALUES},
    required=("lead_id",),
    writes=True,
)
def update_lead(ctx: ToolContext, args: dict) -> dict:
    lead = _lead(ctx, args, "change")
    data = update_data(_lead_data(ctx, args), args)
    with explained_custom_fields():
        lead = services.lead_update(by=ctx.user, lead=lead, data=data)
    return {"updated": True, "lead": lead_brief(lead)}


def _propose_assign(ctx: ToolContext, args: dict) -> str:
    lead = _lead(ctx, args, "change")
    assignee = resolve_user(ctx, args.get("user"))
    who = assignee.display_name if assignee else "nobody"
    return f"Assign the lead “{short(lead.name, 120)}” to {who}."


@tool(
    "assign_lead",
    """Give a lead to a user (id, username or "me"); null unassigns it. Giving a lead to
    someone else needs its owner or a manager. Needs the user's confirmation: calling it
    creates a proposal; nothing changes before they confirm.""",
    {"lead_id": UUID, "user": USER_REF},
    required=("lead_id", "user"),
    propose=_propose_assign,
)
def assign_lead(ctx: ToolContext, args: dict) -> dict:
    lead = _lead(ctx, args, "change")
    assignee = resolve_user(ctx, args.get("user"))
    lead = services.lead_assign(by=ctx.user, lead=lead, assignee=assignee)
    return {"assigned": True, "lead": lead_brief(lead)}


def _propose_qualify(ctx: ToolContext, args: dict) -> str:
    lead = _writable(ctx, args)
    if lead.is_qualified:
        raise ToolError("This lead is already qualified.", code="already_qualified")
    return f"Qualify the lead “{short(lead.name, 120)}” (it moves to the Qualified step)."


def _writable(ctx: ToolContext, args: dict) -> Lead:
    lead = _lead(ctx, args, "change")
    if lead.is_converted:
        raise ToolError("This lead is already converted.", code="already_converted")
    return lead


@tool(
    "qualify_lead",
    """Mark a lead as qualified (with notes on why) and move it to the Qualified step. Needs
    the user's confirmation: calling it creates a proposal; nothing changes before they
    confirm.""",
    {"lead_id": UUID, "notes": {"type": "string", "maxLength": 5000}},
    required=("lead_id",),
    propose=_propose_qualify,
)
def qualify_lead(ctx: ToolContext, args: dict) -> dict:
    lead = _lead(ctx, args, "change")
    lead = services.lead_qualify(by=ctx.user, lead=lead, notes=str(args.get("notes") or ""))
    return {"qualified": True, "lead": lead_brief(lead)}


def _propose_disqualify(ctx: ToolContext, args: dict) -> str:
    lead = _writable(ctx, args)
    reason = short(str(args.get("reason") or ""), 200)
    return f"Disqualify the lead “{short(lead.name, 120)}”: {reason}."


@tool(
    "disqualify_lead",
    """Disqualify a lead with a reason; it moves to the Disqualified step. Needs the user's
    confirmation: calling it creates a proposal; nothing changes before they confirm.""",
    {"lead_id": UUID, "reason": {"type": "string", "minLength": 1, "maxLength": 2000}},
    required=("lead_id", "reason"),
    propose=_propose_disqualify,
)
def disqualify_lead(ctx: ToolContext, args: dict) -> dict:
    lead = _lead(ctx, args, "change")
    lead = services.lead_disqualify(by=ctx.user, lead=lead, reason=str(args.get("reason")))
    return {"disqualified": True, "lead": lead_brief(lead)}


def _propose_move(ctx: ToolContext, args: dict) -> str:
    from wfm.selectors import available_transitions

    lead = _writable(ctx, args)
    step = _lead_step(args["step"])
    current = lead.wfm_project.current_step
    allowed = {t.to_step_id for t in available_transitions(project=lead.wfm_project, user=ctx.user)}
    if step.pk not in allowed:
        raise ToolError(
            f"“{short(lead.name, 120)}” cannot move from {current.name} to {step.name}.",
            code="transition_not_allowed",
        )
    if step.outcome == "won":
        raise ToolError(
            "Use convert_lead to turn a lead into a deal.", code="transition_not_allowed"
        )
    if step.outcome == "lost" and not str(args.get("reason") or "").strip():
        raise ToolError(
            "Say why the lead is disqualified (a reason).",
            code="invalid_arguments",
            details={"reason": ["Required to disqualify."]},
        )
    return f"Move the lead “{short(lead.name, 120)}” from {current.name} to {step.name}."


@tool(
    "move_lead",
    """Move a lead to another step of its workflow (by step name, e.g. Contacted, Qualified).
    Only the workflow's allowed moves work; the Disqualified step needs a reason; converting
    is convert_lead. Needs the user's confirmation: calling it creates a proposal; nothing
    changes before they confirm.""",
    {
        "lead_id": UUID,
        "step": {"type": "string", "minLength": 1, "maxLength": 100},
        "reason": {"type": "string", "maxLength": 2000},
    },
    required=("lead_id", "step"),
    propose=_propose_move,
)
def move_lead(ctx: ToolContext, args: dict) -> dict:
    lead = _lead(ctx, args, "change")
    lead = services.lead_transition(
        by=ctx.user,
        lead=lead,
        to_step=_lead_step(args["step"]),
        reason=str(args.get("reason") or ""),
    )
    return {"moved": True, "lead": lead_brief(selectors.lead_get(user=ctx.user, lead_id=lead.pk))}


def _propose_convert(ctx: ToolContext, args: dict) -> str:
    lead = _lead(ctx, args, "change")
    if lead.is_converted:
        raise ToolError("This lead is already converted.", code="already_converted")
    parts = []
    if args.get("person", True):
        who = lead.person or lead.contact_name or lead.contact_email or "its contact"
        parts.append(f"a person ({who})")
    if args.get("organization", True):
        org = lead.organization or lead.company_name or "its company"
        parts.append(f"an organization ({org})")
    if args.get("deal", True):
        amount = parse_money(args.get("deal_amount"), "deal_amount")
        amount = amount if amount is not None else lead.estimated_value
        value = f" of {amount:,.2f} {lead.currency}" if amount is not None else ""
        parts.append(f"a deal “{short(args.get('deal_name') or lead.name, 120)}”{value}")
    if not parts:
        raise ToolError(
            "Choose at least one of person, organization or deal.", code="invalid_arguments"
        )
    return f"Convert the lead “{short(lead.name, 120)}” into " + ", ".join(parts) + "."


@tool(
    "convert_lead",
    """Convert a lead into a person, an organization and a deal (each optional, default all
    three). This needs the user's confirmation: calling it creates a proposal the user
    confirms in the chat; nothing changes before that.""",
    {
        "lead_id": UUID,
        "person": {"type": "boolean"},
        "organization": {"type": "boolean"},
        "deal": {"type": "boolean"},
        "deal_name": {"type": "string", "maxLength": 200},
        "deal_amount": MONEY,
    },
    required=("lead_id",),
    propose=_propose_convert,
)
def convert_lead(ctx: ToolContext, args: dict) -> dict:
    lead = _lead(ctx, args, "change")
    deal: bool | dict = bool(args.get("deal", True))
    if deal and (args.get("deal_name") or args.get("deal_amount") is not None):
        deal = {}
        if args.get("deal_name"):
            deal["name"] = str(args["deal_name"])
        if args.get("deal_amount") is not None:
            deal["amount"] = parse_money(args["deal_amount"], "deal_amount")
    result = services.lead_convert(
        by=ctx.user,
        lead=lead,
        person=bool(args.get("person", True)),
        organization=bool(args.get("organization", True)),
        deal=deal,
    )
    out: dict[str, Any] = {"converted": True, "lead": lead_brief(result.lead)}
    if result.person:
        out["person"] = person_brief(result.person)
    if result.organization:
        out["organization"] = organization_brief(result.organization)
    if result.deal:
        out["deal"] = {
            "type": "deal",
            "id": str(result.deal.pk),
            "name": result.deal.name,
            "url": deal_url(result.deal.pk),
        }
    return out


def _propose_delete(ctx: ToolContext, args: dict) -> str:
    lead = _lead(ctx, args, "delete")
    return f"Delete the lead “{short(lead.name, 120)}” (an administrator can restore it)."


@tool(
    "delete_lead",
    """Delete a lead (soft delete: an administrator can restore it). Needs the user's
    confirmation: calling it creates a proposal; nothing changes before they confirm.""",
    {"lead_id": UUID},
    required=("lead_id",),
    propose=_propose_delete,
)
def delete_lead(ctx: ToolContext, args: dict) -> dict:
    lead = _lead(ctx, args, "delete")
    services.lead_delete(by=ctx.user, lead=lead)
    return {"deleted": True, "lead": {"id": str(lead.pk), "name": lead.name}}


def _bulk_leads(ctx: ToolContext, args: dict) -> list[Lead]:
    ids = [str(i) for i in dict.fromkeys(args.get("lead_ids") or [])]
    if not ids:
        raise ToolError("Give the ids of the leads.", code="invalid_arguments")
    leads = []
    for lead_id in ids:
        leads.append(selectors.lead_get(user=ctx.user, lead_id=lead_id, action="change"))
    return leads


def _propose_bulk_assign(ctx: ToolContext, args: dict) -> str:
    leads = _bulk_leads(ctx, args)
    assignee = resolve_user(ctx, args.get("user"))
    who = assignee.display_name if assignee else "nobody (unassign)"
    names = ", ".join(f"“{short(lead.name, 60)}”" for lead in leads[:5])
    more = f" and {len(leads) - 5} more" if len(leads) > 5 else ""
    return f"Assign {len(leads)} leads to {who}: {names}{more}."


@tool(
    "bulk_assign_leads",
    """Assign several leads (up to 100) to one user at once. Needs the user's confirmation:
    calling it creates a proposal; nothing changes before they confirm.""",
    {
        "lead_ids": {"type": "array", "items": UUID, "minItems": 1, "maxItems": 100},
        "user": USER_REF,
    },
    required=("lead_ids", "user"),
    propose=_propose_bulk_assign,
)
def bulk_assign_leads(ctx: ToolContext, args: dict) -> dict:
    assignee = resolve_user(ctx, args.get("user"))
    done, failed = [], []
    for lead_id in dict.fromkeys(args.get("lead_ids") or []):
        try:
            lead = selectors.lead_get(user=ctx.user, lead_id=lead_id, action="change")
            services.lead_assign(by=ctx.user, lead=lead, assignee=assignee)
            done.append(lead_brief(lead))
        except Exception as exc:  # one refused lead does not stop the others
            failed.append({"id": str(lead_id)[:64], "error": getattr(exc, "message", "failed")})
    return {"assigned": len(done), "results": done, "failed": failed}


@tool(
    "rescore_lead",
    "Recompute a lead's score now and return it with the reasons per category.",
    {"lead_id": UUID},
    required=("lead_id",),
    writes=True,
)
def rescore_lead(ctx: ToolContext, args: dict) -> dict:
    from leads.scoring import services as scoring_services

    lead = _lead(ctx, args, "change")
    lead = scoring_services.lead_rescore(by=ctx.user, lead=lead)
    return {"lead": lead_brief(lead), "score_breakdown": _score_summary(lead)}


@tool(
    "analyze_lead",
    """Qualification analysis of a lead: budget, authority, need, timeline, sentiment and
    intent, next actions and suggested field values, from the given text (call notes, an
    email thread) or, without text, from the lead's description and activity notes. The
    insights are stored on the lead (when the user may change it) and feed its score.""",
    {"lead_id": UUID, "text": {"type": "string", "maxLength": 20000}},
    required=("lead_id",),
    writes=True,
)
def analyze_lead(ctx: ToolContext, args: dict) -> dict:
    from aiagent import services as ai_services

    lead = _lead(ctx, args)
    outcome = ai_services.lead_analyze(by=ctx.user, lead=lead, text=str(args.get("text") or ""))
    return {
        "lead": lead_brief(outcome.lead),
        "stored": outcome.stored,
        "analysed_by": outcome.mode,
        "insights": {k: v for k, v in outcome.insights.items() if k not in ("text_excerpt",)},
    }


@tool(
    "suggest_next_actions",
    """Concrete next steps for a lead, the next best action first (the rules of the lead
    page's intelligence panel: overdue activities, first contact, buying signals, silence,
    score thresholds, meetings, BANT gaps, idle steps; each with its reason and due day), or
    for a deal. "situation" says why there is nothing to do, or that the plan holds. Suggests
    only; create_activity creates them.""",
    {"lead_id": UUID, "deal_id": UUID},
)
def suggest_next_actions(ctx: ToolContext, args: dict) -> dict:
    from aiagent import selectors as ai_selectors
    from aiagent import services as ai_services

    if args.get("lead_id"):
        lead = _lead(ctx, args)
        suggestions = ai_selectors.lead_next_actions(user=ctx.user, lead=lead)
        result: dict[str, Any] = {
            "lead": lead_brief(lead),
            "results": [s.as_dict() for s in suggestions if s.is_actionable],
        }
        if suggestions and not suggestions[0].is_actionable:
            result["situation"] = f"{suggestions[0].subject}: {suggestions[0].reason}"
        return result
    if args.get("deal_id"):
        from deals import selectors as deal_selectors

        deal = deal_selectors.deal_get(user=ctx.user, deal_id=args["deal_id"])
        return {"deal": deal_brief(deal), "results": ai_services.deal_next_actions(deal=deal)}
    raise ToolError("Give a lead_id or a deal_id.", code="invalid_arguments")


@tool(
    "lead_metrics",
    """Lead KPIs over the leads the user can see (or only theirs): totals, new this week, by
    step and source, average score, hot leads, qualification and conversion rates.""",
    {"mine": MINE, "created_after": DATE, "created_before": DATE},
)
def lead_metrics(ctx: ToolContext, args: dict) -> dict:
    leads = selectors.lead_list(user=ctx.user)
    if args.get("mine"):
        leads = leads.filter(permissions.owned_or_assigned(ctx.user.pk))
    # The days as the tables' filters read them (one rule: ``LeadFilter``'s local days).
    days = {
        name: parse_day(args[name], name).isoformat()
        for name in ("created_after", "created_before")
        if args.get(name)
    }
    if days:
        leads = LeadFilter(days, queryset=leads).qs
    week_ago = timezone.now() - timedelta(days=7)
    totals = leads.order_by().aggregate(
        total=Count("pk"),
        new_this_week=Count("pk", filter=Q(created_at__gte=week_ago)),
        qualified=Count("pk", filter=Q(is_qualified=True)),
        converted=Count("pk", filter=Q(converted_at__isnull=False)),
        hot=Count("pk", filter=Q(lead_score__gte=HOT_FROM, converted_at__isnull=True)),
        average_score=Avg("lead_score"),
    )
    by_step = (
        leads.order_by()
        .values("wfm_project__current_step__status__name", "wfm_project__current_step__order")
        .annotate(n=Count("pk"))
        .order_by("wfm_project__current_step__order")
    )
    by_source = leads.order_by().values("source").annotate(n=Count("pk")).order_by("-n")
    total = totals["total"] or 0
    return {
        "total": total,
        "new_this_week": totals["new_this_week"],
        "hot": totals["hot"],
        "average_score": round(totals["average_score"] or 0, 1),
        "qualified": totals["qualified"],
        "converted": totals["converted"],
        "qualification_rate": round(100 * totals["qualified"] / total, 1) if total else 0.0,
        "conversion_rate": round(100 * totals["converted"] / total, 1) if total else 0.0,
        "by_step": {row["wfm_project__current_step__status__name"]: row["n"] for row in by_step},
        "by_source": {row["source"]: row["n"] for row in by_source},
    }
