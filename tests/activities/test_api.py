"""/api/v1/activities/ and /api/v1/sequences/ (SPEC §7)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from activities import services
from activities.models import Activity, SequenceEnrollment
from tests.activities.factories import ActivityFactory, SequenceFactory
from tests.crm.test_api import assert_error_shape
from tests.deals.factories import make_deal
from tests.leads.factories import LeadFactory

URL = "/api/v1/activities/"


def test_rep_logs_a_call_through_the_api(api_as, rep1, lead):
    response = api_as(rep1).post(
        URL,
        {
            "type": "call",
            "subject": "Discovery call",
            "direction": "outbound",
            "outcome": "Interested",
            "duration_minutes": 20,
            "lead": str(lead.pk),
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["type"] == "call" and data["is_done"] is True and data["done_at"]
    assert data["lead"] == str(lead.pk) and data["assigned_to"] == rep1.pk
    assert data["is_system_activity"] is False and data["is_overdue"] is False
    assert set(data) >= {
        "id", "type", "subject", "notes", "due_at", "duration_minutes", "is_done", "done_at",
        "direction", "outcome", "assigned_to", "is_system_activity", "metadata", "lead", "deal",
        "person", "organization", "created_at", "updated_at", "created_by",
    }  # fmt: skip


def test_create_errors_have_the_error_shape(api_as, rep1, rep2):
    client = api_as(rep1)
    error = assert_error_shape(client.post(URL, {"type": "fax", "subject": ""}), 400)
    assert {"type", "subject"} <= set(error["details"])
    theirs = LeadFactory(owner=rep2)
    error = assert_error_shape(
        client.post(URL, {"type": "note", "subject": "x", "lead": str(theirs.pk)}), 400
    )
    assert "lead" in error["details"]
    error = assert_error_shape(
        client.post(URL, {"type": "task", "subject": "x", "direction": "inbound"}), 400
    )
    assert "direction" in error["details"]


def test_analyst_cannot_create(api_as, analyst):
    assert_error_shape(
        api_as(analyst).post(URL, {"type": "note", "subject": "x"}), 403, "permission_denied"
    )


def test_list_shows_only_visible_activities(api_as, rep1, rep2, manager):
    mine = LeadFactory(owner=rep1)
    theirs = LeadFactory(owner=rep2)
    a = ActivityFactory(lead=mine, created_by=rep2)
    b = ActivityFactory(lead=theirs, created_by=rep2)
    ids = {r["id"] for r in api_as(rep1).get(URL).json()["results"]}
    assert ids == {str(a.pk)}
    assert {r["id"] for r in api_as(manager).get(URL).json()["results"]} == {str(a.pk), str(b.pk)}
    assert_error_shape(api_as(rep1).get(f"{URL}{b.pk}/"), 404, "not_found")


def test_filters(api_as, manager, rep1, rep2):
    lead = LeadFactory(owner=rep1)
    deal = make_deal(rep1)
    now = timezone.now()
    call = ActivityFactory(type="call", lead=lead, assigned_to=rep1, is_done=True, done_at=now)
    task = ActivityFactory(type="task", deal=deal, assigned_to=rep2, due_at=now + timedelta(days=2))
    late = ActivityFactory(type="task", lead=lead, assigned_to=rep1, due_at=now - timedelta(days=1))
    client = api_as(manager)

    def ids(query):
        response = client.get(f"{URL}?{query}")
        assert response.status_code == 200, response.content
        return {r["id"] for r in response.json()["results"]}

    assert ids(f"lead={lead.pk}") == {str(call.pk), str(late.pk)}
    assert ids(f"deal={deal.pk}") == {str(task.pk)}
    assert ids(f"assigned_to={rep2.pk}") == {str(task.pk)}
    assert ids("type=call") == {str(call.pk)}
    assert ids("type=call&type=task") == {str(call.pk), str(task.pk), str(late.pk)}
    assert ids("is_done=false") == {str(task.pk), str(late.pk)}
    assert ids(f"due_before={now.date().isoformat()}") == {str(late.pk)}
    assert ids(f"due_after={(now + timedelta(days=1)).isoformat()}".replace("+", "%2B")) == {
        str(task.pk)
    }
    assert ids("ordering=due_at")
    assert_error_shape(client.get(f"{URL}?due_after=someday"), 400, "validation_error")
    assert_error_shape(client.get(f"{URL}?lead=not-a-uuid"), 400, "validation_error")


def test_complete_and_reopen_actions(api_as, rep1, rep2, lead):
    task = services.activity_create(by=rep1, type="task", subject="Send quote", lead=lead)
    client = api_as(rep1)
    data = client.post(f"{URL}{task.pk}/complete/", {"outcome": "Sent"}, format="json").json()
    assert data["is_done"] is True and data["outcome"] == "Sent"
    assert client.post(f"{URL}{task.pk}/complete/").status_code == 200  # idempotent
    assert client.post(f"{URL}{task.pk}/reopen/").json()["is_done"] is False
    assert_error_shape(api_as(rep2).post(f"{URL}{task.pk}/complete/"), 404, "not_found")


def test_update_and_delete(api_as, rep1, rep2, lead):
    task = services.activity_create(by=rep1, type="task", subject="Old", lead=lead)
    client = api_as(rep1)
    response = client.patch(
        f"{URL}{task.pk}/", {"subject": "New", "assigned_to": rep2.pk}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["subject"] == "New" and response.json()["assigned_to"] == rep2.pk
    # rep2 is now the assignee: may change it but may not delete rep1's activity.
    assert_error_shape(api_as(rep2).delete(f"{URL}{task.pk}/"), 403, "permission_denied")
    assert client.delete(f"{URL}{task.pk}/").status_code == 204
    assert not Activity.objects.exists()


@pytest.mark.parametrize("rows", [3, 30])
def test_list_query_count_is_constant(api_as, rep1, rows, django_assert_max_num_queries):
    lead = LeadFactory(owner=rep1)
    for _ in range(rows):
        ActivityFactory(lead=lead, assigned_to=rep1)
    client = api_as(rep1)
    with django_assert_max_num_queries(10):
        response = client.get(URL)
    assert response.json()["count"] == rows


# --- sequences ------------------------------------------------------------------------------------
def test_sequences_list_and_enroll(api_as, rep1, rep2, lead):
    sequence = SequenceFactory(
        name="Nurture", steps=[(0, "email", "Hi {lead.name}"), (3, "call", "Call")]
    )
    SequenceFactory(name="Old", is_active=False, steps=[(0, "task", "x")])
    client = api_as(rep1)
    listed = client.get("/api/v1/sequences/").json()
    assert [s["name"] for s in listed["results"]] == ["Nurture"]
    assert [s["delay_days"] for s in listed["results"][0]["steps"]] == [0, 3]

    response = client.post(
        f"/api/v1/sequences/{sequence.pk}/enroll/", {"lead": str(lead.pk)}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "active" and response.json()["steps_done"] == 1
    again = client.post(
        f"/api/v1/sequences/{sequence.pk}/enroll/", {"lead": str(lead.pk)}, format="json"
    )
    assert_error_shape(again, 409, "already_enrolled")
    # Someone who cannot see the lead gets 404; a missing body is 400.
    assert_error_shape(
        api_as(rep2).post(
            f"/api/v1/sequences/{sequence.pk}/enroll/", {"lead": str(lead.pk)}, format="json"
        ),
        404,
    )
    assert_error_shape(client.post(f"/api/v1/sequences/{sequence.pk}/enroll/", {}), 400)

    stopped = client.post(
        f"/api/v1/sequences/{sequence.pk}/unenroll/", {"lead": str(lead.pk)}, format="json"
    )
    assert stopped.status_code == 200 and stopped.json()["status"] == "stopped"
    assert SequenceEnrollment.objects.get().status == "stopped"


def test_schema_documents_the_activity_endpoints(api_as, rep1):
    schema = api_as(rep1).get("/api/schema/?format=json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for path in [
        "/api/v1/activities/",
        "/api/v1/activities/{id}/complete/",
        "/api/v1/activities/{id}/reopen/",
        "/api/v1/sequences/{id}/enroll/",
        "/api/v1/webhooks/",
        "/api/v1/webhooks/{id}/deliveries/",
    ]:
        assert path in paths, path
    params = {p["name"] for p in paths["/api/v1/activities/"]["get"]["parameters"]}
    assert {"lead", "deal", "person", "organization", "assigned_to", "type", "is_done"} <= params
    assert {"due_after", "due_before"} <= params
