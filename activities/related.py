"""The open activities a person's or an organization's page lists (``crm.records.details``
related records), registered from ``ActivitiesConfig.ready``: those on the record itself and on
its leads and deals, that the user may see, the next due first."""

from __future__ import annotations

from django.db.models import F, Q
from django.urls import reverse
from django.utils.html import format_html

from activities import selectors
from activities.models import Activity
from crm import formatting
from crm.models import Organization, Person
from crm.records.details import RelatedRow, RelatedSection, related_section

LIMIT = 5  # the next few; the timeline below lists them all


def _url(activity: Activity) -> str:
    if activity.lead_id:
        return reverse("leads:detail", args=[activity.lead_id])
    if activity.deal_id:
        return reverse("deals:detail", args=[activity.deal_id])
    return reverse("activities:edit", args=[activity.pk])


def _row(activity: Activity) -> RelatedRow:
    due = (
        format_html("Due {}", formatting.when(activity.due_at, "M j, H:i"))
        if activity.due_at
        else "No due date"
    )
    on = activity.lead or activity.deal
    return RelatedRow(
        title=activity.subject,
        url=_url(activity),
        badges=((formatting.state_badge("Overdue", "overdue"),) if activity.is_overdue else ()),
        meta=tuple(
            m
            for m in (
                activity.get_type_display(),
                due,
                on.name if on else "",
            )
            if m
        ),
    )


def _section(user, condition: Q) -> RelatedSection:
    rows = (
        selectors.activity_list(user=user)
        .filter(condition, is_done=False)
        .select_related("lead", "deal")
        .order_by(F("due_at").asc(nulls_last=True), "-created_at")
    )
    return related_section(
        key="activities",
        title="Open activities",
        icon="check2-square",
        queryset=rows,
        row=_row,
        empty="No open activities.",
        limit=LIMIT,
    )


def person_activities(user, person: Person) -> RelatedSection:
    return _section(user, Q(person=person) | Q(lead__person=person) | Q(deal__person=person))


def organization_activities(user, organization: Organization) -> RelatedSection:
    return _section(
        user,
        Q(organization=organization)
        | Q(lead__organization=organization)
        | Q(deal__organization=organization)
        | Q(person__organization=organization),
    )
