"""The suggested reply to a received message (``emails.drafts``, "Draft a reply"): the offline
draft grounded on the record, Claude's when it is online, and the fallback when Claude fails
(a scripted Claude on a mocked transport, never the network)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from activities.models import Activity
from aiagent import breaker
from emails import drafts
from emails.models import EmailMessage
from tests.aiagent.conftest import error_reply, text_reply
from tests.emails.factories import EmailMessageFactory, EmailThreadFactory
from tests.leads.factories import LeadFactory

ANN = "ann@acme.example"


@pytest.fixture
def lead(rep1):
    return LeadFactory(
        owner=rep1,
        name="Fleet telematics",
        company_name="Acme Logistics",
        contact_name="Ann Lee",
        contact_email=ANN,
    )


@pytest.fixture
def received(lead):
    thread = EmailThreadFactory(lead=lead, subject="Fleet telematics")
    EmailMessageFactory(
        thread=thread, to=[ANN], text_body="Here is our offer for 40 trucks.", subject="Offer"
    )
    return EmailMessageFactory(
        thread=thread,
        direction=EmailMessage.Direction.INBOUND,
        status=EmailMessage.Status.RECEIVED,
        from_address=ANN,
        from_name="Ann Lee",
        to=["crm@pipecrm.localhost"],
        subject="Re: Offer",
        text_body=(
            "Thanks. Does the plan include driver onboarding? We are comparing two vendors.\n\n"
            "Ann Lee\nHead of Fleet, Acme Logistics\n\n"
            "On Mon, Dec 1, 2026 at 10:00 AM Rep <crm@pipecrm.localhost> wrote:\n"
            "> Here is our offer. Any questions?"
        ),
    )


def test_the_question_is_read_from_the_new_text_only():
    text = "Can we start in May? Also: what does it cost?\n\n> Old question?\n"
    assert drafts.questions_in(text) == ["Can we start in May?", "Also: what does it cost?"]


def test_the_offline_draft_is_grounded_on_the_record(rep1, lead, received):
    lead.ai_insights = {
        "analyzed_at": timezone.now().isoformat(),
        "budget": {"level": "confirmed", "summary": "40k"},
        "authority": {"level": "decision maker", "summary": "Ann decides"},
        "need": {"level": "clear", "summary": "tracking"},
    }
    lead.save(update_fields=["ai_insights"])
    draft = drafts.draft_reply(user=rep1, message=received)
    assert draft.source == "offline" and draft.subject == "Re: Offer" and not draft.note
    body = draft.body
    assert body.startswith("Hi Ann,")
    assert "Thank you for your message about Fleet telematics." in body
    assert "You asked: “Does the plan include driver onboarding?”" in body
    assert "Any questions" not in body  # the quoted history is not what was asked
    assert "when you would like to have this in place" in body  # the timeline is open
    assert "what budget" not in body  # the budget is known
    assert body.endswith(f"Best regards,\n{rep1.first_name}")


def test_the_offline_draft_proposes_the_planned_meeting(rep1, lead, received):
    from activities import services as activity_services

    activity_services.activity_create(
        by=rep1,
        type=Activity.Type.MEETING,
        subject="Demo with Ann",
        due_at=timezone.now() + timedelta(days=2),
        is_done=False,
        lead=lead,
    )
    body = drafts.draft_reply(user=rep1, message=received).body
    assert "I suggest a short meeting or demo" in body


def test_claude_writes_the_draft_from_the_thread_and_the_record(rep1, lead, received, claude):
    claude.replies.append(text_reply("Hi Ann,\n\nYes, onboarding is included.\n\nBest,\nRob"))
    draft = drafts.draft_reply(user=rep1, message=received)
    assert draft.source == "claude" and draft.body.startswith("Hi Ann,\n\nYes, onboarding")
    [request] = claude.requests
    assert "never instructions" in request["system"]
    content = request["messages"][0]["content"]
    assert "untrusted" in content and "Fleet telematics" in content
    facts = json.loads(content.split(">\n", 1)[1].rsplit("\n</", 1)[0])
    assert [m["from"] for m in facts["thread"]] == ["us", "them"]  # oldest first
    assert facts["contact_first_name"] == "Ann"


def test_a_failing_claude_falls_back_to_the_offline_draft_and_counts_for_the_breaker(
    rep1, lead, received, claude
):
    claude.replies.append(error_reply(529))
    draft = drafts.draft_reply(user=rep1, message=received)
    assert draft.source == "offline" and draft.note
    assert draft.body.startswith("Hi Ann,")
    assert breaker.state().failures == 1


def test_an_empty_answer_from_claude_falls_back_too(rep1, lead, received, claude):
    claude.replies.append(text_reply("   "))
    assert drafts.draft_reply(user=rep1, message=received).source == "offline"


def test_draft_a_reply_opens_the_composer_with_the_draft(client, rep1, lead, received):
    client.force_login(rep1)
    url = reverse("emails:compose", args=["lead", lead.pk])
    response = client.get(url, {"reply_to": received.pk, "draft": "1"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Hi Ann," in html and 'data-testid="compose-draft-note"' in html
    assert "AI offline" in html and 'value="Re: Offer"' in html


def test_the_composers_draft_button_fills_the_text(client, rep1, lead, received):
    client.force_login(rep1)
    url = reverse("emails:draft_reply", args=["lead", lead.pk, received.pk])
    html = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert html.lstrip().startswith('<div class="mb-3" id="compose-body-field">')
    assert "You asked: “Does the plan include driver onboarding?”" in html


def test_only_a_received_message_gets_a_draft(client, rep1, lead, received):
    sent = received.thread.messages.get(direction="outbound")
    client.force_login(rep1)
    url = reverse("emails:draft_reply", args=["lead", lead.pk, sent.pk])
    assert client.get(url, HTTP_HX_REQUEST="true").status_code == 400


def test_nobody_drafts_on_a_lead_they_cannot_see(client, rep2, lead, received):
    client.force_login(rep2)
    url = reverse("emails:draft_reply", args=["lead", lead.pk, received.pk])
    assert client.get(url, HTTP_HX_REQUEST="true").status_code == 404
