"""Email from the AI drawer (issue 20): ``draft_email`` drafts, ``send_email`` proposes; the user
confirms the message as it is or opens it in the composer to edit it first, and nothing goes
out before one of the two."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from aiagent import registry, services
from aiagent.models import Message, Proposal
from crm.errors import Conflict
from crm.models import AuditLog
from emails.models import EmailAddressStatus, EmailMessage
from tests.aiagent.factories import make_lead

pytestmark = pytest.mark.django_db

ANN = "ann@acme.example"
HX = {"HTTP_HX_REQUEST": "true"}


def run(actor, tool, arguments):
    return registry.execute(registry.ToolContext(user=actor, source="test"), tool, arguments)


def ask(user, text, **conversation):
    conv = services.conversation_create(by=user, **conversation)
    added = services.conversation_send(by=user, conversation=conv, content=text)
    return conv, [m for m in added if m.role == Message.Role.ASSISTANT][-1]


@pytest.fixture
def lead(rep1):
    return make_lead(rep1, "Fleet telematics", contact_name="Ann Lee", contact_email=ANN)


def send_args(lead, **more) -> dict:
    return {
        "record_type": "lead",
        "record_id": str(lead.pk),
        "subject": "About {{ lead.name }}",
        "body": "Hi Ann,\n\nShall we talk on Friday?",
        **more,
    }


# --- the tools -----------------------------------------------------------------------------------
def test_draft_email_drafts_from_the_record_and_sends_nothing(rep1, lead):
    outcome = run(rep1, "draft_email", {"record_type": "lead", "record_id": str(lead.pk)})
    result = outcome.result
    assert result["to"] == [ANN] and result["can_send"] is True
    assert result["subject"] == "Following up on Fleet telematics"
    assert result["body"].startswith("Hi Ann,") and result["written_by"] == "offline"
    assert result["record"]["url"] == f"/leads/{lead.pk}/"
    assert not EmailMessage.objects.exists()


def test_a_viewer_the_lead_is_shared_with_may_draft_but_not_send(viewer, lead):
    from crm import permissions

    permissions.share(viewer, lead)
    outcome = run(viewer, "draft_email", {"record_type": "lead", "record_id": str(lead.pk)})
    assert outcome.ok and outcome.result["can_send"] is False
    refused = run(viewer, "send_email", send_args(lead))
    assert refused.result["error"]["code"] == "permission_denied"
    assert refused.proposal is None


def test_send_email_proposes_then_sends_exactly_the_proposed_message_when_confirmed(
    rep1, lead, django_capture_on_commit_callbacks
):
    outcome = run(rep1, "send_email", send_args(lead))
    proposal = outcome.proposal
    assert outcome.result["status"] == "needs_confirmation"
    assert proposal.summary == (
        f"Send the email “About {{{{ lead.name }}}}” to {ANN} from the lead "
        "“Fleet telematics”, as you."
    )
    assert not EmailMessage.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        services.proposal_confirm(by=rep1, token=proposal.token)

    message = EmailMessage.objects.get()
    assert message.sender == rep1 and message.thread.lead == lead
    assert message.subject == "About Fleet telematics" and message.to == [ANN]
    assert message.status == EmailMessage.Status.SENT and len(mail.outbox) == 1
    proposal.refresh_from_db()
    assert proposal.status == Proposal.Status.CONFIRMED
    assert proposal.result["email"]["id"] == str(message.pk)


def test_what_sending_would_refuse_is_refused_before_any_proposal(rep1, lead):
    EmailAddressStatus.objects.create(address=ANN, status="bounced")
    outcome = run(rep1, "send_email", send_args(lead))
    assert outcome.result["error"]["code"] == "address_blocked" and outcome.proposal is None
    blank = run(rep1, "send_email", send_args(lead, to=["b@x.example"], body="  "))
    assert blank.result["error"]["code"] in ("invalid_arguments", "validation_error")
    no_address = make_lead(rep1, "Nobody to write to")
    outcome = run(rep1, "send_email", send_args(no_address))
    assert "to" in outcome.result["error"]["details"]
    assert not Proposal.objects.exists()


# --- edit in the composer ------------------------------------------------------------------------
def test_an_edited_proposal_can_no_longer_be_confirmed_and_opens_again(rep1, lead):
    proposal = run(rep1, "send_email", send_args(lead)).proposal

    opened = services.proposal_edit(by=rep1, token=proposal.token)

    assert opened.status == Proposal.Status.EDITED and opened.decided_at is not None
    assert AuditLog.objects.filter(action="ai.proposal_edited").exists()
    with pytest.raises(Conflict):
        services.proposal_confirm(by=rep1, token=proposal.token)
    assert services.proposal_edit(by=rep1, token=proposal.token).status == "edited"
    assert not EmailMessage.objects.exists()


def test_only_an_open_email_proposal_opens_in_the_composer(rep1, rep2, lead):
    other = run(rep1, "assign_lead", {"lead_id": str(lead.pk), "user": "me"}).proposal
    with pytest.raises(Conflict) as refused:
        services.proposal_edit(by=rep1, token=other.token)
    assert refused.value.code == "proposal_not_editable"
    late = run(rep1, "send_email", send_args(lead)).proposal
    Proposal.objects.filter(pk=late.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(Conflict) as refused:
        services.proposal_edit(by=rep1, token=late.token)
    assert refused.value.code == "proposal_expired"
    mine = run(rep1, "send_email", send_args(lead)).proposal
    from crm.errors import NotFound

    with pytest.raises(NotFound):
        services.proposal_edit(by=rep2, token=mine.token)


def test_edit_in_the_composer_opens_it_prefilled(client, rep1, lead):
    proposal = run(rep1, "send_email", send_args(lead, cc=["boss@acme.example"])).proposal
    client.force_login(rep1)

    response = client.post(reverse("aiagent:proposal_edit", args=[proposal.token]), **HX)

    html = response.content.decode()
    assert response.status_code == 200 and 'data-testid="compose-modal"' in html
    assert 'value="About {{ lead.name }}"' in html and "Shall we talk on Friday?" in html
    assert f'value="{ANN}"' in html and 'value="boss@acme.example"' in html
    # The card changes with it, out of band: no Confirm button any more.
    assert f'id="proposal-{proposal.pk}" hx-swap-oob="outerHTML"' in html
    assert 'data-status="edited"' in html and "Opened in the composer" in html
    card = html.split(f'id="proposal-{proposal.pk}"', 1)[1]
    assert 'data-testid="ai-confirm"' not in card and "Open it again" in card
    # Sending from the composer is an ordinary send.
    sent = client.post(
        reverse("emails:compose", args=["lead", lead.pk]),
        {"to": ANN, "subject": "Edited", "body": "Hi Ann, edited.", "send": "send"},
        **HX,
    )
    assert sent.status_code == 204
    assert EmailMessage.objects.get().subject == "Edited"


def test_the_chat_shows_the_proposal_with_edit_in_the_composer(client, rep1, lead):
    conv, _ = ask(rep1, "draft an email to this lead", context_type="lead", context_id=lead.pk)
    proposal = Proposal.objects.get(conversation=conv)
    client.force_login(rep1)
    html = client.get(reverse("aiagent:messages", args=[conv.pk]), **HX).content.decode()
    edit = reverse("aiagent:proposal_edit", args=[proposal.token])
    assert f'hx-post="{edit}" hx-target="#modal-dialog"' in html
    assert 'data-testid="ai-confirm"' in html


def test_a_refused_edit_shows_on_the_card(client, rep1, lead):
    proposal = run(rep1, "send_email", send_args(lead)).proposal
    services.proposal_reject(by=rep1, token=proposal.token)
    client.force_login(rep1)
    response = client.post(reverse("aiagent:proposal_edit", args=[proposal.token]), **HX)
    assert response["HX-Retarget"] == f"#proposal-{proposal.pk}"
    assert "This proposal is rejected." in response.content.decode()


# --- offline: "draft an email to this lead" -------------------------------------------------------
def test_offline_draft_an_email_proposes_sending_it(rep1, lead, django_capture_on_commit_callbacks):
    conv, answer = ask(rep1, "draft an email to this lead", context_type="lead", context_id=lead.pk)
    assert "Subject: Following up on Fleet telematics" in answer.content
    assert "Hi Ann," in answer.content and "**Confirm** sends it" in answer.content
    proposal = Proposal.objects.get(conversation=conv, tool="send_email")
    assert proposal.arguments["to"] == [ANN]
    assert not EmailMessage.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        services.proposal_confirm(by=rep1, token=proposal.token)
    assert EmailMessage.objects.get().subject == "Following up on Fleet telematics"


def test_offline_draft_without_an_address_says_so_and_proposes_nothing(rep1):
    lead = make_lead(rep1, "No address yet")
    conv, answer = ask(rep1, "draft an email to this lead", context_type="lead", context_id=lead.pk)
    assert "has no email address" in answer.content
    assert not Proposal.objects.filter(conversation=conv).exists()
