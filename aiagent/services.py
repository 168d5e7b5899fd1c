"""Writes of the AI agent: conversations and turns, proposals, and lead insights.

Like every service, each function takes the acting user as ``by``. Conversations are private:
only their user may read, continue or confirm anything in them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from aiagent import analysis, registry
from aiagent.models import AnalysisRun, Conversation, Message, Proposal, ToolCall
from crm import permissions
from crm import services as crm_services
from crm.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from crm.events import emit
from crm.models import User

MAX_MESSAGE_CHARS = 8000
RUN_TIMEOUT = timedelta(minutes=10)  # a run older than this died with its process


# --- conversations ------------------------------------------------------------------------------
def context_record(by: User, context_type: str, context_id: Any):
    if not context_type:
        return None
    if context_type == Conversation.ContextType.LEAD:
        from leads.selectors import lead_get

        return lead_get(user=by, lead_id=context_id)
    if context_type == Conversation.ContextType.DEAL:
        from deals.selectors import deal_get

        return deal_get(user=by, deal_id=context_id)
    raise ValidationFailed(
        "The context must be a lead or a deal.", details={"context_type": ["lead or deal"]}
    )


@transaction.atomic
def conversation_create(
    *,
    by: User,
    title: str = "",
    context_type: str = "",
    context_id: Any = "",
    source: str = "chat",
) -> Conversation:
    """Start a conversation, optionally about a lead or deal the user can see."""
    if not (by.is_authenticated and by.is_active):
        raise PermissionDenied("Sign in to use the AI assistant.")
    record = context_record(by, context_type or "", context_id)
    if not title and record is not None:
        title = f"About {record}"
    return Conversation.objects.create(
        user=by,
        title=(title or "").strip()[:200],
        context_type=context_type or "",
        context_id=str(record.pk) if record is not None else "",
        source=source,
    )


def conversation_rename(*, by: User, conversation: Conversation, title: str) -> Conversation:
    _own(by, conversation)
    conversation.title = (title or "").strip()[:200]
    conversation.save(update_fields=["title"])
    return conversation


def conversation_delete(*, by: User, conversation: Conversation) -> None:
    _own(by, conversation)
    conversation.delete()


def _own(by: User, conversation: Conversation) -> None:
    if conversation.user_id != by.pk:
        raise NotFound("Conversation not found.")


def message_add(
    *,
    conversation: Conversation,
    role: str,
    content: str,
    kind: str = Message.Kind.TEXT,
    data: dict | None = None,
) -> Message:
    message = Message.objects.create(
        conversation=conversation, role=role, kind=kind, content=content, data=data or {}
    )
    Conversation.objects.filter(pk=conversation.pk).update(updated_at=message.created_at)
    return message


def user_message_add(*, by: User, conversation: Conversation, content: str) -> Message:
    """The user's next message (the agent answers it with ``conversation_run``)."""
    _own(by, conversation)
    content = (content or "").replace("\x00", "").strip()
    if not content:
        raise ValidationFailed("Write a message.", details={"content": ["Required."]})
    if len(content) > MAX_MESSAGE_CHARS:
        raise ValidationFailed(
            f"Keep messages under {MAX_MESSAGE_CHARS} characters.",
            details={"content": ["Too long."]},
        )
    if not conversation.title:
        conversation.title = " ".join(content.split())[:80]
        conversation.save(update_fields=["title"])
    return message_add(conversation=conversation, role=Message.Role.USER, content=content)


def pending_message(conversation: Conversation) -> Message | None:
    """The user's last message when nothing answered it yet."""
    last = conversation.messages.order_by("-created_at", "-pk").first()
    if last is not None and last.role == Message.Role.USER:
        return last
    return None


def run_start(conversation: Conversation) -> bool:
    """Claim the conversation for one run (atomically); False when another run holds it."""
    now = timezone.now()
    claimed = (
        Conversation.objects.filter(pk=conversation.pk)
        .filter(Q(running_since__isnull=True) | Q(running_since__lt=now - RUN_TIMEOUT))
        .update(running_since=now)
    )
    if claimed:
        conversation.running_since = now
    return bool(claimed)


