"""Event handlers of the AI agent (crm outbox).

A reply by email is the lead's own words: the qualification analysis (BANT, sentiment, intent)
is run again over the lead's texts, the new message among them (``services.lead_text`` reads
the activities' notes, where ``emails.inbound`` keeps the reply), so the lead page's insights
and suggested field values follow the conversation without anyone clicking "Analyse".
"""

from __future__ import annotations

import logging

from crm.errors import DomainError
from crm.events import handles
from crm.models import Event

logger = logging.getLogger(__name__)


@handles("email.received")
def analyze_lead_reply(event: Event) -> None:
    from aiagent import services
    from leads.models import Lead

    payload = event.payload or {}
    lead = (
        Lead.objects.select_related("assigned_to", "owner")
        .filter(pk=payload.get("lead_id"))
        .first()
    )
    if lead is None or lead.is_converted:
        return
    # On behalf of who works the lead (it may change it, so the insights are stored).
    by = lead.assigned_to or lead.owner
    if by is None:
        return
    try:
        services.lead_analyze(by=by, lead=lead)
    except DomainError as exc:  # nothing to analyse, or the lead went out of reach
        logger.info("Reply of lead %s not analysed: %s", lead.pk, exc)
