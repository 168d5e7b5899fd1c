"""Streamed answers, Stop, and the history's token budget, with the real ``anthropic`` SDK
reading server-sent events from a mocked transport."""

from __future__ import annotations

import html as html_lib
import json
import re

import httpx2
import pytest
from django.template.loader import render_to_string

from activities.models import Activity
from aiagent import agent, breaker, budget, cancel, llm, registry, services
from aiagent import realtime as ai_realtime
from aiagent.models import Message, ToolCall
from tests.aiagent import sse
from tests.aiagent.conftest import text_reply, tool_reply

pytestmark = pytest.mark.django_db

ANSWER = (
    "Your hot leads are Acme expansion & Initech pilot. Acme <b>scored</b> 85 after the "
    "pricing call; Initech is at 72 and waits for a pilot plan. I would call Acme first, "
    "then send Initech the pilot proposal before Friday."
)


@pytest.fixture
def pushed(monkeypatch) -> list[str]:
    """Every fragment sent to a user's socket, in order."""
    sent: list[str] = []
    monkeypatch.setattr(ai_realtime, "_send", lambda user, html: sent.append(html))
    return sent


def draft_frames(pushed: list[str]) -> list[str]:
    return [h for h in pushed if "ai-draft-text-" in h]


def streamed_text(frames: list[str]) -> str:
    """The text the frames add to the draft bubble, as the browser would show it."""
    text = ""
    for frame in frames:
        found = re.search(r'data-testid="ai-draft-text">(.*?)</div>', frame, re.S) or re.search(
            r'hx-swap-oob="beforeend:#ai-draft-text-\w+">(.*?)</span>', frame, re.S
        )
        text += html_lib.unescape(found.group(1))
    return text


def request_is_valid(messages: list[dict]) -> None:
    """Turns alternate, start with the user, and every tool_use is answered in the very next
    turn (and nothing else is)."""
    assert messages[0]["role"] == "user"
    for before, after in zip(messages, messages[1:], strict=False):
        assert before["role"] != after["role"]
    for index, turn in enumerate(messages):
        uses = [b["id"] for b in turn["content"] if b.get("type") == "tool_use"]
        results = [b["tool_use_id"] for b in turn["content"] if b.get("type") == "tool_result"]
        if results:
            previous = messages[index - 1]["content"]
            assert results == [b["id"] for b in previous if b.get("type") == "tool_use"]
        if uses:
            answered = [
                b["tool_use_id"]
                for b in messages[index + 1]["content"]
                if b.get("type") == "tool_result"
            ]
            assert answered == uses


