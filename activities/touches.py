"""Marketing touches after the first (SPEC §6, issue 5): a lead keeps its first-touch attribution;
``leads.services.lead_update`` reports a later touch in ``lead.updated`` (``touch``), and this
handler records it as a system note on the lead's timeline."""

from __future__ import annotations

from crm.events import handles
from crm.models import Event
from crm.services import system_user
from leads.models import Lead


@handles("lead.updated")
def record_later_touch(event: Event) -> None:
    touch = event.payload.get("touch") or {}
    if not touch:
        return
    lead = Lead.all_objects.filter(pk=event.payload.get("lead_id")).first()
    if lead is None:
        return
    from activities.models import Activity
    from activities.services import activity_create

    # The outbox runs each (event, handler) once; the lookup also guards a manual re-run.
    if Activity.objects.filter(lead=lead, metadata__source_event=event.pk).exists():
        return
    parts = ", ".join(
        f"{key.removeprefix('utm_')}: {value}" for key, value in sorted(touch.items())
    )
    activity_create(
        by=system_user(),
        type="note",
        subject="Marketing touch",
        notes=f"Later touch (first-touch attribution kept): {parts}.",
        lead=lead,
        is_system_activity=True,
        metadata={"kind": "marketing_touch", "source_event": event.pk, "touch": touch},
    )
