"""Writes of outbound email: templates, sending and scheduling, delivery, unsubscribing.

Keyword-only functions, one transaction each, the acting user first (``by=``).

- ``email_send`` / ``email_schedule``: a message written from a lead, person or deal (or as a
  reply on one of its threads) becomes an ``EmailMessage`` in an ``EmailThread`` with its
  email ``Activity`` (direction outbound, so the timeline, ``last_activity_at`` and scoring
  see it). Mail to send now is handed to the Celery task after commit; scheduled mail waits
  for the sweep (``email_queue_due``, every minute).
- ``email_message_deliver``: what the task runs: one attempt to send a queued message through
  Django's email API (the configured backend: SMTP, a provider through anymail, or the stored
  backend of the embedded default).
- ``email_unsubscribe``: the one-click link of marketing mail: the address is marked
  unsubscribed and the record's marketing consent withdrawn (source EMAIL).

Permissions: sending needs change access to the record (and the role's
``activities.add_activity``: a message is an activity); a record the sender may not see is
"not found". Templates are managed by Managers and Admins (``emails.change_emailtemplate``).
"""

from __future__ import annotations

import logging
import mimetypes
import re
import smtplib
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import formataddr, getaddresses, parseaddr
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.exceptions import ImproperlyConfigured
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.mail import EmailMultiAlternatives, get_connection, make_msgid
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Q
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils import timezone
from django.utils.text import get_valid_filename

from activities import services as activity_services
from activities.models import Activity
from activities.realtime import publish_activity_change
from crm import permissions
from crm import services as crm_services
from crm.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from crm.models import Person, User
from crm.notifications import notify
from emails import rendering, selectors
from emails.models import (
    EmailAddressStatus,
    EmailAttachment,
    EmailMessage,
    EmailTemplate,
    EmailThread,
)

logger = logging.getLogger(__name__)

MAX_RECIPIENTS = 50
MAX_ATTACHMENTS = 10
REFERENCES_KEPT = 20  # Message-IDs carried in References (the thread's root and the latest)
STALE_QUEUED = timedelta(minutes=10)
TEMPLATE_FIELDS = ("name", "subject", "body", "is_active")
UNSUBSCRIBE_SALT = "emails.unsubscribe"
ONE_CLICK = "List-Unsubscribe=One-Click"

Status = EmailMessage.Status


class TransientSendError(Exception):
    """A delivery attempt failed in a way that may pass (a connection, a provider's 5xx):
    the task retries it with backoff."""


# --- templates -----------------------------------------------------------------------------------
def _require_template_manager(by: User) -> None:
    if not selectors.can_manage_templates(by):
        raise PermissionDenied("Only managers and administrators manage email templates.")


def _check_template_texts(data: Mapping[str, Any]) -> None:
    errors: dict[str, list[str]] = {}
    for name in ("subject", "body"):
        if name in data:
            try:
                rendering.check_merge_fields(data[name])
            except DjangoValidationError as exc:
                errors[name] = exc.messages
    if errors:
        first = next(iter(errors.values()))[0]
        raise ValidationFailed(first, details=errors)


def _check_name_free(name: str, *, template: EmailTemplate | None = None) -> None:
    """Template names are unique: another template's name is a conflict (409), not a
    malformed request."""
    taken = EmailTemplate.objects.filter(name=name)
    if template is not None:
        taken = taken.exclude(pk=template.pk)
    if taken.exists():
        message = f"An email template named “{name}” already exists."
        raise Conflict(message, code="already_exists", details={"name": [message]})


@transaction.atomic
def email_template_create(
    *, by: User, name: str, subject: str, body: str, is_active: bool = True
) -> EmailTemplate:
    """A new template; every ``{{ … }}`` in its subject and body must be a known merge field."""
    _require_template_manager(by)
    data = crm_services.trimmed({"name": name, "subject": subject}, ("name", "subject"))
    _check_template_texts({"subject": data["subject"], "body": body})
    _check_name_free(data["name"])
    template = EmailTemplate(
        name=data["name"],
        subject=data["subject"],
        body=body or "",
        is_active=is_active,
        created_by=by,
    )
    crm_services.full_clean_or_raise(template)
    template.save()
    return template


