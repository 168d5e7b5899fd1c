"""Stopping a running answer: a flag in the Django cache, one per conversation (shared by every
process when the cache is Redis, like the breaker).

The flag names the run it stops (the conversation's ``running_since``), so a Stop that arrives
after its run ended can never cut the next answer short. The agent loop asks ``requested``
between stream events, before each tool call and before each model round
(``aiagent.agent``); the user's request goes through ``services.conversation_stop``.
"""

from __future__ import annotations

from django.core.cache import cache

from aiagent.models import Conversation

TTL = 15 * 60  # seconds; longer than any run (services.RUN_TIMEOUT)


def key(conversation_id) -> str:
    return f"aiagent:stop:{conversation_id}"


def run_token(conversation: Conversation) -> str:
    """The run this flag is for: when it started ("" for a run that never claimed the
    conversation, as in a direct ``agent.run_turn`` call)."""
    since = conversation.running_since
    return since.isoformat() if since is not None else ""


def request(conversation: Conversation) -> None:
    cache.set(key(conversation.pk), run_token(conversation), TTL)


def requested(conversation: Conversation) -> bool:
    token = cache.get(key(conversation.pk))
    return token is not None and token == run_token(conversation)


def clear(conversation: Conversation) -> None:
    cache.delete(key(conversation.pk))
