"""Small HTMX helpers shared by every app's views."""

from __future__ import annotations

import contextlib
import json

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def region_only(request: HttpRequest) -> bool:
    """Whether ``render_page`` answers with the partial alone (what the page around it needs
    can be left unread)."""
    return bool(request.htmx and not request.htmx.boosted)


def render_page(
    request: HttpRequest, template: str, context: dict, *, partial: str | None = None, status=200
) -> HttpResponse:
    """The whole page, or only the named partial when HTMX asks for a region."""
    if partial and region_only(request):
        template = f"{template}#{partial}"
    return render(request, template, context, status=status)


def trigger(response: HttpResponse, **events) -> HttpResponse:
    """Add ``HX-Trigger`` client events (merged with any already set)."""
    current = json.loads(response.get("HX-Trigger", "{}") or "{}")
    current.update(events)
    response["HX-Trigger"] = json.dumps(current)
    return response


def saved(message: str, **events) -> HttpResponse:
    """Answer a successful modal form: close the modal, toast, let listeners refresh."""
    return trigger(
        HttpResponse(status=204),
        closeModal=True,
        recordSaved=True,
        showToast={"message": message, "level": "success"},
        **events,
    )


def paginate(request: HttpRequest, queryset, *, per_page: int = 50, max_per_page: int = 200):
    with contextlib.suppress(ValueError):
        per_page = max(1, min(int(request.GET.get("page_size", per_page)), max_per_page))
    return Paginator(queryset, per_page).get_page(request.GET.get("page"))


def querystring_without(request: HttpRequest, *keys: str) -> str:
    params = request.GET.copy()
    for key in keys:
        params.pop(key, None)
    return params.urlencode()
