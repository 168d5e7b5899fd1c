"""A lead and a person "with one of everything" (issue 18): every kind of row that can hold
their personal data, made through the services where the product makes them."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.db import connection

from activities import services as activity_services
from activities.models import AutomationRule, AutomationRun, WebhookDelivery, WebhookSubscription
from aiagent import services as ai_services
from aiagent.models import Conversation, Message, ToolCall
from crm import services as crm_services
from crm.events import emit
from crm.models import ImportJob, ImportRow, Notification
from crm.roles import Role
from deals.models import Deal
from leads import services as lead_services
from leads.models import Lead, TouchPoint
from privacy import services as privacy_services
from privacy.models import Consent
from tests.customfields.factories import CustomFieldFactory
from tests.factories import UserFactory
from tests.leads.factories import CaptureFormFactory

NAME = "Marisol Quintero"
EMAIL = "marisol.q@quintero-family.example"
PHONE = "+49 30 5550 1234"
PERSON_NAME = "Teodoro Vasquez-Lind"
PERSON_EMAIL = "teo.vl@lind-household.example"
PERSON_PHONE = "+44 20 7946 0958"


@dataclass
class Subject:
    lead: Lead
    deal: Deal
    rep: object
    name: str
    email: str
    phone: str


def personal_strings_in_database(*strings: str) -> dict[str, list[str]]:
    """Every table and column (text, JSON, anything cast to text) holding one of ``strings``,
    ignoring case: ``{"table.column": [string, …]}``."""
    found: dict[str, list[str]] = {}
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            columns = [
                c.name for c in connection.introspection.get_table_description(cursor, table)
            ]
            for column in columns:
                for needle in strings:
                    cursor.execute(
                        f"SELECT COUNT(*) FROM {quote(table)} "
                        f"WHERE LOWER(CAST({quote(column)} AS TEXT)) LIKE %s",
                        [f"%{needle.lower()}%"],
                    )
                    if cursor.fetchone()[0]:
                        found.setdefault(f"{table}.{column}", []).append(needle)
    return found


@pytest.fixture
def admin(db):
    return UserFactory(username="privacy-admin", role=Role.ADMIN, is_staff=True)


@pytest.fixture
def subject(db, admin, settings) -> Subject:
    """A lead of ``NAME`` with one of everything, converted into a deal."""
    settings.WEBHOOK_ALLOW_PRIVATE = True
    rep = UserFactory(username="owner-rep", role=Role.SALES_REP)
    CustomFieldFactory(entity_type="lead", name="nickname", type="text")
    CustomFieldFactory(entity_type="lead", name="private_email", type="email")
    CustomFieldFactory(entity_type="lead", name="profile", type="url")
    CustomFieldFactory(entity_type="lead", name="employees", type="number")
    CustomFieldFactory(entity_type="lead", name="tier", type="dropdown", options=["gold", "tin"])
    subscription = WebhookSubscription.objects.create(
        name="Sink", url="http://127.0.0.1:9/hook", events=["lead.updated"]
    )
    form = CaptureFormFactory()
    lead = lead_services.lead_create(
        by=rep,
        name=f"{NAME} – kitchen remodel",
        source=Lead.Source.REFERRAL,
        contact_name=NAME,
        contact_email=EMAIL,
        contact_phone="+49 30 0000 0000",
        company_name="Quintero Family Office",
        description=f"{NAME} wants a quote; call {PHONE}.",
        estimated_value=Decimal("12500.00"),
        referrer_url=f"https://partner.example/ref?email={EMAIL}",
        custom_field_values={
            "nickname": "Mari",
            "private_email": EMAIL,
            "profile": "https://social.example/marisolq",
            "employees": 42,
            "tier": "gold",
        },
        utm_source="newsletter",
        utm_campaign="spring",
        touch={"client_ip": "198.51.100.4", "note": f"First visit of {EMAIL}"},
    )
    # A change: the history holds the old and the new phone.
    lead = lead_services.lead_update(by=rep, lead=lead, data={"contact_phone": PHONE})
    lead_services.touch_point_add(
        by=rep,
        lead=lead,
        channel=TouchPoint.Channel.CAPTURE,
        attribution={"utm_source": "ads", "utm_campaign": "summer"},
        form=form,
        note=f"Form filled by {NAME}",
        client_ip="203.0.113.7",
        user_agent="Mozilla/5.0 (X11; Linux x86_64)",
    )
    activity_services.activity_create(
        by=rep,
        type="call",
        subject=f"Call {NAME}",
        notes=f"Spoke with Marisol at {PHONE}, send details to {EMAIL}.",
        outcome=f"{NAME} asked for a callback",
        is_done=True,
        direction="outbound",
        lead=lead,
        metadata={"to": EMAIL},
    )
    ai_services.lead_analyze(
        by=rep,
        lead=lead,
        text=f"{NAME} said the budget is 40k, she decides alone and needs it by June. "
        f"Reach her at {EMAIL}.",
    )
    conversation = Conversation.objects.create(user=rep, title=f"About {NAME}")
    message = Message.objects.create(
        conversation=conversation, role="user", content=f"What do we know about {NAME}?"
    )
    ToolCall.objects.create(
        message=message,
        user=rep,
        tool="get_lead",
        arguments={"query": EMAIL},
        result={"contact_phone": PHONE},
        records=[{"type": "lead", "id": str(lead.pk), "name": lead.name}],
    )
    Notification.objects.create(user=rep, title=f"Call {NAME} back", url=f"/leads/{lead.pk}/")
    event = emit("lead.updated", actor=rep, lead_id=lead.pk, fields=["note"], note=NAME)
    WebhookDelivery.objects.create(
        subscription=subscription,
        event=event,
        event_name="lead.updated",
        payload={"data": {"contact_email": EMAIL}},
        response_excerpt=f"unknown contact {NAME}",
    )
    rule = AutomationRule.objects.create(name="Rule", trigger="lead.updated")
    AutomationRun.objects.create(
        rule=rule, event=event, status="succeeded", details=[{"subject": f"Call {NAME}"}]
    )
    crm_services.audit(by=rep, action="lead.contacted", obj=lead, email=EMAIL)
    job = ImportJob.objects.create(created_by=rep, record_type="lead", file_name="list.csv")
    ImportRow.objects.create(
        job=job, line=2, outcome="created", object_id=str(lead.pk), values={"Name": NAME}
    )
    privacy_services.consent_record(
        by=None,
        lead=lead,
        status=Consent.Status.GRANTED,
        source=Consent.Source.CAPTURE_FORM,
        form=form,
        evidence={"form": str(form.pk), "checkbox": "Send me offers", "email": EMAIL},
    )
    lead = lead_services.lead_qualify(by=rep, lead=lead, notes=f"{NAME} confirmed the budget.")
    result = lead_services.lead_convert(
        by=rep, lead=lead, person=False, organization=False, deal=True
    )
    lead.refresh_from_db()
    return Subject(lead=lead, deal=result.deal, rep=rep, name=NAME, email=EMAIL, phone=PHONE)