@transaction.atomic
def email_template_update(
    *, by: User, template: EmailTemplate, data: Mapping[str, Any]
) -> EmailTemplate:
    """Change any of ``name``, ``subject``, ``body``, ``is_active`` (messages already written
    from it keep their text)."""
    _require_template_manager(by)
    data = crm_services.trimmed(data, ("name", "subject"))
    _check_template_texts(data)
    if data.get("name"):
        _check_name_free(data["name"], template=template)
    changed = crm_services.apply_changes(template, data, TEMPLATE_FIELDS)
    if changed:
        crm_services.full_clean_or_raise(template)
        template.save(update_fields=[*changed, "updated_at"])
    return template


def email_template_deactivate(*, by: User, template: EmailTemplate) -> EmailTemplate:
    """No longer offered when writing; kept for the messages written from it."""
    return email_template_update(by=by, template=template, data={"is_active": False})


@transaction.atomic
def email_template_delete(*, by: User, template: EmailTemplate) -> None:
    """Remove a template; the messages written from it keep their text (``template`` null)."""
    _require_template_manager(by)
    template.delete()


def email_template_render(
    *,
    template: EmailTemplate | None = None,
    subject: str = "",
    body: str = "",
    record=None,
    sender: User | None = None,
) -> rendering.Rendered:
    """Subject, text and sanitised HTML with the merge fields of ``record`` (a lead, person or
    deal; None: every record field blank) and ``sender`` filled in. ``subject`` and ``body``,
    when given, are used instead of the template's. Reads only: the caller has checked that
    the user may see ``record``."""
    if template is not None:
        subject = subject or template.subject
        body = body or template.body
    return rendering.render(subject=subject, body=body, record=record, sender=sender)


def email_template_preview(
    *,
    by: User,
    template: EmailTemplate | None = None,
    subject: str = "",
    body: str = "",
    record=None,
) -> rendering.Rendered:
    """What ``by`` would send: the merge fields of ``record`` (default: the newest record
    ``by`` may see, ``selectors.sample_record``) and of ``by`` as the sender. Unknown merge
    fields are refused (ValidationFailed, per ``subject``/``body``)."""
    if record is not None and not permissions.can_view(by, record):
        raise NotFound(f"{record._meta.verbose_name.capitalize()} not found.")
    if template is not None:
        subject = subject or template.subject
        body = body or template.body
    _check_template_texts({"subject": subject, "body": body})
    if record is None:
        record = selectors.sample_record(user=by)
    return email_template_render(subject=subject, body=body, record=record, sender=by)


# --- sending -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AttachmentInput:
    filename: str
    content: Any  # a File (upload) or bytes
    content_type: str
    size: int


def _attachment_inputs(items: Iterable[Any]) -> list[AttachmentInput]:
    """Uploads (``File``/``UploadedFile``) or ``(filename, bytes, content_type)`` tuples, each
    at most ``EMAIL_MAX_ATTACHMENT_BYTES``."""
    out: list[AttachmentInput] = []
    limit = settings.EMAIL_MAX_ATTACHMENT_BYTES
    errors: list[str] = []
    for item in items or ():
        if isinstance(item, tuple):
            filename, content, content_type = (*item, "")[:3]
            content = content.encode() if isinstance(content, str) else bytes(content)
            size = len(content)
        elif isinstance(item, File):
            filename, content = item.name or "attachment", item
            content_type = getattr(item, "content_type", "") or ""
            size = item.size or 0
        else:
            raise ValidationFailed(
                "An attachment is a file.", details={"attachments": ["Not a file."]}
            )
        filename = get_valid_filename(str(filename).rsplit("/", 1)[-1]) or "attachment"
        content_type = content_type or mimetypes.guess_type(filename)[0] or ""
        if size > limit:
            errors.append(f"{filename} is larger than {filesizeformat(limit)}.")
        out.append(AttachmentInput(filename, content, content_type, size))
    if len(out) > MAX_ATTACHMENTS:
        errors.append(f"At most {MAX_ATTACHMENTS} attachments per message.")
    if errors:
        raise ValidationFailed(
            errors[0], details={"attachments": errors}, code="attachment_refused"
        )
    return out


def _address_pieces(value: str) -> list[str]:
    """``Ann <ann@x.com>, bob@y.com; …`` → each address as written (a quoted display name may
    hold a comma)."""
    if '"' in value:
        return [formataddr(pair) for pair in getaddresses([value]) if any(pair)]
    return [piece.strip() for piece in re.split(r"[,;]", value) if piece.strip()]


