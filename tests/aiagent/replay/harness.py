"""Replaying recorded conversations with Claude through the real ``anthropic`` SDK.

A recording (``recordings/<name>.json``, see README.md) holds, for each model round of a
conversation, the shape of the request the agent sent (``request_shape``: the turns, the tools
called with their arguments, each tool result's outcome) and the response Claude streamed back
(its server-sent events). ``Replay`` is the handler of an ``httpx2.MockTransport``: it serves the
recorded events in order and notes every way the live request differs from the recorded one,
and every tool call it serves that the live request no longer allows (a tool renamed or gone,
arguments its schema now refuses). ``Recorder`` is a transport that wraps another (the real
network, or a ``Replay``) and writes what passed through as a new recording, each content
block's deltas joined into one (``coalesce``: an id streamed in pieces becomes whole, so it can
become a placeholder); a replay cuts them again into small deltas (``rechunk``).

Record ids change from run to run; recordings name records by placeholders such as
``{{lead:Acme expansion}}`` (``placeholders``), swapped for the ids of this run's records.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
from jsonschema import Draft202012Validator

from tests.aiagent import sse

RECORDINGS = Path(__file__).resolve().parent / "recordings"
# The recorder hands on the decoded body: these headers described the encoded one.
_DROPPED_HEADERS = frozenset({"content-length", "content-encoding", "transfer-encoding"})
_UNTRUSTED = re.compile(r"^<untrusted_record_data[^>]*>\n(.*)\n</untrusted_record_data>$", re.S)


# --- placeholders -------------------------------------------------------------------------------
def placeholders(world) -> dict[str, str]:
    """``{{kind:name}}`` → id, for the records of the test world (``tests/aiagent/conftest``)."""
    found: dict[str, str] = {}
    for lead in [*world.leads1, *world.leads2]:
        found[f"{{{{lead:{lead.name}}}}}"] = str(lead.pk)
    for deal in (world.deal1, world.deal2):
        found[f"{{{{deal:{deal.name}}}}}"] = str(deal.pk)
    for org in (world.org1, world.org2):
        found[f"{{{{organization:{org.name}}}}}"] = str(org.pk)
    for person in (world.person1, world.person2):
        found[f"{{{{person:{person.first_name} {person.last_name}}}}}"] = str(person.pk)
    for activity in (world.activity1, world.activity2):
        found[f"{{{{activity:{activity.subject}}}}}"] = str(activity.pk)
    return found


def load(name: str, names: dict[str, str]) -> dict:
    """The recording ``name`` with its placeholders replaced by this run's ids."""
    text = (RECORDINGS / f"{name}.json").read_text()
    for placeholder, value in names.items():
        text = text.replace(placeholder, value)
    left = re.findall(r"\{\{[a-z_]+:[^}]*\}\}", text)
    assert not left, f"Unknown placeholders in {name}.json: {sorted(set(left))}"
    return json.loads(text)


def save(recording: dict, path: Path, names: dict[str, str]) -> None:
    """Write ``recording`` with this run's ids turned back into placeholders."""
    text = json.dumps(recording, indent=2, ensure_ascii=False) + "\n"
    for placeholder, value in names.items():
        text = text.replace(value, placeholder)
    path.write_text(text)


# --- what a request looks like ------------------------------------------------------------------
def request_shape(body: dict) -> dict:
    """What must stay the same when a recording is replayed: whether it streams, and each turn
    as a list of its blocks: the texts, the tools called with their arguments, the outcome of
    each tool result (``ok``, ``needs_confirmation`` or ``error:<code>``), never its data (ids,
    timestamps and scores differ from run to run)."""
    return {
        "stream": bool(body.get("stream")),
        "turns": [
            [turn["role"], *(_describe(block) for block in turn["content"])]
            for turn in body.get("messages", [])
        ],
    }


def _describe(block: dict) -> str:
    kind = block.get("type")
    if kind == "text":
        return "text: " + " ".join(block.get("text", "").split())
    if kind == "tool_use":
        arguments = json.dumps(block.get("input") or {}, sort_keys=True, ensure_ascii=False)
        return f"tool_use {block.get('name')} {block.get('id')} {arguments}"
    if kind == "tool_result":
        return f"tool_result {block.get('tool_use_id')} {outcome(block)}"
    return str(kind)


def outcome(result_block: dict) -> str:
    """``ok``, ``needs_confirmation`` or ``error:<code>`` of a tool_result block."""
    content = result_block.get("content")
    found = _UNTRUSTED.match(content) if isinstance(content, str) else None
    try:
        data = json.loads(found.group(1)) if found else {}
    except json.JSONDecodeError:
        data = {}
    if isinstance(data.get("error"), dict):
        return f"error:{data['error'].get('code', '?')}"
    if result_block.get("is_error"):
        return "error:?"
    if data.get("status") == "needs_confirmation":
        return "needs_confirmation"
    return "ok"


def final_message(events: list[dict]) -> dict:
    """The message a list of stream events adds up to (for a request that does not stream)."""
    message: dict[str, Any] = {}
    partial: dict[int, str] = {}
    for event in events:
        kind = event["type"]
        if kind == "message_start":
            message = json.loads(json.dumps(event["message"]))
        elif kind == "content_block_start":
            message["content"].append(dict(event["content_block"]))
        elif kind == "content_block_delta":
            block = message["content"][event["index"]]
            delta = event["delta"]
            if delta["type"] == "text_delta":
                block["text"] += delta["text"]
            elif delta["type"] == "input_json_delta":
                partial[event["index"]] = partial.get(event["index"], "") + delta["partial_json"]
        elif kind == "content_block_stop" and event["index"] in partial:
            message["content"][event["index"]]["input"] = json.loads(partial[event["index"]])
        elif kind == "message_delta":
            message["stop_reason"] = event["delta"].get("stop_reason")
            message["usage"]["output_tokens"] = event.get("usage", {}).get("output_tokens", 0)
    return message


