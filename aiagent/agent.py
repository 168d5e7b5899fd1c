"""The agent loop: Claude answers the user's message, calling tools round after round until it
answers in text, within ``AI_MAX_STEPS`` rounds and ``AI_MAX_RUN_TOKENS`` tokens.

Every step is persisted as it happens (the model's interim text and tool requests, each tool
call with its arguments, result size, duration and error, the final answer) and published to
the user's socket so the chat shows progress live: the model's text streams in as it is
generated (``_Draft``, in throttled frames), and each tool call shows as a step while it runs.
The message of a round is stored once, when the round is complete.

The user may stop a running answer (``aiagent.cancel``): the loop checks between stream
events, before each tool call and before each model round, keeps what was written with a
"(stopped)" mark, and leaves a history the next turn can replay (a tool request that did not
run gets an error result there, see ``build_history``).

The history sent to Claude stays within ``AI_HISTORY_TOKENS`` (``aiagent.budget``). When
Claude is offline, or fails during the turn (which also feeds the circuit breaker), the
offline command parser answers instead.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from aiagent import budget, cancel, commands, llm, realtime, registry
from aiagent.models import Conversation, Message
from aiagent.prompts import system_prompt, untrusted
from aiagent.services import message_add

logger = logging.getLogger(__name__)

STOPPED_MARK = "(stopped)"


def run_turn(*, user, conversation: Conversation, message: Message) -> list[Message]:
    """Answer ``message`` (the pending user message); return the messages added."""
    added: list[Message] = []
    if llm.is_online():
        try:
            _online(user=user, conversation=conversation, added=added)
            return added
        except llm.AIUnavailable as exc:
            notice = message_add(
                conversation=conversation,
                role=Message.Role.ASSISTANT,
                kind=Message.Kind.NOTICE,
                content=f"{exc.message} Answering in offline mode.",
                data={"offline": True, "reason": exc.reason},
            )
            realtime.message_added(user, notice)
            added.append(notice)
        finally:
            cancel.clear(conversation)
    added.extend(commands.handle(user=user, conversation=conversation, text=message.content))
    realtime.status(user, conversation, "")
    return added


class _Draft:
    """The text of one model round while it streams in, pushed to the user's socket in frames
    of at most ``AI_STREAM_FLUSH_SECONDS`` or ``AI_STREAM_FLUSH_CHARS`` characters (not one
    frame per token). The first frame opens the draft bubble; ``done`` swaps it for the stored
    message."""

    def __init__(self, user, conversation: Conversation) -> None:
        self.user = user
        self.conversation = conversation
        self.key = uuid.uuid4().hex[:16]
        self.text = ""
        self.pending = ""
        self.started = False
        self.last_flush = time.monotonic()

    def add(self, text: str) -> None:
        if not text:
            return
        self.text += text
        self.pending += text
        if (
            len(self.pending) >= settings.AI_STREAM_FLUSH_CHARS
            or time.monotonic() - self.last_flush >= settings.AI_STREAM_FLUSH_SECONDS
        ):
            self.flush()

    def new_block(self) -> None:
        """A further text block of the same round: separated as the stored message is."""
        if self.text:
            self.add("\n\n")

    def flush(self) -> None:
        if not self.pending:
            return
        if self.started:
            realtime.draft_delta(self.user, self.conversation, self.key, self.pending)
        else:
            realtime.draft_started(self.user, self.conversation, self.key, self.pending)
            realtime.status(self.user, self.conversation, "Writing…", stoppable=True)
            self.started = True
        self.pending = ""
        self.last_flush = time.monotonic()

    def done(self, message: Message) -> None:
        if self.started:
            realtime.draft_done(self.user, self.conversation, self.key, message)
        else:
            realtime.message_added(self.user, message)

    def discard(self) -> None:
        if self.started:
            realtime.draft_removed(self.user, self.conversation, self.key)


@dataclass
class _Round:
    """What one streamed model round produced."""

    draft: _Draft
    blocks: list[dict] = field(default_factory=list)
    stop_reason: str | None = None
    tokens: int = 0
    model: str = ""
    stopped: bool = False


def _stream_round(*, user, conversation: Conversation, **request: Any) -> _Round:
    """One model round, streamed: text deltas go to the chat as they come; the user's Stop is
    checked after every event. A stopped round keeps only its text (a tool request cut off
    mid-way never runs)."""
    draft = _Draft(user, conversation)
    result = _Round(draft=draft)
    try:
        with llm.stream_message(**request) as stream:
            for event in stream:
                if event.type == "text":
                    draft.add(event.text)
                elif event.type == "content_block_start":
                    if event.content_block.type == "text":
                        draft.new_block()
                    else:
                        draft.flush()  # the text so far shows before the tool step
                if cancel.requested(conversation):
                    result.stopped = True
                    break
            if not result.stopped:
                response = stream.get_final_message()
    except BaseException:
        draft.discard()
        raise
    draft.flush()
    if result.stopped:
        return result
    usage = getattr(response, "usage", None)
    result.tokens = (getattr(usage, "input_tokens", 0) or 0) + (
        getattr(usage, "output_tokens", 0) or 0
    )
    result.blocks = [b for b in (_block(b) for b in response.content) if b is not None]
    result.stop_reason = response.stop_reason
    result.model = getattr(response, "model", "") or settings.ANTHROPIC_MODEL
    return result


def _online(*, user, conversation: Conversation, added: list[Message]) -> None:
    """The tool-use loop. Messages land in ``added`` as they are created (so a failure half
    way keeps what was done)."""
    history = build_history(conversation)
    system = system_prompt(user=user, conversation=conversation)
    tools = registry.model_schemas()
    ctx = registry.ToolContext(user=user, source="chat", conversation=conversation)
    used_tokens = 0
    for step in range(1, settings.AI_MAX_STEPS + 1):
        if cancel.requested(conversation):  # stopped while the last tools ran
            added.append(_stopped(user, conversation, step=step))
            return
        realtime.status(
            user, conversation, "Thinking…" if step == 1 else "Thinking again…", stoppable=True
        )
        fitted = budget.fit(history, budget=settings.AI_HISTORY_TOKENS)
        reply = _stream_round(
            user=user,
            conversation=conversation,
            max_tokens=settings.AI_MAX_TOKENS,
            system=system,
            messages=fitted.turns,
            tools=tools,
        )
        if reply.stopped:
            added.append(_stopped(user, conversation, step=step, draft=reply.draft))
            return
        used_tokens += reply.tokens
        blocks = reply.blocks
        text = "\n\n".join(b["text"] for b in blocks if b["type"] == "text").strip()
        tool_uses = [b for b in blocks if b["type"] == "tool_use"]
        data = {
            "blocks": blocks,
            "stop_reason": reply.stop_reason,
            "usage": {"step": reply.tokens, "run": used_tokens},
            "model": reply.model,
            "step": step,
        }
        if fitted.summarised:
            data["history"] = {
                "summarised_turns": fitted.summarised,
                "estimated_tokens": fitted.estimated_tokens,
            }
        assistant = message_add(
            conversation=conversation,
            role=Message.Role.ASSISTANT,
            kind=Message.Kind.THOUGHT if tool_uses else Message.Kind.TEXT,
            content=text,
            data=data,
        )
        added.append(assistant)
        reply.draft.done(assistant)
        history.append({"role": "assistant", "content": blocks or [{"type": "text", "text": "…"}]})
        if not tool_uses:
            realtime.status(user, conversation, "")
            return

        tool_message = message_add(
            conversation=conversation, role=Message.Role.TOOL, kind=Message.Kind.TOOLS, content=""
        )
        added.append(tool_message)
        realtime.message_added(user, tool_message)
        results, names = [], []
        stopped = False
        for index, use in enumerate(tool_uses):
            if not stopped and cancel.requested(conversation):
                stopped = True
            if stopped:
                results.append(_not_run(use, "The user stopped the answer before this call."))
                continue
            if index >= settings.AI_MAX_TOOL_CALLS_PER_STEP:
                results.append(_not_run(use, "Too many tool calls in one step; ask for fewer."))
                continue
            realtime.status(user, conversation, f"Calling {use['name']}…", stoppable=True)
            realtime.tool_call_started(user, tool_message, use)
            outcome = registry.execute(
                ctx, use["name"], use["input"], message=tool_message, tool_use_id=use["id"]
            )
            realtime.tool_call_added(user, outcome.tool_call)
            names.append(f"{use['name']}{' (failed)' if outcome.error else ''}")
            results.append(
                _tool_result(use["id"], outcome.result, use["name"], is_error=bool(outcome.error))
            )
        tool_message.content = ", ".join(names) or "no tool ran"
        tool_message.save(update_fields=["content"])
        history.append({"role": "user", "content": results})
        if stopped:
            added.append(_stopped(user, conversation, step=step))
            return
        if used_tokens >= settings.AI_MAX_RUN_TOKENS:
            added.append(
                _stop(
                    user,
                    conversation,
                    "I stopped here: this request used up its "
                    "token budget. Ask me to continue if you need more.",
                )
            )
            return
    added.append(
        _stop(
            user,
            conversation,
            f"I stopped after {settings.AI_MAX_STEPS} steps "
            "without a final answer. Ask me to continue, or narrow the request.",
        )
    )


def _not_run(use: dict, why: str) -> dict:
    return _tool_result(
        use["id"], {"error": {"code": "skipped", "message": why}}, use["name"], is_error=True
    )


def _stopped(user, conversation: Conversation, *, step: int, draft: _Draft | None = None):
    """The answer the user stopped: what was written of it, marked. Its one text block is
    what the next turn replays, so the model knows it was cut short."""
    written = draft.text.strip() if draft is not None else ""
    content = f"{written}\n\n{STOPPED_MARK}" if written else STOPPED_MARK
    message = message_add(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        kind=Message.Kind.TEXT,
        content=content,
        data={"blocks": [{"type": "text", "text": content}], "stopped": True, "step": step},
    )
    if draft is not None:
        draft.done(message)
    else:
        realtime.message_added(user, message)
    realtime.status(user, conversation, "")
    return message


def _stop(user, conversation: Conversation, text: str) -> Message:
    notice = message_add(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        kind=Message.Kind.NOTICE,
        content=text,
        data={"limit": True},
    )
    realtime.message_added(user, notice)
    realtime.status(user, conversation, "")
    return notice


def _block(block: Any) -> dict | None:
    """The parts of a response block worth replaying: text and tool requests."""
    kind = getattr(block, "type", None)
    if kind == "text":
        return {"type": "text", "text": block.text}
    if kind == "tool_use":
        arguments = block.input if isinstance(block.input, dict) else {}
        return {"type": "tool_use", "id": block.id, "name": block.name, "input": arguments}
    return None


def _tool_result(tool_use_id: str, result: dict, name: str, *, is_error: bool) -> dict:
    return {
        "type": "tool_result",
        "tool_use_id": tool_use_id,
        "content": untrusted(result, label=name),
        "is_error": is_error,
    }


def build_history(conversation: Conversation) -> list[dict]:
    """The conversation as Messages API turns: the last ``AI_HISTORY_MESSAGES`` messages,
    starting at a user message, tool rounds replayed with their (capped, wrapped) results,
    offline turns as plain text."""
    messages = list(
        conversation.messages.order_by("-created_at", "-pk").prefetch_related("tool_calls")[
            : settings.AI_HISTORY_MESSAGES
        ]
    )
    messages.reverse()
    while messages and not (
        messages[0].role == Message.Role.USER and messages[0].kind == Message.Kind.TEXT
    ):
        messages.pop(0)
    turns: list[dict] = []
    open_uses: list[dict] = []  # tool_use blocks of the last assistant turn, not yet answered
    for message in messages:
        if message.role == Message.Role.USER:
            _close(turns, open_uses)
            _append(turns, "user", [{"type": "text", "text": message.content}])
        elif message.role == Message.Role.ASSISTANT:
            _close(turns, open_uses)
            blocks = message.data.get("blocks") if isinstance(message.data, dict) else None
            if blocks:
                _append(turns, "assistant", blocks)
                open_uses = [b for b in blocks if b.get("type") == "tool_use"]
            elif message.content:
                _append(turns, "assistant", [{"type": "text", "text": message.content}])
        elif message.role == Message.Role.TOOL and open_uses:
            by_id = {c.tool_use_id: c for c in message.tool_calls.all()}
            results = []
            for use in open_uses:
                call = by_id.get(use["id"])
                if call is None:  # not run: the answer was stopped, or too many calls
                    result = {"error": {"code": "not_run", "message": "This call did not run."}}
                else:
                    result = call.result
                results.append(
                    _tool_result(
                        use["id"], result, use["name"], is_error=call is None or bool(call.error)
                    )
                )
            _append(turns, "user", results)
            open_uses = []
    _close(turns, open_uses)
    return turns


def _close(turns: list[dict], open_uses: list[dict]) -> None:
    """A tool round that was never answered (a run cut short) gets error results: the API
    requires one result per request."""
    if open_uses:
        _append(
            turns,
            "user",
            [
                _tool_result(
                    u["id"],
                    {"error": {"code": "interrupted", "message": "This call did not complete."}},
                    u["name"],
                    is_error=True,
                )
                for u in open_uses
            ],
        )
        open_uses.clear()


def _append(turns: list[dict], role: str, blocks: list[dict]) -> None:
    if turns and turns[-1]["role"] == role:
        turns[-1]["content"].extend(blocks)
    else:
        turns.append({"role": role, "content": list(blocks)})
