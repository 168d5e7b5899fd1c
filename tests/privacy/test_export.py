"""The personal data export (issue 18): complete against a record with one of everything."""

import json

import pytest
from django.core.serializers.json import DjangoJSONEncoder

from activities.models import SequenceEnrollment
from crm.services import person_create
from leads.services import lead_create
from privacy import services
from privacy.models import AccessLogEntry
from tests.activities.factories import SequenceFactory

pytestmark = pytest.mark.django_db


def test_the_lead_export_holds_everything_about_it(subject, admin):
    sequence = SequenceFactory(steps=[(3, "email", "Follow up")])
    SequenceEnrollment.objects.create(sequence=sequence, lead=subject.lead, stop_reason="")

    data = services.record_export(by=admin, obj=subject.lead, channel="api")
    text = json.dumps(data, cls=DjangoJSONEncoder)

    assert data["format_version"] == "1.0"
    assert data["record_type"] == "lead" and data["id"] == str(subject.lead.pk)
    record = data["record"]
    assert record["contact_name"] == subject.name
    assert record["contact_email"] == subject.email
    assert record["contact_phone"] == subject.phone
    assert record["referrer_url"].endswith(f"email={subject.email}")
    assert data["status"]  # the workflow step
    assert {f["name"] for f in data["custom_fields"]} == {
        "nickname",
        "private_email",
        "profile",
        "employees",
        "tier",
    }
    call = next(a for a in data["activities"] if a["type"] == "call")
    assert call["subject"] == f"Call {subject.name}" and subject.phone in call["notes"]
    assert len(data["touch_points"]) == 2
    assert {t["utm_campaign"] for t in data["touch_points"]} == {"spring", "summer"}
    assert any(t["client_ip"] == "203.0.113.7" for t in data["touch_points"])
    changes = [c for entry in data["history"] for c in entry.get("changes", [])]
    assert any(c["field"] == "contact_phone" and c["new"] == subject.phone for c in changes)
    assert any(entry["kind"] == "step" for entry in data["history"])
    assert data["ai_insights"]["budget"]["level"]
    assert [c["title"] for c in data["ai_conversations"]] == [f"About {subject.name}"]
    assert data["ai_conversations"][0]["messages"][0]["content"].endswith(f"{subject.name}?")
    assert len(data["consents"]) == 1 and data["consents"][0]["status"] == "granted"
    assert data["consents"][0]["form"]["id"]
    assert [d["id"] for d in data["deals"]] == [str(subject.deal.pk)]
    assert data["deals"][0]["amount"] == subject.deal.amount
    assert [s["sequence"] for s in data["sequences"]] == [sequence.name]
    assert data["exported_by"] == admin.display_name
    assert subject.email in text
    assert AccessLogEntry.objects.filter(action="export", record_id=subject.lead.pk).exists()


def test_the_person_export_holds_their_leads_in_full(admin, subject):
    person = person_create(
        by=subject.rep, first_name="Ilse", last_name="Marrow", email="ilse@marrow.example"
    )
    lead = lead_create(
        by=subject.rep, name="Garden", contact_name="Ilse Marrow", person=person, source="web"
    )

    data = services.record_export(by=admin, obj=person)

    assert data["record_type"] == "person" and data["record"]["email"] == "ilse@marrow.example"
    assert [entry["id"] for entry in data["leads"]] == [str(lead.pk)]
    assert data["leads"][0]["record"]["contact_name"] == "Ilse Marrow"
    assert "history" in data and "activities" in data and "consents" in data
    # Another subject's conversation is not theirs.
    assert data["ai_conversations"] == []


def test_an_anonymized_lead_exports_what_is_left(subject, admin):
    services.lead_anonymize(by=admin, lead=subject.lead, reason="Erasure request")
    text = json.dumps(services.record_export(by=admin, obj=subject.lead), cls=DjangoJSONEncoder)
    assert subject.name not in text and subject.email not in text


def test_the_export_holds_the_records_merged_into_it(admin, subject):
    from leads.services import lead_create, lead_merge
    from privacy.selectors import lead_export_data

    copy = lead_create(by=subject.rep, name="Typed twice", contact_email="old.address@example.org")
    lead_merge(by=admin, survivor=subject.lead, merged=[copy])
    data = lead_export_data(lead=subject.lead, by=admin)
    (merged,) = data["merged_records"]
    assert merged["record"]["contact_email"] == "old.address@example.org"
