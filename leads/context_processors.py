"""Whether the navigation links the capture forms settings page."""

from __future__ import annotations

from django.http import HttpRequest


def navigation(request: HttpRequest) -> dict:
    """``can_manage_capture_forms``: asked only when a template renders the link."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}

    def can_manage() -> bool:
        from leads.capture.selectors import can_manage_capture_forms

        return can_manage_capture_forms(user)

    return {"can_manage_capture_forms": can_manage}
