"""The circuit breaker of the Claude API, kept in the Django cache (shared by every process when
the cache is Redis).

``AI_BREAKER_FAILURES`` failures within ``AI_BREAKER_WINDOW`` seconds open it for
``AI_BREAKER_OPEN_SECONDS``: meanwhile nothing calls the API and the product runs offline.
When that time is over the next call is a trial: a success closes the breaker, a failure opens
it again at once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

FAILURES_KEY = "aiagent:breaker:failures"
OPEN_KEY = "aiagent:breaker:open_until"
TRIAL_KEY = "aiagent:breaker:trial"
REASON_KEY = "aiagent:breaker:reason"


@dataclass(frozen=True)
class BreakerState:
    open: bool
    open_until: float | None
    failures: int
    reason: str


def state() -> BreakerState:
    values = cache.get_many([OPEN_KEY, FAILURES_KEY, REASON_KEY])
    until = values.get(OPEN_KEY)
    is_open = until is not None and until > time.time()
    return BreakerState(
        open=is_open,
        open_until=until if is_open else None,
        failures=int(values.get(FAILURES_KEY) or 0),
        reason=values.get(REASON_KEY, "") if is_open else "",
    )


def is_open() -> bool:
    until = cache.get(OPEN_KEY)
    return until is not None and until > time.time()


def record_failure(reason: str = "") -> bool:
    """Count a failed call; return True when this failure opened the breaker."""
    window = max(1, settings.AI_BREAKER_WINDOW)
    if cache.add(FAILURES_KEY, 1, window):
        count = 1
    else:
        try:
            count = cache.incr(FAILURES_KEY)
        except ValueError:  # expired between add and incr
            cache.set(FAILURES_KEY, 1, window)
            count = 1
    trial = cache.get(TRIAL_KEY) is not None
    if count < settings.AI_BREAKER_FAILURES and not trial:
        return False
    seconds = max(1, settings.AI_BREAKER_OPEN_SECONDS)
    cache.set_many(
        {OPEN_KEY: time.time() + seconds, REASON_KEY: reason[:300]},
        seconds,
    )
    # After the open period the next call is a trial: one failure re-opens.
    cache.set(TRIAL_KEY, True, seconds * 4)
    cache.delete(FAILURES_KEY)
    return True


def record_success() -> None:
    cache.delete_many([FAILURES_KEY, TRIAL_KEY, OPEN_KEY, REASON_KEY])


def reset() -> None:
    record_success()
