"""The lead FilterSet, shared by the table page, the board, CSV export and the API (SPEC §7)."""

from datetime import timedelta

import django_filters
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from crm.filters import (
    BigIntFilter,
    LocalDayFilter,
    OwnerOrAssigneeFilter,
    SearchTextFilter,
    StableOrderingFilter,
    StrictBooleanFilter,
)
from customfields.filters import CustomFieldFilterSetMixin
from leads.models import Lead
from wfm.models import StatusHistory


class TouchFilter(django_filters.CharFilter):
    """An exact attribution value (as UTM tags are: case-sensitive), surrounding spaces
    trimmed; served by the column's index."""

    def __init__(self, **kwargs):
        super().__init__(max_length=200, **kwargs)

    def filter(self, qs, value):
        return super().filter(qs, (value or "").strip())


STATES = (
    ("open", "Open"),
    ("closed", "Closed (converted or disqualified)"),
    ("converted", "Converted"),
    ("disqualified", "Disqualified"),
)
INACTIVE_DAYS_MAX = 3650  # ten years: "never" for any lead; a larger number overflows a date
# A lead in a final step or converted is closed; disqualified is the final step that loses.
OPEN = Q(converted_at__isnull=True) & ~Q(wfm_project__current_step__is_final=True)
DISQUALIFIED = Q(converted_at__isnull=True) & Q(
    wfm_project__current_step__is_final=True, wfm_project__current_step__outcome="lost"
)


class LeadFilter(CustomFieldFilterSetMixin, django_filters.FilterSet):
    cf_entity_type = "lead"

    search = SearchTextFilter(method="filter_search")
    step = BigIntFilter(field_name="wfm_project__current_step_id", label="Step")
    # Columns of the lead itself: no join can repeat a row, so no DISTINCT (django-filter's
    # default for these filters), which made PostgreSQL sort every matching row by all its
    # columns before a page of 50 (and count them through a hash aggregate).
    source = django_filters.MultipleChoiceFilter(choices=Lead.Source.choices, distinct=False)
    priority = django_filters.MultipleChoiceFilter(choices=Lead.Priority.choices, distinct=False)
    owner = BigIntFilter(field_name="owner_id")
    assigned_to = BigIntFilter(method="filter_assigned_to", label="Assignee")
    owner_or_assignee = OwnerOrAssigneeFilter(label="Owner or assignee")
    is_qualified = StrictBooleanFilter()
    is_converted = StrictBooleanFilter(
        field_name="converted_at", lookup_expr="isnull", exclude=True
    )
    score_min = BigIntFilter(field_name="lead_score", lookup_expr="gte")
    score_max = BigIntFilter(field_name="lead_score", lookup_expr="lte")
    created_after = LocalDayFilter(field_name="created_at", bound="from")
    created_before = LocalDayFilter(field_name="created_at", bound="to")
    # My day's numbers (issue 16): leads qualified / converted on these local days, whatever
    # their flags say now (a disqualified lead keeps the day it was qualified).
    qualified_after = LocalDayFilter(field_name="qualified_at", bound="from")
    qualified_before = LocalDayFilter(field_name="qualified_at", bound="to")
    converted_after = LocalDayFilter(field_name="converted_at", bound="from")
    converted_before = LocalDayFilter(field_name="converted_at", bound="to")
    workflow = BigIntFilter(field_name="wfm_project__workflow_id", label="Workflow")
    # The dashboard's funnel (issue 16): leads that entered this step at some time, whatever
    # their step now (the status history). A URL parameter only, not in the filter bar: an
    # input there would cost the board (whose columns are the steps) a second read of them.
    reached_step = BigIntFilter(method="filter_reached_step", label="Reached step")
    # Open: neither converted nor in a final step (the assistant's lists, issue 19).
    state = django_filters.ChoiceFilter(
        choices=STATES, method="filter_state", label="Status", empty_label="Any status"
    )
    inactive_days = BigIntFilter(method="filter_inactive_days", label="No activity for (days)")
    close_after = django_filters.DateFilter(field_name="estimated_close_date", lookup_expr="gte")
    close_before = django_filters.DateFilter(field_name="estimated_close_date", lookup_expr="lte")
    # Attribution (issue 15): the first touch is on the lead, the last one kept beside it.
    first_touch_source = TouchFilter(field_name="utm_source", label="First-touch source")
    first_touch_campaign = TouchFilter(field_name="utm_campaign", label="First-touch campaign")
    last_touch_source = TouchFilter(field_name="last_touch_source", label="Last-touch source")
    last_touch_campaign = TouchFilter(field_name="last_touch_campaign", label="Last-touch campaign")
    ordering = StableOrderingFilter(
        fields=(
            ("name", "name"),
            ("company_name", "company_name"),
            ("contact_name", "contact_name"),
            ("source", "source"),
            ("priority", "priority"),
            ("lead_score", "lead_score"),
            ("estimated_value", "estimated_value"),
            ("estimated_close_date", "estimated_close_date"),
            ("wfm_project__current_step__order", "step"),
            ("assigned_to__username", "assigned_to"),
            ("owner__username", "owner"),
            ("last_activity_at", "last_activity_at"),
            ("utm_source", "utm_source"),
            ("last_touch_source", "last_touch_source"),
            ("created_at", "created_at"),
        )
    )

    class Meta:
        model = Lead
        fields: list[str] = []

    def filter_search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(name__icontains=value)
            | Q(contact_name__icontains=value)
            | Q(contact_email__icontains=value)
            | Q(company_name__icontains=value)
        )

    def filter_reached_step(self, queryset, name, value):
        moves = StatusHistory.objects.filter(
            project_id=OuterRef("wfm_project_id"), to_step_id=value
        )
        return queryset.filter(Exists(moves))

    def filter_state(self, queryset, name, value):
        if value == "open":
            return queryset.filter(OPEN)
        if value == "closed":
            return queryset.exclude(OPEN)
        if value == "converted":
            return queryset.filter(converted_at__isnull=False)
        if value == "disqualified":
            return queryset.filter(DISQUALIFIED)
        return queryset

    def filter_inactive_days(self, queryset, name, value):
        """No activity logged in the last ``value`` days (or never). Under 1 is no filter (as
        the schema takes any whole number); over ``INACTIVE_DAYS_MAX`` is that many."""
        if value is None or value < 1:
            return queryset
        since = timezone.now() - timedelta(days=min(int(value), INACTIVE_DAYS_MAX))
        return queryset.filter(Q(last_activity_at__isnull=True) | Q(last_activity_at__lt=since))

    def filter_assigned_to(self, queryset, name, value):
        # 0 means "unassigned", useful for the triage view.
        if value == 0:
            return queryset.filter(assigned_to__isnull=True)
        return queryset.filter(assigned_to_id=value)
