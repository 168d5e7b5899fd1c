"""Reads of the AI agent. A conversation, its messages and proposals are only ever visible to
the user they belong to."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db.models import Prefetch, QuerySet

from aiagent.models import Conversation, Message, Proposal, ToolCall
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
