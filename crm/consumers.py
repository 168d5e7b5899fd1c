"""Websocket consumers (SPEC §4 Realtime). Every socket is authenticated (the session cookie,
through ``AuthMiddlewareStack``) and origin-checked (``AllowedHostsOriginValidator`` in
``config/asgi.py``); anonymous users are refused with 4401, a record the user may not see
with 4403 (the handshake is refused before anything is sent).

- ``/ws/notifications/``          ``NotificationConsumer``: the user's own channel (bell, toasts).
- ``/ws/boards/<workflow id>/``   ``BoardConsumer``: a kanban board of one workflow.
- ``/ws/tables/<kind>/``          ``TableConsumer``: a table (``lead``, ``deal``, ``person``, …).
- ``/ws/<plural>/<id>/``          ``RecordConsumer``: a detail page (``/ws/leads/<id>/``,
                                  ``/ws/people/<id>/``); also presence.

The page's query string (its filters and columns) rides along in the socket URL, so a live
card or row respects the same filters as the page around it. Changes arrive as
``realtime.change`` signals (ids only) and are rendered per connection by ``crm.realtime.deliver``
in a thread pool (``REALTIME_RENDER_THREADS``), each thread with its own database connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor

from channels.db import DatabaseSyncToAsync, database_sync_to_async
from channels.exceptions import ChannelFull
from channels.generic.websocket import AsyncWebsocketConsumer
from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.http import QueryDict
from django.utils.html import format_html, format_html_join

from crm import realtime
from crm.realtime import user_group

UNAUTHENTICATED = 4401
FORBIDDEN = 4403
# A connection re-reads its user (active? role?) about this often (±25 %); object
# permissions are checked afresh on every message.
USER_REFRESH_SECONDS = 30

_render_pool = ThreadPoolExecutor(
    max_workers=getattr(settings, "REALTIME_RENDER_THREADS", 8),
    thread_name_prefix="realtime-render",
)


def in_render_pool(func):
    """``func`` as a coroutine running in the render pool (not the single thread-sensitive
    thread, which would serialize every connection's re-read), closing stale connections
    before and after like ``database_sync_to_async``."""
    return DatabaseSyncToAsync(func, thread_sensitive=False, executor=_render_pool)


# One rendering per (message, surface, page) for the connections of users who see everything
# (crm.realtime.sees_everything): fifty managers on one board cost one re-read, not fifty.
_shared_renders: OrderedDict[tuple, asyncio.Future] = OrderedDict()
SHARED_RENDERS_KEPT = 512


async def _shared(key: tuple, render):
    future = _shared_renders.get(key)
    if future is None or future.get_loop() is not asyncio.get_running_loop():
        future = asyncio.ensure_future(render())
        _shared_renders[key] = future
        while len(_shared_renders) > SHARED_RENDERS_KEPT:
            _shared_renders.popitem(last=False)
    return await asyncio.shield(future)


def _signed_in(user) -> bool:
    return user is not None and user.is_authenticated and user.is_active


def _reload_user(pk):
    return get_user_model()._default_manager.filter(pk=pk, is_active=True).first()


class NotificationConsumer(AsyncWebsocketConsumer):
    """The logged-in user's personal channel: notifications and AI progress (SPEC §6)."""

    async def connect(self) -> None:
        user = self.scope.get("user")
        if not _signed_in(user):
            await self.close(code=UNAUTHENTICATED)
            return
        self.user = user
        self.group = user_group(user.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def send_html(self, event: dict) -> None:
        """Deliver an already-rendered, already-authorised HTML fragment (hx-swap-oob)."""
        await self.send(text_data=event["html"])

    async def notification_created(self, event: dict) -> None:
        """A new notification: the bell's count, a toast and the menu's new row."""
        from crm.notifications import render_push

        html = await database_sync_to_async(render_push)(self.user.pk, event["id"])
        if html:
            await self.send(text_data=html)


class ChangeConsumer(AsyncWebsocketConsumer):
    """Base of the sockets that receive record changes: subscribe, then re-read and render
    every change as this connection's user (``crm.realtime.deliver``)."""

    surface = ""

    async def connect(self) -> None:
        user = self.scope.get("user")
        if not _signed_in(user):
            await self.close(code=UNAUTHENTICATED)
            return
        self.user = user
        self.user_loaded_at = time.monotonic()
        # Jittered, so that the connections opened together do not all re-read at once.
        self.user_refresh = USER_REFRESH_SECONDS * random.uniform(0.75, 1.25)
        self.params = QueryDict(self.scope.get("query_string", b"").decode("latin-1"))
        self.state: dict = {}
        self.workflow_id: int | None = None
        self.object_id: str | None = None
        joined = await database_sync_to_async(self.subscribe)()
        if not joined:
            await self.close(code=FORBIDDEN)
            return
        self.joined = joined
        for group in joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        await self.opened()

    def subscribe(self) -> list[str]:
        """The groups to join; empty to refuse the socket (runs in a thread)."""
        raise NotImplementedError

    async def opened(self) -> None:
        """Hook after the handshake."""

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "joined", ()):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def realtime_change(self, message: dict) -> None:
        if not await self._fresh_user():
            return
        render = in_render_pool(
            functools.partial(
                realtime.deliver,
                self.user,
                message,
                surface=self.surface,
                params=self.params,
                state=self.state,
                workflow_id=self.workflow_id,
                object_id=self.object_id,
            )
        )
        if self.surface in realtime.SHARED_SURFACES and await self._sees_everything(
            message.get("kind", "")
        ):
            key = (message["id"], self.surface, self.workflow_id, self.object_id)
            html, visible = await _shared(key + (self.params.urlencode(),), render)
        else:
            html, visible = await render()
        if html:
            await self.send(text_data=html)
        await self.changed(message, visible)

    async def _sees_everything(self, kind: str) -> bool:
        known = self.__dict__.setdefault("sees_everything", {})
        if kind not in known:
            known[kind] = await in_render_pool(realtime.sees_everything)(self.user, kind)
        return known[kind]

    async def changed(self, message: dict, visible: bool) -> None:
        """Hook after a change was delivered (or not)."""

    async def _fresh_user(self) -> bool:
        if time.monotonic() - self.user_loaded_at < self.user_refresh:
            return True
        user = await in_render_pool(_reload_user)(self.user.pk)
        if user is None:  # deactivated meanwhile
            await self.close(code=UNAUTHENTICATED)
            return False
        self.user, self.user_loaded_at = user, time.monotonic()
        self.__dict__.pop("sees_everything", None)
        return True


class BoardConsumer(ChangeConsumer):
    """``/ws/boards/<workflow_id>/``: cards created, moved, updated and removed."""

    surface = "board"

    def subscribe(self) -> list[str]:
        workflow_id = self.scope["url_route"]["kwargs"]["workflow_id"]
        workflow = apps.get_model("wfm", "Workflow")
        if not workflow.objects.filter(pk=workflow_id).exists():
            return []
        self.workflow_id = workflow_id
        return [realtime.board_group(workflow_id)]


class TableConsumer(ChangeConsumer):
    """``/ws/tables/<kind>/``: rows updated in place, a "N new — refresh" bar for new ones."""

    surface = "table"

    def subscribe(self) -> list[str]:
        kind = self.scope["url_route"]["kwargs"]["kind"]
        if realtime.registered_kind(kind) is None:
            return []
        return [realtime.table_group(kind)]


class RecordConsumer(ChangeConsumer):
    """``/ws/<kind>s/<id>/``: a detail page. Refused for a record the user may not see;
    closed (after a last notice) when they lose sight of it. Also tracks who else is viewing
    the record: each connection announces itself to the record's group on open
    (``presence.join``), the others answer it directly (``presence.here``), and it says
    goodbye on close (``presence.leave``) — plain group messages, so it works the same on
    the in-memory and the Redis layer."""

    surface = "record"

    def subscribe(self) -> list[str]:
        kwargs = self.scope["url_route"]["kwargs"]
        spec = realtime.kind_for_collection(kwargs["collection"])
        if spec is None:
            return []
        obj = realtime.load_record(spec.name, kwargs["pk"])
        if not realtime.may_view(self.user, obj):
            return []
        self.kind, self.object_id = spec.name, str(obj.pk)
        self.others: dict[str, tuple[int, str]] = {}
        return [realtime.record_group(spec.name, obj.pk)]

    def _me(self, kind: str) -> dict:
        return {
            "type": kind,
            "channel": self.channel_name,
            "user_id": self.user.pk,
            "name": self.user.get_full_name() or self.user.get_username(),
        }

    async def opened(self) -> None:
        await self.channel_layer.group_send(self.joined[0], self._me("presence.join"))

    async def disconnect(self, code: int) -> None:
        if getattr(self, "joined", None):
            await self.channel_layer.group_send(self.joined[0], self._me("presence.leave"))
        await super().disconnect(code)

    async def presence_join(self, event: dict) -> None:
        if event["channel"] == self.channel_name:
            return
        self.others[event["channel"]] = (event["user_id"], event["name"])
        # Presence is best-effort: a newcomer flooded with answers (a crowd on one record)
        # misses some names rather than losing its socket.
        with contextlib.suppress(ChannelFull):
            await self.channel_layer.send(event["channel"], self._me("presence.here"))
        await self._send_presence()

    async def presence_here(self, event: dict) -> None:
        if event["channel"] != self.channel_name:
            self.others[event["channel"]] = (event["user_id"], event["name"])
            await self._send_presence()

    async def presence_leave(self, event: dict) -> None:
        if self.others.pop(event["channel"], None) is not None:
            await self._send_presence()

    async def _send_presence(self) -> None:
        await self.send(text_data=presence_html(self.others.values(), me=self.user.pk))

    async def changed(self, message: dict, visible: bool) -> None:
        if not visible:  # the last notice was sent; no further updates about this record
            await self.close(code=FORBIDDEN)


PRESENCE_OPEN = (
    '<div id="presence" class="presence small" data-testid="presence" hx-swap-oob="true"'
)
VIEWER_BADGE = (
    '<span class="badge rounded-pill bg-info-subtle text-info-emphasis border border-info-subtle">'
    "{}</span>"
)


def presence_html(viewers, *, me: int) -> str:
    """The ``#presence`` region: the other users on this record, each once."""
    names = sorted({uid: name for uid, name in viewers if uid != me}.values(), key=str.lower)
    if not names:
        return f"{PRESENCE_OPEN}></div>"
    badges = format_html_join(" ", VIEWER_BADGE, ((n,) for n in names))
    return format_html(
        PRESENCE_OPEN + ' data-count="{}"><i class="bi bi-eye" aria-hidden="true"></i> '
        "Also viewing: {}</div>",
        len(names),
        badges,
    )
