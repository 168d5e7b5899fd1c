"""Reads of the AI agent. A conversation, its messages and proposals are only ever visible to
the user they belong to; the dashboard's AI section reads only counts of them."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db.models import Count, Prefetch, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from aiagent import next_action
from aiagent.models import (
    AnalysisRun,
    Conversation,
    Message,
    NextActionSuggestion,
    Proposal,
    ToolCall,
)
from analytics import selectors as analytics_selectors
from analytics.filters import Filters
from crm.errors import NotFound
from crm.models import User

MESSAGES_SHOWN = 150


def conversation_list(*, user: User) -> QuerySet[Conversation]:
    if not (user.is_authenticated and user.is_active):
        return Conversation.objects.none()
    return Conversation.objects.filter(user=user).order_by("-updated_at", "-created_at")


def conversation_get(*, user: User, conversation_id) -> Conversation:
    try:
        conversation = conversation_list(user=user).filter(pk=conversation_id).first()
    except (ValueError, TypeError, ValidationError):  # a malformed id is simply not found
        conversation = None
    if conversation is None:
        raise NotFound("Conversation not found.")
    return conversation


def conversation_for_record(*, user: User, context_type: str, context_id) -> Conversation | None:
    """The user's latest conversation started from this lead or deal."""
    return (
        conversation_list(user=user)
        .filter(context_type=context_type, context_id=str(context_id))
        .first()
    )


def messages(*, conversation: Conversation, limit: int = MESSAGES_SHOWN) -> list[Message]:
    """The last ``limit`` messages in order, with their tool calls and proposals (3 queries)."""
    rows = list(
        conversation.messages.order_by("-created_at", "-pk").prefetch_related(
            Prefetch(
                "tool_calls",
                queryset=ToolCall.objects.select_related("proposal").order_by("created_at", "pk"),
            )
        )[:limit]
    )
    rows.reverse()
    return rows


def proposal_get(*, user: User, token: str) -> Proposal:
    proposal = Proposal.objects.filter(user=user, token=str(token)[:64]).first()
    if proposal is None:
        raise NotFound("Proposal not found.")
    return proposal


def pending_proposals(*, user: User) -> QuerySet[Proposal]:
    return Proposal.objects.filter(user=user, status=Proposal.Status.PENDING)