def run_finish(conversation: Conversation) -> None:
    Conversation.objects.filter(pk=conversation.pk).update(
        running_since=None, updated_at=timezone.now()
    )
    conversation.running_since = None


def conversation_run(*, by: User, conversation: Conversation) -> list[Message]:
    """Answer the pending user message: Claude with the tools when online, else the offline
    command parser. Returns the messages the run added. One run per conversation at a time.

    Not one transaction: every tool call commits through its own service, and progress is
    published to the user's socket as it happens.
    """
    from aiagent import agent

    _own(by, conversation)
    message = pending_message(conversation)
    if message is None:
        return []
    if not run_start(conversation):
        raise Conflict("The assistant is still answering in this conversation.", code="busy")
    try:
        return agent.run_turn(user=by, conversation=conversation, message=message)
    finally:
        run_finish(conversation)


def conversation_send(*, by: User, conversation: Conversation, content: str) -> list[Message]:
    """Add the user's message and answer it; returns the user's message and the new ones."""
    if conversation.running_since and conversation.running_since > timezone.now() - RUN_TIMEOUT:
        raise Conflict("The assistant is still answering in this conversation.", code="busy")
    message = user_message_add(by=by, conversation=conversation, content=content)
    return [message, *conversation_run(by=by, conversation=conversation)]


# --- proposals -----------------------------------------------------------------------------------
def _proposal_for(by: User, token: str) -> Proposal:
    token = str(token or "").replace("\x00", "")
    proposal = (
        Proposal.objects.select_for_update(of=("self",))
        .select_related("conversation")
        .filter(token=token[:64], user=by)
        .first()
    )
    if proposal is None:
        raise NotFound("Proposal not found.")
    return proposal


def _expire(by: User, token: str) -> None:
    """Mark the user's proposal expired when its time is over (committed on its own, so a
    refused confirmation still records why)."""
    Proposal.objects.filter(
        user=by,
        token=str(token or "").replace("\x00", "")[:64],
        status=Proposal.Status.PENDING,
        expires_at__lte=timezone.now(),
    ).update(status=Proposal.Status.EXPIRED, decided_at=timezone.now())


def proposal_confirm(*, by: User, token: str) -> Proposal:
    """Run a confirm-only tool call the user agreed to, with exactly the stored arguments."""
    _expire(by, token)
    return _proposal_run(by=by, token=token)


@transaction.atomic
def _proposal_run(*, by: User, token: str) -> Proposal:
    from aiagent import realtime

    proposal = _proposal_for(by, token)
    if proposal.status == Proposal.Status.EXPIRED:
        raise Conflict("This proposal has expired; ask again.", code="proposal_expired")
    if proposal.status != Proposal.Status.PENDING:
        raise Conflict(
            f"This proposal is {proposal.get_status_display().lower()}.", code="proposal_closed"
        )
    now = timezone.now()
    if registry.hash_arguments(proposal.arguments) != proposal.arguments_hash:
        raise Conflict("This proposal was altered and cannot run.", code="proposal_altered")
    conversation = proposal.conversation
    message = None
    if conversation is not None:
        message = message_add(
            conversation=conversation,
            role=Message.Role.TOOL,
            kind=Message.Kind.TOOLS,
            content=f"Confirmed: {proposal.summary}",
            data={"confirmation": str(proposal.pk)},
        )
    ctx = registry.ToolContext(user=by, source="confirm", conversation=conversation, confirmed=True)
    outcome = registry.execute(ctx, proposal.tool, proposal.arguments, message=message)
    proposal.status = Proposal.Status.FAILED if outcome.error else Proposal.Status.CONFIRMED
    proposal.result = outcome.result
    proposal.error = outcome.error
    proposal.decided_at = now
    proposal.save(update_fields=["status", "result", "error", "decided_at"])
    ToolCall.objects.filter(pk=outcome.tool_call.pk).update(proposal=proposal)
    crm_services.audit(
        by=by,
        action="ai.proposal_confirmed",
        tool=proposal.tool,
        proposal=str(proposal.pk),
        arguments_hash=proposal.arguments_hash,
        error=outcome.error,
    )
    if conversation is not None:
        text = (
            f"Done: {proposal.summary}"
            if not outcome.error
            else f"That did not work: {outcome.result.get('error', {}).get('message', '')}"
        )
        answer = message_add(
            conversation=conversation,
            role=Message.Role.ASSISTANT,
            kind=Message.Kind.NOTICE,
            content=text,
            data={"proposal": str(proposal.pk)},
        )
        realtime.proposal_changed(by, proposal)
        realtime.message_added(by, message)
        realtime.message_added(by, answer)
    return proposal


