"""The agent loop with the real ``anthropic`` SDK on a mocked transport."""

from __future__ import annotations

import pytest

from activities.models import Activity
from aiagent import agent, breaker, llm, services
from aiagent.models import Message, ToolCall
from crm.models import AuditLog
from tests.aiagent.conftest import error_reply, text_reply, tool_reply

pytestmark = pytest.mark.django_db


def test_multi_step_conversation_persists_every_step(world, claude):
    lead = world.leads1[0]
    claude.replies = [
        tool_reply(("search_leads", {"query": "Acme"}), text="Let me find the lead."),
        tool_reply(("get_lead", {"lead_id": str(lead.pk)}), text="Found it; reading details."),
        tool_reply(
            (
                "create_activity",
                {
                    "type": "call",
                    "subject": "Follow up on pricing",
                    "lead_id": str(lead.pk),
                    "due_at": "tomorrow at 10am",
                },
            )
        ),
        text_reply(f"Done: I planned a call on [Acme expansion](/leads/{lead.pk}/)."),
    ]
    conv = services.conversation_create(by=world.rep1)
    added = services.conversation_send(
        by=world.rep1, conversation=conv, content="Plan a follow-up call for the Acme lead"
    )

    roles = [(m.role, m.kind) for m in added]
    assert roles == [
        ("user", "text"),
        ("assistant", "thought"),
        ("tool", "tools"),
        ("assistant", "thought"),
        ("tool", "tools"),
        ("assistant", "thought"),
        ("tool", "tools"),
        ("assistant", "text"),
    ]
    assert added[1].content == "Let me find the lead."
    assert added[-1].content.startswith("Done:")
    calls = list(ToolCall.objects.filter(message__conversation=conv).order_by("pk"))
    assert [c.tool for c in calls] == ["search_leads", "get_lead", "create_activity"]
    assert all(not c.error and c.duration_ms >= 0 and c.result_size > 0 for c in calls)
    assert calls[0].result_count == 1
    assert calls[0].tool_use_id.startswith("toolu_search_leads")
    assert calls[2].records[0]["type"] == "activity"
    activity = Activity.objects.get(lead=lead, subject="Follow up on pricing")
    assert activity.assigned_to == world.rep1 and activity.due_at is not None

    # Every request carried the tools, the system prompt and the growing history.
    assert len(claude.requests) == 4
    first = claude.requests[0]
    assert first["model"] == "claude-test"
    assert {t["name"] for t in first["tools"]} >= {"search_leads", "create_activity"}
    assert "untrusted_record_data" in first["system"]
    results = claude.tool_results(1)
    assert results[0]["tool_use_id"] == calls[0].tool_use_id
    assert results[0]["content"].startswith("<untrusted_record_data")
    assert "Acme expansion" in results[0]["content"]
    # Audit: one entry per tool call with its argument hash and result count.
    audits = AuditLog.objects.filter(action="ai.tool_call", user=world.rep1).order_by("at")
    assert [a.details["tool"] for a in audits] == ["search_leads", "get_lead", "create_activity"]
    assert audits[0].details["arguments_hash"] == calls[0].arguments_hash
    assert audits[0].details["result_count"] == 1


def test_next_turn_replays_history_with_tool_results(world, claude):
    claude.replies = [
        tool_reply(("search_leads", {"hot": True, "mine": True})),
        text_reply("You have 2 hot leads."),
        text_reply("The first is Acme expansion."),
    ]
    conv = services.conversation_create(by=world.rep1)
    services.conversation_send(by=world.rep1, conversation=conv, content="hot leads?")
    services.conversation_send(by=world.rep1, conversation=conv, content="which is first?")
    history = claude.requests[2]["messages"]
    assert [t["role"] for t in history] == ["user", "assistant", "user", "assistant", "user"]
    assert history[1]["content"][0]["type"] == "tool_use"
    assert history[2]["content"][0]["type"] == "tool_result"
    assert history[-1]["content"][-1] == {"type": "text", "text": "which is first?"}


def test_steps_are_bounded(world, claude, settings):
    settings.AI_MAX_STEPS = 3
    claude.fallback = lambda body: tool_reply(("lead_metrics", {}))
    conv = services.conversation_create(by=world.rep1)
    added = services.conversation_send(by=world.rep1, conversation=conv, content="loop forever")
    assert len(claude.requests) == 3
    assert added[-1].kind == Message.Kind.NOTICE
    assert "stopped after 3 steps" in added[-1].content
    assert ToolCall.objects.filter(message__conversation=conv).count() == 3


def test_token_budget_stops_the_run(world, claude, settings):
    settings.AI_MAX_RUN_TOKENS = 1000
    claude.fallback = lambda body: {
        **tool_reply(("lead_metrics", {})),
        "usage": {"input_tokens": 900, "output_tokens": 200},
    }
    conv = services.conversation_create(by=world.rep1)
    added = services.conversation_send(by=world.rep1, conversation=conv, content="go")
    assert len(claude.requests) == 1
    assert "token budget" in added[-1].content