# --- the dashboard's AI section -----------------------------------------------------------------
def ai_usage(*, user: User, filters: Filters) -> dict:
    """What the assistant suggested in the period and what came of it, and the qualification
    analyses run, against the previous period (``filters.previous``; None without compare).

    Whose: everyone's for those who see every lead (``analytics.selectors.sees_team``:
    managers, analysts, admins), otherwise the user's own; ``filters.owner`` narrows to that
    one user (who did it; a user who sees only its own gets nothing for someone else). The
    source and workflow filters do not apply: these count people's actions, not records.

    - *suggestions shown*: the actions the assistant proposed for confirmation (``Proposal``
      rows created in the period: each was shown with Confirm / Cancel, in the chat or to an
      MCP client), plus the field values that the period's stored analyses offered to apply
      (``AnalysisRun.suggested``: each shown on the lead with an Apply button), plus the next
      best actions shown on a lead's intelligence panel (``NextActionSuggestion``: once per
      user, lead, suggestion and day, to users who may act on the lead);
    - *suggestions applied*: of those, the proposals confirmed and done (status
      ``confirmed``; not failed, rejected, expired or still pending), the field values
      applied (``AnalysisRun.applied``) and the next best actions applied from the panel
      (task created, email drafted, step moved, overdue activity done), whenever that
      happened;
    - *analyses run*: the qualification analyses run in the period (``AnalysisRun`` rows),
      stored or not (a user who may not change the lead only sees it), from the lead's AI
      panel, the API or the assistant's tool.

    The split is kept (``proposals_*``, ``field_suggestions_*``, ``next_actions_*``). A
    conversation the user deletes takes its proposals with it, and so out of these counts;
    analysis runs and next best actions stay (they hold no text). One query: a UNION of the
    three tables' aggregates, each over the period and the previous one.
    """
    who = Q()
    if not analytics_selectors.sees_team(user):
        who = Q(user_id=user.pk)
    if filters.owner:
        who &= Q(user_id=filters.owner)
    current = analytics_selectors.period_q(filters.period)
    previous = analytics_selectors.period_q(filters.previous)

    def sums(prefix: str, when: Q) -> dict:
        return {
            f"{prefix}_shown": Count("pk", filter=when),
            f"{prefix}_applied": Count("pk", filter=when & Q(status=Proposal.Status.CONFIRMED)),
            f"{prefix}_runs": Value(0),
        }

    def run_sums(prefix: str, when: Q) -> dict:
        return {
            f"{prefix}_shown": Coalesce(Sum("suggested", filter=when), 0),
            f"{prefix}_applied": Coalesce(Sum("applied", filter=when), 0),
            f"{prefix}_runs": Count("pk", filter=when),
        }

    def grouped(qs, kind: str, aggregates) -> QuerySet:
        return (
            qs.filter(who, current | previous)
            .annotate(kind=Value(kind))
            .values("kind")
            .annotate(**aggregates("now", current), **aggregates("prev", previous))
            .order_by()
        )

    def action_sums(prefix: str, when: Q) -> dict:
        return {
            f"{prefix}_shown": Count("pk", filter=when),
            f"{prefix}_applied": Count("pk", filter=when & Q(applied_at__isnull=False)),
            f"{prefix}_runs": Value(0),
        }

    rows = grouped(Proposal.objects.all(), "proposals", sums).union(
        grouped(AnalysisRun.objects.all(), "analyses", run_sums),
        grouped(NextActionSuggestion.objects.all(), "next_actions", action_sums),
        all=True,
    )
    found = {row["kind"]: row for row in rows}

    def figures(prefix: str) -> dict:
        proposals = found.get("proposals", {})
        analyses = found.get("analyses", {})
        actions = found.get("next_actions", {})
        get = lambda row, name: row.get(f"{prefix}_{name}") or 0  # noqa: E731
        shown = get(proposals, "shown") + get(analyses, "shown") + get(actions, "shown")
        applied = get(proposals, "applied") + get(analyses, "applied") + get(actions, "applied")
        return {
            "suggestions_shown": shown,
            "suggestions_applied": applied,
            "apply_rate": analytics_selectors.ratio(applied, shown),
            "proposals_shown": get(proposals, "shown"),
            "proposals_applied": get(proposals, "applied"),
            "field_suggestions_shown": get(analyses, "shown"),
            "field_suggestions_applied": get(analyses, "applied"),
            "next_actions_shown": get(actions, "shown"),
            "next_actions_applied": get(actions, "applied"),
            "next_action_rate": analytics_selectors.ratio(
                get(actions, "applied"), get(actions, "shown")
            ),
            "analyses_run": get(analyses, "runs"),
        }

    return {**figures("now"), "previous": figures("prev") if filters.previous else None}


# --- the next best action and the lead intelligence panel ----------------------------------------
FACT_ACTIVITIES = 30  # the latest activities the rules read (open ones come first)


def _step_fact(step) -> next_action.StepFact:
    suggested = (step.metadata or {}).get("suggested_min_score")
    minimum = step.min_lead_score if step.min_lead_score is not None else suggested
    return next_action.StepFact(
        id=step.pk,
        name=step.name,
        order=step.order,
        is_initial=step.is_initial,
        is_final=step.is_final,
        outcome=step.outcome,
        probability=step.probability,
        min_score=minimum if isinstance(minimum, int) else None,
    )


def _activity_fact(activity) -> next_action.ActivityFact:
    return next_action.ActivityFact(
        id=str(activity.pk),
        type=activity.type,
        subject=activity.subject,
        due_at=activity.due_at,
        is_done=activity.is_done,
        done_at=activity.done_at,
        created_at=activity.created_at,
        is_system=activity.is_system_activity,
        direction=activity.direction,
    )


