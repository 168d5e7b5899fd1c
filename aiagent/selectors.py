"""Reads of the AI agent. A conversation, its messages and proposals are only ever visible to
the user they belong to; the dashboard's AI section reads only counts of them."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db.models import Count, Prefetch, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce

from aiagent.models import AnalysisRun, Conversation, Message, Proposal, ToolCall
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
      (``AnalysisRun.suggested``: each shown on the lead with an Apply button);
    - *suggestions applied*: of those, the proposals confirmed and done (status
      ``confirmed``; not failed, rejected, expired or still pending) and the field values
      applied (``AnalysisRun.applied``), whenever that happened;
    - *analyses run*: the qualification analyses run in the period (``AnalysisRun`` rows),
      stored or not (a user who may not change the lead only sees it), from the lead's AI
      panel, the API or the assistant's tool.

    The split is kept (``proposals_*``, ``field_suggestions_*``). A conversation the user
    deletes takes its proposals with it, and so out of these counts; analysis runs stay (they
    hold no text). One query: a UNION of the two tables' aggregates, each over the period
    and the previous one.
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

    rows = grouped(Proposal.objects.all(), "proposals", sums).union(
        grouped(AnalysisRun.objects.all(), "analyses", run_sums), all=True
    )
    found = {row["kind"]: row for row in rows}

    def figures(prefix: str) -> dict:
        proposals = found.get("proposals", {})
        analyses = found.get("analyses", {})
        get = lambda row, name: row.get(f"{prefix}_{name}") or 0  # noqa: E731
        shown = get(proposals, "shown") + get(analyses, "shown")
        applied = get(proposals, "applied") + get(analyses, "applied")
        return {
            "suggestions_shown": shown,
            "suggestions_applied": applied,
            "apply_rate": analytics_selectors.ratio(applied, shown),
            "proposals_shown": get(proposals, "shown"),
            "proposals_applied": get(proposals, "applied"),
            "field_suggestions_shown": get(analyses, "shown"),
            "field_suggestions_applied": get(analyses, "applied"),
            "analyses_run": get(analyses, "runs"),
        }

    return {**figures("now"), "previous": figures("prev") if filters.previous else None}
