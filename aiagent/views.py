"""HTML views of the AI agent: the chat at /ai/, the chat drawer of lead and deal pages, the
proposal buttons and the lead insights panel. Thin: parse → selector → service → render."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect, reswap, retarget

from aiagent import llm, selectors, services
from aiagent.models import Conversation
from crm import permissions
from crm.errors import Conflict, DomainError, ValidationFailed
from crm.htmx import trigger


def _messages_response(
    request: HttpRequest,
    conversation: Conversation,
    *,
    error: str = "",
    status: int = 200,
    status_done: bool = False,
) -> HttpResponse:
    context = {
        "conversation": conversation,
        "chat_messages": selectors.messages(conversation=conversation),
        "pending": services.pending_message(conversation) is not None,
        "running": conversation.running_since is not None,
        "error": error,
        # The run is over: clear the status line (and its Stop button) out of band, whatever
        # the socket said last.
        "status_done": status_done and conversation.running_since is None,
    }
    return render(request, "aiagent/_messages.html", context, status=status)


def _chat_context(request: HttpRequest, conversation: Conversation | None) -> dict:
    return {
        "conversations": selectors.conversation_list(user=request.user)[:50],
        "conversation": conversation,
        "chat_messages": selectors.messages(conversation=conversation) if conversation else [],
        "pending": conversation is not None and services.pending_message(conversation) is not None,
        "running": conversation is not None and conversation.running_since is not None,
        "ai": llm.status(),
    }


@login_required
@require_GET
def chat_home(request: HttpRequest) -> HttpResponse:
    return render(request, "aiagent/chat.html", _chat_context(request, None))


@login_required
@require_GET
def chat(request: HttpRequest, pk) -> HttpResponse:
    conversation = selectors.conversation_get(user=request.user, conversation_id=pk)
    return render(request, "aiagent/chat.html", _chat_context(request, conversation))


@login_required
@require_POST
def conversation_start(request: HttpRequest) -> HttpResponse:
    """Start a conversation with the first message; the page (or drawer) it lands on runs the
    agent, so progress shows there live."""
    content = request.POST.get("content", "")
    drawer = request.POST.get("drawer") == "1"
    try:
        conversation = services.conversation_create(
            by=request.user,
            context_type=request.POST.get("context_type", ""),
            context_id=request.POST.get("context_id", ""),
        )
        services.user_message_add(by=request.user, conversation=conversation, content=content)
    except DomainError as exc:
        if drawer or request.htmx:
            return HttpResponse(
                format_html(
                    '<div class="alert alert-warning m-2" role="alert">{}</div>', exc.message
                ),
                status=422,
            )
        return redirect("aiagent:home")
    if drawer:
        context = _drawer_context(
            request,
            conversation,
            context_type=conversation.context_type,
            context_id=conversation.context_id,
        )
        return render(request, "aiagent/_drawer_body.html", context)
    url = reverse("aiagent:chat", args=[conversation.pk])
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


@login_required
@require_POST
def send(request: HttpRequest, pk) -> HttpResponse:
    """Add the user's message; the answer comes from the run the response starts."""
    conversation = selectors.conversation_get(user=request.user, conversation_id=pk)
    try:
        if conversation.running_since is not None:
            raise Conflict("The assistant is still answering; wait a moment.", code="busy")
        services.user_message_add(
            by=request.user, conversation=conversation, content=request.POST.get("content", "")
        )
    except DomainError as exc:
        return _messages_response(request, conversation, error=exc.message)
    if not request.htmx:
        services.conversation_run(by=request.user, conversation=conversation)
        return redirect("aiagent:chat", pk=conversation.pk)
    return _messages_response(request, conversation)


@login_required
@require_POST
def run(request: HttpRequest, pk) -> HttpResponse:
    """Answer the pending message (Claude or offline); respond with the whole message list."""
    conversation = selectors.conversation_get(user=request.user, conversation_id=pk)
    error = ""
    try:
        services.conversation_run(by=request.user, conversation=conversation)
    except Conflict:
        pass  # another request is answering: the list polls until it is done
    except DomainError as exc:
        error = exc.message
    conversation.refresh_from_db(fields=["running_since", "title", "updated_at"])
    return _messages_response(request, conversation, error=error, status_done=True)


@login_required
@require_POST
def stop(request: HttpRequest, pk) -> HttpResponse:
    """Stop the running answer: it ends at its next check, keeping what it wrote. The Stop
    button swaps nothing; the status line says "Stopping…" until the run is over."""
    conversation = selectors.conversation_get(user=request.user, conversation_id=pk)
    stopping = services.conversation_stop(by=request.user, conversation=conversation)
    if not request.htmx:
        return redirect("aiagent:chat", pk=conversation.pk)
    context = {
        "conversation_id": conversation.pk,
        "text": "Stopping…" if stopping else "",
        "oob": True,
        "stoppable": False,
    }
    return render(request, "aiagent/_status.html", context)