def proposal_reject(*, by: User, token: str) -> Proposal:
    _expire(by, token)
    return _proposal_drop(by=by, token=token)


@transaction.atomic
def _proposal_drop(*, by: User, token: str) -> Proposal:
    from aiagent import realtime

    proposal = _proposal_for(by, token)
    if proposal.status != Proposal.Status.PENDING:
        raise Conflict(
            f"This proposal is {proposal.get_status_display().lower()}.", code="proposal_closed"
        )
    proposal.status = Proposal.Status.REJECTED
    proposal.decided_at = timezone.now()
    proposal.save(update_fields=["status", "decided_at"])
    crm_services.audit(
        by=by, action="ai.proposal_rejected", tool=proposal.tool, proposal=str(proposal.pk)
    )
    if proposal.conversation is not None:
        message = message_add(
            conversation=proposal.conversation,
            role=Message.Role.ASSISTANT,
            kind=Message.Kind.NOTICE,
            content=f"Cancelled: {proposal.summary}",
            data={"proposal": str(proposal.pk)},
        )
        realtime.proposal_changed(by, proposal)
        realtime.message_added(by, message)
    return proposal


# --- lead insights -------------------------------------------------------------------------------
@transaction.atomic
def lead_set_insights(*, by: User, lead, insights: dict):
    """Store an analysis on the lead. ``lead.updated`` with ``fields=["ai_insights"]`` makes
    the scoring engine rescore it (the AI-derived factors read these insights)."""
    from leads.models import Lead

    crm_services.require_change(by, lead)
    converted_at = Lead.all_objects.filter(pk=lead.pk).values_list("converted_at", flat=True).get()
    if converted_at is not None:
        raise Conflict("A converted lead cannot be changed.", code="already_converted")
    lead.ai_insights = insights
    crm_services.save(lead, by=by, update_fields=["ai_insights", "updated_at"])
    emit("lead.updated", actor=by, lead_id=lead.pk, fields=["ai_insights"], touch={})
    return lead


@dataclass
class AnalyzeOutcome:
    lead: Any
    insights: dict
    mode: str
    stored: bool
    notice: str = ""


def lead_text(lead) -> str:
    """What to analyse when no text is given: the lead's own texts and its activity notes."""
    from activities.selectors import timeline

    parts = [lead.description, lead.qualification_notes]
    open_, done, _ = timeline(record=lead, limit=30)
    for activity in [*done, *open_]:
        parts.append(f"{activity.subject}. {activity.notes}".strip())
    return "\n".join(p for p in parts if p and p.strip())


