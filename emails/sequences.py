"""The nurture sequence step that sends an email from a template (``SequenceStep.Kind.EMAIL``),
run by ``activities.services`` through the runner ``emails.apps`` registers.

The message is marketing mail (``is_marketing``: List-Unsubscribe, the unsubscribe link) from
the lead's assignee (else its owner; the system when neither may send from the lead), so a
reply comes back to the rep's thread. It is written by ``emails.services.email_send``, which
refuses an address that bounced, complained or unsubscribed and a lead that withdrew its
marketing consent: the step is then skipped, and the reason logged. The sequence stops when
the lead replies (``emails.inbound`` stops its enrolments).
"""

from __future__ import annotations

import logging

from django.db import transaction

from crm import services as crm_services
from crm.errors import DomainError
from emails import selectors, services

logger = logging.getLogger(__name__)


def _sender(lead):
    for user in (lead.assigned_to, lead.owner):
        if user is not None and user.is_active and services.can_send_from(user, lead):
            return user
    return crm_services.system_user()


def send_step_email(*, enrollment, lead, step) -> str:
    """Send the step's template to ``lead``; returns why it was skipped, or "" once sent."""
    template = step.email_template
    if template is None:
        return "its email template was deleted"
    if not template.is_active:
        return f"the template “{template}” is no longer in use"
    to = selectors.record_recipients(lead)
    if not to:
        return "the lead has no email address"
    try:
        with transaction.atomic():
            message = services.email_send(
                by=_sender(lead), record=lead, to=[to[0]], template=template, is_marketing=True
            )
    except DomainError as exc:
        return exc.message
    logger.info(
        "Sequence %s, enrolment %s: email %s sent to %s",
        enrollment.sequence_id,
        enrollment.pk,
        message.pk,
        to[0],
    )
    return ""
