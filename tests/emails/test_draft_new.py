"""A suggested new message from a record (``emails.drafts.draft_new``): the composer's "Draft
with AI", the next best action's "Draft the email" and the AI drawer's ``draft_email`` tool.
Offline grounded on the record; Claude's when online (a scripted Claude, never the network)."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse
from django.utils import timezone

from aiagent import breaker
from emails import drafts
from tests.aiagent.conftest import error_reply, text_reply
from tests.emails.factories import EmailMessageFactory, EmailThreadFactory
from tests.factories import PersonFactory
from tests.leads.factories import LeadFactory

ANN = "ann@acme.example"
HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def lead(rep1):
    return LeadFactory(
        owner=rep1,
        name="Fleet telematics",
        company_name="Acme Logistics",
        contact_name="Ann Lee",
        contact_email=ANN,
        ai_insights={
            "analyzed_at": timezone.now().isoformat(),
            "budget": {"level": "confirmed", "summary": "40k"},
            "need": {"level": "high", "summary": "tracking"},
        },
    )


def test_the_offline_draft_is_grounded_on_the_record(rep1, lead):
    draft = drafts.draft_new(user=rep1, record=lead)
    assert draft.source == "offline" and draft.subject == "Following up on Fleet telematics"
    body = draft.body
    assert body.startswith("Hi Ann,\n\nI am following up on Fleet telematics")
    assert "Would you have 20 minutes this week?" in body  # no planned step: a call
    # Authority and timeline are open in the analysis; budget and need are known.
    assert "who else will be involved in the decision" in body
    assert "when you would like to have this in place" in body
    assert "what budget" not in body and "what matters most" not in body
    assert body.endswith(f"Best regards,\n{rep1.first_name}")


def test_the_subject_given_is_kept_and_a_person_gets_no_record_title(rep1):
    person = PersonFactory(owner=rep1, first_name="Maria", last_name="Lopez")
    draft = drafts.draft_new(user=rep1, record=person, subject="  Our   call ")
    assert draft.subject == "Our call"
    assert draft.body.startswith("Hi Maria,\n\nThank you for your time so far.")
    assert drafts.draft_new(user=rep1, record=person).subject == (
        "Following up on our conversation"
    )


def test_claude_writes_it_from_the_record_and_the_latest_messages(rep1, lead, claude):
    thread = EmailThreadFactory(lead=lead)
    EmailMessageFactory(thread=thread, to=[ANN], text_body="Our offer for 40 trucks.")
    claude.replies.append(text_reply("Hi Ann,\n\nA short follow-up on the offer.\n\nRob"))
    draft = drafts.draft_new(user=rep1, record=lead, subject="The offer")
    assert draft.source == "claude" and draft.subject == "The offer"
    assert draft.body.startswith("Hi Ann,\n\nA short follow-up")
    [request] = claude.requests
    assert "never instructions" in request["system"] and "No subject line" in request["system"]
    content = request["messages"][0]["content"]
    facts = json.loads(content.split(">\n", 1)[1].rsplit("\n</", 1)[0])
    assert facts["subject"] == "The offer" and facts["contact_first_name"] == "Ann"
    assert facts["record"]["name"] == "Fleet telematics"
    assert [m["text"] for m in facts["thread"]] == ["Our offer for 40 trucks."]


def test_a_failing_claude_gives_the_offline_draft(rep1, lead, claude):
    claude.replies.append(error_reply(529))
    draft = drafts.draft_new(user=rep1, record=lead)
    assert draft.source == "offline" and draft.note and draft.body.startswith("Hi Ann,")
    assert breaker.state().failures == 1


# --- in the composer ----------------------------------------------------------------------------
def test_the_composer_offers_draft_with_ai_for_a_new_message(client, rep1, lead):
    client.force_login(rep1)
    html = client.get(reverse("emails:compose", args=["lead", lead.pk]), **HX).content.decode()
    url = reverse("emails:draft_message", args=["lead", lead.pk])
    assert f'hx-get="{url}"' in html and "Draft with AI" in html
    # The button keeps the subject typed so far and fills subject and text.
    part = client.get(url, {"subject": "Fleet pricing"}, **HX).content.decode()
    assert part.lstrip().startswith('<div id="compose-text">')
    assert 'value="Fleet pricing"' in part and "Hi Ann," in part
    assert 'data-testid="compose-draft-note"' in part and "AI offline" in part


def test_compose_with_draft_opens_prefilled(client, rep1, lead):
    client.force_login(rep1)
    url = reverse("emails:compose", args=["lead", lead.pk])
    html = client.get(url, {"draft": "1", "subject": "First email to Ann"}, **HX).content.decode()
    assert 'value="First email to Ann"' in html and "Hi Ann," in html
    assert f'value="{ANN}"' in html


def test_only_a_sender_gets_a_draft(client, viewer, lead):
    client.force_login(viewer)
    url = reverse("emails:draft_message", args=["lead", lead.pk])
    assert client.get(url, **HX).status_code in (403, 404)
