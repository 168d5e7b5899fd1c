"""One kanban board for every record type that has a workflow (SPEC §4 "one pattern", §6).

A record type's ``board`` (``crm.records.types.Board``) names its steps, the value summed per
column, the service that moves a card and the card's template; these views do the rest, for
leads and deals alike:

- ``record_board``  the page, or for htmx its ``board`` partial: one column per step of the
  chosen workflow (``?workflow=``, else the first), each with its count, totals and first
  cards; or, with ``?group=<key>`` of the type's ``groupings``, read-only columns by another
  field (``crm.records.groupings``: leads by source, deals by close month, …).
- ``board_column``  "load more" of one column (``?column=<step>``): the cards after
  ``?after=<pk>`` — the column's last card, a cursor rather than an offset, so cards moved in
  or out meanwhile neither skip nor repeat — and a new sentinel if more follow.
- ``board_move``    a card dropped on another column: the card as it is now and, out of band,
  the headers of the two columns and the board's totals; or the SPEC §7 JSON error, on which
  ``static/js/board.js`` puts the card back.

The board filters like the table (``crm.records.tables.filtered``): the same parameters and the
same filter bar, and the Table/Board switch keeps them. Realtime: the page's socket element
(``#board-socket``) sits outside ``#board`` and follows the filters
(``crm.records.realtime.socket_moved``); ``crm.records.realtime`` renders the live cards.

Query budget of the page, whatever the number of cards: the filter bar's choices, the custom
field definitions, the steps, one ``GROUP BY`` for the columns' counts and totals, one query
for every column's first cards, and (for a user who may not change every record) one for the
cards they may move.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db.models import Exists, OuterRef
from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from crm import permissions
from crm.errors import DomainError, NotFound
from crm.forms import require_int
from crm.htmx import region_only, render_page, saved
from crm.records import groupings, tables, tallies
from crm.records.realtime import socket_moved
from crm.records.tables import VIEW_PARAMS, TableState, filtered
from crm.records.types import Board, RecordType
from crm.rest import error_body
from wfm import boards
from wfm.models import Workflow, WorkflowStep

# The board's own choices (kept in its URL, not filters) and the parameters of "load more".
OWN_PARAMS = ("workflow", "group")
PAGE_PARAMS = ("column", "after")
# The table's step filter: a board's columns are its steps, so it neither offers nor applies it.
COLUMN_FILTER = "step"
NOT_FILTERS = (*VIEW_PARAMS, *OWN_PARAMS, *PAGE_PARAMS, COLUMN_FILTER)
# What a board's URL may carry that does not reach its socket.
SOCKETLESS_PARAMS = (*VIEW_PARAMS, *PAGE_PARAMS, COLUMN_FILTER)


def board_state(params: QueryDict) -> TableState:
    """The board's parameters, cleaned like the table's, without the step filter."""
    state = TableState.from_query(params)
    if COLUMN_FILTER not in state.params:
        return state
    return TableState.from_query(QueryDict(state.query(**{COLUMN_FILTER: None})))


def filter_query(params: QueryDict | TableState) -> str:
    """Only the filters of a board query (what cards, sockets and links carry)."""
    state = params if isinstance(params, TableState) else TableState.from_query(params)
    return state.query(**dict.fromkeys(NOT_FILTERS))


def _with_query(url: str, query: str) -> str:
    return f"{url}?{query}" if query else url


def _board_of(rt: RecordType) -> Board:
    if rt.board is None:
        raise NotFound(f"{rt.plural} have no board.")
    return rt.board


@dataclass(frozen=True)
class Pipeline:
    """The workflow a board shows, its steps in order, and every workflow of the type."""

    workflow: Workflow
    steps: list[WorkflowStep]
    workflows: list[Workflow]


def pipeline(rt: RecordType, chosen: str | int | None = None) -> Pipeline:
    """The workflow ``chosen`` (an id), else the type's first, from the type's steps (one
    query)."""
    steps = list(_board_of(rt).steps())
    if not steps:
        raise NotFound(
            f"There is no workflow for {rt.noun_plural} yet; an administrator must add one."
        )
    workflows: dict[int, Workflow] = {}
    for step in steps:
        workflows.setdefault(step.workflow_id, step.workflow)
    try:
        workflow = workflows.get(int(chosen or 0)) or workflows[steps[0].workflow_id]
    except (TypeError, ValueError):
        workflow = workflows[steps[0].workflow_id]
    return Pipeline(
        workflow=workflow,
        steps=[s for s in steps if s.workflow_id == workflow.pk],
        workflows=list(workflows.values()),
    )


def movable_annotation(user, rt: RecordType) -> dict[str, Exists]:
    """``board_movable``: may ``user`` move (change) the card, read with the cards rather than
    by a query of its own; empty when the answer is the same for every card."""
    if not permissions.works_on(user, rt.model) or permissions.has_all_access(
        user, rt.model, "change"
    ):
        return {}
    changeable = permissions.visible(
        user, rt.model._default_manager.filter(pk=OuterRef("pk")), "change"
    )
    return {"board_movable": Exists(changeable)}


def movable_ids(user, rt: RecordType, cards: list) -> set:
    """The cards ``user`` may drag: none for roles that change no records of the type
    (analysts, viewers), all for those who may change every one, else those annotated
    ``board_movable`` (``movable_annotation``) or, failing that, asked in one query."""
    if not cards or not permissions.works_on(user, rt.model):
        return set()
    if permissions.has_all_access(user, rt.model, "change"):
        return {c.pk for c in cards}
    if all(hasattr(c, "board_movable") for c in cards):
        return {c.pk for c in cards if c.board_movable}
    return permissions.changeable_ids(user, cards)


def totals(columns: list[boards.Column]) -> dict:
    """The board's open pipeline: the columns of steps without an outcome."""
    open_columns = [c for c in columns if c.step.outcome == WorkflowStep.Outcome.NONE]
    weighted = [c.weighted_total for c in open_columns if c.weighted_total is not None]
    return {
        "count": sum(c.count for c in open_columns),
        "total": sum((c.total or 0 for c in open_columns), Decimal(0)),
        "weighted": sum(weighted, Decimal(0)) if weighted else None,
    }


