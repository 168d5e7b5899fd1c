"""Bulk email: one template to many leads, as marketing mail (issue 20), for Managers.

- ``bulk_audience(leads=)``: who would get it and who is left out, and why (the modal's "Will
  send to N leads; M skipped: …"), in a constant number of queries.
- ``email_bulk_send(by=, leads=, template=)``: hands the leads that may get it to the sending
  task in chunks spaced out in time (``CHUNK`` leads every ``CHUNK_SECONDS``): a provider
  throttles, or flags as spam, a burst of thousands of messages from one sender.
- ``email_bulk_send_chunk``: the task's body. Each message goes through
  ``emails.services.email_send`` with ``is_marketing=True``, so consent, unsubscribes and
  bounces are checked again when it is written (a lead may have unsubscribed meanwhile), and
  it carries the List-Unsubscribe headers and link.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from crm.errors import DomainError, PermissionDenied, ValidationFailed
from crm.models import User
from emails import selectors, services
from emails.models import EmailMessage, EmailTemplate

logger = logging.getLogger(__name__)

MAX_LEADS = 5000
CHUNK = 50
CHUNK_SECONDS = 60

# Why a lead is left out, as the modal says it.
SKIPPED = {
    "no_email": "no email",
    "unsubscribed": "unsubscribed",
    "bounced": "bounced",
    "complained": "marked as spam",
    "no_consent": "consent withdrawn",
}


@dataclass
class Audience:
    """The leads a bulk message goes to (ids, in the table's order) and those left out."""

    lead_ids: list = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)  # reason key of SKIPPED → count

    @property
    def count(self) -> int:
        return len(self.lead_ids)

    @property
    def skipped_count(self) -> int:
        return sum(self.skipped.values())

    @property
    def skipped_text(self) -> str:
        """ "3 no email, 1 unsubscribed" (in the order of ``SKIPPED``)."""
        return ", ".join(
            f"{self.skipped[k]} {label}" for k, label in SKIPPED.items() if self.skipped[k]
        )

    @property
    def minutes(self) -> int:
        """About how long the sending takes (one chunk a minute)."""
        return max(1, -(-self.count // CHUNK)) if self.count > CHUNK else 0

    def summary(self) -> str:
        """ "Will send to 12 leads; 3 skipped: 2 no email, 1 unsubscribed." """
        noun = "lead" if self.count == 1 else "leads"
        text = f"Will send to {self.count} {noun}"
        if self.skipped_count:
            text += f"; {self.skipped_count} skipped: {self.skipped_text}"
        return text + "."


def can_bulk_email(user) -> bool:
    """Managers and Admins: those who manage the templates bulk mail is written from (and who
    may log activities: every message is one)."""
    return selectors.can_manage_templates(user) and (
        user.is_superuser or user.has_perm("activities.add_activity")
    )


def _address(contact_email: str, person_email: str | None) -> str:
    """The address mail about a lead goes to (``selectors.record_recipients``'s first)."""
    return next((a.strip() for a in (contact_email, person_email) if a and a.strip()), "")


def _withdrawn(leads: QuerySet) -> set:
    """Ids of the leads whose marketing consent (theirs or their person's, the newest of the
    two) is withdrawn: one query."""
    from privacy.models import Consent

    rows = (
        Consent.objects.filter(
            Q(lead__in=leads.values("pk")) | Q(person__in=leads.values("person_id")),
            purpose=Consent.Purpose.MARKETING,
        )
        .order_by("at", "pk")
        .values_list("lead_id", "person_id", "status", "at", "pk")
    )
    by_lead: dict = {}
    by_person: dict = {}
    for lead_id, person_id, status, at, pk in rows:
        if lead_id is not None:
            by_lead[lead_id] = (at, pk, status)
        if person_id is not None:
            by_person[person_id] = (at, pk, status)
    withdrawn = set()
    for pk, person_id in leads.values_list("pk", "person_id"):
        known = [c for c in (by_lead.get(pk), by_person.get(person_id)) if c is not None]
        if known and max(known)[2] == Consent.Status.WITHDRAWN:
            withdrawn.add(pk)
    return withdrawn


def bulk_audience(*, leads: QuerySet) -> Audience:
    """Who of ``leads`` (a selector's queryset: what the sender may see) gets the mail. Left
    out: no address, an address that bounced, complained or unsubscribed, a withdrawn
    marketing consent. More than ``MAX_LEADS`` is refused (narrow the filters)."""
    rows = list(leads.values_list("pk", "contact_email", "person__email")[: MAX_LEADS + 1])
    if len(rows) > MAX_LEADS:
        message = f"At most {MAX_LEADS} leads at a time: narrow the filters."
        raise ValidationFailed(message, details={"scope": [message]})
    audience = Audience()
    addresses = {pk: _address(contact, person) for pk, contact, person in rows}
    blocked = selectors.blocked_addresses(addresses.values(), marketing=True)
    withdrawn = _withdrawn(leads) if rows else set()
    for pk, _, _ in rows:
        address = addresses[pk]
        why = (
            "no_email"
            if not address
            else blocked.get(selectors.normalize_address(address))
            or ("no_consent" if pk in withdrawn else "")
        )
        if why:
            audience.skipped[why] += 1
        else:
            audience.lead_ids.append(pk)
    return audience


def email_bulk_send(*, by: User, leads: QuerySet, template: EmailTemplate) -> Audience:
    """Send ``template`` to each lead of ``leads`` that may get marketing mail, throttled
    (module docstring). Returns the audience; the messages are written by the task."""
    from emails import tasks

    if not can_bulk_email(by):
        raise PermissionDenied("Only managers and administrators send bulk email.")
    if not template.is_active:
        raise ValidationFailed(
            "This template is no longer in use.", details={"template": ["Inactive template."]}
        )
    audience = bulk_audience(leads=leads)
    if not audience.count:
        message = "None of these leads can get marketing mail"
        message += f" ({audience.skipped_text})." if audience.skipped_count else "."
        raise ValidationFailed(message, details={"scope": [message]}, code="no_recipients")
    started = timezone.now().isoformat()
    ids = [str(pk) for pk in audience.lead_ids]
    chunks = [ids[i : i + CHUNK] for i in range(0, len(ids), CHUNK)]

    def enqueue() -> None:
        for number, chunk in enumerate(chunks):
            tasks.send_bulk_email.apply_async(
                args=[by.pk, template.pk, chunk, started], countdown=number * CHUNK_SECONDS
            )

    transaction.on_commit(enqueue)
    logger.info(
        "Bulk email “%s” by %s: %s leads in %s chunks, %s skipped",
        template,
        by,
        audience.count,
        len(chunks),
        audience.skipped_count,
    )
    return audience


def email_bulk_send_chunk(*, by_id: int, template_id: int, lead_ids: list, started: str) -> int:
    """Write one chunk's messages (each in its own transaction, through ``email_send``);
    returns how many. A lead already sent this template since ``started`` (the bulk send's
    start) is skipped, so a redelivered task sends nobody twice; refusals are logged."""
    from leads import selectors as lead_selectors

    by = User.objects.filter(pk=by_id, is_active=True).first()
    template = EmailTemplate.objects.filter(pk=template_id, is_active=True).first()
    if by is None or template is None or not can_bulk_email(by):
        logger.warning(
            "Bulk email chunk dropped: sender %s or template %s gone", by_id, template_id
        )
        return 0
    since = parse_datetime(started) if started else None
    leads = lead_selectors.lead_list(user=by).filter(pk__in=lead_ids).select_related("person")
    already = set()
    if since is not None:
        already = set(
            EmailMessage.objects.filter(
                thread__lead__in=lead_ids,
                template=template,
                is_marketing=True,
                created_at__gte=since,
            ).values_list("thread__lead_id", flat=True)
        )
    sent = 0
    for lead in leads:
        if lead.pk in already:
            continue
        to = selectors.record_recipients(lead)
        if not to:
            logger.info("Bulk email to lead %s skipped: no email address", lead.pk)
            continue
        try:
            services.email_send(
                by=by, record=lead, to=[to[0]], template=template, is_marketing=True
            )
        except DomainError as exc:
            logger.info("Bulk email to lead %s skipped: %s", lead.pk, exc.message)
            continue
        sent += 1
    return sent
