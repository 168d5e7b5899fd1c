"""The agent loop: Claude answers the user's message, calling tools round after round until it
answers in text, within ``AI_MAX_STEPS`` rounds and ``AI_MAX_RUN_TOKENS`` tokens.

Every step is persisted as it happens (the model's interim text and tool requests, each tool
call with its arguments, result size, duration and error, the final answer) and published to
the user's socket so the chat shows progress live. When Claude is offline, or fails during the
turn (which also feeds the circuit breaker), the offline command parser answers instead.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings

from aiagent import commands, llm, realtime, registry
from aiagent.models import Conversation, Message
from aiagent.prompts import system_prompt, untrusted
from aiagent.services import message_add

logger = logging.getLogger(__name__)


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
    added.extend(commands.handle(user=user, conversation=conversation, text=message.content))
    realtime.status(user, conversation, "")
    return added


def _online(*, user, conversation: Conversation, added: list[Message]) -> None:
    """The tool-use loop. Messages land in ``added`` as they are created (so a failure half
    way keeps what was done)."""
    history = build_history(conversation)
    system = system_prompt(user=user, conversation=conversation)
    tools = registry.model_schemas()
    ctx = registry.ToolContext(user=user, source="chat", conversation=conversation)
    used_tokens = 0
    for step in range(1, settings.AI_MAX_STEPS + 1):
        realtime.status(user, conversation, "Thinking…" if step == 1 else "Thinking again…")
        response = llm.create_message(
            max_tokens=settings.AI_MAX_TOKENS, system=system, messages=history, tools=tools
        )
        usage = getattr(response, "usage", None)
        step_tokens = (getattr(usage, "input_tokens", 0) or 0) + (
            getattr(usage, "output_tokens", 0) or 0
        )
        used_tokens += step_tokens
        blocks = [_block(b) for b in response.content]
        blocks = [b for b in blocks if b is not None]
        text = "\n\n".join(b["text"] for b in blocks if b["type"] == "text").strip()
        tool_uses = [b for b in blocks if b["type"] == "tool_use"]
        assistant = message_add(
            conversation=conversation,
            role=Message.Role.ASSISTANT,
            kind=Message.Kind.THOUGHT if tool_uses else Message.Kind.TEXT,
            content=text,
            data={
                "blocks": blocks,
                "stop_reason": response.stop_reason,
                "usage": {"step": step_tokens, "run": used_tokens},
                "model": getattr(response, "model", settings.ANTHROPIC_MODEL),
                "step": step,
            },
        )
        added.append(assistant)
        realtime.message_added(user, assistant)
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
        for index, use in enumerate(tool_uses):
            if index >= settings.AI_MAX_TOOL_CALLS_PER_STEP:
                results.append(
                    _tool_result(
                        use["id"],
                        {
                            "error": {
                                "code": "skipped",
                                "message": "Too many tool calls in one step; ask for fewer.",
                            }
                        },
                        use["name"],
                        is_error=True,
                    )
                )
                continue
            realtime.status(user, conversation, f"Calling {use['name']}…")
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
                result = (
                    call.result if call else {"error": {"code": "missing", "message": "No result."}}
                )
                results.append(
                    _tool_result(use["id"], result, use["name"], is_error=bool(call and call.error))
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
