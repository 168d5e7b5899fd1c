"""The one door to the Claude API: the client, the online/offline status and the breaker.

Online means an ``ANTHROPIC_API_KEY`` is set and the circuit breaker is closed. Every call goes
through ``create_message``, which refuses while offline and records failures and successes.
Tests swap ``http_client_factory`` for a client on a mocked transport: nothing here ever needs
the network in a test.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import anthropic
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
    if not is_configured():
        raise AIUnavailable("no_api_key", "No Anthropic API key is configured.")
    if breaker.is_open():
        raise AIUnavailable("breaker_open", "The Claude API failed repeatedly; paused for now.")
    try:
        message = client().messages.create(model=settings.ANTHROPIC_MODEL, **kwargs)
    except anthropic.APIStatusError as exc:
        text = f"Claude API error {exc.status_code}: {_short(exc)}"
        if exc.status_code in _SERVICE_STATUSES:
            breaker.record_failure(text)
        logger.warning("AI call failed: %s", text)
        raise AIUnavailable("api_error", text) from exc
    except anthropic.APIConnectionError as exc:  # also timeouts
        text = f"Claude API unreachable: {_short(exc)}"
        breaker.record_failure(text)
        logger.warning("AI call failed: %s", text)
        raise AIUnavailable("connection_error", text) from exc
    except anthropic.AnthropicError as exc:
        text = f"Claude API call failed: {_short(exc)}"
        breaker.record_failure(text)
        logger.warning("AI call failed: %s", text)
        raise AIUnavailable("api_error", text) from exc
    breaker.record_success()
    return message


def _short(exc: Exception, limit: int = 200) -> str:
    text = str(exc).strip() or exc.__class__.__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"