@login_required
@require_GET
def messages(request: HttpRequest, pk) -> HttpResponse:
    conversation = selectors.conversation_get(user=request.user, conversation_id=pk)
    return _messages_response(request, conversation)


@login_required
@require_POST
def delete(request: HttpRequest, pk) -> HttpResponse:
    conversation = selectors.conversation_get(user=request.user, conversation_id=pk)
    services.conversation_delete(by=request.user, conversation=conversation)
    url = reverse("aiagent:home")
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


def _proposal_decision(request: HttpRequest, token: str, decide) -> HttpResponse:
    error = ""
    try:
        proposal = decide(by=request.user, token=token)
    except DomainError as exc:
        error = exc.message
        proposal = selectors.proposal_get(user=request.user, token=token)
    if proposal.conversation_id is not None:
        response = _messages_response(request, proposal.conversation, error=error)
    else:
        response = render(request, "aiagent/_proposal.html", {"proposal": proposal, "error": error})
    if not error:
        trigger(response, recordSaved=True)
    return response


@login_required
@require_POST
def proposal_confirm(request: HttpRequest, token: str) -> HttpResponse:
    return _proposal_decision(request, token, services.proposal_confirm)


@login_required
@require_POST
def proposal_reject(request: HttpRequest, token: str) -> HttpResponse:
    return _proposal_decision(request, token, services.proposal_reject)


@login_required
@require_POST
def proposal_edit(request: HttpRequest, token: str) -> HttpResponse:
    """ "Edit in the composer" on an email proposal: the composer, prefilled with the proposed
    message, in the page's modal; the proposal's card changes with it (out of band). A refusal
    (expired, already sent) shows on the card instead."""
    from emails.record_views import composer

    try:
        proposal = services.proposal_edit(by=request.user, token=token)
    except DomainError as exc:
        proposal = selectors.proposal_get(user=request.user, token=token)
        context = {"proposal": proposal, "error": exc.message}
        response = render(request, "aiagent/_proposal.html", context)
        return retarget(reswap(response, "outerHTML"), f"#proposal-{proposal.pk}")
    args = proposal.arguments
    response = composer(
        request,
        kind=args["record_type"],
        pk=args["record_id"],
        initial={
            "to": ", ".join(args.get("to") or []),
            "cc": ", ".join(args.get("cc") or []),
            "subject": args.get("subject", ""),
            "body": args.get("body", ""),
        },
    )
    card = render_to_string(
        "aiagent/_proposal.html", {"proposal": proposal, "oob": True}, request=request
    )
    response.content += card.encode()
    return response


# --- the drawer of lead and deal pages ----------------------------------------------------------
def _drawer_context(request: HttpRequest, conversation: Conversation | None, **extra) -> dict:
    return {
        "conversation": conversation,
        "chat_messages": selectors.messages(conversation=conversation, limit=60)
        if conversation
        else [],
        "pending": conversation is not None and services.pending_message(conversation) is not None,
        "running": conversation is not None and conversation.running_since is not None,
        "compact": True,
        "ai": llm.status(),
        **extra,
    }


@login_required
@require_GET
def drawer(request: HttpRequest) -> HttpResponse:
    """The drawer's body: the user's latest conversation about this record, or a new one."""
    context_type = request.GET.get("type", "")
    context_id = request.GET.get("id", "")
    record = services.context_record(request.user, context_type, context_id)
    if record is None:
        raise ValidationFailed(
            "The drawer opens from a lead or a deal.", details={"type": ["lead or deal"]}
        )
    conversation = None
    if request.GET.get("new") != "1":
        conversation = selectors.conversation_for_record(
            user=request.user, context_type=context_type, context_id=record.pk
        )
    return render(
        request,
        "aiagent/_drawer_body.html",
        _drawer_context(
            request,
            conversation,
            context_type=context_type,
            context_id=record.pk,
            record=record,
        ),
    )


# --- the lead insights panel --------------------------------------------------------------------
def _panel(request: HttpRequest, lead, *, error: str = "", notice: str = "", status=200):
    insights = lead.ai_insights or {}
    keys = ("budget", "authority", "need", "timeline", "sentiment", "intent")
    rows = [
        (key.capitalize(), insights[key]) for key in keys if isinstance(insights.get(key), dict)
    ]
    context = {
        "lead": lead,
        "insights": insights,
        "rows": rows,
        "can_change": permissions.can_change(request.user, lead) and not lead.is_converted,
        "ai": llm.status(),
        "error": error,
        "notice": notice,
    }
    return render(request, "aiagent/_insights_panel.html", context, status=status)