def socket_url(workflow: Workflow | None, query: str) -> str | None:
    """The board socket (``crm.consumers.BoardConsumer``): its workflow and the page's filters,
    so that a live card respects them."""
    if workflow is None:
        return None
    return _with_query(f"/ws/boards/{workflow.pk}/", query)


def _filter_bar(rt: RecordType, state: TableState, user, definitions, *, count_only) -> dict:
    """The context of ``records/_filters.html`` (the table's filter bar) on a board, whose
    columns stand for the step filter."""
    rt = replace(rt, filters=tuple(f for f in rt.filters if f.param != COLUMN_FILTER))
    return tables.filter_bar(rt, state, user, definitions, count_only=count_only)


# --- views ------------------------------------------------------------------------------------
@login_required
@require_GET
def record_board(request: HttpRequest, record_type: RecordType) -> HttpResponse:
    rt = record_type
    board = _board_of(rt)
    user = request.user
    state = board_state(request.GET)
    filterset, rows, error = filtered(request, rt, state)
    definitions = filterset.cf_definitions()
    query = filter_query(state)
    grouping = state.get("group") if state.get("group") in board.groupings else ""
    shown = None if grouping else pipeline(rt, state.get("workflow"))
    board_url = rt.url("board")
    context = {
        "rt": rt,
        "state": state,
        "filter": filterset,
        "filter_error": error,
        **_filter_bar(rt, state, user, definitions, count_only=region_only(request)),
        "board_url": board_url,
        "board_link": state.url(board_url, **dict.fromkeys((*VIEW_PARAMS, *PAGE_PARAMS))),
        "filter_url": board_url,
        "table_url": _with_query(rt.url("list"), query),
        "create_url": rt.url("create"),
        "can_add": rt.can_add(user) and permissions.works_on(user, rt.model),
        "pipeline": shown,
        "workflow": shown.workflow if shown else None,
        "grouping": grouping,
        "groupings": board.groupings,
        "board_query": query,
        "more_base": _with_query(rt.url("board_column"), query),
        "currency": settings.DEFAULT_CURRENCY,
        "weighted": board.weighted,
        "reason_outcomes": board.reason_outcomes,
        "card_template": board.card_template,
        "socket_url": socket_url(shown.workflow, query) if shown else None,
        "oob": bool(request.htmx),
        # The socket element sits outside #board (see socket_moved): it follows the filters.
        "oob_socket": bool(request.htmx) and socket_moved(request, ignore=SOCKETLESS_PARAMS),
    }
    if board.card_related is not None:  # join only what a card reads
        rows = rows.select_related(None).select_related(*board.card_related)
    if shown is None:
        context["groups"] = groupings.group_board(
            queryset=rows,
            grouping=board.groupings[grouping],
            value_field=board.value_field,
            per_column=board.per_column,
        )
    else:
        columns = boards.build_board(
            workflow=shown.workflow,
            steps=shown.steps,
            queryset=rows,
            value_field=board.value_field,
            weighted=board.weighted,
            per_column=board.per_column,
            order_by=board.order_by,
            annotations=movable_annotation(user, rt),
            counted=tallies.column_counts(
                rt, user, shown.workflow, shown.steps, filtered=bool(query)
            ),
        )
        context["columns"] = columns
        context["movable"] = movable_ids(user, rt, [c for col in columns for c in col.cards])
        context["totals"] = totals(columns)
    return render_page(request, "records/board.html", context, partial="board")