def _addresses(field: str, values: str | Iterable[str] | None) -> list[str]:
    """Bare, valid, de-duplicated addresses from a list or a comma-separated text (``Ann
    <ann@example.com>`` is read as ``ann@example.com``)."""
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    out: dict[str, str] = {}
    errors: list[str] = []
    for piece in (p for value in values for p in _address_pieces(str(value))):
        address = parseaddr(piece)[1].strip() if "<" in piece else piece
        try:
            validate_email(address)
        except DjangoValidationError:
            errors.append(f"“{piece}” is not an email address.")
            continue
        out.setdefault(address.lower(), address)
    if errors:
        raise ValidationFailed(errors[0], details={field: errors})
    return list(out.values())


def _record_field(record) -> str:
    from deals.models import Deal
    from leads.models import Lead

    for field, model in (("lead", Lead), ("person", Person), ("deal", Deal)):
        if isinstance(record, model):
            return field
    raise ValidationFailed(
        "Email is written from a lead, a person or a deal.",
        details={"record": ["Choose a lead, a person or a deal."]},
    )


def check_sender(by: User, record) -> None:
    """May ``by`` send email from ``record``? NotFound when they may not see it (or it is
    deleted), PermissionDenied when they may see but not change it or their role logs no
    activities."""
    noun = record._meta.verbose_name
    if getattr(record, "deleted_at", None) is not None or not permissions.can_view(by, record):
        raise NotFound(f"{noun.capitalize()} not found.")
    if not permissions.can_change(by, record) or not (
        by.is_superuser or by.has_perm("activities.add_activity")
    ):
        raise PermissionDenied(f"You may not send email from this {noun}.")


def can_send_from(by: User, record) -> bool:
    """``check_sender`` as a yes/no, for showing or hiding the compose button."""
    try:
        check_sender(by, record)
    except (NotFound, PermissionDenied):
        return False
    return True


BLOCKED_MESSAGES = {
    EmailAddressStatus.Status.BOUNCED: "{address} bounced: mail to it is not delivered.",
    EmailAddressStatus.Status.COMPLAINED: "{address} marked our mail as spam: it gets no more.",
    EmailAddressStatus.Status.UNSUBSCRIBED: "{address} unsubscribed from marketing mail.",
}


def _check_blocked(recipients: Mapping[str, list[str]], *, marketing: bool) -> None:
    every = [a for addresses in recipients.values() for a in addresses]
    blocked = selectors.blocked_addresses(every, marketing=marketing)
    if not blocked:
        return
    details: dict[str, list[str]] = {}
    for field, addresses in recipients.items():
        for address in addresses:
            why = blocked.get(selectors.normalize_address(address))
            if why:
                details.setdefault(field, []).append(BLOCKED_MESSAGES[why].format(address=address))
    first = next(iter(details.values()))[0]
    raise ValidationFailed(first, details=details, code="address_blocked")


def consent_subjects(record) -> tuple[Any, Person | None]:
    """The (lead, person) whose marketing consent governs mail about ``record``."""
    field = _record_field(record)
    if field == "lead":
        return record, None
    if field == "person":
        return None, record
    return None, record.person


def _check_marketing_consent(record) -> None:
    from privacy.models import Consent
    from privacy.selectors import consent_status

    lead, person = consent_subjects(record)
    if lead is None and person is None:
        return
    latest = consent_status(lead=lead, person=person, purpose=Consent.Purpose.MARKETING)
    if latest is not None and latest.status == Consent.Status.WITHDRAWN:
        raise ValidationFailed(
            "This contact withdrew consent to marketing mail.",
            details={"is_marketing": ["Marketing consent was withdrawn."]},
            code="no_consent",
        )


def sender_identity(by: User) -> tuple[str, str]:
    """(name, address) a message from ``by`` goes out as: the app's address
    (``DEFAULT_FROM_EMAIL``: the domain the provider or server may send for, where replies
    come back to the app) with the user's name."""
    default_name, address = parseaddr(settings.DEFAULT_FROM_EMAIL)
    name = by.display_name if by is not None else default_name
    return name or default_name, address


def reply_subject(subject: str) -> str:
    subject = (subject or "").strip()
    return subject if subject[:3].lower() == "re:" else f"Re: {subject}".strip()


