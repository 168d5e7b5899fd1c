"""FilterSets of people and organizations, shared by the HTML tables and the API.

Both take the ``cf_<name>`` custom field filters and ``ordering=cf_<name>``
(``customfields.filters``)."""

import django_filters
from django.db.models import F, Q

from crm.models import Organization, Person
from customfields.filters import CustomFieldFilterSetMixin


class StableOrderingFilter(django_filters.OrderingFilter):
    """Records without a value sort last in both directions (the same on SQLite and
    PostgreSQL), and the primary key breaks ties so pages never repeat or skip a row."""

    def get_ordering_value(self, param):
        value = super().get_ordering_value(param)
        if not isinstance(value, str):
            return value
        if value.startswith("-"):
            return F(value[1:]).desc(nulls_last=True)
        return F(value).asc(nulls_last=True)

    def filter(self, qs, value):
        qs = super().filter(qs, value)
        return qs.order_by(*qs.query.order_by, "pk") if value else qs


class PersonFilter(CustomFieldFilterSetMixin, django_filters.FilterSet):
    cf_entity_type = "person"

    search = django_filters.CharFilter(method="filter_search", label="Search")
    organization = django_filters.UUIDFilter(field_name="organization_id")
    owner = django_filters.NumberFilter(field_name="owner_id")
    created_after = django_filters.DateFilter(field_name="created_at", lookup_expr="date__gte")
    created_before = django_filters.DateFilter(field_name="created_at", lookup_expr="date__lte")
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

    search = django_filters.CharFilter(method="filter_search", label="Search")
    industry = django_filters.CharFilter(field_name="industry", lookup_expr="iexact")
    owner = django_filters.NumberFilter(field_name="owner_id")
    created_after = django_filters.DateFilter(field_name="created_at", lookup_expr="date__gte")
    created_before = django_filters.DateFilter(field_name="created_at", lookup_expr="date__lte")
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
