"""Realtime publishing and delivery (SPEC §4 Realtime): messages go to Channels groups after
commit; each connection re-reads the record as its own user and renders the shared fragment.

Publishing. A change is a small signal — record kind, id, what changed — never field values::

    publish_change("lead", lead.pk, ["step"], workflow_id=3, from_step_id=7)

goes, after the current transaction commits, to the groups

- ``board.<workflow_id>``  open kanban boards of that workflow (``/ws/boards/<id>/``),
- ``table.<kind>``         open tables of that kind (``/ws/tables/<kind>/``),
- ``record.<kind>.<pk>``   open detail pages of that record (``/ws/<kind>s/<pk>/``).

Record types publish from outbox handlers (``crm.records.realtime.LiveRecords``, declared in
``leads/realtime.py``, ``deals/realtime.py`` and ``crm/handlers.py``), so the services stay
untouched. In production they are ``inline`` handlers (``crm.events.handles``): the process that
committed the change publishes through the Redis channel layer right after its commit, not
behind the Celery worker's queue (the worker runs them when that failed).

Delivery. ``crm`` knows nothing of leads or deals (SPEC §4): each kind registers a renderer
from its ``AppConfig.ready`` (``LiveRecords.register`` does)::

    register_renderer("lead", LIVE.render, model=Lead, collection="leads")

``deliver`` (called by the consumers in ``crm/consumers.py``, in a worker thread) is the one
gate every realtime delivery passes: it re-reads the record and asks ``crm.permissions``
whether the connection's user may see it. What does not depend on the user is done once per
message in a process and shared (``memo``): the record's re-read, and the permission check of
every user listening in this process (``listeners``: one query for all of them, made afresh
for every message, so a revoked share stops the next delivery); the decision for each
connection is still its own.

- visible: the renderer gets ``context.visible = True`` and returns the fragment(s) the page
  swaps in (``hx-swap-oob``), or None;
- not visible (any more): only a user who could see it before — named in the change's
  ``revoked`` (e.g. the previous assignee), able to see the soft-deleted row, or on the
  record's own page (checked when the socket opened) — gets one more call, with
  ``context.visible = False``: the renderer may then only emit removals by id (the card leaves
  the board, the row the table). Everyone else gets nothing, so a payload never carries
  anything of a record its user cannot see, and after a removal no further updates follow.

A renderer may leave slower, secondary work for after its fragment is sent (``FollowUp``:
a board's column counts and totals); a connection merges the follow-ups that queue up.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Model
from django.http import QueryDict

from crm import permissions
from crm.cache import Backoff

logger = logging.getLogger(__name__)

CHANGE = "realtime.change"  # the consumer method ``realtime_change``


# --- groups ----------------------------------------------------------------------------------
def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def board_group(workflow_id: int) -> str:
    return f"board.{workflow_id}"


def table_group(kind: str) -> str:
    return f"table.{kind}"


def record_group(kind: str, pk) -> str:
    return f"record.{kind}.{pk}"


# --- publishing ------------------------------------------------------------------------------
def publish(group: str, message: dict) -> None:
    """Send ``message`` (a dict with a ``type`` naming the consumer method) after commit."""
    transaction.on_commit(lambda: send_now(group, message))


def send_now(group: str, message: dict) -> None:
    send_to_groups([group], message)


def send_to_groups(groups: list[str], message: dict) -> None:
    """Send one message to several groups at once, the channel layer's round trips
    concurrent. Called from synchronous code (a request, a Celery task)."""
    layer = get_channel_layer()
    if layer is None:
        return

    async def send_all() -> None:
        results = await asyncio.gather(
            *(layer.group_send(group, message) for group in groups), return_exceptions=True
        )
        for group, result in zip(groups, results, strict=True):
            if isinstance(result, Exception):
                logger.error("Realtime publish to %s failed", group, exc_info=result)

    try:
        if isinstance(layer, InMemoryChannelLayer):
            # Its queues live in the server's event loop: hop into it.
            async_to_sync(send_all)()
        elif not LAYER.down():
            _publisher.run(send_all())
    except Exception as exc:  # realtime is best-effort: the page refreshes on reconnect
        LAYER.failed()
        logger.warning("Realtime publish to %s failed (%r)", ", ".join(groups), exc)


# After a publish failed (Redis down or hung: up to PUBLISH_TIMEOUT each), this process skips
# publishing for REDIS_FAILURE_BACKOFF seconds instead of waiting on every message (issue 21).
# Nothing is lost that the pages need: their sockets drop with Redis, and every re-opened
# socket re-reads its page ("realtimeRefresh", static/js/realtime.js).
LAYER = Backoff()


PUBLISH_TIMEOUT = 5.0  # seconds; the channel layer is down if it takes longer


class _Publisher:
    """An event loop in a daemon thread that publishes for synchronous callers.

    ``async_to_sync`` outside a server starts a new event loop per call (a Celery worker,
    the shell), and channels_redis opens new Redis connections for every new loop: a few tens
    of milliseconds per publish. This loop, and so its connection pool, lives as long as the
    process (a forked child starts its own)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid = 0

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._pid != os.getpid():
                loop = asyncio.new_event_loop()
                threading.Thread(
                    target=loop.run_forever, name="realtime-publisher", daemon=True
                ).start()
                self._loop, self._pid = loop, os.getpid()
            return self._loop

    def run(self, coroutine, timeout: float = PUBLISH_TIMEOUT) -> None:
        future = asyncio.run_coroutine_threadsafe(coroutine, self._running_loop())
        future.result(timeout=timeout)


