"""Server-sent events of the Messages API, for mocked transports: what ``messages.stream``
receives from Claude, built from a whole message (``message_events``) or replayed from a
recording (``tests/aiagent/replay``), and served lazily, event by event (``sse_response``), so
the code under test reads them as they "arrive"."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator

import httpx2

TEXT_CHUNK = 12  # characters per text delta: a long answer arrives in many deltas
JSON_CHUNK = 24  # characters per input_json delta


def message_events(message: dict, *, text_chunk: int = TEXT_CHUNK) -> list[dict]:
    """The event stream of ``message`` (a Messages API response body), as the API sends it:
    message_start, then per content block its start, deltas and stop, then message_delta
    (stop reason, output tokens) and message_stop."""
    usage = dict(message.get("usage") or {"input_tokens": 100, "output_tokens": 20})
    start = {
        **{k: v for k, v in message.items() if k not in ("content", "usage", "stop_reason")},
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": usage.get("input_tokens", 0), "output_tokens": 1},
    }
    events: list[dict] = [{"type": "message_start", "message": start}]
    for index, block in enumerate(message.get("content") or []):
        if block["type"] == "text":
            events.append(
                {
                    "type": "content_block_start",
                    "index": index,
                    "content_block": {"type": "text", "text": ""},
                }
            )
            text = block["text"]
            for at in range(0, len(text), text_chunk):
                events.append(
                    {
                        "type": "content_block_delta",
                        "index": index,
                        "delta": {"type": "text_delta", "text": text[at : at + text_chunk]},
                    }
                )
        elif block["type"] == "tool_use":
            events.append(
                {
                    "type": "content_block_start",
                    "index": index,
                    "content_block": {
                        "type": "tool_use",
                        "id": block["id"],
                        "name": block["name"],
                        "input": {},
                    },
                }
            )
            arguments = json.dumps(block.get("input") or {}, ensure_ascii=False)
            for at in range(0, len(arguments), JSON_CHUNK):
                events.append(
                    {
                        "type": "content_block_delta",
                        "index": index,
                        "delta": {
                            "type": "input_json_delta",
                            "partial_json": arguments[at : at + JSON_CHUNK],
                        },
                    }
                )
        else:
            raise ValueError(f"No stream for a {block['type']} block.")
        events.append({"type": "content_block_stop", "index": index})
    events.append(
        {
            "type": "message_delta",
            "delta": {"stop_reason": message.get("stop_reason", "end_turn"), "stop_sequence": None},
            "usage": {"output_tokens": usage.get("output_tokens", 0)},
        }
    )
    events.append({"type": "message_stop"})
    return events


def encode(event: dict) -> bytes:
    return f"event: {event['type']}\ndata: {json.dumps(event, ensure_ascii=False)}\n\n".encode()


def sse_response(
    events: list[dict],
    *,
    pause: float = 0.0,
    on_event: Callable[[int, dict], None] | None = None,
) -> httpx2.Response:
    """A 200 ``text/event-stream`` response whose body is produced while it is read: before
    each event ``on_event(index, event)`` runs (e.g. the user presses Stop), after it the
    stream waits ``pause`` seconds (a model generating)."""

    def body() -> Iterator[bytes]:
        for index, event in enumerate(events):
            if on_event is not None:
                on_event(index, event)
            yield encode(event)
            if pause:
                time.sleep(pause)

    return httpx2.Response(
        200,
        headers={"content-type": "text/event-stream", "request-id": "req_test"},
        content=body(),
    )


def text_deltas(events: list[dict]) -> list[str]:
    return [
        e["delta"]["text"]
        for e in events
        if e["type"] == "content_block_delta" and e["delta"]["type"] == "text_delta"
    ]
