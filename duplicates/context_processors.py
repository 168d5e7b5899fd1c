"""Whether the navigation links the Duplicates page."""

from __future__ import annotations

from django.http import HttpRequest


def navigation(request: HttpRequest) -> dict:
    """``can_review_duplicates``: asked only when a template renders the link."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}

    def can_review() -> bool:
        from duplicates.selectors import may_review

        return may_review(user, "lead")

    return {"can_review_duplicates": can_review}
