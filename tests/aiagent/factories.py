"""Records for the AI tests, made through the services (so permissions are real), and
factory-boy factories of the assistant's own rows (proposals, analysis runs) for the counts
that read them."""

from __future__ import annotations

import secrets
from datetime import timedelta
from decimal import Decimal

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from activities import services as activity_services
from aiagent.models import AnalysisRun, Proposal
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


class ProposalFactory(DjangoModelFactory):
    """A confirm-only action the assistant proposed (pending unless ``status`` says)."""

    class Meta:
        model = Proposal

    token = factory.LazyFunction(lambda: secrets.token_urlsafe(32))
    user = factory.SubFactory("tests.factories.UserFactory", role="Sales Rep")
    tool = "convert_lead"
    arguments = factory.LazyFunction(dict)
    arguments_hash = factory.Faker("sha256")
    summary = factory.Faker("sentence")
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(minutes=10))


class AnalysisRunFactory(DjangoModelFactory):
    """A recorded qualification analysis (stored, by the offline rules)."""

    class Meta:
        model = AnalysisRun

    user = factory.SubFactory("tests.factories.UserFactory", role="Sales Rep")
    mode = "rules"
    stored = True
    suggested = 0
    applied = 0
