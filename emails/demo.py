"""Demo email templates (``manage.py seed_demo``): three a team writes first, created by the
manager through the service (so their merge fields are checked). Idempotent: a template whose
name exists is skipped."""

from __future__ import annotations

from crm.models import User
from emails import services
from emails.models import EmailTemplate

TEMPLATES = [
    (
        "First follow-up",
        "Following up on {{ lead.name }}",
        "Hi {{ lead.contact_name }},\n\nThanks for your time today. As promised, here is a short "
        "summary of what we discussed.\n\n{{ sender.first_name }}",
    ),
    (
        "Meeting request",
        "30 minutes next week?",
        "Hi {{ lead.contact_name }},\n\nWould you have 30 minutes next week to go through how "
        "teams like {{ lead.company_name }} use PipeCRM? Any slot that suits you works for "
        "me.\n\nBest,\n{{ sender.first_name }}",
    ),
    (
        "Checking in",
        "Checking in",
        "Hi {{ lead.contact_name }},\n\nI wanted to check whether **{{ lead.name }}** is still "
        "on your list this quarter, and whether anything is missing on our side.\n\n"
        "{{ sender.first_name }}",
    ),
]


def seed(users: dict[str, User], out) -> None:
    existing = set(EmailTemplate.objects.values_list("name", flat=True))
    created = 0
    for name, subject, body in TEMPLATES:
        if name not in existing:
            services.email_template_create(
                by=users["manager"], name=name, subject=subject, body=body
            )
            created += 1
    out.write(f"  {EmailTemplate.objects.count()} email templates ({created} new)")
