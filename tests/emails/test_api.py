"""/api/v1/emails/ and /api/v1/email-templates/ (SPEC §7)."""

import base64
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from crm import permissions
from emails import services
from emails.models import EmailAddressStatus, EmailMessage, EmailTemplate
from tests.crm.test_api import assert_error_shape
from tests.emails.factories import EmailMessageFactory, EmailTemplateFactory, EmailThreadFactory
from tests.leads.factories import LeadFactory

URL = "/api/v1/emails/"
TEMPLATES = "/api/v1/email-templates/"
ANN = "ann@acme.example"


def ref(record) -> dict:
    """The API's name of a record: its type and id."""
    return {"type": record._meta.model_name, "id": str(record.pk)}


@pytest.fixture
def lead(rep1):
    return LeadFactory(owner=rep1, name="Fleet", contact_email=ANN)


def messages_on(lead, n: int) -> list[EmailMessage]:
    thread = EmailThreadFactory(lead=lead)
    return [EmailMessageFactory(thread=thread) for _ in range(n)]


# --- messages ------------------------------------------------------------------------------------
def test_a_user_lists_only_the_messages_of_records_it_can_see(api_as, rep1, rep2, manager, lead):
    mine = messages_on(lead, 2)
    theirs = messages_on(LeadFactory(owner=rep2), 1)
    shared_lead = LeadFactory(owner=rep2)
    shared = messages_on(shared_lead, 1)
    permissions.share(rep1, shared_lead)
    ids = {row["id"] for row in api_as(rep1).get(URL).json()["results"]}
    assert ids == {str(m.pk) for m in [*mine, *shared]}
    everything = {row["id"] for row in api_as(manager).get(URL).json()["results"]}
    assert everything == {str(m.pk) for m in [*mine, *theirs, *shared]}
    assert_error_shape(api_as(rep1).get(f"{URL}{theirs[0].pk}/"), 404, "not_found")
    detail = api_as(rep1).get(f"{URL}{mine[0].pk}/").json()
    assert detail["lead"] == str(lead.pk) and detail["status"] == "sent"
    assert detail["thread"] == str(mine[0].thread_id) and detail["attachments"] == []


def test_the_list_filters_by_record_and_status(api_as, rep1, lead):
    messages_on(lead, 2)
    other = LeadFactory(owner=rep1)
    [queued] = messages_on(other, 1)
    EmailMessage.objects.filter(pk=queued.pk).update(status="queued")
    client = api_as(rep1)
    assert client.get(URL, {"lead": str(other.pk)}).json()["count"] == 1
    assert client.get(URL, {"status": "sent"}).json()["count"] == 2
    assert_error_shape(client.get(URL, {"status": "nope"}), 400)


def test_the_list_costs_the_same_queries_at_two_sizes(
    api_as, rep1, lead, django_assert_max_num_queries
):
    client = api_as(rep1)
    messages_on(lead, 2)
    with django_assert_max_num_queries(12) as small:
        assert client.get(URL).status_code == 200
    messages_on(LeadFactory(owner=rep1), 20)
    with django_assert_max_num_queries(len(small.captured_queries)):
        assert client.get(URL).json()["count"] == 22


