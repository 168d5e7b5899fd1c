"""Realtime for deals (SPEC §4 Realtime): the outbox events that reach open pages, and the
assignment notification. Publishing and rendering are the shared ones of
``crm.records.realtime`` (board cards and totals, table rows, the detail page), driven by
``DEALS``; see ``leads/realtime.py`` for the same on leads.
"""

from __future__ import annotations

from crm.events import handles
from crm.models import Event
from crm.notifications import notify_assignment
from crm.records.realtime import LiveRecords
from deals.models import Deal
from deals.records import DEALS


def _deal(pk) -> Deal | None:
    """The live deal as its card and row show it."""
    from deals import selectors

    return selectors.with_display(Deal.objects.filter(pk=pk)).first()


LIVE = LiveRecords(
    DEALS,
    load=_deal,
    payload_id="deal_id",
    # What each event changed (``deal.updated`` adds its payload's ``fields``; a move alone is
    # published by ``wfm.status_changed``).
    changes={
        "deal.created": ["created"],
        "deal.assigned": ["assignee"],
        "deal.won": ["won", "step"],
        "deal.lost": ["lost", "step"],
        "wfm.status_changed": ["step"],
    },
)
PUBLISHED_EVENTS = LIVE.events


@handles(*PUBLISHED_EVENTS, inline=True)
def publish_deal_change(event: Event) -> None:
    LIVE.publish(event)


@handles("deal.assigned")
def notify_deal_assignee(event: Event) -> None:
    """The new assignee hears of it in the bell (not when they assigned it themselves)."""
    notify_assignment(event, model=Deal, url_name="deals:detail", describe=_described)


def _described(deal: Deal) -> str:
    return f"“{deal.name}”"


LIVE.register()