def _references(reply_to: EmailMessage) -> str:
    """The parent's References plus its Message-ID: the thread's root and the latest ones."""
    ids = [*(reply_to.references or "").split(), reply_to.message_id or ""]
    ids = [i.strip("<>") for i in ids if i]
    if len(ids) > REFERENCES_KEPT:
        ids = [ids[0], *ids[-(REFERENCES_KEPT - 1) :]]
    return " ".join(dict.fromkeys(ids))


def new_message_id(from_address: str) -> str:
    """A fresh RFC 5322 Message-ID for mail from ``from_address``, without angle brackets."""
    domain = from_address.rpartition("@")[2] or None
    return make_msgid(domain=domain).strip("<>")


def _record_url(record) -> str:
    field = _record_field(record)
    name = {"lead": "leads:detail", "person": "crm:person_detail", "deal": "deals:detail"}[field]
    return reverse(name, args=[record.pk])


def _default_reply_recipients(reply_to: EmailMessage) -> list[str]:
    if reply_to.direction == EmailMessage.Direction.INBOUND and reply_to.from_address:
        return [reply_to.from_address]
    return list(reply_to.to)


def _unsubscribe_footer(url: str) -> tuple[str, str]:
    text = f"\n\n--\nTo stop receiving these emails, unsubscribe: {url}"
    html = f'\n<p><a href="{url}">Unsubscribe</a> from these emails.</p>'
    return text, html


@transaction.atomic
def email_send(
    *,
    by: User,
    record=None,
    to: str | Sequence[str] = (),
    cc: str | Sequence[str] = (),
    bcc: str | Sequence[str] = (),
    subject: str = "",
    body: str = "",
    template: EmailTemplate | None = None,
    attachments: Iterable[Any] = (),
    scheduled_at: datetime | None = None,
    is_marketing: bool = False,
    reply_to: EmailMessage | None = None,
) -> EmailMessage:
    """Write a message from ``record`` (a lead, person or deal) and send it after commit, or at
    ``scheduled_at`` when that is in the future.

    ``subject``/``body`` default to the template's; either way their merge fields are filled
    in from the record and ``by``. ``reply_to``: a message of one of the record's threads; the
    new one joins that thread with In-Reply-To and References (subject "Re: …" and the
    recipient default to the parent's). ``is_marketing`` (sequences, bulk mail): one
    recipient, who must not have unsubscribed or withdrawn consent; the message carries
    List-Unsubscribe headers and an unsubscribe link. Returns the message (status queued or
    scheduled) with its thread and activity.
    """
    thread = None
    if reply_to is not None:
        thread = reply_to.thread
        thread_record = thread.record
        if record is None:
            record = thread_record
        elif thread_record is not None and record != thread_record:
            raise ValidationFailed(
                "A reply stays on the record of its thread.",
                details={"reply_to": ["This message belongs to another record's thread."]},
            )
    if record is None:
        raise ValidationFailed(
            "Email is written from a lead, a person or a deal.",
            details={"record": ["This field is required."]},
        )
    field = _record_field(record)
    check_sender(by, record)
    if template is not None and not template.is_active:
        raise ValidationFailed(
            "This template is no longer in use.", details={"template": ["Inactive template."]}
        )
    if template is not None:
        subject = subject or template.subject
        body = body or template.body
    if reply_to is not None and not (subject or "").strip():
        subject = reply_subject(reply_to.subject)
    if reply_to is not None and not _addresses("to", to):
        to = _default_reply_recipients(reply_to)
    recipients = _checked_recipients(
        to=to, cc=cc, bcc=bcc, subject=subject, body=body, is_marketing=is_marketing
    )
    if is_marketing:
        _check_marketing_consent(record)
    files = _attachment_inputs(attachments)

    now = timezone.now()
    if scheduled_at is not None and timezone.is_naive(scheduled_at):
        raise ValidationFailed(
            "Give the time with its time zone.", details={"scheduled_at": ["Not time-zone aware."]}
        )
    scheduled = scheduled_at is not None and scheduled_at > now
    rendered = email_template_render(subject=subject, body=body, record=record, sender=by)
    if not rendered.subject:
        raise ValidationFailed(
            "The subject is empty once its merge fields are filled in.",
            details={"subject": ["Empty after merging."]},
        )
    text, html = rendered.text, rendered.html
    message_pk = uuid.uuid4()
    if is_marketing:
        url = unsubscribe_url(unsubscribe_token(message_id=message_pk, address=recipients["to"][0]))
        footer_text, footer_html = _unsubscribe_footer(url)
        text, html = text + footer_text, rendering.sanitize_html(html + footer_html)

    if thread is None:
        thread = EmailThread(subject=rendered.subject, last_message_at=now, **{field: record})
        crm_services.full_clean_or_raise(thread, validate_unique=False)
        thread.save()
    else:
        thread.last_message_at = now
        thread.save(update_fields=["last_message_at"])
    activity = activity_services.activity_create(
        by=by,
        type=Activity.Type.EMAIL,
        subject=rendered.subject[:255],
        notes=rendered.text,
        direction=Activity.Direction.OUTBOUND,
        due_at=scheduled_at if scheduled else None,
        is_done=not scheduled,
        metadata={"email_message": str(message_pk)},
        **{field: record},
    )
    from_name, from_address = sender_identity(by)
    message = EmailMessage(
        id=message_pk,
        thread=thread,
        activity=activity,
        direction=EmailMessage.Direction.OUTBOUND,
        status=Status.SCHEDULED if scheduled else Status.QUEUED,
        message_id=new_message_id(from_address),
        in_reply_to=(reply_to.message_id or "") if reply_to is not None else "",
        references=_references(reply_to) if reply_to is not None else "",
        from_address=from_address,
        from_name=from_name[:200],
        to=recipients["to"],
        cc=recipients["cc"],
        bcc=recipients["bcc"],
        subject=rendered.subject,
        text_body=text,
        html_body=html,
        sender=by,
        template=template,
        is_marketing=is_marketing,
        scheduled_at=scheduled_at if scheduled else None,
        queued_at=None if scheduled else now,
        created_at=now,
    )
    crm_services.full_clean_or_raise(message, exclude=["activity"], validate_unique=False)
    message.save()
    for item in files:
        attachment = EmailAttachment(
            message=message,
            filename=item.filename,
            content_type=item.content_type[:255],
            size=item.size,
        )
        content = item.content if isinstance(item.content, File) else ContentFile(item.content)
        attachment.file.save(item.filename, content, save=False)
        attachment.save()
    if not scheduled:
        _enqueue_on_commit(message.pk)
    return message


