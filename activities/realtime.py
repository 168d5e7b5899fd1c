"""Realtime for activities (SPEC §4 Realtime): pages that count activities — the dashboard's
My day and team page (``analytics.consumers``) — hear that one was created, completed,
changed, reopened or deleted, on the activities' change group
``crm.realtime.table_group("activity")``.

The message carries the activity's id and what changed, never its contents: each page
re-reads as its own user. Creation and completion are events, published from their outbox
handler like the records' changes; changing, reopening and deleting emit no event, so their
services publish (after commit) through ``publish_activity_change``.
"""

from __future__ import annotations

from crm import realtime
from crm.events import handles
from crm.models import Event

GROUP = realtime.table_group("activity")
EVENT_CHANGES = {"activity.created": "created", "activity.completed": "completed"}


def publish_activity_change(activity_id, changed: str, *, event: str = "") -> dict:
    """After the current transaction commits, tell the activities' group that one changed."""
    message = realtime.change_message("activity", activity_id, [changed], event=event)
    realtime.publish(GROUP, message)
    return message


@handles(*EVENT_CHANGES, inline=True)
def publish_activity_event(event: Event) -> None:
    publish_activity_change(
        event.payload.get("activity_id"), EVENT_CHANGES[event.name], event=event.name
    )
