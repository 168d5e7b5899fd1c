"""Demo leads: about 200, over every step, source and both reps, made through the services."""

from __future__ import annotations

import random
import unicodedata
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from crm.models import User
from leads import selectors, services
from leads.models import Lead
from wfm.defaults import LeadStep

COMPANIES = [
    "Northwind Traders",
    "Contoso Pharma",
    "Fabrikam Motors",
    "Tailspin Toys",
    "Wingtip Travel",
    "Adventure Works",
    "Blue Yonder Air",
    "Coho Winery",
    "Litware Labs",
    "Proseware Systems",
    "Lucerne Publishing",
    "Margie's Travel",
    "Trey Research",
    "Woodgrove Bank",
    "Alpine Ski House",
    "Humongous Insurance",
    "Wide World Importers",
    "Graphic Design Institute",
    "Fourth Coffee",
    "School of Fine Art",
    "Relecloud",
    "VanArsdel Foods",
    "Bellows College",
    "Datum Corporation",
]
FIRST = [
    "Ava",
    "Ben",
    "Chloe",
    "Diego",
    "Emma",
    "Farid",
    "Grace",
    "Hugo",
    "Ines",
    "Jonas",
    "Kira",
    "Liam",
    "Mei",
    "Noah",
    "Olga",
    "Pavel",
    "Quinn",
    "Rosa",
    "Sven",
    "Tara",
]
LAST = [
    "Andersen",
    "Brown",
    "Costa",
    "Dubois",
    "Eriksen",
    "Fischer",
    "García",
    "Haddad",
    "Ivanova",
    "Jensen",
    "Kowalski",
    "Larsen",
    "Müller",
    "Novak",
    "Okafor",
    "Peters",
]
TOPICS = [
    "CRM rollout",
    "Website redesign",
    "Fleet telematics",
    "Data warehouse",
    "Support desk",
    "Marketing automation",
    "Security audit",
    "Mobile app",
    "ERP integration",
    "Training",
]

TARGET = 200


def seed(users: dict[str, User], out) -> None:
    _seed_capture_form(users, out)
    existing = Lead.all_objects.filter(created_by__username__in=["rep1", "rep2", "manager"]).count()
    if existing >= TARGET:
        out.write(f"  {existing} leads")
        return
    rng = random.Random(42 + existing)
    reps = [users["rep1"], users["rep2"]]
    steps = {s.name: s for s in _steps()}
    sources = [c for c, _ in Lead.Source.choices if c != Lead.Source.IMPORT]
    now = timezone.now()
    for n in range(existing, TARGET):
        rep = reps[n % 2]
        company = rng.choice(COMPANIES)
        first, last = rng.choice(FIRST), rng.choice(LAST)
        domain = company.lower().replace("'", "").replace(" ", "") + ".example"
        lead = services.lead_create(
            by=rep,
            name=f"{company} – {rng.choice(TOPICS)}",
            source=rng.choice(sources),
            company_name=company,
            contact_name=f"{first} {last}",
            contact_email=f"{_ascii(first)}.{_ascii(last)}{n}@{domain}",
            contact_phone=f"+1 555 {rng.randrange(100, 999)} {rng.randrange(1000, 9999)}",
            estimated_value=Decimal(rng.randrange(20, 900) * 100),
            estimated_close_date=(now + timedelta(days=rng.randrange(7, 180))).date(),
            priority=rng.choice([c for c, _ in Lead.Priority.choices]),
            assigned_to=rep if rng.random() < 0.85 else None,
            utm_source=rng.choice(["", "google", "linkedin", "newsletter"]),
        )
        Lead.objects.filter(pk=lead.pk).update(
            lead_score=rng.randrange(0, 101),
            created_at=now - timedelta(days=rng.randrange(0, 120), hours=rng.randrange(0, 24)),
        )
        _advance(rep, lead, rng, steps)
    out.write(f"  {Lead.all_objects.count()} leads")


def _seed_capture_form(users: dict[str, User], out) -> None:
    """An active "Website contact" form (hosted at /f/website-contact/) to try capture at once;
    its leads go to the assignment rules."""
    from leads.capture import services as capture_services
    from leads.models import CaptureForm

    form = CaptureForm.objects.filter(slug="website-contact").first()
    if form is None:
        form = capture_services.capture_form_create(
            by=users["manager"],
            name="Website contact",
            slug="website-contact",
            default_sub_source="Contact page",
            thank_you_message="Thank you! Our team will reply within one business day.",
        )
    out.write(f"  capture form “{form.name}”: /f/{form.slug}/ (key {form.key})")


def _ascii(name: str) -> str:
    """An email-safe spelling of a name (García → garcia)."""
    return unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()


def _steps():
    workflow = selectors.lead_project_type().default_workflow
    from wfm.selectors import step_list

    return step_list(workflow=workflow)


def _advance(rep: User, lead: Lead, rng: random.Random, steps: dict) -> None:
    """Spread leads over the workflow: most early, some qualified, disqualified or converted."""
    roll = rng.random()
    if roll < 0.35:
        return
    services.lead_transition(by=rep, lead=lead, to_step=steps[LeadStep.CONTACTED])
    if roll < 0.6:
        return
    if roll < 0.7:
        services.lead_disqualify(
            by=rep,
            lead=lead,
            reason=rng.choice(
                [
                    "No budget this year",
                    "Chose a competitor",
                    "Not a decision maker",
                    "Student project",
                ]
            ),
        )
        return
    services.lead_qualify(by=rep, lead=lead, notes="Budget and timeline confirmed on the call.")
    if roll < 0.9:
        return
    services.lead_convert(by=rep, lead=lead)
