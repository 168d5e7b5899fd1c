"""Realtime for email (SPEC §4 Realtime): a record page open while a reply arrives shows it.

``email.received`` (``emails.inbound``) names the lead, person and deal of the message's
activity; each of their detail pages is told that the record changed ("email"), only those:
boards and tables show nothing of a message. The page re-fetches its region
(``crm.records.realtime``), in which the "Email" card loads again. Only ids travel; each
connection re-reads as its own user (``crm.realtime.deliver`` checks it may see the record).
"""

from __future__ import annotations

from crm import realtime
from crm.events import handles
from crm.models import Event

RECORD_KINDS = ("lead", "person", "deal")


@handles("email.received")
def publish_email_received(event: Event) -> None:
    payload = event.payload or {}
    for kind in RECORD_KINDS:
        pk = payload.get(f"{kind}_id")
        if pk:
            message = realtime.change_message(kind, pk, ["email"], event=event.name)
            realtime.publish(realtime.record_group(kind, pk), message)