# --- streaming ------------------------------------------------------------------------------------
def test_answer_text_is_pushed_in_throttled_frames_and_stored_once(world, claude, settings, pushed):
    settings.AI_STREAM_FLUSH_SECONDS = 3600  # only the size limit cuts frames
    settings.AI_STREAM_FLUSH_CHARS = 40
    claude.replies = [text_reply(ANSWER)]
    conv = services.conversation_create(by=world.rep1)
    added = services.conversation_send(by=world.rep1, conversation=conv, content="hot leads?")

    assert claude.requests[0]["stream"] is True
    frames = draft_frames(pushed)
    deltas = -(-len(ANSWER) // 12)  # the transport sends 12 characters per delta
    assert 4 <= len(frames) <= len(ANSWER) // 40 + 1 < deltas
    assert f'hx-swap-oob="beforeend:#ai-messages-{conv.pk}"' in frames[0]
    assert 'data-testid="ai-draft"' in frames[0]
    assert all('hx-swap-oob="beforeend:#ai-draft-text-' in f for f in frames[1:])
    assert streamed_text(frames) == ANSWER  # every character once, in order
    assert "<b>scored</b>" not in "".join(frames)  # escaped: record text is not markup

    answers = Message.objects.filter(conversation=conv, role=Message.Role.ASSISTANT)
    assert answers.count() == 1 and added[-1].content == ANSWER
    assert added[-1].data["blocks"] == [{"type": "text", "text": ANSWER}]
    key = re.search(r'id="ai-draft-(\w+)"', frames[0]).group(1)
    done = [h for h in pushed if f'id="ai-draft-{key}" hx-swap-oob="delete"' in h]
    assert len(done) == 1 and f'id="ai-msg-{added[-1].pk}"' in done[0]


def test_default_throttle_sends_fewer_frames_than_deltas(world, claude, pushed):
    claude.replies = [text_reply(ANSWER * 4)]
    conv = services.conversation_create(by=world.rep1)
    services.conversation_send(by=world.rep1, conversation=conv, content="hot leads?")
    frames = draft_frames(pushed)
    assert 1 <= len(frames) < len(ANSWER * 4) // 12
    assert streamed_text(frames) == ANSWER * 4


def test_tool_steps_show_while_running_then_as_collapsible_results(world, claude, settings, pushed):
    settings.AI_STREAM_FLUSH_SECONDS = 3600  # the text before the tool goes in one frame
    claude.replies = [
        tool_reply(("lead_metrics", {"mine": True}), text="Counting your leads."),
        text_reply("You have 3 leads."),
    ]
    conv = services.conversation_create(by=world.rep1)
    services.conversation_send(by=world.rep1, conversation=conv, content="how many?")
    call = ToolCall.objects.get(message__conversation=conv)
    sent = "".join(pushed)
    running = sent.index('data-testid="ai-tool-running"')
    assert 'data-tool="lead_metrics"' in sent[running : running + 300]
    assert "&quot;mine&quot;: true" in sent[running:]  # its arguments, while it runs
    done = sent.index(f'id="ai-step-{call.tool_use_id}" hx-swap-oob="delete"')
    step = sent.index(f'id="ai-call-{call.pk}"')
    assert running < done < step
    assert sent.index("Counting your leads.") < running  # the text before the tool shows first


def test_a_dropped_stream_drops_its_draft_and_answers_offline(world, claude, settings, pushed):
    settings.AI_STREAM_FLUSH_CHARS = 10

    def broken(index, event):
        if index == 5:
            raise httpx2.ReadError("connection reset")

    claude.on_event = broken
    claude.replies = [text_reply(ANSWER)]
    conv = services.conversation_create(by=world.rep1)
    added = services.conversation_send(by=world.rep1, conversation=conv, content="show my leads")
    assert added[1].kind == Message.Kind.NOTICE and "offline mode" in added[1].content
    key = re.search(r'id="ai-draft-(\w+)"', draft_frames(pushed)[0]).group(1)
    assert any(f'id="ai-draft-{key}" hx-swap-oob="delete"' in h for h in pushed)
    assert breaker.state().failures == 1  # a dropped connection counts against the service


def test_an_error_event_mid_stream_counts_against_the_service(world, claude, monkeypatch):
    message = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-test",
        "content": [{"type": "text", "text": ANSWER}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 10, "output_tokens": 10},
    }
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    events = [*sse.message_events(message)[:5], overloaded]
    monkeypatch.setattr(
        llm,
        "http_client_factory",
        lambda: httpx2.Client(transport=httpx2.MockTransport(lambda r: sse.sse_response(events))),
    )
    conv = services.conversation_create(by=world.rep1)
    added = services.conversation_send(by=world.rep1, conversation=conv, content="lead metrics")
    assert "error during the answer" in added[1].content and "offline mode" in added[1].content
    assert breaker.state().failures == 1


# --- stop -----------------------------------------------------------------------------------------
def test_stop_mid_stream_keeps_what_was_written_and_the_next_turn_works(world, claude, pushed):
    conv = services.conversation_create(by=world.rep1)
    seen: list[int] = []

    def press_stop(index, event):
        seen.append(index)
        if index == 8:  # a few text deltas in
            assert services.conversation_stop(by=world.rep1, conversation=conv)

    claude.on_event = press_stop
    claude.replies = [text_reply(ANSWER)]
    added = services.conversation_send(by=world.rep1, conversation=conv, content="hot leads?")

    stopped = added[-1]
    assert stopped.data["stopped"] is True and stopped.kind == Message.Kind.TEXT
    written = stopped.content.removesuffix("\n\n(stopped)")
    assert stopped.content.endswith("(stopped)") and written and ANSWER.startswith(written)
    assert len(written) < len(ANSWER)
    assert stopped.data["blocks"] == [{"type": "text", "text": stopped.content}]
    assert max(seen) < 12  # the stream was closed, not read to its end
    assert len(claude.requests) == 1
    assert Message.objects.filter(conversation=conv, role=Message.Role.ASSISTANT).count() == 1
    assert 'data-stopped="true"' in "".join(pushed)

    claude.on_event = None
    claude.replies = [text_reply("Picking up: call Acme first.")]
    again = services.conversation_send(by=world.rep1, conversation=conv, content="go on")
    assert again[-1].content == "Picking up: call Acme first."  # the old flag stops nothing
    history = claude.requests[1]["messages"]
    request_is_valid(history)
    assert history[1]["content"] == [{"type": "text", "text": stopped.content}]