def tool_problems(body: dict, events: list[dict]) -> list[str]:
    """The tool calls of a response that the request offering the tools no longer allows."""
    offered = {tool["name"]: tool for tool in body.get("tools") or []}
    problems = []
    for block in final_message(events).get("content", []):
        if block.get("type") != "tool_use":
            continue
        tool = offered.get(block["name"])
        if tool is None:
            problems.append(f"{block['name']}: the request offers no such tool any more")
            continue
        for error in Draft202012Validator(tool["input_schema"]).iter_errors(block["input"]):
            where = ".".join(str(p) for p in error.path) or "arguments"
            problems.append(f"{block['name']}: {where}: {error.message}")
    return problems


# --- the transports -----------------------------------------------------------------------------
@dataclass
class Replay:
    """Serves a recording's responses in order (``handler`` of an ``httpx2.MockTransport``).
    Differences are collected in ``problems`` rather than raised: the SDK would turn an
    exception in its transport into a connection error, and the agent would quietly answer
    offline."""

    recording: dict
    requests: list[dict] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def exchanges(self) -> list[dict]:
        return self.recording["exchanges"]

    def handler(self, request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content)
        number = len(self.requests)
        self.requests.append(body)
        if number >= len(self.exchanges):
            self.problems.append(f"request {number + 1}: not in the recording")
            return httpx2.Response(
                400,
                json={
                    "type": "error",
                    "error": {"type": "invalid_request_error", "message": "Not recorded."},
                },
            )
        exchange = self.exchanges[number]
        live = request_shape(body)
        if live != exchange["request"]:
            self.problems.append(
                f"request {number + 1} differs from the recording:\n"
                f"  recorded: {json.dumps(exchange['request'], ensure_ascii=False)}\n"
                f"  live:     {json.dumps(live, ensure_ascii=False)}"
            )
        response = exchange["response"]
        if response.get("status", 200) != 200:
            return httpx2.Response(response["status"], json=response["body"])
        events = response["events"]
        self.problems.extend(f"request {number + 1}: {p}" for p in tool_problems(body, events))
        if body.get("stream"):
            return sse.sse_response(rechunk(events))
        return httpx2.Response(200, json=final_message(events))

    def unused(self) -> int:
        return len(self.exchanges) - len(self.requests)


class Recorder(httpx2.BaseTransport):
    """Passes requests on to ``upstream`` and keeps each exchange as a recording has it."""

    def __init__(self, upstream: httpx2.BaseTransport) -> None:
        self.upstream = upstream
        self.exchanges: list[dict] = []

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.read())
        response = self.upstream.handle_request(request)
        content = response.read()
        if response.status_code != 200:
            recorded = {"status": response.status_code, "body": json.loads(content)}
        elif body.get("stream"):
            recorded = {"status": 200, "events": coalesce(parse_sse(content.decode()))}
        else:
            recorded = {"status": 200, "events": sse.message_events(json.loads(content))}
        self.exchanges.append({"request": request_shape(body), "response": recorded})
        return httpx2.Response(
            response.status_code,
            headers={
                k: v for k, v in response.headers.items() if k.lower() not in _DROPPED_HEADERS
            },
            content=content,
        )


def coalesce(events: list[dict]) -> list[dict]:
    """The events with each content block's deltas joined into one: an id the model streamed
    in pieces is whole again, so it can become a placeholder (``save``)."""
    joined: list[dict] = []
    for event in events:
        last = joined[-1] if joined else None
        if (
            event["type"] == "content_block_delta"
            and last is not None
            and last["type"] == "content_block_delta"
            and last["index"] == event["index"]
            and last["delta"]["type"] == event["delta"]["type"]
            and event["delta"]["type"] in ("text_delta", "input_json_delta")
        ):
            key = "text" if event["delta"]["type"] == "text_delta" else "partial_json"
            last["delta"] = {**last["delta"], key: last["delta"][key] + event["delta"][key]}
        else:
            joined.append(json.loads(json.dumps(event)))
    return joined


def rechunk(events: list[dict]) -> list[dict]:
    """The events with every delta cut again into the small pieces a model streams in, so a
    replay streams as the recorded answer did."""
    pieces: list[dict] = []
    for event in events:
        delta = event.get("delta") or {}
        kind = delta.get("type")
        if event["type"] != "content_block_delta" or kind not in ("text_delta", "input_json_delta"):
            pieces.append(event)
            continue
        key = "text" if kind == "text_delta" else "partial_json"
        size = sse.TEXT_CHUNK if kind == "text_delta" else sse.JSON_CHUNK
        value = delta[key]
        for at in range(0, len(value), size):
            pieces.append({**event, "delta": {**delta, key: value[at : at + size]}})
    return pieces


def parse_sse(text: str) -> list[dict]:
    """The events of a server-sent event stream (``ping`` events left out)."""
    events = []
    for chunk in re.split(r"\r?\n\r?\n", text):
        data = [line[5:].strip() for line in chunk.splitlines() if line.startswith("data:")]
        if not data:
            continue
        event = json.loads("\n".join(data))
        if event.get("type") != "ping":
            events.append(event)
    return events
