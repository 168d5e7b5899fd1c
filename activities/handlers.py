"""Outbox handlers of activities and automation (SPEC §4 Events, §6).

Each runs once per event (``crm.events``: a unique, locked ``HandlerRun``), inside a
transaction. On top of that the ones that create activities look for the activity their event
already made (``metadata.source_event``; a database constraint backs it), so even a manual
re-run cannot duplicate a task.
"""

from __future__ import annotations

from activities import automation, services, webhooks
from activities.models import TRIGGER_EVENTS, Activity
from crm.events import EVENT_NAMES, handles
from crm.models import Event, User


def _lead(lead_id):
    from leads.models import Lead

    return (
        Lead.all_objects.select_related(
            "assigned_to", "owner", "person", "organization", "wfm_project__current_step__status"
        )
        .filter(pk=lead_id)
        .first()
    )


def _active_user(user_id) -> User | None:
    return User.objects.filter(pk=user_id, is_active=True).first() if user_id else None


@handles("lead.assigned")
def welcome_task_for_lead(event: Event) -> None:
    """The new assignee gets "Welcome & review: <lead>" due the next business day, unless the
    lead has moved on since (reassigned again, converted, deleted)."""
    lead = _lead(event.payload.get("lead_id"))
    assignee = _active_user(event.payload.get("assignee_id"))
    if lead is None or assignee is None or lead.is_deleted or lead.is_converted:
        return
    if lead.assigned_to_id != assignee.pk:
        return
    services.welcome_task_create(
        event_id=event.pk, trigger=event.name, record=lead, assignee=assignee
    )


@handles("deal.assigned")
def welcome_task_for_deal(event: Event) -> None:
    """As for leads. A deal created by converting a lead, for the lead's own assignee, needs no
    welcome: they know it (the lead's timeline moved onto the deal)."""
    from deals.models import Deal
    from leads.models import Lead

    deal = Deal.objects.filter(pk=event.payload.get("deal_id")).first()
    assignee = _active_user(event.payload.get("assignee_id"))
    if deal is None or assignee is None or deal.assigned_to_id != assignee.pk:
        return
    if (
        event.payload.get("previous_id") is None
        and Lead.all_objects.filter(converted_to_deal=deal, assigned_to=assignee).exists()
    ):
        return
    services.welcome_task_create(
        event_id=event.pk, trigger=event.name, record=deal, assignee=assignee
    )


@handles("lead.converted")
def follow_conversion(event: Event) -> None:
    """The lead's activities join the new deal, person and organization; a system "converted"
    activity; its sequences stop."""
    lead = _lead(event.payload.get("lead_id"))
    if lead is None:
        return
    services.conversion_follow(
        event_id=event.pk,
        lead=lead,
        person_id=event.payload.get("person_id"),
        organization_id=event.payload.get("organization_id"),
        deal_id=event.payload.get("deal_id"),
        actor=event.actor,
    )


@handles("lead.disqualified")
def stop_sequences_of_disqualified_lead(event: Event) -> None:
    services.sequence_stop_for_lead(
        lead_id=event.payload.get("lead_id"), reason="The lead was disqualified."
    )


@handles("activity.created")
def stop_sequences_on_reply(event: Event) -> None:
    """An inbound call or email on a lead is a reply: its nurture sequences stop."""
    payload = event.payload
    if (
        payload.get("lead_id")
        and payload.get("direction") == Activity.Direction.INBOUND
        and payload.get("type") in Activity.DIRECTED_TYPES
    ):
        services.sequence_stop_for_lead(
            lead_id=payload["lead_id"], reason=f"The lead replied (inbound {payload['type']})."
        )


@handles("lead.created")
def assign_new_lead(event: Event) -> None:
    """A new lead nobody was given goes through the assignment rules."""
    lead = _lead(event.payload.get("lead_id"))
    if lead is None or lead.assigned_to_id is not None:
        return
    services.lead_auto_assign(lead=lead)


@handles(*TRIGGER_EVENTS)
def run_automation_rules(event: Event) -> None:
    """The administrators' automation rules of this event (each logs its own run)."""
    automation.run_rules(event)


@handles(*sorted(EVENT_NAMES))
def queue_webhooks(event: Event) -> None:
    """A delivery per active subscription to this event, sent after commit."""
    webhooks.deliveries_for_event(event)