def test_stop_while_a_tool_request_streams_runs_nothing(world, claude):
    lead = world.leads1[0]
    conv = services.conversation_create(by=world.rep1)

    def press_stop(index, event):
        if event["type"] == "content_block_delta" and event["delta"]["type"] == "input_json_delta":
            services.conversation_stop(by=world.rep1, conversation=conv)

    claude.on_event = press_stop
    claude.replies = [
        tool_reply(
            ("create_activity", {"type": "call", "subject": "Call Acme", "lead_id": str(lead.pk)}),
            text="I'll log the call.",
        )
    ]
    added = services.conversation_send(by=world.rep1, conversation=conv, content="log a call")
    assert added[-1].content == "I'll log the call.\n\n(stopped)"
    assert all(b["type"] == "text" for b in added[-1].data["blocks"])
    assert not ToolCall.objects.filter(message__conversation=conv).exists()
    assert not Activity.objects.filter(lead=lead, subject="Call Acme").exists()
    request_is_valid(agent.build_history(conv))


def test_stop_between_tool_calls_answers_every_request_in_the_history(world, claude, monkeypatch):
    conv = services.conversation_create(by=world.rep1)
    real_execute = registry.execute

    def execute_then_stop(*args, **kwargs):
        outcome = real_execute(*args, **kwargs)
        services.conversation_stop(by=world.rep1, conversation=conv)
        return outcome

    monkeypatch.setattr(registry, "execute", execute_then_stop)
    claude.replies = [tool_reply(("lead_metrics", {}), ("search_leads", {"hot": True}))]
    added = services.conversation_send(by=world.rep1, conversation=conv, content="metrics")

    assert [c.tool for c in ToolCall.objects.filter(message__conversation=conv)] == ["lead_metrics"]
    assert len(claude.requests) == 1  # no further model round
    assert added[-2].role == Message.Role.TOOL and added[-2].content == "lead_metrics"
    assert added[-1].content == "(stopped)" and added[-1].data["stopped"] is True

    monkeypatch.setattr(registry, "execute", real_execute)
    claude.replies = [text_reply("Here are the metrics.")]
    services.conversation_send(by=world.rep1, conversation=conv, content="continue")
    history = claude.requests[1]["messages"]
    request_is_valid(history)
    results = [b for b in history[2]["content"] if b["type"] == "tool_result"]
    assert [r["is_error"] for r in results] == [False, True]


def test_stop_before_the_next_model_round(world, claude, monkeypatch):
    conv = services.conversation_create(by=world.rep1)
    real_execute = registry.execute

    def execute_then_stop(*args, **kwargs):
        outcome = real_execute(*args, **kwargs)
        services.conversation_stop(by=world.rep1, conversation=conv)
        return outcome

    monkeypatch.setattr(registry, "execute", execute_then_stop)
    claude.replies = [tool_reply(("lead_metrics", {}))]  # the last call of its round
    added = services.conversation_send(by=world.rep1, conversation=conv, content="metrics")
    assert len(claude.requests) == 1
    assert added[-1].content == "(stopped)"
    request_is_valid(agent.build_history(conv))


