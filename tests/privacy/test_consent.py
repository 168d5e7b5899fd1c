"""Consent (issue 18): capture forms record it, ``has_consent`` reads the newest record, and a
sequence skips its contact steps without marketing consent when the setting asks for it."""

from datetime import datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from activities import services as activity_services
from activities.models import Activity, SequenceEnrollment
from activities.tasks import advance_sequences
from crm.errors import Conflict, PermissionDenied
from leads.capture import abuse
from privacy import selectors, services
from privacy.models import Consent
from tests.activities.factories import SequenceFactory
from tests.factories import PersonFactory
from tests.leads.factories import CaptureFormFactory, LeadFactory

pytestmark = pytest.mark.django_db

ENDPOINT = "/api/v1/lead-capture/"
START = timezone.make_aware(datetime(2025, 3, 3, 9, 0))  # a Monday


@pytest.fixture
def form(db, settings):
    settings.CAPTURE_MIN_FILL_SECONDS = 0
    return CaptureFormFactory(consent_text="Send me news and offers by email")


# --- has_consent ---------------------------------------------------------------------------------
def test_the_newest_record_holds(rep1):
    lead = LeadFactory(owner=rep1)
    assert not selectors.has_consent(lead=lead)
    services.consent_record(by=rep1, lead=lead, status="granted")
    assert selectors.has_consent(lead=lead)
    services.consent_record(by=rep1, lead=lead, status="withdrawn")
    assert not selectors.has_consent(lead=lead)
    assert not selectors.has_consent(lead=lead, purpose="profiling")


def test_a_lead_inherits_its_persons_consent(rep1):
    person = PersonFactory(owner=rep1)
    lead = LeadFactory(owner=rep1, person=person)
    services.consent_record(by=rep1, person=person, status="granted")
    assert selectors.has_consent(lead=lead)
    services.consent_record(by=rep1, lead=lead, status="withdrawn")
    assert not selectors.has_consent(lead=lead)


def test_recording_needs_change_access_and_a_live_record(rep1, rep2, db):
    from tests.factories import UserFactory

    lead = LeadFactory(owner=rep1)
    with pytest.raises(PermissionDenied):
        services.consent_record(by=rep2, lead=lead, status="granted")
    admin = UserFactory(role="Admin")
    services.lead_anonymize(by=admin, lead=lead, reason="Erasure request")
    lead.refresh_from_db()
    with pytest.raises(Conflict):
        services.consent_record(by=rep1, lead=lead, status="granted")


# --- capture forms -------------------------------------------------------------------------------
def test_a_ticked_consent_box_on_the_endpoint_is_recorded_with_its_evidence(api, form):
    body = {
        "contact_email": "ann@example.com",
        "contact_name": "Ann",
        "marketing_consent": True,
        "landing_page": "https://www.example.com/pricing",
    }
    response = api.post(ENDPOINT, body, format="json", HTTP_X_CAPTURE_KEY=form.key)
    assert response.status_code == 202, response.content
    consent = Consent.objects.get()
    assert consent.lead.contact_email == "ann@example.com"
    assert (consent.status, consent.source, consent.form) == ("granted", "capture_form", form)
    assert consent.evidence["wording"] == "Send me news and offers by email"
    assert consent.evidence["page"] == "https://www.example.com/pricing"
    assert selectors.has_consent(lead=consent.lead)


def test_an_unticked_box_records_nothing(api, form):
    body = {"contact_email": "bo@example.com", "contact_name": "Bo"}
    assert api.post(ENDPOINT, body, format="json", HTTP_X_CAPTURE_KEY=form.key).status_code == 202
    assert not Consent.objects.exists()


def test_a_form_without_a_consent_box_records_nothing_even_if_sent(api, db, settings):
    form = CaptureFormFactory()
    body = {"contact_email": "cy@example.com", "contact_name": "Cy", "marketing_consent": True}
    assert api.post(ENDPOINT, body, format="json", HTTP_X_CAPTURE_KEY=form.key).status_code == 202
    assert not Consent.objects.exists()


def test_the_hosted_page_shows_an_unticked_box_and_records_a_ticked_one(client, form):
    page = client.get(f"/f/{form.slug}/")
    html = page.content.decode()
    assert "Send me news and offers by email" in html
    assert (
        'name="marketing_consent"' in html
        and "checked" not in html.split("marketing_consent")[1][:80]
    )
    data = {
        abuse.FILL_TOKEN: page.context["fill_token"],
        "contact_email": "di@example.com",
        "contact_name": "Di",
        "marketing_consent": "on",
    }
    assert client.post(f"/f/{form.slug}/", data).status_code == 303
    assert Consent.objects.get().lead.contact_email == "di@example.com"


# --- sequences -----------------------------------------------------------------------------------
@pytest.fixture
def enrolled(rep1):
    lead = LeadFactory(owner=rep1, contact_name="Eve")
    sequence = SequenceFactory(
        steps=[(1, "email", "Intro email"), (1, "task", "Research the company")]
    )
    with time_machine.travel(START, tick=False):
        activity_services.sequence_enroll(by=rep1, sequence=sequence, lead=lead)
    return lead


def run(days: int) -> None:
    for day in range(days + 1):
        with time_machine.travel(START + timedelta(days=day, minutes=30), tick=False):
            advance_sequences()


def subjects(lead) -> list[str]:
    return sorted(
        Activity.objects.filter(lead=lead, metadata__automation_trigger="sequence").values_list(
            "subject", flat=True
        )
    )


def test_without_consent_a_contact_step_is_skipped_when_the_setting_asks(enrolled, settings):
    settings.SEQUENCES_REQUIRE_MARKETING_CONSENT = True
    run(3)
    # The email is skipped, the team's own task still comes, and the sequence completes.
    assert subjects(enrolled) == ["Research the company"]
    enrollment = SequenceEnrollment.objects.get(lead=enrolled)
    assert enrollment.steps_done == 2 and enrollment.status == "completed"


def test_with_consent_the_contact_step_runs(enrolled, settings, rep1):
    settings.SEQUENCES_REQUIRE_MARKETING_CONSENT = True
    services.consent_record(by=rep1, lead=enrolled, status="granted")
    run(3)
    assert subjects(enrolled) == ["Intro email", "Research the company"]


def test_without_the_setting_consent_is_not_asked(enrolled, settings):
    settings.SEQUENCES_REQUIRE_MARKETING_CONSENT = False
    run(3)
    assert subjects(enrolled) == ["Intro email", "Research the company"]
