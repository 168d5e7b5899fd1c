"""Reads of email, built on ``crm.permissions`` (SPEC §9).

A thread, and every message in it, is visible to whoever may view the record it belongs to
(its lead, person or deal); a thread matched to no record only to those who see every lead,
person and deal. Templates: the active ones for everyone who writes mail, all of them for
those who manage them (Managers and Admins).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Prefetch, Q, QuerySet

from crm import permissions
from crm.errors import NotFound
from crm.models import Person, User
from crm.roles import Role
from emails.models import EmailAddressStatus, EmailMessage, EmailTemplate, EmailThread

MANAGE_TEMPLATES_PERMISSION = "emails.change_emailtemplate"
MESSAGE_RELATED = ("thread", "sender", "template")


def _record_models() -> dict[str, type]:
    from deals.models import Deal
    from leads.models import Lead

    return {"lead": Lead, "person": Person, "deal": Deal}


# --- blocked addresses ---------------------------------------------------------------------------
def normalize_address(address: str) -> str:
    return (address or "").strip().lower()


def address_blocked(address: str, marketing: bool) -> str | None:
    """Why ``address`` must not get this mail, or None when it may: ``"bounced"`` or
    ``"complained"`` block all mail, ``"unsubscribed"`` blocks marketing mail only (the
    ``EmailAddressStatus.Status`` value)."""
    return blocked_addresses([address], marketing=marketing).get(normalize_address(address))


def blocked_addresses(addresses: Iterable[str], *, marketing: bool) -> dict[str, str]:
    """``address_blocked`` for many addresses in one query: ``{lowercased address: why}`` for
    those that may not get the mail."""
    wanted = {normalize_address(a) for a in addresses if a}
    if not wanted:
        return {}
    statuses = [EmailAddressStatus.Status.BOUNCED, EmailAddressStatus.Status.COMPLAINED]
    if marketing:
        statuses.append(EmailAddressStatus.Status.UNSUBSCRIBED)
    rows = EmailAddressStatus.objects.filter(address__in=wanted, status__in=statuses)
    return dict(rows.values_list("address", "status"))


# --- threads and messages ------------------------------------------------------------------------
def visible_threads(user: User, queryset: QuerySet[EmailThread]) -> QuerySet[EmailThread]:
    """The rows of ``queryset`` whose record ``user`` may see."""
    if not user.is_authenticated or not user.is_active:
        return queryset.none()
    models = _record_models()
    if all(permissions.has_all_access(user, model) for model in models.values()):
        return queryset
    condition = Q(pk__in=[])
    for field, model in models.items():
        if permissions.has_all_access(user, model):
            condition |= Q(**{f"{field}__isnull": False})
        else:
            records = permissions.visible(user, model.objects.all()).values("pk")
            condition |= Q(**{f"{field}__in": records})
    return queryset.filter(condition)


def message_list(*, user: User) -> QuerySet[EmailMessage]:
    """The messages of the threads ``user`` may see, newest first."""
    threads = visible_threads(user, EmailThread.objects.all()).values("pk")
    return (
        EmailMessage.objects.filter(thread_id__in=threads)
        .select_related(*MESSAGE_RELATED)
        .prefetch_related("attachments")
        .order_by("-created_at", "pk")
    )


def message_get(*, user: User, message_id) -> EmailMessage:
    """One message: 404 when missing or on a record ``user`` may not see."""
    try:
        message = message_list(user=user).filter(pk=message_id).first()
    except (ValueError, TypeError, ValidationError):
        message = None
    if message is None:
        raise NotFound("Email not found.")
    return message


def thread_get(*, user: User, thread_id) -> EmailThread:
    try:
        thread = visible_threads(user, EmailThread.objects.all()).filter(pk=thread_id).first()
    except (ValueError, TypeError, ValidationError):
        thread = None
    if thread is None:
        raise NotFound("Email thread not found.")
    return thread


def record_threads(*, record, limit: int = 50) -> list[EmailThread]:
    """The threads of a record the caller has checked the user may view, the most recent
    first, each with its messages newest first (``thread.messages.all()``) and their
    attachments: three queries whatever the number of threads."""
    field = record._meta.model_name
    messages = EmailMessage.objects.select_related("sender").prefetch_related("attachments")
    return list(
        EmailThread.objects.filter(**{field: record})
        .order_by("-last_message_at", "pk")
        .prefetch_related(Prefetch("messages", queryset=messages.order_by("-created_at", "pk")))[
            :limit
        ]
    )


def record_recipients(record) -> list[str]:
    """The addresses a message written from ``record`` goes to by default: the lead's contact
    (and its person's), the person's, the deal's person's."""
    from deals.models import Deal
    from leads.models import Lead

    candidates: list[str] = []
    if isinstance(record, Lead):
        candidates = [record.contact_email, getattr(record.person, "email", "")]
    elif isinstance(record, Person):
        candidates = [record.email]
    elif isinstance(record, Deal):
        candidates = [getattr(record.person, "email", "")]
    return list(dict.fromkeys(a.strip() for a in candidates if a and a.strip()))


# --- templates -----------------------------------------------------------------------------------
def can_manage_templates(user) -> bool:
    """Managers and Admins (the Manager role holds ``emails.change_emailtemplate``)."""
    return bool(
        user.is_authenticated
        and user.is_active
        and (user.is_superuser or user.has_perm(MANAGE_TEMPLATES_PERMISSION))
    )


def template_list(*, user: User, include_inactive: bool = False) -> QuerySet[EmailTemplate]:
    """Templates by name: the active ones for every signed-in user (they write mail from
    them), inactive ones too for those who manage templates when asked."""
    if not user.is_authenticated or not user.is_active:
        return EmailTemplate.objects.none()
    qs = EmailTemplate.objects.select_related("created_by").order_by("name", "pk")
    if include_inactive and can_manage_templates(user):
        return qs
    return qs.filter(is_active=True)


def template_get(*, user: User, template_id, include_inactive: bool = False) -> EmailTemplate:
    try:
        template = (
            template_list(user=user, include_inactive=include_inactive)
            .filter(pk=template_id)
            .first()
        )
    except (ValueError, TypeError, ValidationError):
        template = None
    if template is None:
        raise NotFound("Email template not found.")
    return template


def sample_record(*, user: User):
    """A record to preview a template on: the newest lead ``user`` may see, else person, else
    deal; None when they see none."""
    for model in _record_models().values():
        record = permissions.visible(user, model.objects.all()).order_by("-created_at").first()
        if record is not None:
            return record
    return None


# --- the stored mail (embedded default) ----------------------------------------------------------
def stored_backend_active() -> bool:
    return settings.EMAIL_BACKEND == settings.EMAIL_STORED_BACKEND


def can_see_sent_mail(user) -> bool:
    """The "Sent mail" page: Admins, while the app runs in DEBUG or stores its mail."""
    return bool(
        user.is_authenticated
        and user.is_active
        and user.role == Role.ADMIN
        and (settings.DEBUG or stored_backend_active())
    )
