"""The deals a person's or an organization's page lists (``crm.records.details`` related
records), registered from ``DealsConfig.ready``. Only deals the user may see."""

from __future__ import annotations

from django.urls import reverse

from crm import formatting
from crm.models import Organization, Person
from crm.records.details import RelatedRow, RelatedSection, related_section
from deals import selectors
from deals.models import Deal


def _row(deal: Deal) -> RelatedRow:
    meta = [formatting.money(deal.amount, deal.currency)]
    if deal.expected_close_date and not (deal.won_at or deal.lost_at):
        meta.append(formatting.when(deal.expected_close_date))
    return RelatedRow(
        title=deal.name,
        url=reverse("deals:detail", args=[deal.pk]),
        badges=(formatting.step_badge(deal.wfm_project.current_step),),
        meta=(*meta, formatting.person_name(deal.assigned_to or deal.owner)),
    )


def _section(user, **lookup) -> RelatedSection:
    return related_section(
        key="deals",
        title="Deals",
        icon="kanban",
        queryset=selectors.deal_list(user=user).filter(**lookup),
        row=_row,
        empty="No deals you can see.",
    )


def person_deals(user, person: Person) -> RelatedSection:
    return _section(user, person=person)


def organization_deals(user, organization: Organization) -> RelatedSection:
    return _section(user, organization=organization)