def _checked_recipients(
    *, to, cc, bcc, subject: str, body: str, is_marketing: bool
) -> dict[str, list[str]]:
    recipients = {"to": _addresses("to", to), "cc": _addresses("cc", cc)}
    recipients["bcc"] = _addresses("bcc", bcc)
    _check_message_shape(recipients, subject=subject, body=body, is_marketing=is_marketing)
    _check_template_texts({"subject": subject, "body": body})
    _check_blocked(recipients, marketing=is_marketing)
    return recipients


def email_check(
    *,
    by: User,
    record,
    to: str | Sequence[str] = (),
    cc: str | Sequence[str] = (),
    bcc: str | Sequence[str] = (),
    subject: str = "",
    body: str = "",
) -> dict[str, list[str]]:
    """The refusals ``email_send`` would give a one-to-one message from ``record``, before
    anything is written (the AI's send proposal checks with it, so a confirmed proposal does
    not fail on what could be known). Returns the recipients, cleaned: ``{"to", "cc", "bcc"}``.
    """
    _record_field(record)
    check_sender(by, record)
    return _checked_recipients(
        to=to, cc=cc, bcc=bcc, subject=subject, body=body, is_marketing=False
    )


def email_schedule(*, by: User, scheduled_at: datetime, **kwargs: Any) -> EmailMessage:
    """``email_send`` at a future time (refused when it is not in the future)."""
    if scheduled_at is None or (timezone.is_aware(scheduled_at) and scheduled_at <= timezone.now()):
        raise ValidationFailed(
            "Schedule the email for a time in the future.",
            details={"scheduled_at": ["Must be in the future."]},
        )
    return email_send(by=by, scheduled_at=scheduled_at, **kwargs)


