"""Email where a rep works (issue 20): the "Email" card on the page of a lead, person or deal,
the composer, the suggested reply, and bulk email from the leads table.

- ``record_card``: the record's threads, the latest first, each with its messages (status,
  errors, attachments), and a "Compose" button for those who may send from the record. The
  page places it through ``crm.records.details.register_panel`` (``emails.apps``) as a
  region that loads itself (``emails/record/_panel.html``): the page runs no query for it,
  and it reloads on ``emailChanged`` (after a send) and ``realtimeRefresh``, and with the
  page's region when a reply arrives (``emails.realtime``).
- ``compose``: the modal. GET: recipients from the record's contacts (a reply: the sender of
  the message answered, "Re:" subject); ``?draft=1`` on a reply fills the body with the
  suggested reply. POST: send now or schedule (``emails.services.email_send``); a refusal
  re-renders the form (422) with what was typed and the message on its field.
- ``compose_template``: picking a template fills subject and body with its merged values.
- ``draft_reply``: the body field with the suggested reply (``emails.drafts``);
  ``draft_message``: subject and body with a suggested new message from the record.
- ``composer``: the composer prefilled by a caller (the AI drawer's email proposals).
- ``message_cancel``: a scheduled message is not sent; ``attachment``: download a file.
- ``bulk_compose`` / ``bulk_send``: Managers send a template to the checked leads, or to
  every lead the table's filters match (``emails.bulk``).

Every view reads the record through its type's selector first (404 when the user may not see
it), so a thread of a record the user cannot see is never shown or answered.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from crm.errors import DomainError, NotFound, PermissionDenied, ValidationFailed
from crm.formatting import exact_text
from crm.forms import add_domain_errors
from crm.htmx import trigger
from crm.records import registry
from emails import bulk, drafts, selectors, services
from emails.models import EmailAttachment, EmailMessage
from emails.record_forms import SCHEDULE, BulkEmailForm, ComposeForm

RECORD_KINDS = ("lead", "person", "deal")
STATUS_STYLES = {
    EmailMessage.Status.DRAFT: "secondary",
    EmailMessage.Status.SCHEDULED: "info",
    EmailMessage.Status.QUEUED: "secondary",
    EmailMessage.Status.SENT: "primary",
    EmailMessage.Status.FAILED: "danger",
    EmailMessage.Status.RECEIVED: "success",
    EmailMessage.Status.DELIVERED: "success",
    EmailMessage.Status.BOUNCED: "danger",
    EmailMessage.Status.COMPLAINED: "warning",
}
STATUS_LABELS = {EmailMessage.Status.QUEUED: "Sending…", EmailMessage.Status.DRAFT: "Not sent"}
# Parameters of the bulk bar that are not the table's filters.
BULK_PARAMS = ("ids", "assignee", "to_step", "action", "template", "scope", "query")


def _record(request: HttpRequest, kind: str, pk):
    """The lead, person or deal ``pk``, read through its type's selector: 404 when missing or
    not visible to the user."""
    if kind not in RECORD_KINDS:
        raise Http404("No such record type.")
    return registry.get(kind).get_selector(request.user, pk)


def _record_message(request: HttpRequest, record, message_id) -> EmailMessage:
    """A message of one of ``record``'s threads, visible to the user (404 otherwise)."""
    message = selectors.message_get(user=request.user, message_id=message_id)
    if message.thread.record != record:
        raise NotFound("Email not found.")
    return message


# --- the card ------------------------------------------------------------------------------------
def _participants(messages: list[EmailMessage]) -> list[str]:
    """Who wrote or got the thread's messages (our own address left out), first seen first."""
    from_address = services.sender_identity(None)[1].lower()
    seen: dict[str, str] = {}
    for message in reversed(messages):
        name = message.from_name if message.direction == EmailMessage.Direction.INBOUND else ""
        for address in (message.from_address, *message.to, *message.cc):
            key = (address or "").lower()
            if key and key != from_address:
                seen.setdefault(key, name if address == message.from_address and name else address)
    return list(seen.values())


def _decorate(message: EmailMessage) -> EmailMessage:
    message.badge_style = STATUS_STYLES.get(message.status, "secondary")
    message.badge_label = STATUS_LABELS.get(message.status) or message.get_status_display()
    message.inbound = message.direction == EmailMessage.Direction.INBOUND
    message.at = (
        message.received_at or message.sent_at or message.scheduled_at or message.created_at
    )
    return message


