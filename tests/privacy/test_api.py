"""The privacy API (SPEC §7): anonymize and export of leads and people, who may use them."""

import pytest

from crm.roles import Role
from privacy.models import AccessLogEntry
from tests.factories import PersonFactory, UserFactory
from tests.leads.factories import LeadFactory

pytestmark = pytest.mark.django_db

REASON = {"reason": "Erasure request of 3 March"}


@pytest.fixture
def lead(rep1):
    return LeadFactory(owner=rep1, contact_name="Ona Brightwater", contact_email="ona@bw.example")


@pytest.fixture
def privacy_admin(db):
    return UserFactory(username="privacy-admin", role=Role.ADMIN)


def test_an_admin_anonymizes_a_lead_through_the_api(api_as, privacy_admin, lead):
    response = api_as(privacy_admin).post(f"/api/v1/leads/{lead.pk}/anonymize/", REASON)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["id"] == str(lead.pk)
    assert body["anonymized_at"]
    assert body["contact_name"] == "Anonymized"
    assert body["contact_email"].endswith("@anonymized.invalid")


def test_a_second_anonymization_is_a_409(api_as, privacy_admin, lead):
    client = api_as(privacy_admin)
    client.post(f"/api/v1/leads/{lead.pk}/anonymize/", REASON)
    response = client.post(f"/api/v1/leads/{lead.pk}/anonymize/", REASON)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "conflict"


def test_anonymize_without_a_reason_is_a_400_naming_it(api_as, privacy_admin, lead):
    response = api_as(privacy_admin).post(f"/api/v1/leads/{lead.pk}/anonymize/", {})
    assert response.status_code == 400
    assert "reason" in response.json()["error"]["details"]


@pytest.mark.parametrize("allowed", [False, True])
def test_a_manager_may_anonymize_only_when_the_setting_allows(
    api_as, manager, lead, settings, allowed
):
    settings.PRIVACY_MANAGERS_MANAGE_PERSONAL_DATA = allowed
    response = api_as(manager).post(f"/api/v1/leads/{lead.pk}/anonymize/", REASON)
    assert response.status_code == (200 if allowed else 403)
    export = api_as(manager).get(f"/api/v1/leads/{lead.pk}/export/")
    assert export.status_code == (200 if allowed else 403)


def test_the_owner_rep_gets_403_on_both(api_as, rep1, lead):
    client = api_as(rep1)
    assert client.post(f"/api/v1/leads/{lead.pk}/anonymize/", REASON).status_code == 403
    assert client.get(f"/api/v1/leads/{lead.pk}/export/").status_code == 403
    lead.refresh_from_db()
    assert lead.anonymized_at is None


def test_a_viewer_who_cannot_see_the_lead_gets_404(api_as, viewer, lead):
    client = api_as(viewer)
    assert client.post(f"/api/v1/leads/{lead.pk}/anonymize/", REASON).status_code == 404
    assert client.get(f"/api/v1/leads/{lead.pk}/export/").status_code == 404


def test_a_viewer_the_lead_is_shared_with_gets_403(api_as, viewer, lead):
    from crm import permissions

    permissions.share(viewer, lead)
    client = api_as(viewer)
    assert client.post(f"/api/v1/leads/{lead.pk}/anonymize/", REASON).status_code == 403
    assert client.get(f"/api/v1/leads/{lead.pk}/export/").status_code == 403


def test_the_lead_export_has_a_format_version_and_is_logged(api_as, privacy_admin, lead):
    response = api_as(privacy_admin).get(f"/api/v1/leads/{lead.pk}/export/")

    assert response.status_code == 200
    body = response.json()
    assert body["format_version"] == "1.0"
    assert body["record"]["contact_email"] == "ona@bw.example"
    entry = AccessLogEntry.objects.get(action="export", record_id=lead.pk)
    assert entry.user == privacy_admin and entry.channel == "api"


def test_people_have_the_same_two_endpoints(api_as, privacy_admin, rep1):
    person = PersonFactory(owner=rep1, first_name="Ilse", last_name="Marrow")
    client = api_as(privacy_admin)

    export = client.get(f"/api/v1/people/{person.pk}/export/")
    assert export.status_code == 200 and export.json()["record"]["first_name"] == "Ilse"

    response = client.post(f"/api/v1/people/{person.pk}/anonymize/", REASON)
    assert response.status_code == 200
    assert response.json()["first_name"] == "Anonymized"
    assert client.post(f"/api/v1/people/{person.pk}/anonymize/", REASON).status_code == 409
    rep = api_as(rep1)
    assert rep.get(f"/api/v1/people/{person.pk}/export/").status_code == 403


def test_the_api_detail_of_a_lead_records_one_access(api_as, rep1, lead):
    api_as(rep1).get(f"/api/v1/leads/{lead.pk}/")
    entry = AccessLogEntry.objects.get(record_id=lead.pk)
    assert (entry.action, entry.channel, entry.user) == ("view", "api", rep1)


def test_the_api_lead_list_records_no_access(api_as, rep1, lead):
    api_as(rep1).get("/api/v1/leads/")
    assert not AccessLogEntry.objects.exists()