def lead_analyze(*, by: User, lead, text: str = "") -> AnalyzeOutcome:
    """Analyse ``text`` (or the lead's texts) and store the insights when ``by`` may change
    the lead; a read-only user gets the analysis without it being stored. Every analysis is
    recorded (``AnalysisRun``, its id in the stored insights as ``analysis_run``) with the
    field values it offers to apply. Not one transaction: the analysis may wait on Claude;
    recording and storing it are."""
    if not permissions.can_view(by, lead):
        raise NotFound("Lead not found.")
    text = (text or "").replace("\x00", "").strip() or lead_text(lead)
    if not text:  # no text given and none on the lead yet: the lead's state, 409
        raise Conflict(
            "There is nothing to analyse yet: paste call notes or an email thread.",
            code="nothing_to_analyse",
            details={"text": ["Give the text to analyse."]},
        )
    result = analysis.analyze(text=text, lead=lead)
    stored = permissions.can_change(by, lead) and not lead.is_converted
    with transaction.atomic():
        run = AnalysisRun.objects.create(
            user=by,
            lead=lead,
            mode=result.mode,
            stored=stored,
            suggested=len(result.insights.get("suggested_fields") or []) if stored else 0,
        )
        if stored:
            result.insights["analysis_run"] = run.pk
            lead_set_insights(by=by, lead=lead, insights=result.insights)
        crm_services.audit(
            by=by, action="ai.lead_analyzed", obj=lead, mode=result.mode, stored=stored
        )
    return AnalyzeOutcome(lead, result.insights, result.mode, stored, result.notice)


@transaction.atomic
def lead_apply_suggestion(*, by: User, lead, field: str):
    """Apply one suggested value of the lead's stored analysis through ``lead_update``.

    The value comes from the stored suggestion, never from the request: a click applies
    exactly what the panel showed.
    """
    from leads import services as lead_services

    suggestion = next(
        (
            s
            for s in (lead.ai_insights or {}).get("suggested_fields", [])
            if isinstance(s, dict) and s.get("field") == field
        ),
        None,
    )
    if suggestion is None:
        raise NotFound("This suggestion is no longer there; analyse the lead again.")
    if field == "estimated_value":
        data = {"estimated_value": Decimal(str(suggestion["value"]))}
        if suggestion.get("currency"):
            data["currency"] = suggestion["currency"]
    elif field == "estimated_close_date":
        from datetime import date

        data = {"estimated_close_date": date.fromisoformat(str(suggestion["value"]))}
    elif field.startswith("cf:"):
        data = {"custom_field_values": {field[3:]: suggestion["value"]}}
    else:
        raise ValidationFailed("Unknown field.", details={"field": ["Unknown field."]})
    lead = lead_services.lead_update(by=by, lead=lead, data=data)
    insights = dict(lead.ai_insights or {})
    insights["suggested_fields"] = [
        s for s in insights.get("suggested_fields", []) if s.get("field") != field
    ]
    applied = list(insights.get("applied_fields", []))
    applied.append({**suggestion, "applied_at": timezone.now().isoformat(timespec="seconds")})
    insights["applied_fields"] = applied[-20:]
    lead.ai_insights = insights
    crm_services.save(lead, by=by, update_fields=["ai_insights", "updated_at"])
    if isinstance(insights.get("analysis_run"), int):  # the run that offered it counts it
        AnalysisRun.objects.filter(pk=insights["analysis_run"]).update(applied=F("applied") + 1)
    return lead, suggestion