_publisher = _Publisher()


def change_message(
    kind: str,
    pk,
    changed: Iterable[str],
    workflow_id: int | None = None,
    *,
    from_step_id: int | None = None,
    revoked: Iterable[int] = (),
    event: str = "",
) -> dict:
    """The signal about one change: ids and field names only."""
    return {
        "type": CHANGE,
        "id": uuid.uuid4().hex,
        "kind": kind,
        "pk": str(pk),
        "changed": sorted(set(changed)),
        "workflow_id": workflow_id,
        "from_step_id": from_step_id,
        "revoked": sorted({int(u) for u in revoked if u is not None}),
        "event": event,
        "sent_at": time.time(),
    }


def change_groups(kind: str, pk, workflow_id: int | None = None) -> list[str]:
    groups = [record_group(kind, pk), table_group(kind)]
    if workflow_id is not None:
        groups.insert(0, board_group(workflow_id))
    return groups


def publish_change(
    kind: str,
    pk,
    changed: list[str],
    workflow_id: int | None = None,
    *,
    from_step_id: int | None = None,
    revoked: Iterable[int] = (),
    event: str = "",
) -> dict:
    """After commit, tell the record's board, table and detail-page groups that it changed.

    ``changed``: field names, or ``"created"`` / ``"deleted"`` / ``"step"`` / ``"assignee"``.
    ``from_step_id``: the step a moved record left (its old column's header is refreshed).
    ``revoked``: ids of users who may just have lost sight of the record (a previous
    assignee); they are sent its removal. Returns the message (tests, the benchmark).
    """
    message = change_message(
        kind,
        pk,
        changed,
        workflow_id,
        from_step_id=from_step_id,
        revoked=revoked,
        event=event,
    )
    groups = change_groups(kind, pk, workflow_id)
    transaction.on_commit(lambda: send_to_groups(groups, message))
    return message


# --- the renderer registry -------------------------------------------------------------------
@dataclass
class RenderContext:
    """What a renderer knows about the connection it renders for.

    ``surface``: "board", "table" or "record". ``params``: the page's query string (its
    filters and columns), sent along in the socket URL. ``change``: the published message.
    ``visible``: False when the user may no longer see the record — render removals by id
    only. ``state``: per-connection memory (e.g. the ids counted in a "N new" bar).
    ``memo(key, compute)``: per-message memory shared by the connections of this process
    (see ``memo``).
    """

    surface: str
    params: QueryDict
    change: dict
    visible: bool = True
    workflow_id: int | None = None
    object_id: str | None = None
    state: dict[str, Any] = field(default_factory=dict)
    actions: frozenset[str] = frozenset()
    follow_up: FollowUp | None = None

    def memo(self, key, compute: Callable[[], Any]) -> Any:
        return memo(self.change, key, compute)

    def may(self, action: permissions.Action) -> bool:
        """May the connection's user ``action`` the record (``crm.permissions.can``, decided
        for this message)? Only "view" and "change" are decided (``LIVE_ACTIONS``)."""
        return action in self.actions


@dataclass(frozen=True)
class FollowUp:
    """Work a renderer leaves for after its fragment has been sent: what is slower than the
    fragment and may lag it by a moment (a board's column counts and totals: a count-and-sum
    query per user). ``render(scope)`` returns the HTML (or None), for the parts named in
    ``scope`` (None: all of them). A connection runs one follow-up at a time; those that
    queue up meanwhile are merged into one (``merge``), so a burst of changes costs one."""

    render: Callable[[frozenset | None], str | None]
    scope: frozenset | None = None

    def merge(self, newer: FollowUp) -> FollowUp:
        scope = None if self.scope is None or newer.scope is None else self.scope | newer.scope
        return FollowUp(newer.render, scope)


