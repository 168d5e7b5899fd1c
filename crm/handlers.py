"""Event handlers of the crm app. Other apps keep theirs in their own ``handlers.py``."""

from __future__ import annotations

from crm.events import handles
from crm.models import Event, Organization, Person
from crm.record_types import ORGANIZATIONS, PEOPLE
from crm.records.realtime import LiveRecords

# Live tables and detail pages of people and organizations (crm.records.realtime).
LIVE_PEOPLE = LiveRecords(
    PEOPLE,
    load=lambda pk: Person.objects.select_related("organization", "owner").filter(pk=pk).first(),
    payload_id="person_id",
    changes={"person.created": ["created"]},
)
LIVE_ORGANIZATIONS = LiveRecords(
    ORGANIZATIONS,
    load=lambda pk: Organization.objects.select_related("owner").filter(pk=pk).first(),
    payload_id="organization_id",
    changes={"organization.created": ["created"]},
)


@handles(*LIVE_PEOPLE.events, inline=True)
def publish_person_change(event: Event) -> None:
    LIVE_PEOPLE.publish(event)


@handles(*LIVE_ORGANIZATIONS.events, inline=True)
def publish_organization_change(event: Event) -> None:
    LIVE_ORGANIZATIONS.publish(event)


LIVE_PEOPLE.register()
LIVE_ORGANIZATIONS.register()