def test_a_stop_only_stops_the_run_it_was_meant_for(world, claude):
    conv = services.conversation_create(by=world.rep1)
    assert services.conversation_stop(by=world.rep1, conversation=conv) is False
    assert cache_flag(conv) is None
    # A flag left by an earlier run (another start time) does not touch this one.
    from datetime import timedelta

    from django.utils import timezone

    conv.running_since = timezone.now() - timedelta(minutes=3)
    cancel.request(conv)
    conv.running_since = None
    claude.replies = [text_reply("All good.")]
    added = services.conversation_send(by=world.rep1, conversation=conv, content="hi")
    assert added[-1].content == "All good."


def cache_flag(conversation):
    from django.core.cache import cache

    return cache.get(cancel.key(conversation.pk))


def test_stop_endpoint_is_for_the_owner_of_a_running_conversation(world, client):
    conv = services.conversation_create(by=world.rep1)
    services.user_message_add(by=world.rep1, conversation=conv, content="hello")
    client.force_login(world.rep2)
    assert client.post(f"/ai/{conv.pk}/stop/", HTTP_HX_REQUEST="true").status_code == 404
    client.force_login(world.rep1)
    assert client.get(f"/ai/{conv.pk}/stop/").status_code == 405
    idle = client.post(f"/ai/{conv.pk}/stop/", HTTP_HX_REQUEST="true")
    assert idle.status_code == 200 and "Stopping" not in idle.content.decode()
    assert cache_flag(conv) is None

    services.run_start(conv)
    response = client.post(f"/ai/{conv.pk}/stop/", HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert f'id="ai-status-{conv.pk}"' in body and 'hx-swap-oob="true"' in body
    assert "Stopping…" in body and 'data-testid="ai-stop"' not in body
    assert cancel.requested(conv)


def test_the_chat_offers_stop_while_an_answer_runs(world, client):
    conv = services.conversation_create(by=world.rep1)
    client.force_login(world.rep1)
    page = client.get(f"/ai/{conv.pk}/").content.decode()
    working = page[page.index(f'id="ai-working-{conv.pk}"') :]
    assert f'hx-post="/ai/{conv.pk}/stop/"' in working[:1500]
    status = render_to_string(
        "aiagent/_status.html",
        {"conversation_id": conv.pk, "text": "Thinking…", "oob": True, "stoppable": True},
    )
    assert 'data-testid="ai-stop"' in status
    idle = render_to_string("aiagent/_status.html", {"conversation_id": conv.pk, "text": ""})
    assert 'data-testid="ai-stop"' not in idle


# --- token budget ---------------------------------------------------------------------------------
def exchange(number: int, *, answer_chars: int = 600) -> list[dict]:
    use = {"type": "tool_use", "id": f"toolu_{number}", "name": "search_leads", "input": {}}
    return [
        {"role": "user", "content": [{"type": "text", "text": f"question {number}"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "Looking."}, use]},
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": f"toolu_{number}",
                    "content": "x" * 400,
                    "is_error": False,
                }
            ],
        },
        {"role": "assistant", "content": [{"type": "text", "text": "a" * answer_chars}]},
    ]


def test_a_history_within_the_budget_is_sent_as_it_is():
    turns = exchange(1) + exchange(2)
    fitted = budget.fit(turns, budget=10_000)
    assert fitted.turns is turns and fitted.summarised == 0


def test_older_turns_become_one_summary_and_tool_pairs_stay_together():
    turns = [turn for n in range(1, 7) for turn in exchange(n)]
    turns.append({"role": "user", "content": [{"type": "text", "text": "the new question"}]})
    fitted = budget.fit(turns, budget=1200)
    assert 0 < fitted.summarised < len(turns)
    assert fitted.estimated_tokens <= 1200
    request_is_valid(fitted.turns)
    first = fitted.turns[0]["content"]
    assert first[0]["text"].startswith(budget.SUMMARY_INTRO)
    assert '<untrusted_record_data source="conversation_summary">' in first[0]["text"]
    assert "User: question 1" in first[0]["text"]
    assert "Assistant called search_leads({})" in first[0]["text"]
    assert "xxxx" not in first[0]["text"]  # tool data is not copied into the summary
    assert first[1]["type"] == "text" and first[1]["text"].startswith("question")
    assert fitted.turns[-1]["content"][-1]["text"] == "the new question"
    assert budget.fit(turns, budget=1200) == fitted  # deterministic


