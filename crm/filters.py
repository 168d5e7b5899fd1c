"""FilterSets of people and organizations, shared by the HTML tables and the API, and the
filter classes every record FilterSet uses.

Both take the ``cf_<name>`` custom field filters and ``ordering=cf_<name>``
(``customfields.filters``).

A filter value that cannot be applied is a form error (the API answers 400 naming the
parameter, a table shows the message), never a database error: integers are bounded to what
a 64-bit column holds (``BigIntFilter``), booleans are ``true`` / ``false`` (``1`` / ``0``)
and nothing else (``StrictBooleanFilter``), search text has a length cap (``SearchTextFilter``).
"""

from __future__ import annotations

import django_filters
from django import forms
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models import F, Q
from django_filters.rest_framework import FilterSet as RestFilterSet
from drf_spectacular.utils import extend_schema_field

from crm import permissions
from crm.dates import local_day_bounds
from crm.models import Organization, Person
from customfields.filters import CustomFieldFilterSetMixin

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
SEARCH_MAX_LENGTH = 200  # the tables' search input has the same maxlength


class BigIntField(forms.IntegerField):
    """A whole number that a 64-bit integer column can hold."""

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", INT64_MIN)
        kwargs.setdefault("max_value", INT64_MAX)
        super().__init__(**kwargs)


@extend_schema_field(
    {"type": "integer", "format": "int64", "minimum": INT64_MIN, "maximum": INT64_MAX}
)
class BigIntFilter(django_filters.NumberFilter):
    """An integer filter (ids, scores) bounded to 64 bits: a larger value is a form error,
    not an overflow in the database driver."""

    field_class = BigIntField


class LocalDayFilter(django_filters.DateFilter):
    """Records whose timestamp ``field_name`` falls on or after (``bound="from"``) or on or
    before (``bound="to"``) a local day (``settings.TIME_ZONE`` or the active time zone).

    The column is compared with the day's local midnights (``crm.dates``), not cast to a
    date: ``created_at::date >= …`` reads every row, ``created_at >= …`` an index range."""

    def __init__(self, *, bound: str, **kwargs):
        if bound not in {"from", "to"}:
            raise ValueError(f"bound must be 'from' or 'to', not {bound!r}")
        self.bound = bound
        super().__init__(**kwargs)

    def filter(self, qs, value):
        if value in (None, ""):
            return qs
        start, end = local_day_bounds(value)
        if self.bound == "from":
            return qs if start is None else qs.filter(**{f"{self.field_name}__gte": start})
        return qs if end is None else qs.filter(**{f"{self.field_name}__lt": end})


class OwnerOrAssigneeFilter(BigIntFilter):
    """Records a user owns or is assigned (a user id): what My day counts as "mine"."""

    def filter(self, qs, value):
        if value in (None, ""):
            return qs
        return qs.filter(permissions.owned_or_assigned(value))


class StrictNullBooleanField(forms.NullBooleanField):
    """``true`` / ``false`` (any case) or ``1`` / ``0``; empty is no filter; anything else is
    an error (Django's own field reads an unknown word as "no filter")."""

    widget = forms.TextInput
    TRUE = frozenset({"true", "1"})
    FALSE = frozenset({"false", "0"})
    default_error_messages = {"invalid": "Select a valid choice: true or false."}

    def to_python(self, value):
        if value is None or isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text == "":
            return None
        if text in self.TRUE:
            return True
        if text in self.FALSE:
            return False
        raise forms.ValidationError(self.error_messages["invalid"], code="invalid")


class StrictBooleanFilter(django_filters.BooleanFilter):
    field_class = StrictNullBooleanField


