"""Recorded conversations with Claude, replayed through the real SDK (README.md beside this
file): the agent must still send the recorded requests (same turns, tool choices, arguments and
tool outcomes), every recorded tool call must still be allowed by the tools it offers, and the
tools that ran must have done, with the user's permissions, what the recording did."""

from __future__ import annotations

import json
import os

import httpx2
import pytest

from activities.models import Activity
from aiagent import llm, services
from aiagent.models import Message, Proposal, ToolCall
from aiagent.registry import to_json
from crm import permissions
from deals.models import Deal
from leads.models import Lead
from tests.aiagent.replay import harness

pytestmark = pytest.mark.django_db

SCENARIOS = sorted(path.stem for path in harness.RECORDINGS.glob("*.json"))
RECORD = os.environ.get("REPLAY_RECORD", "")  # a scenario's name: record it against Claude


def call_outcome(call: ToolCall) -> str:
    if call.error:
        return f"error:{call.error.split(':', 1)[0]}"
    return "needs_confirmation" if call.proposal_id else "ok"


def executed(conversation) -> list[dict]:
    """The tool calls the conversation made, as the recordings' ``expect`` lists them."""
    return [
        {"tool": c.tool, "arguments": c.arguments, "outcome": call_outcome(c)}
        for c in ToolCall.objects.filter(message__conversation=conversation).order_by("pk")
    ]


def converse(user, texts: list[str]):
    conversation = services.conversation_create(by=user)
    for text in texts:
        services.conversation_send(by=user, conversation=conversation, content=text)
    return conversation


def assert_answered_by_claude(conversation) -> None:
    offline = Message.objects.filter(conversation=conversation, data__offline=True)
    assert not offline.exists(), [m.content for m in offline]


def assert_only_visible_records(user, conversation) -> None:
    """No tool result named a record its user may not see."""
    models = {"lead": Lead, "deal": Deal}
    for call in ToolCall.objects.filter(message__conversation=conversation):
        for record in call.records:
            model = models.get(record["type"])
            if model is not None:
                obj = model.objects.get(pk=record["id"])
                assert permissions.can_view(user, obj), (call.tool, record)


# --- what each conversation must have done in the database ------------------------------------
def check_hot_leads_then_log_call(world, conversation) -> None:
    acme, initech, cold = world.leads1
    search = ToolCall.objects.get(message__conversation=conversation, tool="search_leads")
    # rep2's hot leads (scores 95 and 80) stay out of rep1's answer.
    assert {r["id"] for r in search.records} == {str(acme.pk), str(initech.pk)}
    call = Activity.objects.get(lead=acme, type="call", subject__icontains="pricing")
    assert call.is_done and call.assigned_to == world.rep1
    others = [initech, cold, *world.leads2]
    assert not Activity.objects.filter(lead__in=others, type="call").exists()


def check_convert_needs_confirmation(world, conversation) -> None:
    acme = world.leads1[0]
    proposal = Proposal.objects.get(conversation=conversation)
    assert proposal.status == Proposal.Status.PENDING and proposal.user == world.rep1
    assert proposal.tool == "convert_lead" and proposal.arguments["lead_id"] == str(acme.pk)
    assert Lead.all_objects.get(pk=acme.pk).converted_at is None  # nothing before Confirm
    assert not Deal.objects.filter(name__icontains="Acme expansion").exists()


def check_hidden_record_not_found(world, conversation) -> None:
    secret = world.leads2[0]
    for call in ToolCall.objects.filter(message__conversation=conversation):
        assert secret.name not in to_json(call.result), call.tool
        assert secret.company_name not in to_json(call.result), call.tool
    assert not Proposal.objects.filter(conversation=conversation).exists()


def check_move_deal_to_proposal(world, conversation) -> None:
    deal = Deal.objects.select_related("wfm_project__current_step").get(pk=world.deal1.pk)
    moves = ToolCall.objects.filter(message__conversation=conversation, tool="move_deal_stage")
    assert [c.arguments["deal_id"] for c in moves] == [str(deal.pk)] * moves.count()
    if all(c.error for c in moves):  # refused: the deal stays where it was
        assert deal.wfm_project.current_step == world.deal1.wfm_project.current_step
    else:
        assert deal.wfm_project.current_step.name == "Proposal"
    other = Deal.objects.select_related("wfm_project__current_step").get(pk=world.deal2.pk)
    assert other.wfm_project.current_step == world.deal2.wfm_project.current_step


CHECKS = {
    "hot_leads_then_log_call": check_hot_leads_then_log_call,
    "convert_needs_confirmation": check_convert_needs_confirmation,
    "hidden_record_not_found": check_hidden_record_not_found,
    "move_deal_to_proposal": check_move_deal_to_proposal,
}


