"""The privacy screens: the detail pages' Export and Anonymize actions, the typed confirmation,
the readable export page and JSON download, the privacy card and the access log."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm.records import privacy as hooks
from crm.roles import Role
from privacy.models import AccessLogEntry, Consent
from privacy.services import consent_record
from tests.factories import PersonFactory, UserFactory
from tests.leads.factories import LeadFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def lead(rep1):
    return LeadFactory(
        owner=rep1,
        name="Harbour view refit",
        contact_name="Ona Brightwater",
        contact_email="ona@bw.example",
    )


@pytest.fixture
def privacy_admin(db):
    return UserFactory(username="privacy-admin", role=Role.ADMIN)


def test_an_admin_sees_export_and_anonymize_on_a_lead_page(web, privacy_admin, lead):
    page = web(privacy_admin).get(f"/leads/{lead.pk}/").content.decode()
    assert f"/privacy/lead/{lead.pk}/anonymize/" in page
    assert f"/privacy/lead/{lead.pk}/export/" in page


@pytest.mark.parametrize("allowed", [False, True])
def test_a_manager_sees_them_only_when_the_setting_allows(web, manager, lead, settings, allowed):
    settings.PRIVACY_MANAGERS_MANAGE_PERSONAL_DATA = allowed
    page = web(manager).get(f"/leads/{lead.pk}/").content.decode()
    assert (f"/privacy/lead/{lead.pk}/anonymize/" in page) is allowed


def test_the_owner_rep_sees_neither_and_is_refused_both(web, rep1, lead):
    client = web(rep1)
    page = client.get(f"/leads/{lead.pk}/").content.decode()
    assert f"/privacy/lead/{lead.pk}/anonymize/" not in page
    assert f"/privacy/lead/{lead.pk}/export/" not in page
    assert client.get(f"/privacy/lead/{lead.pk}/anonymize/").status_code == 403
    assert client.get(f"/privacy/lead/{lead.pk}/export/").status_code == 403
    assert client.get(f"/privacy/lead/{lead.pk}/export.json").status_code == 403
    response = client.post(
        f"/privacy/lead/{lead.pk}/anonymize/",
        {"confirm_name": lead.name, "reason": "Mine"},
    )
    assert response.status_code == 403


def test_anonymize_refuses_a_mistyped_name(web, privacy_admin, lead):
    response = web(privacy_admin).post(
        f"/privacy/lead/{lead.pk}/anonymize/",
        {"confirm_name": "Harbour view", "reason": "Erasure request"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 422
    assert "This is not the name" in response.content.decode()
    lead.refresh_from_db()
    assert lead.anonymized_at is None


def test_anonymize_with_the_typed_name_shows_the_anonymized_page(web, privacy_admin, lead):
    client = web(privacy_admin)
    response = client.post(
        f"/privacy/lead/{lead.pk}/anonymize/",
        {"confirm_name": " Harbour  view refit ", "reason": "Erasure request"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert response["HX-Redirect"] == f"/leads/{lead.pk}/"
    page = client.get(f"/leads/{lead.pk}/").content.decode()
    assert 'data-testid="anonymized-badge"' in page
    assert "Ona Brightwater" not in page and "ona@bw.example" not in page
    assert "Personal data anonymized" in page
    assert f"/privacy/lead/{lead.pk}/anonymize/" not in page  # once is enough


def test_the_form_escapes_the_name_it_asks_for(web, privacy_admin, rep1):
    lead = LeadFactory(owner=rep1, name="<b>Bold</b> deal")
    page = web(privacy_admin).get(f"/privacy/lead/{lead.pk}/anonymize/").content.decode()
    assert "&lt;b&gt;Bold&lt;/b&gt; deal" in page and "<b>Bold</b>" not in page


def test_the_readable_export_page_shows_the_data_and_is_logged(web, privacy_admin, lead):
    page = web(privacy_admin).get(f"/privacy/lead/{lead.pk}/export/").content.decode()
    assert "Personal data of Harbour view refit" in page
    assert "ona@bw.example" in page and "format version 1.0" in page
    assert AccessLogEntry.objects.filter(action="export", channel="page").count() == 1


def test_the_export_modal_offers_the_page_and_the_download_without_logging(
    web, privacy_admin, lead
):
    response = web(privacy_admin).get(f"/privacy/lead/{lead.pk}/export/", HTTP_HX_REQUEST="true")
    assert f"/privacy/lead/{lead.pk}/export.json" in response.content.decode()
    assert not AccessLogEntry.objects.filter(action="export").exists()


def test_the_json_download_is_an_attachment_with_a_format_version(web, privacy_admin, rep1):
    person = PersonFactory(owner=rep1, first_name="Ilse", last_name="Marrow")
    response = web(privacy_admin).get(f"/privacy/person/{person.pk}/export.json")
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="person-ilse-marrow')
    assert json.loads(response.content)["format_version"] == "1.0"


def test_an_unknown_record_kind_is_a_404(web, privacy_admin, lead):
    assert web(privacy_admin).get(f"/privacy/deal/{lead.pk}/export/").status_code == 404


def test_the_privacy_card_shows_the_consent_that_holds(web, rep1, lead):
    consent_record(by=rep1, lead=lead, status=Consent.Status.GRANTED)
    consent_record(by=rep1, lead=lead, status=Consent.Status.WITHDRAWN)
    page = web(rep1).get(f"/leads/{lead.pk}/").content.decode()
    card = page.split('data-testid="related-privacy"')[1].split("</section>")[0]
    assert "Marketing consent" in card and "Withdrawn" in card and "Granted" not in card


def test_a_rep_records_a_consent_from_the_page(web, rep1, lead):
    response = web(rep1).post(
        f"/privacy/lead/{lead.pk}/consent/",
        {"purpose": "marketing", "status": "granted", "evidence": "Phone call of 3 March"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 204
    consent = Consent.objects.get(lead=lead)
    assert consent.recorded_by == rep1 and consent.evidence == {"note": "Phone call of 3 March"}


def test_viewing_a_lead_page_records_one_access_with_one_query(web, rep1, lead, monkeypatch):
    client = web(rep1)
    client.get(f"/leads/{lead.pk}/")  # warm caches
    AccessLogEntry.objects.all().delete()
    with CaptureQueriesContext(connection) as logged:
        client.get(f"/leads/{lead.pk}/")
    monkeypatch.setattr(hooks, "_observers", {})
    with CaptureQueriesContext(connection) as unlogged:
        client.get(f"/leads/{lead.pk}/")
    assert len(logged) - len(unlogged) == 1
    entry = AccessLogEntry.objects.get()
    assert (entry.user, entry.action, entry.channel, entry.record_type) == (
        rep1,
        "view",
        "page",
        "lead",
    )


def test_viewing_a_person_page_records_an_access_but_a_refresh_does_not(web, rep1):
    person = PersonFactory(owner=rep1)
    client = web(rep1)
    client.get(f"/people/{person.pk}/")
    client.get(f"/people/{person.pk}/", HTTP_HX_REQUEST="true")
    assert AccessLogEntry.objects.filter(record_id=person.pk, action="view").count() == 1


def test_the_access_log_is_read_only_and_for_admins_in_the_admin(client, manager, db):
    superuser = UserFactory(username="root", is_superuser=True, is_staff=True)
    client.force_login(superuser)
    assert client.get("/admin/privacy/accesslogentry/").status_code == 200
    assert client.get("/admin/privacy/accesslogentry/add/").status_code == 403
    client.force_login(manager)
    assert client.get("/admin/privacy/accesslogentry/").status_code == 403


def test_the_anonymize_form_says_when_a_linked_person_keeps_their_data(web, privacy_admin, rep1):
    person = PersonFactory(owner=rep1, first_name="Ilse", last_name="Marrow")
    lead = LeadFactory(owner=rep1, person=person)
    page = web(privacy_admin).get(f"/privacy/lead/{lead.pk}/anonymize/").content.decode()
    assert 'data-testid="linked-person-note"' in page and "Ilse Marrow" in page
