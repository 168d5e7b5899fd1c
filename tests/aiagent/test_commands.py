"""Offline mode: the command parser answers common requests with the same tools."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from activities.models import Activity
from aiagent import services
from aiagent.models import Message, Proposal, ToolCall
from leads.models import Lead

pytestmark = pytest.mark.django_db


def ask(user, text, **conversation):
    conv = services.conversation_create(by=user, **conversation)
    added = services.conversation_send(by=user, conversation=conv, content=text)
    answer = [m for m in added if m.role == Message.Role.ASSISTANT][-1]
    return conv, answer


def test_show_my_hot_leads_lists_only_mine_with_links(world):
    conv, answer = ask(world.rep1, "show my hot leads")
    assert "Acme expansion" in answer.content
    assert "Initech pilot" in answer.content
    assert "Cold prospect" not in answer.content  # score 20
    assert "Globex" not in answer.content and "Rival" not in answer.content
    assert f"(/leads/{world.leads1[0].pk}/)" in answer.content
    assert answer.data.get("offline") is True
    call = ToolCall.objects.get(message__conversation=conv)
    assert call.tool == "search_leads" and call.source == "offline"
    assert call.arguments["hot"] is True and call.arguments["mine"] is True


def test_follow_up_call_for_a_lead_tomorrow(world):
    conv, answer = ask(world.rep1, "create a follow-up call for Acme expansion tomorrow")
    activity = Activity.objects.get(lead=world.leads1[0], type="call")
    assert activity.subject.startswith("Follow-up call")
    tomorrow = timezone.localdate() + timedelta(days=1)
    assert timezone.localtime(activity.due_at).date() == tomorrow
    assert activity.assigned_to == world.rep1
    assert "Created the call" in answer.content


def test_follow_up_call_cannot_reach_another_reps_lead(world):
    _, answer = ask(world.rep1, "create a follow-up call for Globex secret deal tomorrow")
    assert "no lead or deal matching" in answer.content
    assert not Activity.objects.filter(lead=world.leads2[0], type="call").exists()


def test_move_deal_to_proposal(world):
    from tests.deals.factories import move_to

    move_to(world.deal1, "Discovery", by=world.rep1)
    _, answer = ask(world.rep1, "move Acme platform deal to Proposal")
    world.deal1.wfm_project.refresh_from_db()
    assert world.deal1.wfm_project.current_step.name == "Proposal"
    assert "Proposal" in answer.content


def test_refused_move_says_why(world):
    _, answer = ask(world.rep1, "move Acme platform deal to Negotiation")
    world.deal1.wfm_project.refresh_from_db()
    assert world.deal1.wfm_project.current_step.name == "Qualification"
    assert "could not move" in answer.content


def test_convert_only_proposes(world):
    conv, answer = ask(world.rep1, "convert Acme expansion")
    lead = Lead.objects.get(pk=world.leads1[0].pk)
    assert lead.converted_at is None
    proposal = Proposal.objects.get(conversation=conv)
    assert proposal.status == Proposal.Status.PENDING
    assert "Confirm" in answer.content


def test_disqualify_needs_a_reason(world):
    _, answer = ask(world.rep1, "disqualify Cold prospect")
    assert "why" in answer.content.lower()
    _, answer = ask(world.rep1, "disqualify Cold prospect because no budget")
    assert Lead.objects.get(pk=world.leads1[2].pk).disqualify_reason == "no budget"


def test_this_lead_in_a_drawer_conversation(world):
    lead = world.leads1[1]
    _, answer = ask(
        world.rep1, "what should I do next on this lead", context_type="lead", context_id=lead.pk
    )
    assert "Next steps for" in answer.content and str(lead.pk) in answer.content


def test_metrics_and_activities(world):
    _, answer = ask(world.rep1, "lead metrics")
    assert "**3 leads**" in answer.content
    _, answer = ask(world.rep1, "my tasks")
    assert "Call Acme about pricing" in answer.content
    assert "Secret Globex" not in answer.content


def test_unknown_request_explains_offline_mode(world):
    _, answer = ask(world.rep1, "write me a poem about spreadsheets")
    assert "AI offline" in answer.content
    assert "show my hot leads" in answer.content