@login_required
@require_GET
def board_column(request: HttpRequest, record_type: RecordType) -> HttpResponse:
    """ "Load more" of one column: the cards after ``?after=`` and a new sentinel if more
    follow (``records/_board_page.html``)."""
    rt = record_type
    board = _board_of(rt)
    step = next((s for s in board.steps() if str(s.pk) == request.GET.get("column")), None)
    if step is None:
        raise NotFound("There is no such column.")
    state = board_state(request.GET)
    _, rows, _ = filtered(request, rt, state)
    page = boards.column_page(
        step=step,
        queryset=rows,
        after=state.get("after") or None,
        limit=board.per_column,
        order_by=board.order_by,
        annotations=movable_annotation(request.user, rt),
    )
    query = filter_query(state)
    context = {
        "rt": rt,
        "page": page,
        "movable": movable_ids(request.user, rt, page.cards),
        "card_template": board.card_template,
        "board_query": query,
        "more_base": _with_query(rt.url("board_column"), query),
    }
    return render(request, "records/_board_page.html", context)


def _step_id(value) -> int:
    return require_int(value, field="to_step", message="Choose a step.")


@login_required
@require_POST
def board_move(request: HttpRequest, record_type: RecordType, pk) -> HttpResponse:
    """A card dropped on another column (``static/js/board.js``).

    Success: the card's new HTML, and out of band the headers of the columns it left and
    entered and the board's totals. Refusal: the SPEC §7 JSON error with its status (409 a
    transition the workflow does not allow, 400 a missing reason or step, 403, 404).
    """
    rt = record_type
    board = _board_of(rt)
    user = request.user
    try:
        obj = rt.get_selector(user, pk, action="change")
        from_step = obj.wfm_project.current_step
        board.transition(
            by=user,
            obj=obj,
            to_step=_step_id(request.POST.get("to_step")),
            reason=request.POST.get("reason", ""),
        )
    except DomainError as exc:
        body = error_body(request, code=exc.code, message=exc.message, details=exc.details)
        return JsonResponse(body, status=exc.status)
    obj = rt.get_selector(user, pk)
    boards.stamp_cards([obj])
    to_step = obj.wfm_project.current_step
    state = board_state(request.GET)
    _, rows, _ = filtered(request, rt, state)
    steps = [s for s in board.steps() if s.workflow_id == to_step.workflow_id]
    workflow, has_filters = steps[0].workflow, bool(filter_query(state))
    if tallies.apply(workflow, filtered=has_filters):
        # The heads as they are after this move: its event's refresh may not have run yet.
        tallies.refresh(rt, [obj.pk])
    counted = tallies.column_counts(rt, user, workflow, steps, filtered=has_filters)
    columns = boards.column_summaries(
        steps=steps,
        queryset=rows,
        value_field=board.value_field,
        weighted=board.weighted,
        counted=counted,
    )
    context = {
        "rt": rt,
        "card": obj,
        "card_template": board.card_template,
        "movable": {obj.pk},
        "heads": [c for c in columns if c.step.pk in (from_step.pk, to_step.pk)],
        "totals": totals(columns),
        "weighted": board.weighted,
        "currency": settings.DEFAULT_CURRENCY,
        "board_query": filter_query(state),
    }
    return render(request, "records/_board_moved.html", context)


@login_required
@require_POST
def record_move(request: HttpRequest, record_type: RecordType, pk) -> HttpResponse:
    """Move a record to ``to_step`` from its detail page's buttons, through the type's
    transition service; a refusal is the SPEC §7 error (``crm.middleware``), shown as a toast."""
    rt = record_type
    obj = rt.get_selector(request.user, pk, action="change")
    _board_of(rt).transition(
        by=request.user,
        obj=obj,
        to_step=_step_id(request.POST.get("to_step")),
        reason=request.POST.get("reason", ""),
    )
    obj = rt.get_selector(request.user, pk)
    if not request.htmx:
        return redirect(rt.url("detail", obj.pk))
    return saved(f"“{obj}” moved to {obj.wfm_project.current_step.name}.")