def _check_message_shape(
    recipients: Mapping[str, list[str]], *, subject: str, body: str, is_marketing: bool
) -> None:
    errors: dict[str, list[str]] = {}
    if not recipients["to"]:
        errors["to"] = ["Add at least one recipient."]
    if sum(len(v) for v in recipients.values()) > MAX_RECIPIENTS:
        errors["to"] = [f"At most {MAX_RECIPIENTS} recipients per message."]
    if is_marketing and (len(recipients["to"]) != 1 or recipients["cc"] or recipients["bcc"]):
        errors["to"] = [
            "Marketing mail goes to one recipient per message (its unsubscribe link is personal)."
        ]
    if not (subject or "").strip():
        errors["subject"] = ["This field is required."]
    if not (body or "").strip():
        errors["body"] = ["This field is required."]
    if errors:
        raise ValidationFailed(next(iter(errors.values()))[0], details=errors)


@transaction.atomic
def email_cancel(*, by: User, message: EmailMessage) -> EmailMessage:
    """Stop a scheduled message before it goes: it becomes a draft and its planned activity is
    removed. Its sender, or whoever may change its record."""
    record = message.thread.record
    if message.sender_id != by.pk and (record is None or not permissions.can_change(by, record)):
        raise PermissionDenied("You may not cancel this email.")
    locked = EmailMessage.objects.select_for_update().get(pk=message.pk)
    if locked.status != Status.SCHEDULED:
        raise Conflict("Only a scheduled email can be cancelled.", code="not_scheduled")
    activity_id = locked.activity_id
    locked.status, locked.scheduled_at, locked.activity = Status.DRAFT, None, None
    locked.save(update_fields=["status", "scheduled_at", "activity"])
    if activity_id:
        activity = Activity.objects.get(pk=activity_id)
        activity_services.activity_delete(by=crm_services.system_user(), activity=activity)
    return locked


def _enqueue_on_commit(message_pk) -> None:
    def send() -> None:
        from emails import tasks  # tasks import these services

        tasks.send_email_message.delay(str(message_pk))

    transaction.on_commit(send)


# --- delivery (the task's side) ------------------------------------------------------------------
def build_email(message: EmailMessage, *, connection=None) -> EmailMultiAlternatives:
    """The Django email of a stored message: text with its HTML alternative, threading
    headers, List-Unsubscribe on marketing mail, the attachments read from storage."""
    headers = {"Message-ID": f"<{message.message_id}>"}
    if message.in_reply_to:
        headers["In-Reply-To"] = f"<{message.in_reply_to}>"
    if message.references:
        headers["References"] = " ".join(f"<{i}>" for i in message.references.split())
    if message.is_marketing and message.to:
        token = unsubscribe_token(message_id=message.pk, address=message.to[0])
        headers["List-Unsubscribe"] = f"<{unsubscribe_url(token)}>"
        headers["List-Unsubscribe-Post"] = ONE_CLICK
    email = EmailMultiAlternatives(
        subject=message.subject,
        body=message.text_body,
        from_email=formataddr((message.from_name, message.from_address)),
        to=list(message.to),
        cc=list(message.cc),
        bcc=list(message.bcc),
        headers=headers,
        connection=connection,
    )
    if message.html_body:
        email.attach_alternative(message.html_body, "text/html")
    for attachment in message.attachments.all():
        with attachment.file.open("rb") as handle:
            email.attach(attachment.filename, handle.read(), attachment.content_type or None)
    # Read by anymail's backends (ignored by the others): our id comes back on tracking events.
    email.metadata = {"pipecrm_message": str(message.pk)}
    email.tags = ["marketing" if message.is_marketing else "one-to-one"]
    return email


def _permanent(exc: Exception) -> bool:
    """A failure that retrying cannot fix: refused recipients or sender, a malformed message,
    a configuration error, a provider's 4xx (other than a timeout or a rate limit)."""
    from anymail.exceptions import (
        AnymailConfigurationError,
        AnymailInvalidAddress,
        AnymailRecipientsRefused,
        AnymailRequestsAPIError,
        AnymailUnsupportedFeature,
    )

    permanent = (
        AnymailConfigurationError,
        AnymailInvalidAddress,
        AnymailRecipientsRefused,
        AnymailUnsupportedFeature,
        ImproperlyConfigured,
        smtplib.SMTPRecipientsRefused,
        smtplib.SMTPSenderRefused,
        ValueError,
        TypeError,
    )
    if isinstance(exc, permanent):
        return True
    if isinstance(exc, AnymailRequestsAPIError):
        code = getattr(exc, "status_code", None) or 0
        return 400 <= code < 500 and code not in (408, 429)
    if isinstance(exc, smtplib.SMTPResponseException):
        return 500 <= exc.smtp_code < 600
    return False


