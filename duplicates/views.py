"""HTML views of duplicate detection: the live form check, the Duplicates page of each record
type (managers and administrators) and "not a duplicate". Thin: parse → selector → service →
render."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from crm.errors import NotFound, PermissionDenied, ValidationFailed
from crm.htmx import render_page, trigger
from duplicates import rules, selectors, services
from duplicates.sources import SOURCES

# The Duplicates page's tabs: URL slug → record type.
PAGE_TYPES = {"leads": rules.LEAD, "people": rules.PERSON, "organizations": rules.ORGANIZATION}
TAB_LABELS = {rules.LEAD: "Leads", rules.PERSON: "People", rules.ORGANIZATION: "Organizations"}


@login_required
@require_GET
def duplicate_check(request: HttpRequest) -> HttpResponse:
    """The records the user may see that look like the form being filled in (``kind``: lead,
    person or organization; ``exclude``: the record being edited)."""
    kind = request.GET.get("kind", "")
    if kind not in SOURCES:
        raise ValidationFailed("kind must be lead, person or organization.")
    candidates = selectors.candidates_for_data(
        user=request.user, kind=kind, data=request.GET, exclude_id=request.GET.get("exclude")
    )
    return render(request, "duplicates/_warning.html", {"candidates": candidates})


def _page_type(user, slug: str) -> str:
    record_type = PAGE_TYPES.get(slug)
    if record_type is None:
        raise NotFound("No such record type.")
    if not selectors.may_review(user, record_type):
        raise PermissionDenied("Only managers and administrators review duplicates.")
    return record_type


@login_required
@require_GET
def duplicate_review(request: HttpRequest, slug: str) -> HttpResponse:
    """Candidate groups of one record type, best first, each with its pairs' scores and
    reasons, links to the records and "not a duplicate"."""
    record_type = _page_type(request.user, slug)
    page = selectors.candidate_groups(
        user=request.user, record_type=record_type, page=request.GET.get("page") or 1
    )
    tabs = [
        {"slug": s, "label": TAB_LABELS[t], "active": s == slug}
        for s, t in PAGE_TYPES.items()
        if selectors.may_review(request.user, t)
    ]
    context = {
        "page": page,
        "slug": slug,
        "record_type": record_type,
        "label": TAB_LABELS[record_type],
        "tabs": tabs,
        "last_run": services.last_run_started(),
    }
    return render_page(request, "duplicates/review.html", context, partial="groups")


@login_required
@require_POST
def candidate_dismiss(request: HttpRequest, candidate_id: int) -> HttpResponse:
    candidate = selectors.candidate_get(user=request.user, candidate_id=candidate_id)
    services.candidate_dismiss(by=request.user, candidate=candidate)
    return _dismissed(request, reverse("duplicates:review", args=[_slug(candidate.first_type)]))


@login_required
@require_POST
def record_dismiss(request: HttpRequest, slug: str, pk) -> HttpResponse:
    """ "Not a duplicate" from a record's page: the record in the path, the other in the
    body (``other_type``, ``other_id``)."""
    record_type = PAGE_TYPES.get(slug)
    if record_type is None:
        raise NotFound("No such record type.")
    record = selectors.record_get(
        user=request.user, record_type=record_type, pk=pk, action="change"
    )
    other_type = request.POST.get("other_type", "")
    if other_type not in SOURCES:
        raise ValidationFailed("Say which record this one is not a duplicate of.")
    other = selectors.record_get(
        user=request.user, record_type=other_type, pk=request.POST.get("other_id")
    )
    services.pair_dismiss(by=request.user, first=record, second=other)
    return _dismissed(request, reverse(selectors.DETAIL_URLS[record_type], args=[record.pk]))


@login_required
@require_GET
def record_notice(request: HttpRequest, slug: str, pk) -> HttpResponse:
    """The "possible duplicate" notice of a record's page, loaded after the page."""
    from duplicates.templatetags.duplicates import notice_context

    record_type = PAGE_TYPES.get(slug)
    if record_type is None:
        raise NotFound("No such record type.")
    record = selectors.record_get(user=request.user, record_type=record_type, pk=pk)
    return render(request, "duplicates/_notice.html", notice_context(request, record))


def _dismissed(request: HttpRequest, url: str) -> HttpResponse:
    if request.htmx:
        response = HttpResponse("")  # the pair's row is swapped out
        return trigger(
            response, showToast={"message": "Marked as not a duplicate.", "level": "success"}
        )
    return redirect(url)


def _slug(record_type: str) -> str:
    return next(s for s, t in PAGE_TYPES.items() if t == record_type)