def test_sending_through_the_api(api_as, rep1, lead, django_capture_on_commit_callbacks):
    payload = {
        "record": {"type": "lead", "id": str(lead.pk)},
        "to": [ANN],
        "subject": "About {{ lead.name }}",
        "body": "Hello",
        "attachments": [
            {
                "filename": "a.txt",
                "content_type": "text/plain",
                "content": base64.b64encode(b"hi").decode(),
            }
        ],
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = api_as(rep1).post(URL, payload, format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["subject"] == "About Fleet" and data["status"] == "queued"
    assert data["attachments"][0]["filename"] == "a.txt" and data["attachments"][0]["size"] == 2
    assert EmailMessage.objects.get(pk=data["id"]).status == "sent" and len(mail.outbox) == 1


def test_sending_refusals_have_the_error_shape(api_as, rep1, rep2, analyst, lead):
    client = api_as(rep1)
    error = assert_error_shape(client.post(URL, {"record": ref(lead)}, format="json"), 400)
    assert {"to", "subject", "body"} <= set(error["details"])
    foreign = LeadFactory(owner=rep2)
    error = assert_error_shape(
        client.post(URL, {"record": ref(foreign), "to": [ANN]}, format="json"), 404
    )
    assert "record" in error["details"]
    assert_error_shape(
        api_as(analyst).post(URL, {"record": ref(lead), "to": [ANN]}, format="json"),
        403,
        "permission_denied",
    )
    # No record, or one of an unknown type: the request's shape is wrong (400).
    assert_error_shape(client.post(URL, {"to": [ANN], "subject": "x", "body": "y"}), 400)
    unknown = {"record": {"type": "task", "id": str(lead.pk)}, "to": [ANN], "body": "y"}
    assert_error_shape(client.post(URL, unknown, format="json"), 400)
    EmailAddressStatus.objects.create(address=ANN, status="bounced")
    error = assert_error_shape(
        client.post(
            URL, {"record": ref(lead), "to": [ANN], "subject": "x", "body": "y"}, format="json"
        ),
        400,
        "address_blocked",
    )
    assert "bounced" in error["details"]["to"][0]
    bad = {"record": ref(lead), "to": ["b@x.example"], "subject": "x", "body": "y"}
    bad["attachments"] = [{"filename": "a", "content": "%%%"}]
    assert_error_shape(client.post(URL, bad, format="json"), 400)
    # Eleven files: over the limit the schema states (maxItems), refused with the field named.
    one = {"filename": "a.txt", "content": base64.b64encode(b"hi").decode()}
    bad["attachments"] = [one] * (services.MAX_ATTACHMENTS + 1)
    error = assert_error_shape(client.post(URL, bad, format="json"), 400)
    assert "attachments" in error["details"]


def test_the_schema_states_the_attachment_limit(db, client):
    schema = client.get("/api/schema/?format=json").json()
    attachments = schema["components"]["schemas"]["EmailSendRequest"]["properties"]["attachments"]
    assert attachments["maxItems"] == services.MAX_ATTACHMENTS


def test_replying_and_cancelling_through_the_api(api_as, rep1, rep2, lead):
    received = EmailMessageFactory(
        thread=EmailThreadFactory(lead=lead),
        direction="inbound",
        status="received",
        from_address="maria@acme.example",
        message_id="abc@mail.example",
    )
    client = api_as(rep1)
    later = (timezone.now() + timedelta(days=1)).isoformat()
    response = client.post(
        f"{URL}{received.pk}/reply/", {"body": "Thanks", "scheduled_at": later}, format="json"
    )
    assert response.status_code == 201, response.content
    reply = response.json()
    assert reply["in_reply_to"] == "abc@mail.example" and reply["to"] == ["maria@acme.example"]
    assert reply["status"] == "scheduled" and reply["lead"] == str(lead.pk)
    assert_error_shape(api_as(rep2).post(f"{URL}{reply['id']}/cancel/"), 404)
    cancelled = client.post(f"{URL}{reply['id']}/cancel/")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "draft"
    assert_error_shape(client.post(f"{URL}{reply['id']}/cancel/"), 409, "not_scheduled")
    hidden = EmailMessageFactory(thread=EmailThreadFactory(lead=LeadFactory(owner=rep2)))
    assert_error_shape(client.post(f"{URL}{hidden.pk}/reply/", {"body": "x"}, format="json"), 404)


def test_preview_merges_without_sending(api_as, rep1, rep2, lead):
    template = EmailTemplateFactory(subject="About {{ lead.name }}", body="**Hi**")
    client = api_as(rep1)
    data = client.post(
        f"{URL}preview/", {"record": ref(lead), "template": template.pk}, format="json"
    ).json()
    assert data == {
        "subject": "About Fleet",
        "text": "**Hi**",
        "html": "<p><strong>Hi</strong></p>",
    }
    assert not EmailMessage.objects.exists()
    assert_error_shape(
        api_as(rep2).post(f"{URL}preview/", {"record": ref(lead), "body": "x"}, format="json"), 404
    )
    error = assert_error_shape(
        client.post(f"{URL}preview/", {"body": "{{ x.y }}"}, format="json"), 400
    )
    assert "body" in error["details"]


# --- templates -----------------------------------------------------------------------------------
def test_everyone_reads_the_active_templates_managers_all_of_them(api_as, rep1, manager):
    active = EmailTemplateFactory(name="Active")
    inactive = EmailTemplateFactory(name="Old", is_active=False)
    names = [t["name"] for t in api_as(rep1).get(TEMPLATES).json()["results"]]
    assert names == ["Active"]
    assert api_as(rep1).get(f"{TEMPLATES}{active.pk}/").status_code == 200
    assert_error_shape(api_as(rep1).get(f"{TEMPLATES}{inactive.pk}/"), 404)
    names = [t["name"] for t in api_as(manager).get(TEMPLATES).json()["results"]]
    assert names == ["Active", "Old"]


def test_managers_write_templates_and_reps_may_not(api_as, rep1, manager):
    body = {"name": "Intro", "subject": "Hi {{ lead.name }}", "body": "Hello"}
    assert_error_shape(api_as(rep1).post(TEMPLATES, body, format="json"), 403, "permission_denied")
    client = api_as(manager)
    created = client.post(TEMPLATES, body, format="json")
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    error = assert_error_shape(
        client.patch(f"{TEMPLATES}{pk}/", {"body": "{{ lead.nope }}"}, format="json"), 400
    )
    assert "body" in error["details"]
    assert_error_shape(client.post(TEMPLATES, body, format="json"), 409, "already_exists")
    patched = client.patch(f"{TEMPLATES}{pk}/", {"is_active": False}, format="json")
    assert patched.status_code == 200 and patched.json()["is_active"] is False
    assert_error_shape(api_as(rep1).delete(f"{TEMPLATES}{pk}/"), 403)
    assert client.delete(f"{TEMPLATES}{pk}/").status_code == 204
    assert not EmailTemplate.objects.exists()
    assert_error_shape(client.get(f"{TEMPLATES}abc/"), 404)