def lead_facts(*, user: User, lead, now: datetime | None = None) -> next_action.Facts:
    """What the next-best-action rules read about a lead ``user`` may see: five queries
    (the latest activities, the latest score changes, the moves from the step, when it
    entered the step, the workflow's qualified step), whatever the lead's history. The score
    rise is measured from the last change before the window, or (more than
    ``SPARKLINE_POINTS`` changes in the window) from the oldest change read."""
    from activities.selectors import timeline
    from leads.scoring.selectors import score_history
    from leads.selectors import lead_history, qualified_step
    from wfm.selectors import available_transitions

    now = now or timezone.now()
    project = lead.wfm_project
    open_, done, _ = timeline(record=lead, limit=FACT_ACTIVITIES)
    window = now - timedelta(days=next_action.SCORE_WINDOW_DAYS)
    snapshots = score_history(lead=lead)
    history = tuple((s.at, s.score) for s in snapshots if s.at >= window)
    before = [s for s in snapshots if s.at < window]
    step_since = (
        lead_history(lead=lead)
        .filter(to_step_id=project.current_step_id)
        .values_list("at", flat=True)
        .first()
    )
    qualified = qualified_step(project.workflow)
    moves = available_transitions(project=project, user=user)
    return next_action.Facts(
        now=now,
        name=lead.name,
        contact_name=lead.contact_name or (str(lead.person) if lead.person_id else ""),
        has_phone=bool(lead.contact_phone),
        has_email=bool(lead.contact_email),
        created_at=lead.created_at,
        source=lead.get_source_display() if lead.source != "other" else "",
        score=lead.lead_score or 0,
        score_history=history,
        score_before=(before[-1].at, before[-1].score) if before else None,
        last_activity_at=lead.last_activity_at,
        last_touch_at=lead.last_touch_at,
        last_touch=lead.last_touch_campaign or lead.last_touch_source,
        is_qualified=lead.is_qualified,
        qualified_at=lead.qualified_at,
        is_converted=lead.is_converted,
        converted_at=lead.converted_at,
        disqualify_reason=lead.disqualify_reason,
        step=_step_fact(project.current_step),
        step_since=step_since or lead.created_at,
        qualified_step=_step_fact(qualified) if qualified is not None else None,
        moves=tuple(_step_fact(t.to_step) for t in moves),
        open_activities=tuple(_activity_fact(a) for a in open_),
        done_activities=tuple(_activity_fact(a) for a in done),
        insights=lead.ai_insights if isinstance(lead.ai_insights, dict) else {},
    )


def lead_next_actions(*, user: User, lead, now: datetime | None = None) -> list:
    """The next best action first, then the other suggestions (``aiagent.next_action``) for
    a lead ``user`` may see: what the panel shows and the ``suggest_next_actions`` tool says."""
    return next_action.suggest(lead_facts(user=user, lead=lead, now=now))


def refined_reason_key(suggestion) -> str:
    """The cache key of Claude's rewording of a suggestion's reason (the rule, subject and
    reason: a changed figure is a new reason)."""
    import hashlib

    raw = f"{suggestion.rule}|{suggestion.subject}|{suggestion.reason}"
    return f"ai-nba-refined:{hashlib.sha256(raw.encode()).hexdigest()[:32]}"


def refined_reason(suggestion) -> str:
    """Claude's rewording of the suggestion's reason when one is cached, else ""."""
    from django.core.cache import cache

    if suggestion is None or not suggestion.is_actionable:
        return ""
    return cache.get(refined_reason_key(suggestion)) or ""


def lead_intelligence(*, user: User, lead, now: datetime | None = None) -> dict:
    """The lead intelligence panel of a lead ``user`` may see: the score with its temperature
    and top reasons, the conversion likelihood (the trained model's, else the transparent
    estimate), BANT from the latest analysis, the next best action and what ``user`` may do
    about it. A constant number of queries."""
    from crm.formatting import temperature
    from leads import predictive
    from leads.scoring.selectors import top_reasons
    from leads.selectors import lead_writable

    suggestions = lead_next_actions(user=user, lead=lead, now=now)
    best = suggestions[0] if suggestions else None
    likelihood = predictive.likelihood_for(lead)
    estimate = None
    if likelihood is None or likelihood.get("state") != "ready":
        estimate = predictive.estimate_for(lead)
    insights = lead.ai_insights if isinstance(lead.ai_insights, dict) else {}
    may_act = lead_writable(user, lead)
    return {
        "lead": lead,
        "score": lead.lead_score or 0,
        "temperature": temperature(lead.lead_score),
        "reasons": top_reasons(lead.lead_score_factors),
        "scored": bool((lead.lead_score_factors or {}).get("categories")),
        "likelihood": likelihood,
        "estimate": estimate,
        "bant": next_action.bant_status(insights),
        "analysed_at": insights.get("analyzed_at"),
        "analysed_by": insights.get("source", ""),
        "best": best,
        "refined": refined_reason(best),
        "others": suggestions[1:4],
        "may_act": may_act,
        "may_analyse": may_act,
    }
