"""Whether the navigation links the custom field management page."""

from __future__ import annotations

from django.http import HttpRequest

from customfields.permissions import can_manage_custom_fields


def navigation(request: HttpRequest) -> dict:
    """``can_manage_custom_fields``: asked only when a template renders the link (the answer
    costs no query on pages that already checked a permission of the user)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}

    def can_manage() -> bool:
        return can_manage_custom_fields(user, "change")

    return {"can_manage_custom_fields": can_manage}
