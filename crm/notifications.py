"""In-app notifications (SPEC §6 Notifications): writes and reads of the bell's rows.

Any app notifies a user with::

    from crm.notifications import notify
    notify(user=assignee, kind="assignment", title="Lead assigned to you: Acme", url="/leads/…/")

The row is written in the caller's transaction; after commit the user's open pages get the new
unread count and a toast over ``/ws/notifications/`` (``crm.consumers.NotificationConsumer``
re-reads the row as that user and renders ``crm/_notification_push.html``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from crm import badges, realtime
from crm.errors import NotFound
from crm.models import Notification, User

Kind = Notification.Kind
PUSHED = "notification.created"  # the consumer method ``notification_created``
MENU_SIZE = 10


# --- writes ----------------------------------------------------------------------------------
@transaction.atomic
def notify(
    *, user: User | None, kind: str, title: str, body: str = "", url: str = ""
) -> Notification | None:
    """Notify ``user`` (nothing for None or an inactive user); pushed live after commit.

    ``kind``: one of ``Notification.Kind`` (assignment, overdue, automation_failure, mention,
    ai, other). ``url``: a path inside the app the notification opens.
    """
    if user is None or not user.is_active:
        return None
    if kind not in Kind.values:
        raise ValueError(f"Unknown notification kind: {kind!r}")
    notification = Notification.objects.create(
        user=user,
        kind=kind,
        title=_clip(title, Notification._meta.get_field("title").max_length),
        body=body or "",
        url=_clip(url or "", Notification._meta.get_field("url").max_length),
    )
    realtime.publish(realtime.user_group(user.pk), {"type": PUSHED, "id": notification.pk})
    badges.forget(badges.UNREAD, user.pk)
    return notification


def notify_assignment(
    event, *, model, url_name: str, describe: Callable[[Any], str] = str
) -> Notification | None:
    """The bell side of an ``<entity>.assigned`` event: the new assignee of a ``model``
    record (``<entity>_id`` in the payload) hears who assigned what to them, unless they
    assigned it themselves or may not see it. ``describe`` names the record in the body."""
    from crm import permissions
    from crm.models import User

    payload = event.payload or {}
    assignee_id = payload.get("assignee_id")
    if not assignee_id or assignee_id == event.actor_id:
        return None
    assignee = User.objects.filter(pk=assignee_id, is_active=True).first()
    record = model.objects.filter(pk=payload.get(f"{model._meta.model_name}_id")).first()
    if assignee is None or record is None or not permissions.can_view(assignee, record):
        return None
    by = event.actor.display_name if event.actor_id else "An assignment rule"
    noun = model._meta.verbose_name.capitalize()
    return notify(
        user=assignee,
        kind="assignment",
        title=f"{noun} assigned to you: {record.name}",
        body=f"{by} assigned {describe(record)} to you.",
        url=reverse(url_name, args=[record.pk]),
    )


def mark_read(*, by: User, notification_id: int) -> Notification:
    """Mark one of ``by``'s notifications read (404 for anyone else's)."""
    notification = notification_get(user=by, notification_id=notification_id)
    if notification.read_at is None:
        notification.read_at = timezone.now()
        notification.save(update_fields=["read_at"])
        badges.forget(badges.UNREAD, by.pk)
    return notification


def mark_all_read(*, by: User) -> int:
    """Mark every unread notification of ``by`` read; returns how many."""
    badges.forget(badges.UNREAD, by.pk)
    return unread(user=by).update(read_at=timezone.now())


# --- reads -----------------------------------------------------------------------------------
def notification_list(*, user: User) -> QuerySet[Notification]:
    """The user's own notifications, newest first (nobody reads anyone else's)."""
    if not user.is_authenticated:
        return Notification.objects.none()
    return Notification.objects.filter(user=user).order_by("-created_at", "-pk")


def unread(*, user: User) -> QuerySet[Notification]:
    return notification_list(user=user).filter(read_at__isnull=True)


def unread_count(*, user: User) -> int:
    return unread(user=user).count()


def counted_unread(user_id) -> int:
    """The unread count of the bell, counted now and remembered for the next pages' navigation
    (``crm.badges``): what the count view and a pushed notification show."""
    count = Notification.objects.filter(user_id=user_id, read_at__isnull=True).count()
    return badges.remember(badges.UNREAD, user_id, count)


def notification_get(*, user: User, notification_id) -> Notification:
    try:
        notification = notification_list(user=user).filter(pk=int(notification_id)).first()
    except (TypeError, ValueError):
        notification = None
    if notification is None:
        raise NotFound("Notification not found.")
    return notification


def _clip(text: str, limit: int) -> str:
    text = (text or "").strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- rendering (the bell and the live push) --------------------------------------------------
def render_push(user_id: int, notification_id: int) -> str | None:
    """What a user's open pages receive for one of their new notifications: the bell's
    count, a toast and the row on top of the open menu (all ``hx-swap-oob``)."""
    notification = Notification.objects.filter(pk=notification_id, user_id=user_id).first()
    if notification is None:
        return None
    unread_total = counted_unread(user_id)
    return render_to_string(
        "crm/_notification_push.html", {"notification": notification, "unread": unread_total}
    )