def card_context(request: HttpRequest, kind: str, record) -> dict:
    threads = selectors.record_threads(record=record)
    for thread in threads:
        thread.shown = [_decorate(m) for m in thread.messages.all()]  # newest first
        thread.latest = thread.shown[0] if thread.shown else None
        thread.participants = _participants(thread.shown)
    can_send = services.can_send_from(request.user, record)
    return {
        "kind": kind,
        "record": record,
        "threads": threads,
        "can_send": can_send,
        "card_url": reverse("emails:record_card", args=[kind, record.pk]),
        "compose_url": reverse("emails:compose", args=[kind, record.pk]),
        # While a message waits for the sending task, the card looks again shortly: its
        # status (sent, failed) changes without an event.
        "pending": any(
            m.status == EmailMessage.Status.QUEUED for t in threads for m in t.shown[:3]
        ),
    }


@login_required
@require_GET
def record_card(request: HttpRequest, kind: str, pk) -> HttpResponse:
    record = _record(request, kind, pk)
    return render(request, "emails/record/card.html", card_context(request, kind, record))


# --- composing -----------------------------------------------------------------------------------
def _compose_response(
    request: HttpRequest,
    form: ComposeForm,
    kind: str,
    record,
    reply_to: EmailMessage | None,
    *,
    draft: drafts.Draft | None = None,
    status: int = 200,
) -> HttpResponse:
    context = {
        "form": form,
        "kind": kind,
        "record": record,
        "reply_to": reply_to,
        "draft": draft,
        "compose_url": reverse("emails:compose", args=[kind, record.pk]),
        "template_url": reverse("emails:compose_template", args=[kind, record.pk]),
        "draft_url": _draft_url(kind, record, reply_to),
        "new_message": reply_to is None,
    }
    return render(request, "emails/record/compose.html", context, status=status)


def _draft_url(kind: str, record, reply_to: EmailMessage | None) -> str:
    """Where the composer asks for a suggested text: the reply to a received message, or a
    new message from the record (none when answering one of our own)."""
    if reply_to is None:
        return reverse("emails:draft_message", args=[kind, record.pk])
    if reply_to.direction != EmailMessage.Direction.INBOUND:
        return ""
    return reverse("emails:draft_reply", args=[kind, record.pk, reply_to.pk])


def _reply_defaults(reply_to: EmailMessage) -> dict:
    if reply_to.direction == EmailMessage.Direction.INBOUND and reply_to.from_address:
        to = [reply_to.from_address]
    else:
        to = list(reply_to.to)
    return {"to": ", ".join(to), "subject": services.reply_subject(reply_to.subject)}


@login_required
@require_http_methods(["GET", "POST"])
def compose(request: HttpRequest, kind: str, pk) -> HttpResponse:
    user = request.user
    record = _record(request, kind, pk)
    services.check_sender(user, record)
    data = request.POST if request.method == "POST" else request.GET
    reply_to = None
    if data.get("reply_to"):
        reply_to = _record_message(request, record, data["reply_to"])
    templates = selectors.template_list(user=user)
    if request.method == "GET":
        initial = {"to": ", ".join(selectors.record_recipients(record))}
        draft = None
        if reply_to is not None:
            initial.update(_reply_defaults(reply_to), reply_to=reply_to.pk)
            if request.GET.get("draft") and reply_to.direction == EmailMessage.Direction.INBOUND:
                draft = drafts.draft_reply(user=user, message=reply_to)
                initial["body"] = draft.body
        elif request.GET.get("draft"):  # the next best action's "Draft the email"
            draft = drafts.draft_new(user=user, record=record, subject=request.GET.get("subject"))
            initial.update(subject=draft.subject, body=draft.body)
        form = ComposeForm(initial=initial, templates=templates, auto_id="compose-%s")
        return _compose_response(request, form, kind, record, reply_to, draft=draft)

    form = ComposeForm(request.POST, request.FILES, templates=templates, auto_id="compose-%s")
    if form.is_valid():
        cleaned = form.cleaned_data
        fields = {
            "by": user,
            "record": record,
            "to": cleaned["to"],
            "cc": cleaned["cc"],
            "bcc": cleaned["bcc"],
            "subject": cleaned["subject"],
            "body": cleaned["body"],
            "template": cleaned["template"],
            "attachments": cleaned["attachments"],
            "reply_to": reply_to,
        }
        try:
            if cleaned["send"] == SCHEDULE:
                message = services.email_schedule(scheduled_at=cleaned["scheduled_at"], **fields)
            else:
                message = services.email_send(**fields)
        except DomainError as exc:
            add_domain_errors(form, exc)
        else:
            if message.status == EmailMessage.Status.SCHEDULED:
                when = exact_text(timezone.localtime(message.scheduled_at))
                text = f"Email scheduled for {when}."
            else:
                text = f"Email to {', '.join(message.to)} is on its way."
            return trigger(
                HttpResponse(status=204),
                closeModal=True,
                emailChanged=True,
                activitySaved=True,
                showToast={"message": text, "level": "success"},
            )
    return _compose_response(request, form, kind, record, reply_to, status=422)


