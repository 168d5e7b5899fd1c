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
in a thread pool (``REALTIME_RENDER_THREADS``), each thread with its own database connection:
for the connections of users who see everything, one rendering shared by all (``_shared``);
for the others, in a few batches made by the first connection of the process that receives the
message (``_batched``). Follow-ups (a board's column totals) run after the fragment is sent, in
their own pool (``REALTIME_FOLLOW_UP_THREADS``), one at a time per connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import threading
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

logger = logging.getLogger(__name__)

UNAUTHENTICATED = 4401
FORBIDDEN = 4403
# A connection re-reads its user (active? role?) about this often (±25 %); object
# permissions are checked afresh on every message.
USER_REFRESH_SECONDS = 30

_render_pool = ThreadPoolExecutor(
    max_workers=getattr(settings, "REALTIME_RENDER_THREADS", 8),
    thread_name_prefix="realtime-render",
)


# Follow-ups (a board's column totals) run in their own, smaller pool: however many queue up,
# the fragments of the next change never wait behind them.
_follow_up_pool = ThreadPoolExecutor(
    max_workers=getattr(settings, "REALTIME_FOLLOW_UP_THREADS", 4),
    thread_name_prefix="realtime-follow-up",
)


# Pool work not finished yet (queued or running), counted from its call to its end in the
# pool thread, so that whoever must know the pools are quiet can wait (``wait_idle``).
_in_flight = 0
_in_flight_lock = threading.Lock()


def _count(change: int) -> None:
    global _in_flight
    with _in_flight_lock:
        _in_flight += change


def in_render_pool(func, executor: ThreadPoolExecutor = _render_pool):
    """``func`` as a coroutine running in the render pool (not the single thread-sensitive
    thread, which would serialize every connection's re-read), closing stale connections
    before and after like ``database_sync_to_async``."""

    def counted(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        finally:
            _count(-1)

    call = DatabaseSyncToAsync(counted, thread_sensitive=False, executor=executor)

    async def submit(*args, **kwargs):
        _count(+1)
        return await call(*args, **kwargs)

    return submit


def wait_idle(timeout: float = 5.0) -> bool:
    """Wait until no render or follow-up is queued or running (e.g. before a test's database
    is emptied, which a follow-up still reading would deadlock); False after ``timeout``
    (work cancelled before it started is never finished)."""
    deadline = time.monotonic() + timeout
    while _in_flight > 0:
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


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


# The other connections' deliveries of a message, made in a few batches of this many
# connections each (one pool task per batch rather than one per socket: fifty sockets, five
# thread hops), by the first connection of this process that receives it.
BATCH_CONNECTIONS = 10
_batches: OrderedDict[str, dict[str, tuple]] = OrderedDict()
BATCHES_KEPT = 64


async def _batched(message: dict, consumer) -> realtime.Delivery | None:
    """``consumer``'s delivery of ``message`` from the batch that rendered it for every
    connection of this process that listened when the first of them received it; None when
    it was not among them, or its user has been re-read since (it then renders alone)."""
    loop = asyncio.get_running_loop()
    batch = _batches.get(message["id"])
    if batch is None or batch["loop"] is not loop:
        batch = _batches[message["id"]] = {"loop": loop, "of": {}}
        while len(_batches) > BATCHES_KEPT:
            _batches.popitem(last=False)
        kind = message.get("kind", "")
        pending = [
            (c, c.user)
            for c in realtime.connections(message)
            if isinstance(c, ChangeConsumer)
            and not (
                c.surface in realtime.SHARED_SURFACES
                and c.__dict__.get("sees_everything", {}).get(kind, False)
            )
        ]
        for start in range(0, len(pending), BATCH_CONNECTIONS):
            chunk = pending[start : start + BATCH_CONNECTIONS]
            future = asyncio.ensure_future(
                in_render_pool(functools.partial(_deliver_batch, message, chunk))()
            )
            for connection, user in chunk:
                batch["of"][connection.channel_name] = (future, user)
    entry = batch["of"].get(consumer.channel_name)
    if entry is None or entry[1] is not consumer.user:
        return None
    try:
        deliveries = await asyncio.shield(entry[0])
    except Exception:
        logger.exception("Realtime batch delivery failed")
        return None
    return deliveries.get(consumer.channel_name)


def _deliver_batch(message: dict, chunk: list[tuple]) -> dict[str, realtime.Delivery]:
    deliveries = {}
    kind = message.get("kind", "")
    for connection, user in chunk:
        try:
            if connection.surface in realtime.SHARED_SURFACES and realtime.sees_everything(
                user, kind
            ):
                continue  # it shares one rendering with its peers (``_shared``)
            deliveries[connection.channel_name] = realtime.deliver(
                user,
                message,
                surface=connection.surface,
                params=connection.params,
                state=connection.state,
                workflow_id=connection.workflow_id,
                object_id=connection.object_id,
            )
        except Exception:  # that connection renders alone (and meets the error itself)
            logger.exception("Realtime delivery of %s failed", message.get("pk"))
    return deliveries


def _signed_in(user) -> bool:
    return user is not None and user.is_authenticated and user.is_active


def _reload_user(pk):
    user = get_user_model()._default_manager.filter(pk=pk, is_active=True).first()
    if user is not None:
        # The role's permissions, read here rather than in the middle of a batch of other
        # connections' deliveries (``_batched``), which would wait for them.
        user.get_all_permissions()
    return user


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
        self.follow_up: tuple[realtime.FollowUp, tuple | None] | None = None
        self.follow_up_task: asyncio.Task | None = None
        for group in joined:
            await self.channel_layer.group_add(group, self.channel_name)
        realtime.listen(joined, self)
        await self.accept()
        await self.opened()

    def subscribe(self) -> list[str]:
        """The groups to join; empty to refuse the socket (runs in a thread)."""
        raise NotImplementedError

    async def opened(self) -> None:
        """Hook after the handshake."""

    async def disconnect(self, code: int) -> None:
        joined = getattr(self, "joined", ())
        realtime.stop_listening(joined, self)
        if getattr(self, "follow_up_task", None) is not None:
            self.follow_up_task.cancel()
        for group in joined:
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
        shared = None
        if self.surface in realtime.SHARED_SURFACES and await self._sees_everything(
            message.get("kind", "")
        ):
            shared = (self.surface, self.workflow_id, self.object_id, self.params.urlencode())
            html, visible, follow_up = await _shared((message["id"], *shared), render)
        else:
            delivery = await _batched(message, self)
            html, visible, follow_up = delivery if delivery is not None else await render()
        if html:
            await self.send(text_data=html)
        if follow_up is not None:
            self._follow(follow_up, shared and (message["id"], *shared))
        await self.changed(message, visible)

    def _follow(self, follow_up: realtime.FollowUp, shared: tuple | None) -> None:
        """Run ``follow_up`` after this delivery, merged with one still waiting to run (see
        ``realtime.FollowUp``). A shared one (a rendering shared by users who see
        everything) is made once for all the connections that wait for the same."""
        if self.follow_up is not None:
            pending, pending_shared = self.follow_up
            follow_up = pending.merge(follow_up)
            if pending_shared is None:
                shared = None
        self.follow_up = (follow_up, shared)
        if self.follow_up_task is None or self.follow_up_task.done():
            self.follow_up_task = asyncio.ensure_future(self._run_follow_ups())

    async def _run_follow_ups(self) -> None:
        while self.follow_up is not None:
            (follow_up, shared), self.follow_up = self.follow_up, None
            render = in_render_pool(
                functools.partial(_render_follow_up, follow_up), executor=_follow_up_pool
            )
            if shared:
                html = await _shared((*shared, "follow-up", follow_up.scope), render)
            else:
                html = await render()
            if html:
                await self.send(text_data=html)

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


def _render_follow_up(follow_up: realtime.FollowUp) -> str | None:
    try:
        return follow_up.render(follow_up.scope)
    except Exception:  # a failed follow-up must not close the socket
        logger.exception("Realtime follow-up failed")
        return None


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
