"""Django's Redis cache, failing soft (the ``default`` cache when ``REDIS_URL`` is set).

Redis holds only what can be lost or recomputed here: the reference data's version
(``crm.reference``), the API's rate-limit counters, the worker heartbeat, the AI breaker.
Measured with Redis stopped, the stock backend turned every API request into a 500 (the
throttles read the cache first) and ``/healthz`` into a 500 instead of its 503. With Redis
down this backend answers as an empty cache that stores nothing — a read misses, a write is
dropped, ``add`` claims (see below) — and logs one warning per ``FAILURE_BACKOFF`` seconds:

- after a failure it does not try Redis again for ``FAILURE_BACKOFF`` seconds (the cache's
  ``FAILURE_BACKOFF`` key, default 5): a hung Redis (answering nothing) costs a request one
  ``socket_timeout``, not one per cache call, and one request per process in each window;
- ``add`` answers True (as if stored): callers use it to claim work once (a coalesced
  rescore), and with the cache down a claim must not silently drop the work; at worst it is
  done twice, which those callers tolerate;
- rate limits are not enforced while Redis is down (their counters live there).

``ping()`` does raise, for ``/healthz``.
"""

from __future__ import annotations

import collections
import functools
import logging
import time

from django.core.cache.backends.redis import RedisCache
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

DEFAULT_FAILURE_BACKOFF = 5.0


class Backoff:
    """A part of the system that failed (a Redis behind the cache, the broker, the channel
    layer), left alone for a while by this process: a hung Redis then costs one request its
    timeout, not every request. Used by the cache below, ``crm.events`` (dispatch) and
    ``crm.realtime`` (publishing)."""

    def __init__(self) -> None:
        self._until = 0.0

    def down(self) -> bool:
        return time.monotonic() < self._until

    def failed(self, seconds: float | None = None) -> None:
        """Leave it alone for ``seconds`` (default ``REDIS_FAILURE_BACKOFF``)."""
        if seconds is None:
            from django.conf import settings

            seconds = getattr(settings, "REDIS_FAILURE_BACKOFF", DEFAULT_FAILURE_BACKOFF)
        self._until = time.monotonic() + seconds

    def reset(self) -> None:
        """Try it again at once (it answered, or a recovery path wants to know)."""
        self._until = 0.0


# Each Redis (by LOCATION) for the whole process: Django makes a cache backend per thread,
# and under ASGI every request has a thread of its own, so an attribute of the backend would
# forget the failure at once.
_down_until: dict[str, Backoff] = collections.defaultdict(Backoff)


def _soft(default):
    """Run the cache method, or answer ``default(args, kwargs)`` while Redis fails."""

    def decorator(method):
        @functools.wraps(method)
        def wrapper(self, *args, **kwargs):
            if self._known_down():
                return default(args, kwargs)
            try:
                return method(self, *args, **kwargs)
            except (RedisError, OSError) as exc:
                self._failed(exc)
                return default(args, kwargs)

        return wrapper

    return decorator


def _get_default(args, kwargs):
    if "default" in kwargs:
        return kwargs["default"]
    return args[1] if len(args) > 1 else None


class ResilientRedisCache(RedisCache):
    def __init__(self, server, params):
        params = dict(params)
        self.failure_backoff = float(params.pop("FAILURE_BACKOFF", DEFAULT_FAILURE_BACKOFF))
        super().__init__(server, params)
        self._location = str(server)

    def _known_down(self) -> bool:
        return _down_until[self._location].down()

    def _failed(self, exc: Exception) -> None:
        _down_until[self._location].failed(self.failure_backoff)
        logger.warning(
            "Cache unavailable (%s: %s); serving without it for %.0f s",
            type(exc).__name__,
            exc,
            self.failure_backoff,
        )

    def ping(self) -> bool:
        """Ask Redis itself (raises when it does not answer), whatever the backoff says."""
        client = self._cache.get_client(write=True)
        ok = bool(client.ping())
        _down_until[self._location].reset()
        return ok

    @_soft(lambda args, kwargs: True)
    def add(self, *args, **kwargs):
        return super().add(*args, **kwargs)

    @_soft(_get_default)
    def get(self, *args, **kwargs):
        return super().get(*args, **kwargs)

    @_soft(lambda args, kwargs: None)
    def set(self, *args, **kwargs):
        return super().set(*args, **kwargs)

    @_soft(lambda args, kwargs: False)
    def touch(self, *args, **kwargs):
        return super().touch(*args, **kwargs)

    @_soft(lambda args, kwargs: False)
    def delete(self, *args, **kwargs):
        return super().delete(*args, **kwargs)

    @_soft(lambda args, kwargs: {})
    def get_many(self, *args, **kwargs):
        return super().get_many(*args, **kwargs)

    @_soft(lambda args, kwargs: False)
    def has_key(self, *args, **kwargs):
        return super().has_key(*args, **kwargs)

    def incr(self, key, delta=1, version=None):
        # As for a missing key: the caller starts the count again (``set``), also dropped.
        if self._known_down():
            raise ValueError(f"Key '{key}' not found.")
        try:
            return super().incr(key, delta, version)
        except (RedisError, OSError) as exc:
            self._failed(exc)
            raise ValueError(f"Key '{key}' not found.") from exc

    @_soft(lambda args, kwargs: list(args[0]) if args else list(kwargs.get("data", [])))
    def set_many(self, *args, **kwargs):
        return super().set_many(*args, **kwargs)

    @_soft(lambda args, kwargs: None)
    def delete_many(self, *args, **kwargs):
        return super().delete_many(*args, **kwargs)

    @_soft(lambda args, kwargs: False)
    def clear(self, *args, **kwargs):
        return super().clear(*args, **kwargs)
