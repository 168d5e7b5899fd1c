"""Websocket test helpers: the real ASGI application (origin check, session auth, routing)
driven by Channels' ``WebsocketCommunicator``.

Tests are transactional (``transactional_db``): services commit for real, so the outbox
handlers run after commit (eagerly) and publish to the channel layer the consumers listen on
(the in-memory layer, or Redis when REDIS_URL is set). Each test body is one coroutine run
with ``async_to_sync``; database work inside it goes through ``database_sync_to_async``.
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from channels.db import database_sync_to_async
from channels.layers import InMemoryChannelLayer, get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client
from django.urls import reverse

ORIGIN = "http://testserver"
WAIT = 5  # seconds a message may take (eager handlers, a busy CI machine)
QUIET = 0.4  # seconds of silence that count as "nothing was sent"


@pytest.fixture
def rt(transactional_db, settings):
    """Realtime test kit: ``await rt.connect(path, user)``, ``rt.cookie(user)``.

    Plain transactional tests, like the rest of the suite's (no serialized rollback: a
    restore fails on the content types that an earlier plain transactional test's flush
    recreated)."""
    settings.CELERY_TASK_ALWAYS_EAGER = True
    # The first reverse() of a process imports the URLconf and every view behind it (the AI
    # SDK among them: seconds); do it now rather than inside a consumer's first render.
    reverse("leads:list")
    return RealtimeKit()


class RealtimeKit:
    def __init__(self) -> None:
        self.sockets: list[WebsocketCommunicator] = []
        self._cookies: dict[int, str] = {}

    def cookie(self, user) -> str:
        """A session cookie for ``user`` (made with the test client's ``force_login``)."""
        if user.pk not in self._cookies:
            client = Client()
            client.force_login(user)
            self._cookies[user.pk] = client.cookies[settings.SESSION_COOKIE_NAME].value
        return self._cookies[user.pk]

    async def open(self, path: str, user=None, *, origin: str | None = ORIGIN):
        """A communicator and the result of its handshake: (communicator, accepted, code)."""
        from config.asgi import application

        headers = []
        if origin is not None:
            headers.append((b"origin", origin.encode()))
        if user is not None:
            cookie = await database_sync_to_async(self.cookie)(user)
            headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode()))
        communicator = WebsocketCommunicator(application, path, headers=headers)
        accepted, code = await communicator.connect(timeout=WAIT)
        self.sockets.append(communicator)
        return communicator, accepted, code

    async def connect(self, path: str, user) -> WebsocketCommunicator:
        communicator, accepted, code = await self.open(path, user)
        assert accepted, f"{path} refused for {user}: {code}"
        return communicator

    async def close_all(self) -> None:
        for communicator in self.sockets:
            with contextlib.suppress(Exception):
                await communicator.disconnect()
        self.sockets.clear()


async def receive(communicator: WebsocketCommunicator, *, timeout: float = WAIT) -> str:
    return await communicator.receive_from(timeout=timeout)


async def receive_until(communicator, predicate, *, timeout: float = WAIT) -> str:
    """Messages until one satisfies ``predicate`` (others, e.g. presence, are skipped)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    seen = []
    while True:
        left = deadline - loop.time()
        if left <= 0:
            raise AssertionError(f"no matching message within {timeout}s; got {seen!r}")
        try:
            html = await communicator.receive_from(timeout=left)
        except TimeoutError:
            raise AssertionError(f"no matching message within {timeout}s; got {seen!r}") from None
        if predicate(html):
            return html
        seen.append(html[:200])


async def nothing(communicator: WebsocketCommunicator, *, timeout: float = QUIET) -> bool:
    return await communicator.receive_nothing(timeout=timeout)


def run(scenario, rt: RealtimeKit) -> None:
    """Run an async test body, closing its sockets even when it fails."""

    async def wrapped():
        layer = get_channel_layer()
        if isinstance(layer, InMemoryChannelLayer):
            # Groups of earlier tests' (closed) channels. Redis needs no flush: channel names
            # are unique, and its flush would close the publisher thread's connections too.
            await layer.flush()
        try:
            await scenario()
        finally:
            await rt.close_all()

    from asgiref.sync import async_to_sync
    from channels.layers import DEFAULT_CHANNEL_LAYER, channel_layers

    from crm.consumers import wait_idle

    if not isinstance(get_channel_layer(), InMemoryChannelLayer):
        # Each test body runs in an event loop of its own. channels_redis keeps asyncio locks
        # on its layer (the receive lock, a lock per process channel) that bind to the first
        # loop that waits on them, and one left behind by a consumer cancelled as its loop
        # ended broke a later test ("Lock … is bound to a different event loop", seen in CI).
        # A layer per test, as a server has one per process and loop; publishers call
        # get_channel_layer() each time and pick it up too.
        channel_layers.backends.pop(DEFAULT_CHANNEL_LAYER, None)
    try:
        async_to_sync(wrapped)()
    finally:
        # A follow-up (a board's column totals, sent after the card) may still be reading
        # when the scenario has what it waited for: emptying the database under it
        # deadlocked (seen in CI).
        wait_idle()


db = database_sync_to_async
