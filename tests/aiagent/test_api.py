"""The conversations API: create, run, list messages, confirm proposals with their token."""

from __future__ import annotations

import pytest

from aiagent.models import Conversation, Proposal
from leads.models import Lead
from tests.aiagent.conftest import text_reply, tool_reply

pytestmark = pytest.mark.django_db
URL = "/api/v1/ai/conversations/"


def test_create_with_a_first_message_runs_the_agent_offline(world, api_as):
    response = api_as(world.rep1).post(URL, {"content": "show my hot leads"}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["title"] == "show my hot leads"
    assert [m["role"] for m in body["messages"]] == ["user", "tool", "assistant"]
    assert "Acme expansion" in body["messages"][-1]["content"]
    tool = body["messages"][1]["tool_calls"][0]
    assert tool["tool"] == "search_leads" and tool["result_count"] == 2


def test_messages_list_and_post(world, api_as, claude):
    api = api_as(world.rep1)
    conv = api.post(
        URL, {"context_type": "lead", "context_id": str(world.leads1[0].pk)}, format="json"
    ).json()
    assert conv["context_type"] == "lead" and conv["title"] == "About Acme expansion"
    claude.replies = [
        tool_reply(("get_lead", {"lead_id": conv["context_id"]})),
        text_reply("It is hot."),
    ]
    response = api.post(f"{URL}{conv['id']}/messages/", {"content": "How is it?"}, format="json")
    assert response.status_code == 201, response.content
    roles = [m["role"] for m in response.json()["messages"]]
    assert roles == ["user", "assistant", "tool", "assistant"]
    listed = api.get(f"{URL}{conv['id']}/messages/").json()
    assert listed["count"] == 4
    first = listed["results"][0]
    assert set(first) >= {"id", "role", "content", "created_at"}
    assert first == {**first, "role": "user", "content": "How is it?"}
    assert api.get(URL).json()["count"] == 1


def test_other_users_conversations_are_invisible(world, api_as):
    conv = api_as(world.rep1).post(URL, {}, format="json").json()
    other = api_as(world.rep2)
    assert other.get(f"{URL}{conv['id']}/").status_code == 404
    assert other.get(f"{URL}{conv['id']}/messages/").status_code == 404
    response = other.post(f"{URL}{conv['id']}/messages/", {"content": "hi"}, format="json")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert other.get(URL).json()["count"] == 0
    assert (
        other.post(
            URL, {"context_type": "lead", "context_id": str(world.leads1[0].pk)}, format="json"
        ).status_code
        == 404
    )


def test_confirming_a_proposal_with_its_token(world, api_as):
    api = api_as(world.rep1)
    lead = world.leads1[0]
    body = api.post(URL, {"content": "convert Acme expansion"}, format="json").json()
    calls = body["messages"][1]["tool_calls"]
    assert [c["tool"] for c in calls] == ["search_leads", "get_lead", "convert_lead"]
    proposal = calls[2]["proposal"]
    assert proposal["status"] == "pending" and proposal["token"]
    assert Lead.objects.get(pk=lead.pk).converted_at is None

    # Another user's token, a wrong token, another user: refused.
    assert (
        api.post(f"{URL}{body['id']}/confirm/", {"token": "nope"}, format="json").status_code == 404
    )
    other = api_as(world.rep2).post(
        f"{URL}{body['id']}/confirm/", {"token": proposal["token"]}, format="json"
    )
    assert other.status_code == 404

    response = api.post(f"{URL}{body['id']}/confirm/", {"token": proposal["token"]}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["proposal"]["status"] == "confirmed"
    assert Lead.objects.get(pk=lead.pk).converted_at is not None
    assert [m["role"] for m in response.json()["messages"]] == ["tool", "assistant"]
    again = api.post(f"{URL}{body['id']}/confirm/", {"token": proposal["token"]}, format="json")
    assert again.status_code == 409


def test_a_tampered_proposal_does_not_run(world, api_as):
    api = api_as(world.rep1)
    body = api.post(URL, {"content": "convert Acme expansion"}, format="json").json()
    proposal = Proposal.objects.get()
    proposal.arguments = {"lead_id": str(world.leads2[0].pk)}
    proposal.save(update_fields=["arguments"])
    response = api.post(f"{URL}{body['id']}/confirm/", {"token": proposal.token}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "proposal_altered"


def test_rejecting_a_proposal(world, api_as):
    api = api_as(world.rep1)
    body = api.post(URL, {"content": "convert Acme expansion"}, format="json").json()
    token = Proposal.objects.get().token
    response = api.post(f"{URL}{body['id']}/reject/", {"token": token}, format="json")
    assert response.json()["proposal"]["status"] == "rejected"
    assert Lead.objects.get(pk=world.leads1[0].pk).converted_at is None


def test_background_run_answers_202_and_the_messages_appear(
    world, api_as, django_capture_on_commit_callbacks
):
    api = api_as(world.rep1)
    conv = api.post(URL, {}, format="json").json()
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            f"{URL}{conv['id']}/messages/",
            {"content": "lead metrics", "background": True},
            format="json",
        )
    assert response.status_code == 202
    assert response.json()["messages_url"].endswith(f"{conv['id']}/messages/")
    listed = api.get(response.json()["messages_url"]).json()
    assert [m["role"] for m in listed["results"]] == ["user", "tool", "assistant"]
    assert Conversation.objects.get(pk=conv["id"]).running_since is None


def test_busy_conversation_is_a_conflict(world, api_as):
    api = api_as(world.rep1)
    conv = api.post(URL, {}, format="json").json()
    Conversation.objects.filter(pk=conv["id"]).update(running_since="2099-01-01T00:00:00Z")
    response = api.post(f"{URL}{conv['id']}/messages/", {"content": "hi"}, format="json")
    assert response.status_code == 409 and response.json()["error"]["code"] == "busy"


def test_validation_errors_have_the_api_shape(world, api_as):
    api = api_as(world.rep1)
    conv = api.post(URL, {}, format="json").json()
    response = api.post(f"{URL}{conv['id']}/messages/", {}, format="json")
    assert response.status_code == 400
    assert "content" in response.json()["error"]["details"]
    response = api.post(URL, {"context_type": "invoice", "context_id": "x"}, format="json")
    assert response.status_code == 400
    response = api.post(URL, {"context_type": "person", "context_id": "x"}, format="json")
    assert response.status_code == 404  # no such person (that the user can see)


def test_deleting_a_conversation(world, api_as):
    api = api_as(world.rep1)
    conv = api.post(URL, {}, format="json").json()
    assert api_as(world.rep2).delete(f"{URL}{conv['id']}/").status_code == 404
    assert api.delete(f"{URL}{conv['id']}/").status_code == 204


def test_unauthenticated_is_refused(api):
    assert api.get(URL).status_code == 401


def test_schema_documents_the_ai_endpoints(admin_user, client):
    client.force_login(admin_user)
    schema = client.get("/api/schema/?format=json").json()
    paths = schema["paths"]
    assert "/api/v1/ai/conversations/{id}/messages/" in paths
    assert "/api/v1/ai/conversations/{id}/confirm/" in paths
    assert "/api/v1/leads/{id}/analyze/" in paths


def test_stopping_a_running_answer_through_the_api(world, api_as):
    from django.utils import timezone

    from aiagent import cancel

    api = api_as(world.rep1)
    conv = api.post(URL, {}, format="json").json()
    assert api.post(f"{URL}{conv['id']}/stop/").json() == {"stopping": False}
    Conversation.objects.filter(pk=conv["id"]).update(running_since=timezone.now())
    assert api.post(f"{URL}{conv['id']}/stop/").json() == {"stopping": True}
    assert cancel.requested(Conversation.objects.get(pk=conv["id"]))
    assert api_as(world.rep2).post(f"{URL}{conv['id']}/stop/").status_code == 404
