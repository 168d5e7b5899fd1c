"""Django's PostgreSQL backend with a pool that fails fast when the server is gone (issue 21).

With ``DB_POOL_MAX_SIZE`` set, Django takes each request's connection from psycopg's pool
(``OPTIONS["pool"]``). A pool whose server is down (a PostgreSQL restart) keeps every request
waiting its whole ``DB_POOL_TIMEOUT`` for a connection that cannot come, where a request
without a pool fails within ``DB_CONNECT_TIMEOUT`` and answers 503 at once. ``FailFastPool``
waits briefly for a connection; when none came, it asks whether the server answers at all (a
plain connection, at most one try a second per process) and fails at once when it does not
(``django.db.OperationalError`` → ``ServiceUnavailableMiddleware`` → 503). When the server
answers, the pool is only busy, and the request waits the rest of the timeout as before.

psycopg_pool has no such option (its ``reconnect_timeout`` only ends the pool's own
reconnection attempts), so it is here; Django builds the pool itself, hence the class swap.
"""

from __future__ import annotations

import threading
import time

from django.db.backends.postgresql import base
from psycopg import OperationalError
from psycopg_pool import ConnectionPool, PoolTimeout

# How long a request waits for a pooled connection before it asks whether the server is up.
FIRST_WAIT = 0.5
# How long an answer about the server holds for this process.
PROBE_EVERY = 1.0


class FailFastPool(ConnectionPool):
    _probe_lock = threading.Lock()
    _probed_at = 0.0
    _server_up = True

    def getconn(self, timeout: float | None = None):
        timeout = self.timeout if timeout is None else timeout
        started = time.monotonic()
        try:
            return super().getconn(timeout=min(FIRST_WAIT, timeout))
        except PoolTimeout:
            pass
        if not self.server_answers():
            raise PoolTimeout("The database server does not answer.")
        return super().getconn(timeout=max(0.0, timeout - (time.monotonic() - started)))

    def server_answers(self) -> bool:
        """Whether a new connection to the server opens (asked at most once a second)."""
        cls = type(self)
        with cls._probe_lock:
            if time.monotonic() - cls._probed_at < PROBE_EVERY:
                return cls._server_up
            try:
                self.connection_class.connect(self.conninfo, **self.kwargs).close()
            except OperationalError:
                cls._server_up = False
            else:
                cls._server_up = True
            cls._probed_at = time.monotonic()
            return cls._server_up


class DatabaseWrapper(base.DatabaseWrapper):
    @property
    def pool(self):
        pool = super().pool
        if pool is not None and type(pool) is ConnectionPool:
            pool.__class__ = FailFastPool
        return pool
