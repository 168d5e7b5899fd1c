"""Event handlers of leads: rescoring when a score's inputs change.

A burst of events about one lead rescores it once: a handler skips when a later event about
the same lead will rescore it anyway (three activities logged in one transaction: the third
event's handler rescores), and the rescore requests that remain coalesce over a few seconds
(``leads.scoring.services.request_rescore``).
"""

from __future__ import annotations

from crm.events import handles
from crm.models import Event
from leads.scoring import services as scoring_services
from leads.scoring.inputs import activity_model

RESCORING_EVENTS = frozenset(
    {"lead.created", "lead.updated", "activity.created", "activity.completed"}
)


def lead_id_of(event: Event):
    """The lead an event is about: its payload's ``lead_id``, else its activity's lead."""
    payload = event.payload or {}
    if payload.get("lead_id"):
        return payload["lead_id"]
    activity_id = payload.get("activity_id")
    Activity = activity_model()
    if activity_id is None or Activity is None:
        return None
    return Activity.objects.filter(pk=activity_id).values_list("lead_id", flat=True).first()


@handles(*sorted(RESCORING_EVENTS))
def rescore_on_input_change(event: Event) -> None:
    if (event.payload or {}).get("scored"):
        return  # scored by the service that created it (leads.services.lead_create_many)
    lead_id = lead_id_of(event)
    if lead_id is None:
        return
    if scoring_services.later_event_rescores(event, lead_id, RESCORING_EVENTS):
        return
    scoring_services.request_rescore(lead_id)