def test_too_many_tool_calls_in_one_step_are_answered_as_skipped(world, claude, settings):
    settings.AI_MAX_TOOL_CALLS_PER_STEP = 2
    claude.replies = [
        tool_reply(*[("lead_metrics", {"mine": i % 2 == 0}) for i in range(4)]),
        text_reply("ok"),
    ]
    conv = services.conversation_create(by=world.rep1)
    services.conversation_send(by=world.rep1, conversation=conv, content="metrics")
    results = claude.tool_results(1)
    assert len(results) == 4
    assert [r["is_error"] for r in results] == [False, False, True, True]
    assert ToolCall.objects.filter(message__conversation=conv).count() == 2


def test_api_error_opens_the_breaker_and_falls_back_offline(world, claude, settings, client):
    settings.AI_BREAKER_FAILURES = 2
    claude.fallback = lambda body: error_reply(529)
    client.force_login(world.rep1)
    assert "AI online" in client.get("/ai/").content.decode()

    conv = services.conversation_create(by=world.rep1)
    added = services.conversation_send(
        by=world.rep1, conversation=conv, content="show my hot leads"
    )
    assert added[1].kind == Message.Kind.NOTICE and "offline mode" in added[1].content
    assert "Acme expansion" in added[-1].content  # the offline parser answered
    assert llm.is_online()  # one failure: still closed

    services.conversation_send(by=world.rep1, conversation=conv, content="show my hot leads")
    assert breaker.is_open() and not llm.is_online()
    assert llm.status().reason == "breaker_open"
    calls = len(claude.requests)

    # While open nothing calls the API; the shell and the chat say "AI offline".
    added = services.conversation_send(by=world.rep1, conversation=conv, content="lead metrics")
    assert len(claude.requests) == calls
    assert "leads" in added[-1].content
    page = client.get("/ai/").content.decode()
    assert "AI offline" in page and "failed repeatedly" in page
    assert "AI online" not in page


def test_breaker_closes_after_a_successful_trial(world, claude, settings, monkeypatch):
    import time as time_module

    settings.AI_BREAKER_FAILURES = 1
    settings.AI_BREAKER_OPEN_SECONDS = 30
    claude.replies = [error_reply(500, "api_error")]
    conv = services.conversation_create(by=world.rep1)
    services.conversation_send(by=world.rep1, conversation=conv, content="hi")
    assert breaker.is_open()
    now = time_module.time()
    monkeypatch.setattr(breaker.time, "time", lambda: now + 31)
    assert llm.is_online()  # the open period is over: the next call is a trial
    claude.replies = [text_reply("Back online.")]
    added = services.conversation_send(by=world.rep1, conversation=conv, content="hi again")
    assert added[-1].content == "Back online."
    assert breaker.state().failures == 0


def test_a_failed_trial_reopens_at_once(world, claude, settings, monkeypatch):
    import time as time_module

    settings.AI_BREAKER_FAILURES = 3
    for _ in range(3):
        breaker.record_failure("boom")
    assert breaker.is_open()
    now = time_module.time()
    monkeypatch.setattr(breaker.time, "time", lambda: now + settings.AI_BREAKER_OPEN_SECONDS + 1)
    assert not breaker.is_open()
    assert breaker.record_failure("still down") is True


def test_a_bad_request_fails_the_turn_without_blaming_the_service(world, claude):
    claude.replies = [error_reply(400, "invalid_request_error")]
    conv = services.conversation_create(by=world.rep1)
    added = services.conversation_send(by=world.rep1, conversation=conv, content="lead metrics")
    assert "offline mode" in added[1].content
    assert breaker.state().failures == 0


def test_interrupted_tool_round_is_closed_in_history(world, claude):
    conv = services.conversation_create(by=world.rep1)
    services.message_add(conversation=conv, role="user", content="first")
    services.message_add(
        conversation=conv,
        role="assistant",
        kind="thought",
        content="",
        data={
            "blocks": [{"type": "tool_use", "id": "toolu_x", "name": "lead_metrics", "input": {}}]
        },
    )
    services.message_add(conversation=conv, role="user", content="second")
    history = agent.build_history(conv)
    assert [t["role"] for t in history] == ["user", "assistant", "user"]
    assert history[2]["content"][0]["type"] == "tool_result"
    assert history[2]["content"][0]["is_error"] is True
    assert history[2]["content"][-1]["text"] == "second"


def test_one_run_at_a_time(world):
    conv = services.conversation_create(by=world.rep1)
    services.user_message_add(by=world.rep1, conversation=conv, content="hello")
    assert services.run_start(conv)
    from crm.errors import Conflict

    with pytest.raises(Conflict):
        services.conversation_run(by=world.rep1, conversation=conv)
    services.run_finish(conv)
    assert services.conversation_run(by=world.rep1, conversation=conv)
