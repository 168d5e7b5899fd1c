"""Marketing touches after the first (SPEC §6, issues 5 and 15): a lead keeps its first-touch
attribution. A later touch is either a ``TouchPoint`` (``lead.touched``: a form submitted again,
an import row) or an attribution edit that ``leads.services.lead_update`` reports in
``lead.updated`` (``touch``); these handlers record each as a system note on the lead's
timeline. A form submission's note counts as one for behavioural scoring (its metadata kind is
``form_submission``)."""

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


@handles("lead.touched")
def record_touch_point(event: Event) -> None:
    payload = event.payload or {}
    lead = Lead.all_objects.filter(pk=payload.get("lead_id")).first()
    if lead is None:
        return
    from activities.models import Activity
    from activities.services import activity_create

    if Activity.objects.filter(lead=lead, metadata__source_event=event.pk).exists():
        return
    attribution = payload.get("attribution") or {}
    parts = ", ".join(
        f"{key.removeprefix('utm_')}: {value}" for key, value in sorted(attribution.items())
    )
    capture = payload.get("channel") == "capture"
    subject = payload.get("note") or (
        f"Form submitted again: {payload.get('form_name')}" if capture else "Marketing touch"
    )
    activity_create(
        by=system_user(),
        type="note",
        subject=subject[:200],
        notes=f"Attribution: {parts}." if parts else "No attribution (direct visit).",
        lead=lead,
        is_system_activity=True,
        metadata={
            "kind": "form_submission" if capture else "marketing_touch",
            "source_event": event.pk,
            "touch_point": payload.get("touch_point_id"),
            "touch": attribution,
        },
    )
