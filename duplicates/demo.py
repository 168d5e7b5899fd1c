"""Demo duplicates: a few records entered twice, as happens in real use, so that a newcomer
sees the warnings, the detail notices and the Duplicates page. Fixed data (deterministic);
each record is created through the services once (idempotent: an existing one is kept).

Then ``finish`` runs the finder over everything, as the nightly task would have.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django.utils import timezone

from crm import services as crm_services
from crm.models import Organization, Person, User
from duplicates.services import duplicates_find
from leads import services as lead_services
from leads.models import Lead, TouchPoint
from wfm.models import Project, StatusHistory

# A lead re-entered from a trade-show badge scan: the address typed in another case, the
# phone number in another format (both leads are rep1's).
LEADS = [
    # owner, name, contact, email, phone, company, source, days ago
    (
        "rep1",
        "Northwind Traders – Fleet telematics",
        "Hannah Weber",
        "hannah.weber@northwind-traders.example",
        "+1 415 555 0142",
        "Northwind Traders",
        Lead.Source.WEB,
        21,
    ),
    (
        "rep1",
        "Northwind – telematics follow-up",
        "Hannah Weber",
        "Hannah.Weber@Northwind-Traders.example",
        "(415) 555-0142",
        "Northwind Traders Inc.",
        Lead.Source.EVENT,
        4,
    ),
    # A new lead from someone who is already a contact (Kenji Sato, CFO of Stark Renewables):
    # the convert modal offers the existing person and organization.
    (
        "manager",
        "Stark Renewables – Solar farm monitoring",
        "Kenji Sato",
        "kenji@starkrenew.energy",
        "",
        "Stark Renewables",
        Lead.Source.REFERRAL,
        2,
    ),
]

# A person typed twice (another address at the same company), an organization entered again
# by its website.
PEOPLE = [
    # owner, first, last, email, phone, organization
    ("rep1", "Priya", "Nair", "p.nair@globexhealth.io", "+1 617 555 0199", "Globex Health"),
]
ORGANIZATIONS = [
    # owner, name, website
    ("rep2", "Initech", "www.initech.dev"),
]


def seed(users: dict[str, User], out) -> None:
    made = 0
    for owner, name, contact, email, phone, company, source, days_ago in LEADS:
        if Lead.all_objects.filter(name=name).exists():
            continue
        lead = lead_services.lead_create(
            by=users[owner],
            name=name,
            source=source,
            contact_name=contact,
            contact_email=email,
            contact_phone=phone,
            company_name=company,
        )
        _backdate(lead, days_ago)
        made += 1
    organizations = {o.name: o for o in Organization.objects.all()}
    for owner, first, last, email, phone, org in PEOPLE:
        if Person.all_objects.filter(email=email).exists():
            continue
        crm_services.person_create(
            by=users[owner],
            first_name=first,
            last_name=last,
            email=email,
            phone=phone,
            organization=organizations.get(org),
        )
        made += 1
    for owner, name, website in ORGANIZATIONS:
        if Organization.all_objects.filter(name=name).exists():
            continue
        crm_services.organization_create(by=users[owner], name=name, domain=website)
        made += 1
    out.write(f"  {made} records entered twice on purpose")


def _backdate(lead: Lead, days_ago: int) -> None:
    """Entered ``days_ago`` days ago at 10:00, as the other demo leads are dated."""
    day = timezone.localdate() - timedelta(days=days_ago)
    at = timezone.make_aware(datetime.combine(day, time(10)))
    Lead.all_objects.filter(pk=lead.pk).update(created_at=at, updated_at=at)
    Project.objects.filter(pk=lead.wfm_project_id).update(created_at=at, updated_at=at)
    StatusHistory.objects.filter(project_id=lead.wfm_project_id).update(at=at)
    TouchPoint.objects.filter(lead=lead).update(at=at)
    lead.history.update(history_date=at)


def finish(users: dict[str, User], out) -> None:
    result = duplicates_find()
    out.write(f"  {result.pairs} possible duplicate pairs among {result.checked} records")
