"""Realtime for every record type (SPEC §4 Realtime, "one pattern"): what an app's outbox
handlers publish about its records, and the fragments one connection's page swaps in, driven by
the record type's description (``crm.records.types.RecordType``). ``crm.realtime`` delivers
(the permission gate in ``deliver``); ``crm.consumers`` holds the sockets.

An app describes its live records once and registers them::

    LIVE = LiveRecords(
        LEADS,
        load=_lead,                       # the record with what cards and rows show
        payload_id="lead_id",             # the record's id in its events' payload
        changes={"lead.created": ["created"], "wfm.status_changed": ["step"], ...},
    )

    @handles(*LIVE.events)
    def publish_lead_change(event):
        LIVE.publish(event)

    LIVE.register()

Publishing: ``<kind>.updated`` adds its payload's ``fields`` ("step" aside: a move is published
by ``wfm.status_changed``), ``previous_id`` (a previous assignee) is named as revoked. Only ids
and field names travel; each connection re-reads the record as its own user.

Rendering, per surface (``RenderContext.surface``):

- board (``/ws/boards/<workflow>/?<board filters>``): the card (the board's ``card_template``)
  inside ``<div hx-swap-oob='afterbegin:[data-step-id="…"] [data-board-list]'
  data-realtime-upsert>`` (``static/js/realtime.js`` turns it into an in-place replacement when
  the column holds the card already); then, as the delivery's follow-up (a count-and-sum query
  per user, which the card does not wait for), the headers of the columns whose count or total
  may have changed and the board's totals (``records/_board_head.html``, ``_board_totals.html``).
  A record the user no longer sees, or that no longer matches the board's filters, is deleted
  from the board by id.
- table (``/ws/tables/<kind>/?<table query>``): the row (``records/list.html#row``, the page's
  columns) replaced in place; a new record matching the filters increments the "N new —
  refresh" bar (``#new-rows-bar``) instead of jumping in; a record lost from sight is deleted.
- record (``/ws/<plural>/<id>/``): an element that makes the detail page re-fetch its region
  (``#<kind>-main``, ``records/detail.html``); a record that went away is replaced by a
  notice (the socket closes).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Model
from django.http import HttpRequest, QueryDict
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import format_html

from crm import realtime as crm_realtime
from crm.errors import ValidationFailed
from crm.events import EVENT_NAMES
from crm.models import Event
from crm.records.types import RecordType

# Changes that can alter a board column's count or total (or a user's set of visible cards);
# the board's ``value_field`` is added per type.
AGGREGATE_CHANGES = frozenset({"created", "step", "deleted", "assignee", "assigned_to", "owner"})


# --- sockets ----------------------------------------------------------------------------------
def _socket_params(params: QueryDict, ignore: Iterable[str]) -> tuple:
    ignored = set(ignore)
    return tuple(
        sorted(
            (key, value)
            for key, values in params.lists()
            if key not in ignored
            for value in values
            if value.strip()
        )
    )


def socket_moved(request: HttpRequest, *, ignore: Iterable[str] = ()) -> bool:
    """Does this htmx request show a region whose socket URL differs from the page's? That is,
    do its parameters, but ``ignore`` (those that shape the page without reaching the socket:
    sort, page), differ from those of the URL the browser shows (``HX-Current-URL``)?

    Why sockets are swapped this way: htmx's ws extension opens a socket for every
    ``ws-connect`` element under each element htmx processes, so a socket element inside a
    swapped region (processed as a whole, and again on every swap) got several sockets. Pages
    keep their socket element outside every processed region, and a region's response
    replaces it out of band only when its URL changes: htmx's clean-up of the old element
    closes the old socket and processing the new one opens the new socket, once. A refresh of
    the same region keeps its socket (no reconnect, no missed message).
    """
    ignore = tuple(ignore)
    current = request.headers.get("HX-Current-URL")
    if not current:
        return True
    parts = urlsplit(current)
    return (parts.path, _socket_params(QueryDict(parts.query), ignore)) != (
        request.path,
        _socket_params(request.GET, ignore),
    )


# --- fragments ----------------------------------------------------------------------------------
def delete(dom_id: str) -> str:
    """Remove the element ``dom_id`` (a card, a row) from the page; it carries no values."""
    return format_html('<div id="{}" hx-swap-oob="delete" data-realtime-remove></div>', dom_id)


def upsert_card(step_id: int, card_html: str) -> str:
    """The card on top of its step's column (``static/js/realtime.js`` replaces a card already
    in that column in place)."""
    return format_html(
        "<div hx-swap-oob='afterbegin:[data-step-id=\"{}\"] [data-board-list]' "
        "data-realtime-upsert>{}</div>",
        step_id,
        card_html,
    )


def new_rows_bar(rt: RecordType, count: int, params: QueryDict) -> str:
    params = params.copy()
    params.pop("page", None)
    url = rt.url("list") + (f"?{params.urlencode()}" if params else "")
    label = f"1 new {rt.noun}" if count == 1 else f"{count} new {rt.noun_plural}"
    return format_html(
        '<div id="new-rows-bar" hx-swap-oob="true" class="alert alert-info py-1 px-2 mb-2 '
        'd-flex align-items-center gap-2" role="status" data-testid="new-rows-bar">'
        '<i class="bi bi-arrow-clockwise" aria-hidden="true"></i><span>{}</span>'
        '<a class="alert-link" href="{}" data-realtime-refresh>refresh</a></div>',
        label,
        url,
    )


# --- one record type ----------------------------------------------------------------------------
@dataclass(frozen=True)
class LiveRecords:
    """How the changes of one record type reach open pages (see the module docstring)."""

    rt: RecordType
    load: Callable[[Any], Model | None]  # (pk) → the record as cards and rows show it, or None
    payload_id: str  # "lead_id"
    changes: Mapping[str, list[str]] = field(default_factory=dict)  # event → what it changed

    @property
    def kind(self) -> str:
        return self.rt.key

    @property
    def events(self) -> tuple[str, ...]:
        """The events to publish: those named in ``changes``, ``<kind>.updated`` and
        ``<kind>.merged`` (for the types that merge)."""
        names = dict.fromkeys([*self.changes, f"{self.kind}.updated"])
        if f"{self.kind}.merged" in EVENT_NAMES:
            names[f"{self.kind}.merged"] = None
        return tuple(names)

    def register(self) -> None:
        """Render this type's changes for the sockets (from ``AppConfig.ready``, at import)."""
        crm_realtime.register_renderer(
            self.kind, self.render, model=self.rt.model, collection=self.rt.noun_plural
        )

    # --- publishing -----------------------------------------------------------------------
    def publish(self, event: Event) -> None:
        """Publish one outbox event about a record of this type (ids and field names only)."""
        payload = event.payload or {}
        if event.name == f"{self.kind}.merged":
            # The survivor changed; the merged-away records went away (as deleted ones do).
            for pk in payload.get("merged_ids") or []:
                self._publish_one(event, {"pk": pk}, ["deleted"])
            changed = ["merged", *(payload.get("changed") or [])]
            self._publish_one(event, {"pk": payload.get(self.payload_id)}, changed)
            return
        from_step_id = None
        if event.name == "wfm.status_changed":
            if self.rt.board is None:
                return
            lookup = {"wfm_project_id": payload.get("project_id")}
            from_step_id = payload.get("from_step_id")
        else:
            lookup = {"pk": payload.get(self.payload_id)}
        changed = list(self.changes.get(event.name, []))
        if event.name == f"{self.kind}.updated":
            fields = [f for f in payload.get("fields") or [] if f != "step"]
            changed += ["deleted" if f == "deleted_at" else f for f in fields]
        if not changed:  # an attribution touch, or a move that wfm.status_changed publishes
            return
        self._publish_one(
            event,
            lookup,
            changed,
            from_step_id=from_step_id,
            revoked=[payload["previous_id"]] if payload.get("previous_id") else [],
        )

    def _publish_one(
        self, event: Event, lookup: dict, changed: list[str], *, from_step_id=None, revoked=()
    ) -> None:
        """Publish ``changed`` of the record ``lookup`` finds (nothing when none does)."""
        columns = ("pk", "wfm_project__workflow_id") if self.rt.board else ("pk",)
        try:
            row = self.rt.model._base_manager.filter(**lookup).values_list(*columns).first()
        except (ValueError, TypeError, ValidationError):  # a malformed id: no such record
            return
        if row is None:  # another type's project, or the record is gone
            return
        crm_realtime.publish_change(
            self.kind,
            row[0],
            changed,
            row[1] if self.rt.board else None,
            from_step_id=from_step_id,
            revoked=list(revoked),
            event=event.name,
        )

    # --- rendering ------------------------------------------------------------------------
    def render(self, user, pk, changed: list[str], context: crm_realtime.RenderContext):
        if context.surface == "board" and self.rt.board is not None:
            return self._board(user, pk, changed, context)
        if context.surface == "table":
            return self._table(user, pk, changed, context)
        if context.surface == "record":
            return self._record(pk, changed, context)
        return None

    def _record_for_all(self, pk, context: crm_realtime.RenderContext):
        """The record, read once per message for every connection of this process — used
        only after ``crm.realtime.deliver`` has let the connection's user see it."""
        from wfm.boards import stamp_cards

        def read():
            obj = self.load(pk)
            if obj is not None and self.rt.board is not None:
                stamp_cards([obj])
            return obj

        return context.memo(("record", self.kind), read)

    def _rows(self, user, params: QueryDict, has_filters: bool):
        """The records the user may see that match the page's filters (None: the filters
        are not valid). Without filters no FilterSet is built (a deep copy of its filters)."""
        rows = self.rt.list_selector(user)
        if not has_filters:
            return rows
        try:
            return self.rt.filterset(params, queryset=rows).qs
        except ValidationFailed:
            return None

    def _board(self, user, pk, changed, context) -> str | None:
        """The card (or its removal) now; the column headers and totals it may have changed
        as the delivery's follow-up (``_board_heads``), after the card has been sent."""
        from crm.records import boards as record_boards

        board = self.rt.board
        page = context.state.get("board")
        if page is None:  # the socket's query never changes: parsed once per connection
            state = record_boards.board_state(context.params)
            page = context.state["board"] = (state, record_boards.filter_query(state))
        state, query = page
        steps = context.state.get("steps")
        if steps is None:
            steps = [s for s in board.steps() if s.workflow_id == context.workflow_id]
            context.state["steps"] = steps
        if not steps:
            return None
        obj = self._record_for_all(pk, context) if context.visible else None
        if obj is not None and obj.wfm_project.workflow_id != context.workflow_id:
            obj = None  # not on this board (any more)
        if query:
            rows = self._rows(user, state.params, True)
            if rows is None:  # filters that are not valid: the page shows no cards either
                return None
            if obj is not None and not rows.filter(pk=pk).exists():
                obj = None  # no longer matches the board's filters
        if obj is None:
            html = delete(f"card-{pk}")
        else:
            movable = context.may("change")
            card = context.memo(
                ("card", self.kind, movable, query),
                lambda: render_to_string(
                    board.card_template,
                    {"card": obj, "movable": {obj.pk} if movable else set(), "board_query": query},
                ),
            )
            html = upsert_card(obj.wfm_project.current_step_id, card)
        aggregates = AGGREGATE_CHANGES | {board.value_field}
        if obj is None or query or set(changed) & aggregates:
            from_step_id = context.change.get("from_step_id")
            moved = obj is not None and "step" in changed and from_step_id
            scope = frozenset({from_step_id, obj.wfm_project.current_step_id}) if moved else None
            context.follow_up = crm_realtime.FollowUp(
                functools.partial(
                    self._board_heads, user, state.params, bool(query), steps, context.workflow_id
                ),
                scope,
            )
        return html

    def _board_heads(
        self, user, params: QueryDict, has_filters: bool, steps, workflow_id, scope
    ) -> str | None:
        """The headers of the columns in ``scope`` (None: every column) and the board's
        totals, as ``user`` sees them now (one count-and-sum query)."""
        from crm.records import boards as record_boards
        from crm.records import tallies
        from wfm import boards

        board = self.rt.board
        rows = self._rows(user, params, has_filters)
        if rows is None:
            return None
        # The tallies were moved before this change was published.
        counted = tallies.column_counts(
            self.rt, user, steps[0].workflow, steps, filtered=has_filters
        )
        columns = boards.column_summaries(
            steps=steps,
            queryset=rows.filter(wfm_project__workflow_id=workflow_id),
            value_field=board.value_field,
            weighted=board.weighted,
            counted=counted,
        )
        shared = {
            "currency": settings.DEFAULT_CURRENCY,
            "weighted": board.weighted,
            "oob": True,
        }
        parts = [
            render_to_string("records/_board_head.html", {**shared, "column": column})
            for column in columns
            if scope is None or column.step.pk in scope
        ]
        parts.append(
            render_to_string(
                "records/_board_totals.html", {**shared, "totals": record_boards.totals(columns)}
            )
        )
        return "".join(parts)

    def _table(self, user, pk, changed, context) -> str | None:
        from crm.records.tables import TableState, table_columns
        from customfields.selectors import definitions_for

        if not context.visible:
            return delete(f"row-{pk}")
        state = TableState.from_query(context.params)
        if "created" in changed:
            rows = self._rows(user, state.params, state.has_filters)
            if rows is None or not rows.filter(pk=pk).exists():
                return None
            new = context.state.setdefault("new", set())
            new.add(str(pk))
            return new_rows_bar(self.rt, len(new), state.params)
        obj = self._record_for_all(pk, context)
        if obj is None:
            return None
        columns = context.state.get("columns")
        if columns is None:
            columns, _ = table_columns(self.rt, state.params, definitions_for(self.kind))
            context.state["columns"] = columns
        bulk = bool(self.rt.bulk_actions_for(user))
        return context.memo(
            ("row", self.kind, tuple(c.key for c in columns), bulk),
            lambda: render_to_string(
                "records/list.html#row",
                {"rt": self.rt, "obj": obj, "columns": columns, "bulk": bulk, "oob": True},
            ),
        )

    def _record(self, pk, changed, context) -> str:
        if not context.visible:
            reason = "was deleted" if "deleted" in changed else "is no longer visible to you"
            return format_html(
                '<div id="presence" class="presence small" data-testid="presence" '
                'hx-swap-oob="true"><div class="alert alert-warning mb-2" role="alert" '
                'data-testid="record-gone">This {} {}. <a href="{}">Back to the {}</a></div></div>',
                self.rt.noun,
                reason,
                self.rt.url("list"),
                self.rt.noun_plural,
            )
        return context.memo(
            ("refresh", self.kind),
            lambda: format_html(
                '<div id="{}-refresh" hx-swap-oob="true" hidden hx-get="{}" hx-trigger="load" '
                'hx-target="{}" data-changed="{}"></div>',
                self.kind,
                reverse(self.rt.url_name("detail"), args=[pk]),
                f"#{self.kind}-main",  # the detail page's region (crm.records.details.Detail)
                ",".join(changed),
            ),
        )
