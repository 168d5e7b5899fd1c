"""Records for the AI tests, made through the services (so permissions are real)."""

from __future__ import annotations

from decimal import Decimal

from activities import services as activity_services
from crm import services as crm_services
from deals import services as deal_services
from leads import services as lead_services
from leads.models import Lead


def make_lead(owner, name: str, *, score: int | None = None, **fields) -> Lead:
    fields.setdefault("company_name", f"{name} Inc")
    fields.setdefault("contact_name", "Pat Buyer")
    lead = lead_services.lead_create(by=owner, name=name, **fields)
    if score is not None:
        Lead.objects.filter(pk=lead.pk).update(lead_score=score)
        lead.lead_score = score
    return lead


def make_deal(owner, name: str, amount: str = "5000", **fields):
    return deal_services.deal_create(by=owner, name=name, amount=Decimal(amount), **fields)


def make_org(owner, name: str, **fields):
    return crm_services.organization_create(by=owner, name=name, **fields)


def make_person(owner, first: str, last: str = "", **fields):
    return crm_services.person_create(by=owner, first_name=first, last_name=last, **fields)


def make_activity(owner, subject: str, **links):
    links.setdefault("type", "task")
    return activity_services.activity_create(by=owner, subject=subject, **links)