# --- next actions -------------------------------------------------------------------------------
def lead_next_actions(*, lead) -> list[dict]:
    """What to do next about a lead the caller may see: its step, activities and analysis."""
    from activities.selectors import timeline

    actions: list[dict] = []
    now = timezone.now()
    open_, done, _ = timeline(record=lead, limit=30)
    overdue = [a for a in open_ if a.due_at and a.due_at < now]
    step = lead.wfm_project.current_step
    if lead.is_converted:
        return [
            {
                "type": "task",
                "subject": "Work the deal this lead became",
                "due_in_days": 1,
                "reason": "The lead is converted.",
            }
        ]
    if step.is_final:
        return [
            {
                "type": "task",
                "subject": "Nothing to do: the lead is closed",
                "due_in_days": 0,
                "reason": f"The lead is in “{step.name}”.",
            }
        ]
    for activity in overdue[:2]:
        actions.append(
            {
                "type": activity.type,
                "subject": f"Catch up: {activity.subject}",
                "due_in_days": 0,
                "reason": "This activity is overdue.",
            }
        )
    if not done and not open_:
        actions.append(
            {
                "type": "call",
                "subject": "First call",
                "due_in_days": 0,
                "reason": "Nobody has contacted this lead yet.",
            }
        )
    last = lead.last_activity_at
    if last and (now - last).days >= 14:
        actions.append(
            {
                "type": "email",
                "subject": "Re-engage: check in",
                "due_in_days": 1,
                "reason": f"No activity for {(now - last).days} days.",
            }
        )
    if lead.is_qualified:
        actions.append(
            {
                "type": "task",
                "subject": "Convert the lead into a deal",
                "due_in_days": 2,
                "reason": "The lead is qualified.",
            }
        )
    elif lead.lead_score >= 75:
        actions.append(
            {
                "type": "task",
                "subject": "Qualify the lead",
                "due_in_days": 1,
                "reason": f"Its score is {lead.lead_score}.",
            }
        )
    if not lead.contact_email and not lead.contact_phone:
        actions.append(
            {
                "type": "task",
                "subject": "Find contact details",
                "due_in_days": 1,
                "reason": "The lead has no email or phone.",
            }
        )
    insights = lead.ai_insights or {}
    if insights:
        actions.extend(insights.get("next_actions", []))
    else:
        actions.extend(analysis.next_actions({}, text=lead.description or ""))
    unique, seen = [], set()
    for action in actions:
        if action["subject"] not in seen and not any(
            action["subject"].lower() in a.subject.lower() for a in open_
        ):
            seen.add(action["subject"])
            unique.append(action)
    return unique[:6]


def deal_next_actions(*, deal) -> list[dict]:
    from activities.selectors import timeline

    now = timezone.now()
    open_, done, _ = timeline(record=deal, limit=30)
    actions = [
        {
            "type": a.type,
            "subject": f"Catch up: {a.subject}",
            "due_in_days": 0,
            "reason": "This activity is overdue.",
        }
        for a in open_
        if a.due_at and a.due_at < now
    ][:2]
    step = deal.wfm_project.current_step
    if deal.won_at or deal.lost_at:
        return actions or [
            {
                "type": "task",
                "subject": "Nothing to do: the deal is closed",
                "due_in_days": 0,
                "reason": f"The deal is in “{step.name}”.",
            }
        ]
    by_step = {
        "Qualification": ("call", "Discovery call to confirm need and budget"),
        "Initial Contact": ("meeting", "Book a discovery meeting"),
        "Discovery": ("task", "Prepare the proposal"),
        "Proposal": ("call", "Walk the buyer through the proposal"),
        "Negotiation": ("task", "Send the final contract"),
    }
    if step.name in by_step:
        kind, subject = by_step[step.name]
        actions.append(
            {
                "type": kind,
                "subject": subject,
                "due_in_days": 2,
                "reason": f"The deal is in “{step.name}”.",
            }
        )
    if deal.expected_close_date and deal.expected_close_date < timezone.localdate():
        actions.append(
            {
                "type": "task",
                "subject": "Update the expected close date",
                "due_in_days": 0,
                "reason": "The expected close date has passed.",
            }
        )
    if not open_:
        actions.append(
            {
                "type": "call",
                "subject": "Plan the next step with the buyer",
                "due_in_days": 2,
                "reason": "Nothing is planned on this deal.",
            }
        )
    return actions[:6]


def conversations_merge(survivor, merged: list) -> None:
    """Conversations started from a merged-away lead continue on the lead that stays
    (registered with ``crm.records.merge``: the conversation names its record by id)."""
    Conversation.objects.filter(
        context_type=Conversation.ContextType.LEAD, context_id__in=[str(o.pk) for o in merged]
    ).update(context_id=str(survivor.pk))