class Delivery(NamedTuple):
    """What one connection gets for one message: ``html`` to send now (or None), whether
    its user may still ``see`` the record, and an optional ``follow_up``."""

    html: str | None
    visible: bool
    follow_up: FollowUp | None = None


Renderer = Callable[[Any, str, list[str], RenderContext], "str | None"]


@dataclass(frozen=True)
class RealtimeKind:
    name: str
    model: type[Model]
    render: Renderer
    collection: str  # the URL segment of its detail sockets: /ws/<collection>/<id>/


_kinds: dict[str, RealtimeKind] = {}


def register_renderer(
    kind: str, fn: Renderer, *, model: type[Model], collection: str | None = None
) -> None:
    """Register how records of ``kind`` (rows of ``model``) are rendered for a connection:
    ``fn(user, pk, changed, context) -> str | None``. Called from ``AppConfig.ready``.
    Detail pages subscribe at ``/ws/<collection>/<id>/`` (``collection``: ``kind + "s"``).

    Precondition: the output may depend on the user only through ``crm.permissions``, and on
    the ``SHARED_SURFACES`` the renderer keeps no per-connection ``state`` of its own — so the
    connections of users who may see and change every row of the kind (``sees_everything``)
    share one rendering per message and page query (``crm.consumers``)."""
    _kinds[kind] = RealtimeKind(kind, model, fn, collection or f"{kind}s")


def registered_kind(kind: str) -> RealtimeKind | None:
    return _kinds.get(kind)


def kind_for_collection(collection: str) -> RealtimeKind | None:
    return next((k for k in _kinds.values() if k.collection == collection), None)


# Surfaces whose renderings are shared between users who see everything (the table is not:
# its "N new" bar counts per connection).
SHARED_SURFACES = frozenset({"board", "record"})


def sees_everything(user, kind: str) -> bool:
    """May ``user`` see and change every row of ``kind``? (Managers, admins.) Their renderings
    are identical, so one is made per message and shared."""
    spec = _kinds.get(kind)
    return (
        spec is not None
        and permissions.has_all_access(user, spec.model, "view")
        and permissions.has_all_access(user, spec.model, "change")
    )


# --- per-message memory -------------------------------------------------------------------------
# Every connection of a process receives the same message; what does not depend on the user —
# the record's row, a card's markup for "may move it" or not, who of this process's listeners
# may see the record — is read and rendered once per message and shared. Who may see what is
# still decided for each connection (``deliver``), before any of it is used. Kept for the last
# ``MEMO_MESSAGES`` messages.
MEMO_MESSAGES = 64
_memo: OrderedDict[str, dict] = OrderedDict()
_memo_lock = threading.Lock()


class _Once:
    """One value computed once, by the first thread that asks; the others wait for it (and
    only for it: each key has its own lock, so reading the record never waits on a card)."""

    __slots__ = ("done", "lock", "value")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.done = False
        self.value: Any = None

    def get(self, compute: Callable[[], Any]) -> Any:
        if not self.done:
            with self.lock:
                if not self.done:  # a failed compute leaves it to the next caller
                    self.value = compute()
                    self.done = True
        return self.value


def memo(message: dict, key, compute: Callable[[], Any]) -> Any:
    """``compute()`` once per (message, key) in this process; its result is shared."""
    with _memo_lock:
        slot = _memo.get(message["id"])
        if slot is None:
            slot = _memo[message["id"]] = {}
            while len(_memo) > MEMO_MESSAGES:
                _memo.popitem(last=False)
        once = slot.get(key)
        if once is None:
            once = slot[key] = _Once()
    return once.get(compute)


# --- who listens, in this process -----------------------------------------------------------------
# This process's open change sockets, by group: a message's permission check is made for all of
# their users in one query (``crm.permissions.allowed_actions``), not one per socket, and the
# consumers render a message for all of them in a few batches (``crm.consumers``).
_listeners: dict[str, dict[str, Any]] = {}
_listeners_lock = threading.Lock()


def listen(groups: Iterable[str], connection) -> None:
    """``connection`` receives the changes sent to ``groups``: an object with the
    ``channel_name`` and the current ``user`` of a socket (a consumer)."""
    with _listeners_lock:
        for group in groups:
            _listeners.setdefault(group, {})[connection.channel_name] = connection


