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


def status(user, conversation: Conversation, text: str) -> None:
    html = render_to_string(
        "aiagent/_status.html", {"conversation_id": conversation.pk, "text": text, "oob": True}
    )
    _send(user, html)


def proposal_changed(user, proposal: Proposal) -> None:
    html = render_to_string("aiagent/_proposal.html", {"proposal": proposal, "oob": True})
    _send(user, html)