def _provider_message_id(email: EmailMultiAlternatives) -> str:
    status = getattr(email, "anymail_status", None)
    value = getattr(status, "message_id", None) if status is not None else None
    if value is None:
        return ""
    if isinstance(value, set):  # different ids per recipient
        value = " ".join(sorted(str(v) for v in value))
    return str(value)[:255]


def email_message_deliver(*, message_id, final_attempt: bool = False) -> str:
    """One attempt to send a queued message; returns its status after it.

    The row is locked while the backend sends, so two deliveries of the same task (a
    redelivered one) never both send it. A failure is recorded (``attempts``, ``error``); a
    permanent one, or any on the ``final_attempt``, marks the message failed and notifies its
    sender; any other raises ``TransientSendError`` (after the attempt is saved) for the task
    to retry with backoff.
    """
    with transaction.atomic():
        message = (
            EmailMessage.objects.select_for_update(of=("self",))
            .select_related("thread", "sender")
            .filter(pk=message_id)
            .first()
        )
        if message is None:
            return "missing"
        if message.status != Status.QUEUED:
            return message.status
        blocked = selectors.blocked_addresses(message.recipients, marketing=message.is_marketing)
        if blocked:  # bounced, complained or unsubscribed since the message was written
            message.status = Status.FAILED
            message.error = "Not sent: " + " ".join(
                BLOCKED_MESSAGES[why].format(address=address) for address, why in blocked.items()
            )
            message.save(update_fields=["status", "error"])
            _notify_failure(message)
            _publish(message)
            return message.status
        message.attempts += 1
        try:
            connection = get_connection(fail_silently=False)
            email = build_email(message, connection=connection)
            email.send(fail_silently=False)
        except Exception as exc:
            message.error = f"{type(exc).__name__}: {exc}"[:2000]
            if not (final_attempt or _permanent(exc)):
                message.save(update_fields=["attempts", "error"])
                logger.warning("Email %s not sent (will retry): %s", message.pk, message.error)
                retry = message.error
            else:
                message.status = Status.FAILED
                message.save(update_fields=["attempts", "error", "status"])
                _notify_failure(message)
                _publish(message)
                logger.warning("Email %s failed: %s", message.pk, message.error)
                return message.status
        else:
            message.status = Status.SENT
            message.sent_at = timezone.now()
            message.error = ""
            message.provider_message_id = _provider_message_id(email)
            message.save(
                update_fields=["attempts", "error", "status", "sent_at", "provider_message_id"]
            )
            _complete_activity(message)
            _publish(message)
            return message.status
    raise TransientSendError(retry)


def _complete_activity(message: EmailMessage) -> None:
    """A scheduled message's planned activity is done once the message went out."""
    if message.activity_id is None:
        return
    activity = Activity.objects.filter(pk=message.activity_id, is_done=False).first()
    if activity is not None:
        activity_services.activity_complete(by=crm_services.system_user(), activity=activity)


def _publish(message: EmailMessage) -> None:
    if message.activity_id:
        publish_activity_change(message.activity_id, "email")


def _notify_failure(message: EmailMessage) -> None:
    record = message.thread.record
    notify(
        user=message.sender,
        kind="other",
        title=f"Email not sent: {message.subject}",
        body=f"To {', '.join(message.to)}. {message.error}",
        url=_record_url(record) if record is not None else "",
    )


def email_queue_due(*, now: datetime | None = None, limit: int = 500) -> int:
    """Hand the scheduled messages whose time has come to the sending task, and again those
    left queued (never attempted) for longer than ``STALE_QUEUED`` (their task was lost).
    Returns how many were handed over."""
    now = now or timezone.now()
    due = list(
        EmailMessage.objects.filter(status=Status.SCHEDULED, scheduled_at__lte=now)
        .order_by("scheduled_at")
        .values_list("pk", flat=True)[:limit]
    )
    handed = 0
    for pk in due:
        with transaction.atomic():
            moved = EmailMessage.objects.filter(pk=pk, status=Status.SCHEDULED).update(
                status=Status.QUEUED, queued_at=now
            )
            if moved:
                _enqueue_on_commit(pk)
                handed += 1
    stale = (
        EmailMessage.objects.filter(
            status=Status.QUEUED, attempts=0, queued_at__lte=now - STALE_QUEUED
        )
        .filter(Q(scheduled_at__isnull=True) | Q(scheduled_at__lte=now))
        .values_list("pk", flat=True)[:limit]
    )
    for pk in list(stale):
        with transaction.atomic():
            EmailMessage.objects.filter(pk=pk).update(queued_at=now)
            _enqueue_on_commit(pk)
            handed += 1
    return handed