@login_required
@require_GET
def insights(request: HttpRequest, lead_id) -> HttpResponse:
    from leads.selectors import lead_get

    lead = lead_get(user=request.user, lead_id=lead_id)
    return _panel(request, lead)


@login_required
@require_POST
def insights_analyze(request: HttpRequest, lead_id) -> HttpResponse:
    from leads.selectors import lead_get

    lead = lead_get(user=request.user, lead_id=lead_id)
    try:
        outcome = services.lead_analyze(
            by=request.user, lead=lead, text=request.POST.get("text", "")
        )
    except DomainError as exc:
        return _panel(request, lead, error=exc.message)
    if not request.htmx:
        return redirect("leads:detail", lead_id=lead.pk)
    lead.ai_insights = outcome.insights
    notice = outcome.notice and f"{outcome.notice} The offline analyser was used instead."
    response = _panel(request, outcome.lead, notice=notice)
    if not outcome.stored:
        return response
    # leadAnalysed: the lead intelligence panel reads the analysis (BANT, next best action).
    return trigger(
        response,
        leadAnalysed=True,
        showToast={"message": "Analysis saved.", "level": "success"},
    )


@login_required
@require_POST
def insights_apply(request: HttpRequest, lead_id) -> HttpResponse:
    from leads.selectors import lead_get

    lead = lead_get(user=request.user, lead_id=lead_id, action="change")
    try:
        lead, suggestion = services.lead_apply_suggestion(
            by=request.user, lead=lead, field=request.POST.get("field", "")
        )
    except DomainError as exc:
        return _panel(request, lead, error=exc.message)
    if not request.htmx:
        return redirect("leads:detail", lead_id=lead.pk)
    response = _panel(request, lead)
    return trigger(
        response,
        recordSaved=True,
        showToast={
            "message": f"{suggestion['label']} set to {suggestion['display']}.",
            "level": "success",
        },
    )


# --- the lead intelligence panel -----------------------------------------------------------------
def _intelligence(request: HttpRequest, lead, *, error: str = "", draft: tuple = ("", "")):
    """The panel as ``request.user`` sees it; the next best action it shows is counted."""
    context = selectors.lead_intelligence(user=request.user, lead=lead)
    services.next_action_shown(by=request.user, lead=lead, suggestion=context["best"])
    if not context["refined"]:
        services.next_action_refine_later(suggestion=context["best"])
    context.update(error=error, draft_url=draft[0], draft_target=draft[1])
    return render(request, "aiagent/_intelligence_panel.html", context)


def _email_draft(user, lead, subject: str) -> tuple[str, str]:
    """Where "Draft the email" goes, and into which element: the email composer with a
    drafted message (subject: the suggestion's), in the modal; for a user who may not send
    from the lead, the timeline's activity form, to log the email they write elsewhere."""
    from emails.services import can_send_from

    if can_send_from(user, lead):
        query = urlencode({"draft": "1", "subject": subject})
        return f"{reverse('emails:compose', args=['lead', lead.pk])}?{query}", "#modal-dialog"
    query = urlencode({"type": "email", "subject": subject})
    return f"{reverse('activities:timeline', args=['lead', lead.pk])}?{query}", "#timeline"


@login_required
@require_GET
def intelligence(request: HttpRequest, lead_id) -> HttpResponse:
    from leads.selectors import lead_get

    return _intelligence(request, lead_get(user=request.user, lead_id=lead_id))


@login_required
@require_POST
def intelligence_apply(request: HttpRequest, lead_id) -> HttpResponse:
    """One click on the panel: plan the next best action, open the email form for it, move
    the lead to the step it names or mark its overdue activity done."""
    from leads.selectors import lead_get

    lead = lead_get(user=request.user, lead_id=lead_id, action="change")
    try:
        outcome = services.next_action_apply(
            by=request.user,
            lead=lead,
            rule=request.POST.get("rule", ""),
            action=request.POST.get("action", ""),
        )
    except DomainError as exc:
        if not request.htmx:
            return redirect("leads:detail", lead_id=lead.pk)
        return _intelligence(request, lead, error=exc.message)
    if not request.htmx:
        return redirect("leads:detail", lead_id=lead.pk)
    draft = ("", "")
    if outcome.action == "draft":
        draft = _email_draft(request.user, lead, outcome.suggestion.subject)
    # The lead again: planning or completing an activity moved its last activity.
    lead = lead_get(user=request.user, lead_id=lead.pk)
    response = _intelligence(request, lead, draft=draft)
    if outcome.action == "move":
        return trigger(
            response, recordSaved=True, showToast={"message": outcome.message, "level": "success"}
        )
    if outcome.action in ("task", "complete"):
        return trigger(
            response,
            activitySaved=True,
            showToast={"message": outcome.message, "level": "success"},
        )
    return trigger(response, showToast={"message": outcome.message, "level": "info"})