def test_the_question_being_answered_is_never_summarised():
    turns = exchange(1) + exchange(2, answer_chars=20_000)
    fitted = budget.fit(turns, budget=1000)
    assert fitted.summarised == 4  # all it can: the last exchange stays whole
    assert fitted.turns[0]["content"][1]["text"] == "question 2"
    request_is_valid(fitted.turns)


def test_a_turn_answering_tools_is_no_place_to_cut():
    interrupted = [
        {"role": "user", "content": [{"type": "text", "text": "first"}]},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "toolu_x", "name": "lead_metrics", "input": {}}],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_x", "content": "", "is_error": True},
                {"type": "text", "text": "second " + "y" * 8000},
            ],
        },
    ]
    assert not budget.starts_exchange(interrupted[2])
    assert budget.fit(interrupted, budget=1000).summarised == 0


def test_the_agent_sends_a_summarised_history_past_the_budget(world, claude, settings):
    conv = services.conversation_create(by=world.rep1)
    for number in range(5):
        claude.replies = [
            tool_reply(("search_leads", {"query": f"Acme {number}"})),
            text_reply(f"Answer {number}: " + "details " * 150),
        ]
        services.conversation_send(by=world.rep1, conversation=conv, content=f"question {number}")
    settings.AI_HISTORY_TOKENS = 1500
    claude.replies = [text_reply("Summarised and answered.")]
    added = services.conversation_send(by=world.rep1, conversation=conv, content="and now?")

    sent = claude.requests[-1]["messages"]
    request_is_valid(sent)
    assert sent[0]["content"][0]["text"].startswith(budget.SUMMARY_INTRO)
    assert "Assistant called search_leads" in sent[0]["content"][0]["text"]
    assert sent[-1]["content"][-1]["text"] == "and now?"
    assert budget.estimate_tokens(sent) <= 1500
    assert added[-1].data["history"]["summarised_turns"] > 0
    # The stored conversation is untouched: only what is sent is summarised.
    assert Message.objects.filter(conversation=conv, role=Message.Role.USER).count() == 6


# --- rendering ------------------------------------------------------------------------------------
def test_a_tool_step_renders_as_a_collapsed_details_with_arguments_and_result(world):
    ctx = registry.ToolContext(user=world.rep1)
    conv = services.conversation_create(by=world.rep1)
    message = services.message_add(conversation=conv, role="tool", kind="tools", content="")
    outcome = registry.execute(
        ctx, "search_leads", {"hot": True}, message=message, tool_use_id="toolu_1"
    )
    html = render_to_string("aiagent/_oob_tool_call.html", {"call": outcome.tool_call})
    assert '<div id="ai-step-toolu_1" hx-swap-oob="delete">' in html
    assert f'hx-swap-oob="beforeend:#ai-calls-{message.pk}"' in html
    details = html[html.index("<details") :]
    assert "<details " in details and " open" not in details.split(">")[0]  # collapsed
    summary = details[details.index("<summary") : details.index("</summary>")]
    assert "<code>search_leads</code>" in summary and "2 results" in summary
    body = details[details.index("</summary>") :]
    assert "&quot;hot&quot;: true" in body and "Acme expansion" in body

    running = render_to_string(
        "aiagent/_oob_tool_step.html",
        {"message_id": message.pk, "use": {"id": "toolu_1", "name": "search_leads", "input": {}}},
    )
    assert 'id="ai-step-toolu_1"' in running and "running…" in running
    assert (
        json.loads(re.search(r'<pre class="ai-json mb-1">(.*?)</pre>', running, re.S).group(1))
        == {}
    )


def test_the_draft_fragments_escape_streamed_text():
    start = render_to_string(
        "aiagent/_oob_draft.html",
        {"mode": "start", "key": "k1", "conversation_id": "c1", "text": "<script>x</script>"},
    )
    assert "<script>" not in start and "&lt;script&gt;" in start
    delta = render_to_string(
        "aiagent/_oob_draft.html",
        {"mode": "delta", "key": "k1", "conversation_id": "c1", "text": "a & b"},
    )
    assert delta.strip() == '<span hx-swap-oob="beforeend:#ai-draft-text-k1">a &amp; b</span>'