def composer(request: HttpRequest, kind: str, pk, *, initial: dict) -> HttpResponse:
    """The composer for a new message from the record, prefilled with ``initial`` (to, cc,
    subject, body; a blank one keeps the default): the AI drawer's email proposals open here
    (``aiagent.views.proposal_edit``). 404/403 as ``compose``."""
    record = _record(request, kind, pk)
    services.check_sender(request.user, record)
    values = {"to": ", ".join(selectors.record_recipients(record))}
    values.update({key: value for key, value in initial.items() if value})
    templates = selectors.template_list(user=request.user)
    form = ComposeForm(initial=values, templates=templates, auto_id="compose-%s")
    return _compose_response(request, form, kind, record, None)


@login_required
@require_GET
def compose_template(request: HttpRequest, kind: str, pk) -> HttpResponse:
    """The subject and body fields filled with the chosen template's merged values (a reply
    keeps its "Re:" subject). No template chosen: nothing changes (204)."""
    record = _record(request, kind, pk)
    services.check_sender(request.user, record)
    template_id = request.GET.get("template")
    if not template_id:
        return HttpResponse(status=204)
    template = selectors.template_get(user=request.user, template_id=template_id)
    errors = []
    try:
        rendered = services.email_template_preview(
            by=request.user, template=template, record=record
        )
    except ValidationFailed as exc:
        errors = [m for ms in exc.details.values() for m in ms] or [exc.message]
        subject, body = template.subject, template.body
    else:
        subject, body = rendered.subject, rendered.text
    reply_to = None
    if request.GET.get("reply_to"):
        reply_to = _record_message(request, record, request.GET["reply_to"])
        subject = request.GET.get("subject", "")  # a reply keeps its subject
    form = ComposeForm(initial={"subject": subject, "body": body}, auto_id="compose-%s")
    context = {
        "form": form,
        "template_errors": errors,
        "draft_url": _draft_url(kind, record, reply_to),
        "new_message": reply_to is None,
    }
    return render(request, "emails/record/compose.html#text", context)


@login_required
@require_GET
def draft_reply(request: HttpRequest, kind: str, pk, message_id) -> HttpResponse:
    """The composer's body with the suggested reply to an inbound message."""
    record = _record(request, kind, pk)
    services.check_sender(request.user, record)
    message = _record_message(request, record, message_id)
    if message.direction != EmailMessage.Direction.INBOUND:
        raise ValidationFailed("Only a received message gets a suggested reply.")
    draft = drafts.draft_reply(user=request.user, message=message)
    form = ComposeForm(initial={"body": draft.body}, auto_id="compose-%s")
    context = {"form": form, "draft": draft, "draft_url": _draft_url(kind, record, message)}
    return render(request, "emails/record/compose.html#body", context)


@login_required
@require_GET
def draft_message(request: HttpRequest, kind: str, pk) -> HttpResponse:
    """The composer's subject and text with a suggested new message from the record
    (``emails.drafts.draft_new``): the subject typed so far is kept."""
    record = _record(request, kind, pk)
    services.check_sender(request.user, record)
    draft = drafts.draft_new(user=request.user, record=record, subject=request.GET.get("subject"))
    form = ComposeForm(initial={"subject": draft.subject, "body": draft.body}, auto_id="compose-%s")
    context = {
        "form": form,
        "draft": draft,
        "draft_url": _draft_url(kind, record, None),
        "new_message": True,
    }
    return render(request, "emails/record/compose.html#text", context)


@login_required
@require_POST
def message_cancel(request: HttpRequest, kind: str, pk, message_id) -> HttpResponse:
    record = _record(request, kind, pk)
    message = _record_message(request, record, message_id)
    services.email_cancel(by=request.user, message=message)
    return trigger(
        HttpResponse(status=204),
        emailChanged=True,
        activitySaved=True,
        showToast={"message": "The scheduled email will not be sent.", "level": "success"},
    )


@login_required
@require_GET
def attachment(request: HttpRequest, attachment_id: int) -> FileResponse:
    """A file of a message the user may see (the record's viewers)."""
    visible = selectors.message_list(user=request.user).values("pk")
    item = EmailAttachment.objects.filter(pk=attachment_id, message__in=visible).first()
    if item is None:
        raise NotFound("Attachment not found.")
    try:
        handle = item.file.open("rb")
    except (FileNotFoundError, OSError) as exc:
        raise NotFound("This attachment's file is missing.") from exc
    return FileResponse(
        handle,
        as_attachment=True,
        filename=item.filename,
        content_type=item.content_type or "application/octet-stream",
    )


# --- bulk ----------------------------------------------------------------------------------------
def _require_bulk(request: HttpRequest) -> None:
    if not bulk.can_bulk_email(request.user):
        raise PermissionDenied("Only managers and administrators send bulk email.")


