"""The one door to the Claude API: the client, the online/offline status and the breaker.

Online means an ``ANTHROPIC_API_KEY`` is set and the circuit breaker is closed. Every call goes
through ``create_message`` (or ``stream_message``, the streamed form the chat uses), which
refuse while offline and record failures and successes.
Tests swap ``http_client_factory`` for a client on a mocked transport: nothing here ever needs
the network in a test.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import anthropic
import httpx2
from anthropic.lib.streaming import MessageStream
from django.conf import settings

from aiagent import breaker

logger = logging.getLogger(__name__)

# Returns the ``httpx2.Client`` the SDK sends through, or None for the SDK's default client.
http_client_factory: Callable[[], Any] | None = None

# Failures that say the service (or our access to it) is down: they count for the breaker.
# Anything else (a 400 about our request) fails one turn without blaming the service.
_SERVICE_STATUSES = frozenset({401, 403, 408, 429}) | frozenset(range(500, 600))


class AIUnavailable(Exception):
    """Claude cannot answer now; the caller falls back to offline mode."""

    def __init__(self, reason: str, message: str = "") -> None:
        super().__init__(message or reason)
        self.reason = reason
        self.message = message or reason


@dataclass(frozen=True)
class Status:
    online: bool
    reason: str  # "", "no_api_key", "breaker_open"
    label: str
    retry_at: datetime | None = None


def is_configured() -> bool:
    return bool(settings.ANTHROPIC_API_KEY)


def status() -> Status:
    if not is_configured():
        return Status(False, "no_api_key", "AI offline: no API key is configured.")
    state = breaker.state()
    if state.open:
        retry_at = datetime.fromtimestamp(state.open_until, tz=UTC)
        return Status(
            False,
            "breaker_open",
            "AI offline: the Claude API failed repeatedly; retrying after "
            f"{retry_at:%H:%M:%S} UTC.",
            retry_at,
        )
    return Status(True, "", f"AI online ({settings.ANTHROPIC_MODEL}).")


def is_online() -> bool:
    """What the app shell's "AI online/offline" badge shows (``settings.AI_STATUS``)."""
    return status().online


def client() -> anthropic.Anthropic:
    http_client = http_client_factory() if http_client_factory is not None else None
    return anthropic.Anthropic(
        api_key=settings.ANTHROPIC_API_KEY,
        max_retries=settings.AI_MAX_RETRIES,
        timeout=settings.AI_REQUEST_TIMEOUT,
        http_client=http_client,
    )


def create_message(**kwargs: Any) -> anthropic.types.Message:
    """``messages.create`` with the configured model, or ``AIUnavailable``."""
    _require_available()
    try:
        message = client().messages.create(model=settings.ANTHROPIC_MODEL, **kwargs)
    except anthropic.AnthropicError as exc:
        raise _unavailable(exc) from exc
    breaker.record_success()
    return message


@contextmanager
def stream_message(**kwargs: Any) -> Iterator[MessageStream]:
    """``messages.stream`` with the configured model: yields the SDK's ``MessageStream``
    (iterate it for events, then ``get_final_message()``). A failure on opening or while
    reading becomes ``AIUnavailable`` and counts for the breaker like ``create_message``; a
    stream the caller leaves early (the user pressed Stop) is closed and is no failure."""
    _require_available()
    try:
        with client().messages.stream(model=settings.ANTHROPIC_MODEL, **kwargs) as stream:
            yield stream
    except anthropic.AnthropicError as exc:
        raise _unavailable(exc) from exc
    except httpx2.TransportError as exc:
        # The connection dropped mid-stream (the SDK wraps errors of opening the request only).
        raise _unavailable(exc) from exc
    breaker.record_success()


def _require_available() -> None:
    if not is_configured():
        raise AIUnavailable("no_api_key", "No Anthropic API key is configured.")
    if breaker.is_open():
        raise AIUnavailable("breaker_open", "The Claude API failed repeatedly; paused for now.")


def _unavailable(exc: anthropic.AnthropicError | httpx2.TransportError) -> AIUnavailable:
    """The ``AIUnavailable`` for an SDK error, after telling the breaker when the service
    (or our access to it) is to blame."""
    if isinstance(exc, anthropic.APIStatusError):
        if exc.status_code == 200:  # an error event in a stream that had started
            text = f"Claude API error during the answer: {_short(exc)}"
            breaker.record_failure(text)
        else:
            text = f"Claude API error {exc.status_code}: {_short(exc)}"
            if exc.status_code in _SERVICE_STATUSES:
                breaker.record_failure(text)
        reason = "api_error"
    elif isinstance(exc, anthropic.APIConnectionError | httpx2.TransportError):  # also timeouts
        text = f"Claude API unreachable: {_short(exc)}"
        breaker.record_failure(text)
        reason = "connection_error"
    else:
        text = f"Claude API call failed: {_short(exc)}"
        breaker.record_failure(text)
        reason = "api_error"
    logger.warning("AI call failed: %s", text)
    return AIUnavailable(reason, text)


def _short(exc: Exception, limit: int = 200) -> str:
    text = str(exc).strip() or exc.__class__.__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"