def stop_listening(groups: Iterable[str], connection) -> None:
    with _listeners_lock:
        for group in groups:
            members = _listeners.get(group)
            if members is not None:
                members.pop(connection.channel_name, None)
                if not members:
                    del _listeners[group]


def connections(message: dict) -> list:
    """This process's connections that receive ``message``, each once."""
    groups = change_groups(message.get("kind", ""), message.get("pk"), message.get("workflow_id"))
    with _listeners_lock:
        found = {
            channel: connection
            for group in groups
            for channel, connection in _listeners.get(group, {}).items()
        }
    return list(found.values())


def listeners(message: dict) -> list:
    """The users of this process's connections that receive ``message``, each once."""
    return list({c.user.pk: c.user for c in connections(message)}.values())


# --- delivery (runs in a worker thread, for one connection) ----------------------------------
def load_record(kind: str, pk) -> Model | None:
    """The record, soft-deleted or not (None: unknown kind, malformed or missing id)."""
    spec = _kinds.get(kind)
    if spec is None:
        return None
    fields = ["pk"] + [f.name for f in spec.model._meta.concrete_fields if f.name == "deleted_at"]
    try:
        return spec.model._base_manager.filter(pk=pk).only(*fields).first()
    except (ValueError, TypeError, ValidationError):  # a malformed id is simply not found
        return None


def may_view(user, obj: Model | None) -> bool:
    """``crm.permissions`` on a fresh object-permission cache: a connection lives long, and
    an assignment may have moved the permissions since its last message."""
    if obj is None or getattr(obj, "deleted_at", None) is not None:
        return False
    permissions._forget(user)
    return permissions.can_view(user, obj)


# What a connection's user may do on a changed record, decided afresh for every message:
# seeing it, and changing it (a card's move handle).
LIVE_ACTIONS: tuple[permissions.Action, ...] = ("view", "change")


def allowed(user, obj: Model, message: dict, actions=LIVE_ACTIONS) -> frozenset[str]:
    """``crm.permissions.allowed_actions`` for this connection's user: one query per message
    for all the listeners of this process (``listeners``), made by the first connection that
    asks; a user who was not among them (a socket opened meanwhile) is decided alone."""
    shared = memo(
        message,
        ("crm.allowed", actions),
        lambda: permissions.allowed_actions(listeners(message), obj, actions),
    )
    found = shared.get(user.pk)
    if found is None:
        found = permissions.allowed_actions([user], obj, actions)[user.pk]
    return found


def deliver(
    user,
    message: dict,
    *,
    surface: str,
    params: QueryDict,
    state: dict,
    workflow_id: int | None = None,
    object_id: str | None = None,
) -> Delivery:
    """What this connection receives for ``message``: the HTML (None: nothing), whether the
    user may still see the record, and the renderer's follow-up (``FollowUp``), if any."""
    spec = _kinds.get(message.get("kind", ""))
    if spec is None:
        return Delivery(None, False)
    obj = memo(message, "crm.record", lambda: load_record(spec.name, message["pk"]))
    live = obj is not None and getattr(obj, "deleted_at", None) is None
    actions = allowed(user, obj, message) if live else frozenset()
    visible = "view" in actions
    if not visible and not _saw_it(user, obj, message, surface):
        return Delivery(None, False)
    context = RenderContext(
        surface=surface,
        params=params,
        change=message,
        visible=visible,
        workflow_id=workflow_id,
        object_id=object_id,
        state=state,
        actions=actions,
    )
    try:
        html = spec.render(user, message["pk"], list(message.get("changed", [])), context)
    except Exception:  # one bad render must not close the socket
        logger.exception("Realtime render of %s %s failed", spec.name, message.get("pk"))
        return Delivery(None, visible)
    return Delivery(html or None, visible, context.follow_up)


def _saw_it(user, obj: Model | None, message: dict, surface: str) -> bool:
    """Could the user see this record until now? Only they are told it went away."""
    if surface == "record":  # checked when the socket opened on this very record
        return True
    if user.pk in message.get("revoked", ()):
        return True
    if obj is not None and getattr(obj, "deleted_at", None) is not None:
        return "view" in allowed(user, obj, message, ("view",))
    return False


def record_socket(kind: str, pk) -> str:
    """The socket a detail page of a ``kind`` record opens (``crm.consumers.RecordConsumer``),
    or "" for a kind that publishes no changes."""
    spec = _kinds.get(kind)
    return f"/ws/{spec.collection}/{pk}/" if spec else ""
