"""FilterSet of the activities API (SPEC §7)."""

from datetime import datetime, time

import django_filters
from django import forms
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from activities.models import Activity
from crm.filters import BigIntFilter, StrictBooleanFilter


class DateOrDateTimeField(forms.Field):
    """An ISO 8601 date-time, or a date (meaning its start, in the server's time zone)."""

    def to_python(self, value):
        if value in (None, ""):
            return None
        try:
            moment = parse_datetime(value)
            if moment is None:
                day = parse_date(value)
                moment = datetime.combine(day, time.min) if day else None
        except ValueError:
            moment = None
        if moment is None:
            raise forms.ValidationError("Enter a date (2025-01-31) or an ISO 8601 date-time.")
        return timezone.make_aware(moment) if timezone.is_naive(moment) else moment


class DateOrDateTimeFilter(django_filters.Filter):
    field_class = DateOrDateTimeField


class ActivityFilter(django_filters.FilterSet):
    lead = django_filters.UUIDFilter(field_name="lead_id")
    deal = django_filters.UUIDFilter(field_name="deal_id")
    person = django_filters.UUIDFilter(field_name="person_id")
    organization = django_filters.UUIDFilter(field_name="organization_id")
    assigned_to = BigIntFilter(field_name="assigned_to_id")
    type = django_filters.MultipleChoiceFilter(choices=Activity.Type.choices)
    is_done = StrictBooleanFilter()
    is_system_activity = StrictBooleanFilter()
    due_after = DateOrDateTimeFilter(
        field_name="due_at", lookup_expr="gte", label="Due at or after (date or date-time)"
    )
    due_before = DateOrDateTimeFilter(
        field_name="due_at", lookup_expr="lt", label="Due before (date or date-time)"
    )
    ordering = django_filters.OrderingFilter(
        fields=(("due_at", "due_at"), ("created_at", "created_at"), ("done_at", "done_at"))
    )

    class Meta:
        model = Activity
        fields = [
            "lead",
            "deal",
            "person",
            "organization",
            "assigned_to",
            "type",
            "is_done",
            "is_system_activity",
            "due_after",
            "due_before",
        ]
