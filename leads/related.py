"""Related-records sections of leads (``crm.records.details``), registered from
``LeadsConfig.ready``: the leads a person's or an organization's page lists (only leads the
user may see), and a lead's touch-point timeline."""

from __future__ import annotations

from django.db.models import Q
from django.urls import reverse

from crm import formatting
from crm.models import Organization, Person
from crm.records.details import RelatedRow, RelatedSection, related_section
from leads import selectors
from leads.models import Lead, TouchPoint


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


def deal_leads(user, deal) -> RelatedSection | None:
    """The lead a deal was converted from (if the user may see it); nothing for a deal made
    without one."""
    section = related_section(
        key="leads",
        title="From lead",
        icon="person-lines-fill",
        queryset=selectors.lead_list(user=user).filter(converted_to_deal=deal),
        row=_row,
        empty="",
    )
    return section if section.rows else None


def _touch_row(touch: TouchPoint) -> RelatedRow:
    campaign = " / ".join(v for v in (touch.utm_medium, touch.utm_campaign) if v)
    return RelatedRow(
        title=touch.utm_source or "(direct)",
        url="",  # landing pages are visitors' input: shown as text, never linked
        badges=(formatting.state_badge(touch.get_channel_display(), "touch"),),
        meta=tuple(
            m
            for m in (
                campaign,
                touch.form.name if touch.form_id and touch.form else "",
                touch.landing_page and f"landed on {touch.landing_page[:80]}",
                touch.referrer_url and f"from {touch.referrer_url[:80]}",
                formatting.when(touch.at),
            )
            if m
        ),
    )


def lead_touch_points(user, lead: Lead) -> RelatedSection:
    """The lead's marketing touches, newest first (the first touch is the oldest)."""
    from leads.capture import selectors as capture_selectors

    return related_section(
        key="touch-points",
        title="Touch points",
        icon="signpost-split",
        queryset=capture_selectors.touch_point_list(user=user, lead=lead),
        row=_touch_row,
        empty="No marketing touches recorded.",
    )
