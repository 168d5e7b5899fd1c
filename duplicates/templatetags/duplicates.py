"""Duplicate warnings where records are entered and read: the create/edit forms, the convert
modal and detail pages. Each asks the selectors as the signed-in user."""

from __future__ import annotations

from django import template
from django.urls import reverse

from duplicates import rules, selectors
from duplicates.sources import type_of
from leads import selectors as lead_selectors

register = template.Library()

SLUGS = {rules.LEAD: "leads", rules.PERSON: "people", rules.ORGANIZATION: "organizations"}


@register.inclusion_tag("duplicates/_form_check.html", takes_context=True)
def duplicate_check(context, kind: str, form=None, exclude=None, css_class="") -> dict:
    """The live "possible duplicate" box of a create/edit form: filled as the user types
    (HTMX) and, when the form comes back with errors, from what was sent. Placed next to the
    fields it checks, so that on a phone it appears where the user is typing."""
    candidates = []
    request = context.get("request")
    if form is not None and form.is_bound and request is not None:
        candidates = selectors.candidates_for_data(
            user=request.user, kind=kind, data=form.data, exclude_id=exclude
        )
    query = f"kind={kind}" + (f"&exclude={exclude}" if exclude else "")
    return {
        "check_url": f"{reverse('duplicates:check')}?{query}",
        "candidates": candidates,
        "css_class": css_class,
    }


@register.inclusion_tag("duplicates/_notice_slot.html")
def duplicate_notice(record) -> dict:
    """A record's page: where the records that look like it appear, loaded after the page
    (``duplicates.views.record_notice``) so the page itself costs no query for them."""
    if record is None or (type_of(record) == rules.LEAD and record.is_converted):
        return {"url": ""}
    slug = SLUGS[type_of(record)]
    return {"url": reverse("duplicates:record_notice", args=[slug, record.pk])}


def notice_context(request, record) -> dict:
    """What ``_notice.html`` shows: the look-alikes of ``record`` with "not a duplicate"."""
    record_type = type_of(record)
    candidates = selectors.duplicates_for(user=request.user, record=record)
    same = [c.record.pk for c in candidates if c.type == record_type]
    convert_url = ""
    if record_type == rules.LEAD and lead_selectors.lead_convertible(request.user, record):
        convert_url = reverse("leads:convert", args=[record.pk])
    return {
        "candidates": candidates,
        "record": record,
        # A lead alike an existing person: convert it, linking that person (the modal checks
        # the rest, e.g. that the workflow allows the move).
        "convert_url": convert_url,
        "dismiss_url": reverse("duplicates:record_dismiss", args=[SLUGS[record_type], record.pk]),
        "merge_url": selectors.merge_url(record_type, [record.pk, *same]) if same else "",
    }


@register.inclusion_tag("duplicates/_convert.html", takes_context=True)
def convert_candidates(context, lead, form) -> dict:
    """The convert modal: people and organizations that look like the lead's contact and
    company, each to link instead of creating a copy."""
    request = context.get("request")
    candidates = selectors.duplicates_for(
        user=request.user, record=lead, types={rules.PERSON, rules.ORGANIZATION}
    )
    chosen = {
        rules.PERSON: str(form["person"].value() or ""),
        rules.ORGANIZATION: str(form["organization"].value() or ""),
    }
    url = reverse("leads:convert", args=[lead.pk])
    rows = []
    for c in candidates:
        rows.append(
            {
                "candidate": c,
                "use_url": f"{url}?{c.type}={c.record.pk}",
                "chosen": chosen[c.type] == str(c.record.pk),
            }
        )
    return {
        "people": [r for r in rows if r["candidate"].type == rules.PERSON],
        "organizations": [r for r in rows if r["candidate"].type == rules.ORGANIZATION],
    }


@register.simple_tag
def record_link(record_type: str, record) -> str:
    """The detail page of a lead, person or organization."""
    return reverse(selectors.DETAIL_URLS[record_type], args=[record.pk])