@extend_schema_field({"type": "string", "maxLength": SEARCH_MAX_LENGTH})
class SearchTextFilter(django_filters.CharFilter):
    """Free-text search, at most ``SEARCH_MAX_LENGTH`` characters."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_length", SEARCH_MAX_LENGTH)
        kwargs.setdefault("label", "Search")
        super().__init__(*args, **kwargs)


class StrictFilterSet(RestFilterSet):
    """The base of the FilterSets the API generates from a view's ``filterset_fields``
    (``crm.rest.FilterBackend``): booleans are strict there too."""

    FILTER_DEFAULTS = {
        **RestFilterSet.FILTER_DEFAULTS,
        models.BooleanField: {"filter_class": StrictBooleanFilter},
    }


class IdOrNoneField(forms.Field):
    """A 64-bit id, or ``none``: returns the id (an ``int``) or the string ``"none"``."""

    default_error_messages = {"invalid": "Give a user id, or “none”."}

    def to_python(self, value):
        text = "" if value in self.empty_values else str(value).strip()
        if not text:
            return None
        if text.lower() == "none":
            return "none"
        if not text.isdigit():
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        number = int(text)
        if number > INT64_MAX:
            raise forms.ValidationError(
                "Ensure this value is less than or equal to %(limit_value)s.",
                code="max_value",
                params={"limit_value": INT64_MAX},
            )
        return number


@extend_schema_field(
    {
        "oneOf": [
            {"type": "integer", "format": "int64", "minimum": 0, "maximum": INT64_MAX},
            {"type": "string", "enum": ["none"]},
        ]
    }
)
class IdOrNoneFilter(django_filters.Filter):
    """A user id, or ``none`` (the filter's method decides what ``none`` means)."""

    field_class = IdOrNoneField


class StableOrderingFilter(django_filters.OrderingFilter):
    """Records without a value sort last in both directions (the same on SQLite and
    PostgreSQL), and the primary key breaks ties so pages never repeat or skip a row.

    A path that can hold no NULL (a non-null field through non-null relations) is ordered
    without ``NULLS LAST``: the same rows in the same order, but PostgreSQL can then read
    them from the field's index (``DESC`` is ``NULLS FIRST`` in a b-tree), where ``NULLS
    LAST`` made it sort every matching row (the lead table by score within a step, 100,000
    leads: 440 ms → 12 ms)."""

    def get_ordering_value(self, param):
        value = super().get_ordering_value(param)
        if not isinstance(value, str):
            return value
        name = value.lstrip("-")
        nulls = {"nulls_last": True} if _may_be_null(self.model, name) else {}
        return F(name).desc(**nulls) if value.startswith("-") else F(name).asc(**nulls)

    def filter(self, qs, value):
        qs = super().filter(qs, value)
        return qs.order_by(*qs.query.order_by, "pk") if value else qs


def _may_be_null(model, path: str) -> bool:
    """Can the ``__`` path from ``model`` end in NULL (a nullable field or relation on the
    way, or a path this does not follow)?"""
    for part in path.split("__"):
        if model is None:
            return True
        try:
            field = model._meta.get_field(part)
        except FieldDoesNotExist:
            return True
        if not field.concrete or getattr(field, "null", True):
            return True
        model = field.related_model if field.is_relation else None
    return False


class PersonFilter(CustomFieldFilterSetMixin, django_filters.FilterSet):
    cf_entity_type = "person"

    search = SearchTextFilter(method="filter_search")
    organization = django_filters.UUIDFilter(field_name="organization_id")
    owner = BigIntFilter(field_name="owner_id")
    created_after = LocalDayFilter(field_name="created_at", bound="from")
    created_before = LocalDayFilter(field_name="created_at", bound="to")
    ordering = StableOrderingFilter(
        fields=(
            ("last_name", "last_name"),
            ("first_name", "first_name"),
            ("email", "email"),
            ("job_title", "job_title"),
            ("organization__name", "organization"),
            ("created_at", "created_at"),
        )
    )

    class Meta:
        model = Person
        fields = ["search", "organization", "owner", "created_after", "created_before"]

    def filter_search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(first_name__icontains=value)
            | Q(last_name__icontains=value)
            | Q(email__icontains=value)
            | Q(job_title__icontains=value)
            | Q(organization__name__icontains=value)
        )


class OrganizationFilter(CustomFieldFilterSetMixin, django_filters.FilterSet):
    cf_entity_type = "organization"

    search = SearchTextFilter(method="filter_search")
    industry = django_filters.CharFilter(field_name="industry", lookup_expr="iexact")
    owner = BigIntFilter(field_name="owner_id")
    created_after = LocalDayFilter(field_name="created_at", bound="from")
    created_before = LocalDayFilter(field_name="created_at", bound="to")
    ordering = StableOrderingFilter(
        fields=(
            ("name", "name"),
            ("domain", "domain"),
            ("industry", "industry"),
            ("size", "size"),
            ("created_at", "created_at"),
        )
    )

    class Meta:
        model = Organization
        fields = ["search", "industry", "owner", "created_after", "created_before"]

    def filter_search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(name__icontains=value) | Q(domain__icontains=value) | Q(industry__icontains=value)
        )
