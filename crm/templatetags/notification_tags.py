"""The notification bell (SPEC §6 Notifications) for the app shell."""

from django import template

from crm import badges
from crm.models import Notification

register = template.Library()

ICONS = {
    Notification.Kind.ASSIGNMENT: "bi-person-check",
    Notification.Kind.OVERDUE: "bi-alarm",
    Notification.Kind.AUTOMATION_FAILURE: "bi-exclamation-triangle",
    Notification.Kind.MENTION: "bi-at",
    Notification.Kind.AI: "bi-stars",
}


@register.inclusion_tag("crm/_bell.html", takes_context=True)
def notification_bell(context) -> dict:
    """The bell with its unread count when one is remembered (``crm.badges``); otherwise the
    count loads after the page (``crm:notification_count``), so the app shell adds no query to
    any page's budget."""
    request = context.get("request")
    user = getattr(request, "user", None)
    unread = badges.cached(badges.UNREAD, user.pk) if user and user.is_authenticated else None
    return {"unread": unread, "lazy": unread is None}


@register.filter
def notification_icon(kind: str) -> str:
    return ICONS.get(kind, "bi-bell")