# --- the tests ---------------------------------------------------------------------------------
@pytest.fixture
def claude_settings(settings):
    settings.ANTHROPIC_API_KEY = "test-key"
    settings.ANTHROPIC_MODEL = "claude-test"
    return settings


def test_every_recording_has_its_database_checks():
    assert SCENARIOS and set(SCENARIOS) <= set(CHECKS), set(SCENARIOS) - set(CHECKS)


@pytest.mark.skipif(bool(RECORD), reason="recording")
@pytest.mark.parametrize("name", SCENARIOS)
def test_recorded_conversation_replays(name, world, claude_settings, monkeypatch):
    recording = harness.load(name, harness.placeholders(world))
    replay = harness.Replay(recording)
    monkeypatch.setattr(
        llm,
        "http_client_factory",
        lambda: httpx2.Client(transport=httpx2.MockTransport(replay.handler)),
    )
    user = getattr(world, recording["user"])
    conversation = converse(user, recording["messages"])

    assert replay.problems == [], "\n".join(replay.problems)
    assert replay.unused() == 0, "the agent stopped before the recorded conversation ended"
    assert_answered_by_claude(conversation)
    assert executed(conversation) == recording["expect"]["tool_calls"]
    assert_only_visible_records(user, conversation)
    CHECKS[name](world, conversation)


def test_the_recorder_writes_back_what_it_replays(world, claude_settings, monkeypatch, tmp_path):
    names = harness.placeholders(world)
    recording = harness.load("hot_leads_then_log_call", names)
    recorder = harness.Recorder(httpx2.MockTransport(harness.Replay(recording).handler))
    monkeypatch.setattr(llm, "http_client_factory", lambda: httpx2.Client(transport=recorder))
    converse(world.rep1, recording["messages"])

    harness.save({**recording, "exchanges": recorder.exchanges}, tmp_path / "again.json", names)
    again = json.loads((tmp_path / "again.json").read_text())
    original = json.loads((harness.RECORDINGS / "hot_leads_then_log_call.json").read_text())
    assert again["exchanges"] == original["exchanges"]


def test_a_changed_tool_is_caught(world, claude_settings, monkeypatch):
    """What the harness is for: a tool whose arguments change breaks the recording."""
    from aiagent import registry

    recording = harness.load("hot_leads_then_log_call", harness.placeholders(world))
    replay = harness.Replay(recording)
    monkeypatch.setattr(
        llm,
        "http_client_factory",
        lambda: httpx2.Client(transport=httpx2.MockTransport(replay.handler)),
    )
    schemas = registry.model_schemas()
    for schema in schemas:
        if schema["name"] == "search_leads":
            schema["input_schema"] = {
                **schema["input_schema"],
                "properties": {
                    k: v for k, v in schema["input_schema"]["properties"].items() if k != "hot"
                },
            }
    monkeypatch.setattr(registry, "model_schemas", lambda: schemas)
    converse(world.rep1, recording["messages"][:1])
    assert any("search_leads" in p and "hot" in p for p in replay.problems), replay.problems


@pytest.mark.skipif(not RECORD, reason="set REPLAY_RECORD=<scenario> to record (README.md)")
def test_record(world, settings, monkeypatch):
    """Record the scenario named by ``REPLAY_RECORD`` against Claude (or against the
    transport ``REPLAY_UPSTREAM`` names, ``module:function`` returning one)."""
    path = harness.RECORDINGS / f"{RECORD}.json"
    names = harness.placeholders(world)
    stub = harness.load(RECORD, names)
    upstream_ref = os.environ.get("REPLAY_UPSTREAM", "")
    if upstream_ref:
        import importlib

        module, function = upstream_ref.split(":")
        upstream = getattr(importlib.import_module(module), function)(world)
        settings.ANTHROPIC_API_KEY = "test-key"
        settings.ANTHROPIC_MODEL = "claude-test"
    else:
        settings.ANTHROPIC_API_KEY = os.environ["ANTHROPIC_API_KEY"]
        settings.ANTHROPIC_MODEL = os.environ.get("ANTHROPIC_MODEL", settings.ANTHROPIC_MODEL)
        upstream = httpx2.HTTPTransport()
    recorder = harness.Recorder(upstream)
    monkeypatch.setattr(llm, "http_client_factory", lambda: httpx2.Client(transport=recorder))
    user = getattr(world, stub["user"])
    conversation = converse(user, stub["messages"])
    assert_answered_by_claude(conversation)
    recording = {
        **stub,
        "exchanges": recorder.exchanges,
        "expect": {**stub.get("expect", {}), "tool_calls": executed(conversation)},
    }
    harness.save(recording, path, names)
