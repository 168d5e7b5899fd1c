"""The deal FilterSet, shared by the table, the board and the API (SPEC §6, §7).

Parameters: ``search`` (name, organization, person), ``step`` (step id, repeatable),
``workflow``, ``outcome`` (open / won / lost), ``owner``, ``assigned_to`` (a user id, or
``none`` for unassigned deals), ``owner_or_assignee`` (a user id: deals the user owns or
is assigned), ``amount_min`` / ``amount_max``, ``expected_close_after`` /
``expected_close_before``, ``created_after`` / ``created_before``, ``cf_<name>`` custom field
filters (``customfields.filters``) and ``ordering`` (e.g. ``-amount``, ``step``,
``weighted_amount``, ``cf_<name>``).
"""

from __future__ import annotations

import django_filters
from django.db.models import Q
from drf_spectacular.utils import extend_schema_field

from crm.filters import (
    BigIntFilter,
    IdOrNoneFilter,
    LocalDayFilter,
    OwnerOrAssigneeFilter,
    SearchTextFilter,
    StableOrderingFilter,
)
from customfields.filters import CustomFieldFilterSetMixin
from deals.models import Deal

ORDERING_FIELDS = (
    ("name", "name"),
    ("organization__name", "organization"),
    ("amount", "amount"),
    ("wfm_project__current_step__order", "step"),
    ("probability", "probability"),
    ("weighted_amount", "weighted_amount"),
    ("expected_close_date", "expected_close_date"),
    ("assigned_to__username", "assigned_to"),
    ("owner__username", "owner"),
    ("created_at", "created_at"),
    ("updated_at", "updated_at"),
)


def _lead_sources():
    # The lead model through the relation: deals do not import the leads app.
    return Deal._meta.get_field("source_lead").related_model.Source.choices


OUTCOME_CHOICES = (("open", "Open"), ("won", "Won"), ("lost", "Lost"))


@extend_schema_field({"type": "number", "maximum": 1e50})
class AmountFilter(django_filters.NumberFilter):
    """An amount bound, at most 1e50 (as django-filter's number filters take)."""


class StepFilter(django_filters.BaseInFilter, BigIntFilter):
    """``step=3`` or ``step=3,4`` (any of these steps)."""


class DealFilter(CustomFieldFilterSetMixin, django_filters.FilterSet):
    cf_entity_type = "deal"

    search = SearchTextFilter(method="filter_search")
    step = StepFilter(field_name="wfm_project__current_step_id", label="Step")
    workflow = BigIntFilter(field_name="wfm_project__workflow_id")
    outcome = django_filters.ChoiceFilter(
        choices=OUTCOME_CHOICES, method="filter_outcome", label="Status"
    )
    owner = BigIntFilter(field_name="owner_id")
    assigned_to = IdOrNoneFilter(method="filter_assigned_to", label="Assignee")
    owner_or_assignee = OwnerOrAssigneeFilter(label="Owner or assignee")
    amount_min = AmountFilter(field_name="amount", lookup_expr="gte")
    amount_max = AmountFilter(field_name="amount", lookup_expr="lte")
    expected_close_after = django_filters.DateFilter(
        field_name="expected_close_date", lookup_expr="gte"
    )
    expected_close_before = django_filters.DateFilter(
        field_name="expected_close_date", lookup_expr="lte"
    )
    created_after = LocalDayFilter(field_name="created_at", bound="from")
    created_before = LocalDayFilter(field_name="created_at", bound="to")
    # The dashboard's drill-downs (issue 16): deals won / lost on these local days, and the
    # source of the lead a deal was converted from.
    won_after = LocalDayFilter(field_name="won_at", bound="from")
    won_before = LocalDayFilter(field_name="won_at", bound="to")
    lost_after = LocalDayFilter(field_name="lost_at", bound="from")
    lost_before = LocalDayFilter(field_name="lost_at", bound="to")
    lead_source = django_filters.MultipleChoiceFilter(
        field_name="source_lead__source", choices=_lead_sources(), label="Lead source"
    )
    ordering = StableOrderingFilter(fields=ORDERING_FIELDS)

    class Meta:
        model = Deal
        fields = [
            "search",
            "step",
            "workflow",
            "outcome",
            "owner",
            "assigned_to",
            "owner_or_assignee",
            "amount_min",
            "amount_max",
            "expected_close_after",
            "expected_close_before",
            "created_after",
            "created_before",
            "won_after",
            "won_before",
            "lost_after",
            "lost_before",
            "lead_source",
        ]

    def filter_search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(name__icontains=value)
            | Q(organization__name__icontains=value)
            | Q(person__first_name__icontains=value)
            | Q(person__last_name__icontains=value)
            | Q(person__email__icontains=value)
        )

    def filter_outcome(self, queryset, name, value):
        outcome = {"open": "none", "won": "won", "lost": "lost"}[value]
        return queryset.filter(wfm_project__current_step__outcome=outcome)

    def filter_assigned_to(self, queryset, name, value):
        # ``value``: a user id, or "none" for unassigned deals (``IdOrNoneField``).
        if value == "none":
            return queryset.filter(assigned_to__isnull=True)
        return queryset.filter(assigned_to_id=value)
