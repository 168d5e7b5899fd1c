"""The navigation's "N overdue" badge next to Activities."""

from __future__ import annotations

from django.http import HttpRequest

from crm import badges


def navigation(request: HttpRequest) -> dict:
    """``activities_overdue_count``: one indexed count, made only when a template renders it
    and cached on the request.

    ``activities_overdue_known`` tells the navigation whether the count is already at hand
    ("My activities" computes it with its sections, the badge view asks for it, or a recent
    one is remembered: ``crm.badges``): then the badge is rendered in place. Otherwise the page
    loads the badge after it has rendered (``activities:badge``), so the pages' own query
    budgets (SPEC §11: ≤ 10) do not pay for it.
    """
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}

    def overdue_known() -> bool:
        if getattr(request, "_activities_overdue_count", None) is None:
            request._activities_overdue_count = badges.cached(badges.OVERDUE, user.pk)
        return request._activities_overdue_count is not None

    def overdue_count() -> int:
        cached = getattr(request, "_activities_overdue_count", None)
        if cached is None:
            from activities.selectors import overdue_count as count

            cached = count(user=user)
            request._activities_overdue_count = cached
        return cached

    return {"activities_overdue_known": overdue_known, "activities_overdue_count": overdue_count}
