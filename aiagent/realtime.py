"""Live progress of the agent on the user's own notification socket (SPEC §8).

Each function renders an out-of-band fragment (the same templates the pages use) and
publishes it after commit to ``crm.realtime.user_group(user)``; the NotificationConsumer sends
it to the browser, where the htmx ws extension swaps it in. Only the conversation's user is
ever sent anything, so nothing here needs another permission check.
"""

from __future__ import annotations

from django.template.loader import render_to_string

from aiagent.models import Conversation, Message, Proposal, ToolCall
from crm.realtime import publish, user_group


def _send(user, html: str) -> None:
    publish(user_group(user.pk), {"type": "send_html", "html": html})


def message_added(user, message: Message | None) -> None:
    if message is None:
        return
    html = render_to_string(
        "aiagent/_oob_message.html",
        {"message": message, "conversation_id": message.conversation_id},
    )
    _send(user, html)


def tool_call_added(user, call: ToolCall | None) -> None:
    if call is None or call.message_id is None:
        return
    html = render_to_string("aiagent/_oob_tool_call.html", {"call": call})
    _send(user, html)


def status(user, conversation: Conversation, text: str, *, stoppable: bool = False) -> None:
    """The status line under the chat; ``stoppable``: it offers Stop (Claude's runs check for
    it, ``aiagent.cancel``; the quick offline parser does not)."""
    html = render_to_string(
        "aiagent/_status.html",
        {"conversation_id": conversation.pk, "text": text, "oob": True, "stoppable": stoppable},
    )
    _send(user, html)


# --- streamed answers (aiagent.agent._Draft) -----------------------------------------------------
# The text of a model round grows in a draft bubble (``#ai-draft-<key>``) as it streams in;
# once the round's message is stored, the draft makes way for the stored message.
def draft_started(user, conversation: Conversation, key: str, text: str) -> None:
    _draft(user, conversation, key, "start", text=text)


def draft_delta(user, conversation: Conversation, key: str, text: str) -> None:
    _draft(user, conversation, key, "delta", text=text)


def draft_done(user, conversation: Conversation, key: str, message: Message) -> None:
    _draft(user, conversation, key, "done", message=message)


def draft_removed(user, conversation: Conversation, key: str) -> None:
    _draft(user, conversation, key, "remove")


def _draft(user, conversation: Conversation, key: str, mode: str, **extra) -> None:
    html = render_to_string(
        "aiagent/_oob_draft.html",
        {"mode": mode, "key": key, "conversation_id": conversation.pk, **extra},
    )
    _send(user, html)


def tool_call_started(user, message: Message, use: dict) -> None:
    """A tool step while it runs: its name and arguments (``tool_call_added`` replaces it)."""
    html = render_to_string("aiagent/_oob_tool_step.html", {"message_id": message.pk, "use": use})
    _send(user, html)


def proposal_changed(user, proposal: Proposal) -> None:
    html = render_to_string("aiagent/_proposal.html", {"proposal": proposal, "oob": True})
    _send(user, html)