def _bulk_leads(request: HttpRequest, *, scope: str, ids: list[str], query: str):
    """The leads a bulk message goes to: the checked ones, or those the table's filters
    match, among those the user may see."""
    from crm.records.tables import TableState, filtered

    rt = registry.get("lead")
    if scope == "selected":
        valid = []
        for raw in ids:
            try:
                valid.append(rt.model._meta.pk.to_python(raw))
            except Exception:  # a malformed id selects nothing
                continue
        return rt.list_selector(request.user).filter(pk__in=valid)
    state = TableState.from_query(QueryDict(query))
    _, rows, error = filtered(request, rt, state)
    if error:
        raise ValidationFailed(f"The table's filters are not valid: {error}")
    return rows


def _bulk_input(params: QueryDict) -> tuple[list[str], str]:
    """(checked ids, the table's filter query) from the bulk bar's request (``ids`` checked,
    the filter inputs) or from the modal's own (``ids`` joined, ``query``)."""
    if "query" in params or "scope" in params:
        ids = [i for i in params.get("ids", "").split(",") if i.strip()]
        return ids, params.get("query", "")
    from crm.records.tables import TableState

    table = params.copy()
    for key in BULK_PARAMS:
        table.pop(key, None)
    return params.getlist("ids"), TableState.from_query(table).filter_query


def _bulk_response(
    request: HttpRequest,
    form: BulkEmailForm,
    *,
    ids: list[str],
    query: str,
    scope: str,
    status: int = 200,
) -> HttpResponse:
    audience, error = None, ""
    try:
        audience = bulk.bulk_audience(leads=_bulk_leads(request, scope=scope, ids=ids, query=query))
    except ValidationFailed as exc:
        error = exc.message
    context = {
        "form": form,
        "audience": audience,
        "audience_error": error,
        "selected": len(ids),
        "scope": scope,
        "has_filters": bool(query),
        "chunk": bulk.CHUNK,
    }
    return render(request, "emails/record/bulk.html", context, status=status)


@login_required
@require_GET
def bulk_compose(request: HttpRequest) -> HttpResponse:
    """The bulk email modal with how many leads will get it; the modal asks for itself again
    when the scope changes."""
    _require_bulk(request)
    ids, query = _bulk_input(request.GET)
    scope = request.GET.get("scope") or ("selected" if ids else "filtered")
    if scope not in dict(BulkEmailForm.SCOPES) or (scope == "selected" and not ids):
        scope = "filtered"
    form = BulkEmailForm(
        initial={
            "ids": ",".join(ids),
            "query": query,
            "scope": scope,
            "template": request.GET.get("template") or None,
        },
        templates=selectors.template_list(user=request.user),
    )
    return _bulk_response(request, form, ids=ids, query=query, scope=scope)


@login_required
@require_POST
def bulk_send(request: HttpRequest) -> HttpResponse:
    _require_bulk(request)
    form = BulkEmailForm(request.POST, templates=selectors.template_list(user=request.user))
    ids, query = _bulk_input(request.POST)
    scope = request.POST.get("scope") if request.POST.get("scope") == "selected" else "filtered"
    if form.is_valid():
        try:
            leads = _bulk_leads(request, scope=scope, ids=ids, query=query)
            audience = bulk.email_bulk_send(
                by=request.user, leads=leads, template=form.cleaned_data["template"]
            )
        except DomainError as exc:
            add_domain_errors(form, exc)
        else:
            text = f"Sending “{form.cleaned_data['template']}” to {audience.count} leads"
            if audience.minutes:
                text += f", {bulk.CHUNK} a minute (about {audience.minutes} min)"
            if audience.skipped_count:
                text += f"; {audience.skipped_count} skipped: {audience.skipped_text}"
            return trigger(
                HttpResponse(status=204),
                closeModal=True,
                showToast={"message": text + ".", "level": "success"},
            )
    return _bulk_response(request, form, ids=ids, query=query, scope=scope, status=422)


# --- URLs (included by emails.urls, in its namespace) ------------------------------------------
RECORD = "email/record/<str:kind>/<uuid:pk>/"
urlpatterns = [
    path(RECORD, record_card, name="record_card"),
    path(f"{RECORD}compose/", compose, name="compose"),
    path(f"{RECORD}compose/template/", compose_template, name="compose_template"),
    path(f"{RECORD}compose/draft/", draft_message, name="draft_message"),
    path(f"{RECORD}messages/<uuid:message_id>/draft/", draft_reply, name="draft_reply"),
    path(f"{RECORD}messages/<uuid:message_id>/cancel/", message_cancel, name="message_cancel"),
    path("email/attachments/<int:attachment_id>/", attachment, name="attachment"),
    path("email/bulk/leads/", bulk_compose, name="bulk_compose"),
    path("email/bulk/leads/send/", bulk_send, name="bulk_send"),
]
