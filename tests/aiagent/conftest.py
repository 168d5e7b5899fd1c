"""AI test fixtures: a scripted Claude on a mocked HTTP transport (the real ``anthropic`` SDK,
never the network), and a small world of records owned by two reps."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx2
import pytest

from aiagent import breaker, llm
from tests.aiagent import sse
from tests.aiagent.factories import (
    make_activity,
    make_deal,
    make_lead,
    make_org,
    make_person,
)

MESSAGES_URL = "https://api.anthropic.com/v1/messages"


def _refuse_network(request: httpx2.Request) -> httpx2.Response:
    raise AssertionError(f"A test tried to reach {request.url} without a scripted Claude.")


@pytest.fixture(autouse=True)
def offline_by_default(settings, monkeypatch):
    """No API key, a closed breaker, and a transport that fails any request: a test that
    wants Claude asks for the ``claude`` fixture."""
    settings.ANTHROPIC_API_KEY = ""
    settings.AI_MAX_RETRIES = 0
    monkeypatch.setattr(
        llm,
        "http_client_factory",
        lambda: httpx2.Client(transport=httpx2.MockTransport(_refuse_network)),
    )
    breaker.reset()
    yield
    breaker.reset()


# --- the scripted model ---------------------------------------------------------------------------
def text_reply(text: str) -> dict:
    return {"content": [{"type": "text", "text": text}], "stop_reason": "end_turn"}


def tool_reply(*uses: tuple[str, dict], text: str = "", ids: list[str] | None = None) -> dict:
    blocks: list[dict] = [{"type": "text", "text": text}] if text else []
    for index, (name, arguments) in enumerate(uses):
        tool_id = (
            ids[index]
            if ids
            else f"toolu_{name}_{index}_{abs(hash(json.dumps(arguments, sort_keys=True))) % 10**8}"
        )
        blocks.append({"type": "tool_use", "id": tool_id, "name": name, "input": arguments})
    return {"content": blocks, "stop_reason": "tool_use"}


def error_reply(status: int = 529, kind: str = "overloaded_error") -> dict:
    return {
        "status": status,
        "error": {"type": "error", "error": {"type": kind, "message": "Scripted failure"}},
    }


@dataclass
class ScriptedClaude:
    """Answers ``POST /v1/messages`` from a queue of replies (dicts, or callables taking the
    request body). Every request body is kept in ``requests``. A streamed request
    (``messages.stream``) gets the reply as server-sent events (``tests.aiagent.sse``), read
    event by event: ``on_event(index, event)`` runs before each one, ``pause`` after it."""

    replies: list[Any] = field(default_factory=list)
    requests: list[dict] = field(default_factory=list)
    fallback: Callable[[dict], dict] | None = None
    on_event: Callable[[int, dict], None] | None = None
    pause: float = 0.0

    def handler(self, request: httpx2.Request) -> httpx2.Response:
        assert str(request.url) == MESSAGES_URL, request.url
        key = request.headers.get("x-api-key") or request.headers.get("authorization", "")
        assert key.removeprefix("Bearer ") == "test-key", "the API key is not sent"
        body = json.loads(request.content)
        self.requests.append(body)
        if self.replies:
            reply = self.replies.pop(0)
        elif self.fallback is not None:
            reply = self.fallback
        else:
            raise AssertionError("Claude was called more often than scripted.")
        if callable(reply):
            reply = reply(body)
        if "status" in reply:
            return httpx2.Response(reply["status"], json=reply["error"])
        message = {
            "id": f"msg_{len(self.requests)}",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": reply["content"],
            "stop_reason": reply.get("stop_reason", "end_turn"),
            "stop_sequence": None,
            "usage": reply.get("usage", {"input_tokens": 100, "output_tokens": 20}),
        }
        if body.get("stream"):
            return sse.sse_response(
                sse.message_events(message), pause=self.pause, on_event=self.on_event
            )
        return httpx2.Response(200, json=message)

    def tool_results(self, index: int = -1) -> list[dict]:
        """The tool_result blocks of the request ``index``'s last user turn."""
        last = self.requests[index]["messages"][-1]
        return [b for b in last["content"] if b.get("type") == "tool_result"]


@pytest.fixture
def claude(settings, monkeypatch) -> ScriptedClaude:
    scripted = ScriptedClaude()
    settings.ANTHROPIC_API_KEY = "test-key"
    settings.ANTHROPIC_MODEL = "claude-test"
    monkeypatch.setattr(
        llm,
        "http_client_factory",
        lambda: httpx2.Client(transport=httpx2.MockTransport(scripted.handler)),
    )
    return scripted


# --- a small world --------------------------------------------------------------------------------
@dataclass
class World:
    rep1: Any
    rep2: Any
    leads1: list
    leads2: list
    deal1: Any
    deal2: Any
    org1: Any
    org2: Any
    person1: Any
    person2: Any
    activity1: Any
    activity2: Any


@pytest.fixture
def world(rep1, rep2) -> World:
    org1 = make_org(rep1, "Acme Robotics", domain="acme.example")
    org2 = make_org(rep2, "Globex Secret", domain="globex.example")
    person1 = make_person(rep1, "Maria", "Lopez", email="maria@acme.example", organization=org1)
    person2 = make_person(rep2, "Hank", "Scorpio", email="hank@globex.example", organization=org2)
    leads1 = [
        make_lead(rep1, "Acme expansion", score=85, company_name="Acme Robotics"),
        make_lead(rep1, "Initech pilot", score=72, company_name="Initech"),
        make_lead(rep1, "Cold prospect", score=20, company_name="Tiny Co"),
    ]
    leads2 = [
        make_lead(rep2, "Globex secret deal", score=95, company_name="Globex Secret"),
        make_lead(rep2, "Rival hot lead", score=80, company_name="Rival Co"),
    ]
    deal1 = make_deal(rep1, "Acme platform deal", amount="12000", organization=org1)
    deal2 = make_deal(rep2, "Globex confidential deal", amount="99000", organization=org2)
    activity1 = make_activity(rep1, "Call Acme about pricing", lead=leads1[0])
    activity2 = make_activity(rep2, "Secret Globex call", lead=leads2[0])
    return World(
        rep1, rep2, leads1, leads2, deal1, deal2, org1, org2, person1, person2, activity1, activity2
    )
