"""Realtime for leads (SPEC §4 Realtime): the outbox events that reach open pages, and the
assignment notification. Publishing and rendering are the shared ones of
``crm.records.realtime`` (board cards, table rows, the detail page), driven by ``LEADS``.

Publishing happens in outbox handlers, so the services stay untouched: the handlers run after
the service's commit (``inline``: at once in the process that committed, through the Redis
channel layer, else by the Celery worker; eagerly in embedded mode) and send only ids and what
changed.
"""

from __future__ import annotations

from crm.events import handles
from crm.models import Event
from crm.notifications import notify_assignment
from crm.records.realtime import LiveRecords
from leads.models import Lead
from leads.records import LEADS


def _lead(pk) -> Lead | None:
    """The live lead with what its card and row show."""
    from leads import selectors

    return Lead.objects.select_related(*selectors.LIST_RELATED).filter(pk=pk).first()


LIVE = LiveRecords(
    LEADS,
    load=_lead,
    payload_id="lead_id",
    # What each event changed (``lead.updated`` adds its payload's ``fields``).
    changes={
        "lead.created": ["created"],
        "lead.assigned": ["assignee"],
        "lead.score_changed": ["score"],
        "lead.qualified": ["qualified"],
        "lead.disqualified": ["disqualified", "step"],
        "lead.converted": ["converted", "step"],
        "lead.touched": ["touched"],
        "wfm.status_changed": ["step"],
    },
)
PUBLISHED_EVENTS = LIVE.events


@handles(*PUBLISHED_EVENTS, inline=True)
def publish_lead_change(event: Event) -> None:
    LIVE.publish(event)


@handles("lead.assigned")
def notify_lead_assignee(event: Event) -> None:
    """The new assignee hears of it in the bell (not when they assigned it themselves)."""
    notify_assignment(event, model=Lead, url_name="leads:detail", describe=_described)


def _described(lead: Lead) -> str:
    company = f" ({lead.company_name})" if lead.company_name else ""
    return f"“{lead.name}”{company}"


LIVE.register()
