"""The leads a person's or an organization's page lists (``crm.records.details`` related
records), registered from ``LeadsConfig.ready``. Only leads the user may see."""

from __future__ import annotations

from django.db.models import Q
from django.urls import reverse

from crm import formatting
from crm.models import Organization, Person
from crm.records.details import RelatedRow, RelatedSection, related_section
from leads import selectors
from leads.models import Lead


def _row(lead: Lead) -> RelatedRow:
    return RelatedRow(
        title=lead.name,
        url=reverse("leads:detail", args=[lead.pk]),
        badges=(
            formatting.step_badge(lead.wfm_project.current_step),
            formatting.score_badge(lead.lead_score),
        ),
        meta=(
            formatting.money(lead.estimated_value, lead.currency),
            formatting.person_name(lead.assigned_to or lead.owner),
        ),
    )


def _section(user, condition: Q) -> RelatedSection:
    return related_section(
        key="leads",
        title="Leads",
        icon="person-lines-fill",
        queryset=selectors.lead_list(user=user).filter(condition).order_by("-created_at"),
        row=_row,
        empty="No leads you can see.",
    )


def person_leads(user, person: Person) -> RelatedSection:
    """Leads about the person: as their contact, or converted into them."""
    return _section(user, Q(person=person) | Q(converted_to_person=person))


def organization_leads(user, organization: Organization) -> RelatedSection:
    return _section(user, Q(organization=organization) | Q(converted_to_organization=organization))
