from django import template

register = template.Library()

ICONS = {
    "task": "bi-check2-square",
    "call": "bi-telephone",
    "meeting": "bi-people",
    "email": "bi-envelope",
    "deadline": "bi-flag",
    "note": "bi-sticky",
}


@register.filter
def activity_icon(activity_type: str) -> str:
    """The Bootstrap icon class of an activity type."""
    return ICONS.get(activity_type, "bi-circle")