# --- unsubscribe ---------------------------------------------------------------------------------
def unsubscribe_token(*, message_id, address: str) -> str:
    """A signed token naming the message and its recipient (no expiry: a link in an old email
    must still work)."""
    # No timestamp in it: the same message and address always give the same token, so the
    # header and the link in the body agree.
    return signing.Signer(salt=UNSUBSCRIBE_SALT).sign_object(
        {"m": str(message_id), "a": selectors.normalize_address(address)}, compress=True
    )


def unsubscribe_url(token: str) -> str:
    return f"{settings.SITE_URL}{reverse('emails:unsubscribe', args=[token])}"


def unsubscribe_read(token: str) -> tuple[str, str] | None:
    """(address, message id) of a valid token, None for a forged or damaged one."""
    try:
        data = signing.Signer(salt=UNSUBSCRIBE_SALT).unsign_object(token)
    except (signing.BadSignature, ValueError):
        return None
    if not isinstance(data, dict) or not data.get("a"):
        return None
    return str(data["a"]), str(data.get("m") or "")


@transaction.atomic
def email_unsubscribe(
    *, token: str, evidence: Mapping[str, Any] | None = None
) -> EmailAddressStatus:
    """The recipient of a marketing message unsubscribes (idempotent): the address gets no
    more marketing mail (``EmailAddressStatus`` unsubscribed, unless it already bounced or
    complained, which block more), and the message's lead or person has its marketing
    consent withdrawn (source EMAIL)."""
    from privacy import services as privacy_services
    from privacy.models import Consent
    from privacy.selectors import consent_status

    read = unsubscribe_read(token)
    if read is None:
        raise ValidationFailed("This unsubscribe link is not valid.", code="invalid_token")
    address, message_pk = read
    status, created = EmailAddressStatus.objects.select_for_update().get_or_create(
        address=address,
        defaults={"status": EmailAddressStatus.Status.UNSUBSCRIBED, "reason": "Unsubscribe link"},
    )
    message = None
    if message_pk:
        try:
            message = (
                EmailMessage.objects.select_related(
                    "thread__lead__person", "thread__person", "thread__deal__person"
                )
                .filter(pk=message_pk)
                .first()
            )
        except DjangoValidationError:
            message = None
    record = message.thread.record if message is not None else None
    if record is not None:
        lead, person = consent_subjects(record)
        subject = lead or person
        latest = (
            consent_status(lead=lead, person=person, purpose=Consent.Purpose.MARKETING)
            if subject is not None
            else None
        )
        if (
            subject is not None
            and getattr(subject, "anonymized_at", None) is None
            and (latest is None or latest.status != Consent.Status.WITHDRAWN)
        ):
            privacy_services.consent_record(
                by=None,
                lead=lead,
                person=person,
                purpose=Consent.Purpose.MARKETING,
                status=Consent.Status.WITHDRAWN,
                source=Consent.Source.EMAIL,
                evidence={"address": address, "message": message_pk, **dict(evidence or {})},
            )
    return status


@transaction.atomic
def email_address_status_set(*, address: str, status: str, reason: str = "") -> EmailAddressStatus:
    """Record that ``address`` bounced, complained or unsubscribed. A complaint or bounce is
    never downgraded to unsubscribed (they block more mail)."""
    address = selectors.normalize_address(address)
    row, created = EmailAddressStatus.objects.get_or_create(
        address=address, defaults={"status": status, "reason": reason}
    )
    if not created and row.status != status:
        if status == EmailAddressStatus.Status.UNSUBSCRIBED:
            return row
        row.status, row.reason = status, reason
        row.save(update_fields=["status", "reason", "updated_at"])
    return row
