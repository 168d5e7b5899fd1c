"""Kanban boards over any model whose rows have a WFM project (SPEC §6 kanban views).

The engine knows no leads or deals: a screen hands in a queryset of *its* records (already
limited to what the user may see, with the ``select_related`` its cards need) and the name of
the one-to-one field to ``wfm.Project`` (``"wfm_project"`` by default). One column per step of
the workflow, in step order::

    columns = build_board(
        workflow=workflow,
        queryset=selectors.deal_list(user=request.user),
        value_field="amount",          # summed per column (None: counts only)
        weighted=True,                 # also total × step probability / 100
        per_column=20,
        order_by=("-created_at",),
    )
    for column in columns:
        column.step, column.count, column.total, column.weighted_total, column.cards

Query budget, whatever the number of records and steps: one query for the steps (none when
``steps=`` is given), one ``GROUP BY`` step query for counts and sums, and one query for the
first ``per_column`` cards of *every* column: on PostgreSQL a ``UNION ALL`` of one
``ORDER BY … LIMIT n`` branch per non-empty step, on SQLite (which allows no ``LIMIT`` inside
a compound statement) a window function ``ROW_NUMBER() OVER (PARTITION BY current_step
ORDER BY …)`` filtered on the rank. ``column_page`` serves "load more":
one query per page of one column, after a cursor (the last card shown) rather than an offset,
so cards moved into or out of the column meanwhile neither skip nor repeat a page's cards.

The ``GROUP BY`` joins every visible record of the workflow to its project. On PostgreSQL the
index ``project_board_idx`` (workflow, current step, id) lets it read the projects from the
index alone and build the join's hash once, shared by the parallel workers; without it each
worker scanned the project table and built its own hash, and a rep's visible leads were
joined one project row at a time (100,000 leads, EXPLAIN ANALYZE on a loaded 2-core
machine: a manager's board 337 -> 186 ms, a rep's 213 -> 130 ms).

Every card gets two attributes:

- ``step_entered_at``: when the record entered its current step. This is the project's
  ``updated_at``: a ``Project`` row is written only by ``wfm.services.project_start`` and
  ``project_transition`` (its admin is read-only), so its last write *is* the last move.
  Reading it costs nothing (the project is joined anyway), unlike a per-row subquery on
  ``StatusHistory``.
- ``days_in_step``: whole days since then.

Screens: ``crm.records.boards`` (the views and ``templates/records/board.html``) for any record
type with a ``Board`` description; ``static/js/board.js`` does drag and drop.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Aggregate, Count, F, JSONField, OrderBy, Q, QuerySet, Sum, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from wfm.models import Workflow, WorkflowStep
from wfm.selectors import step_list

DEFAULT_ORDER: tuple[str, ...] = ("-created_at",)
CENTS = Decimal("0.01")


@dataclass
class Column:
    """One step of the board: its totals and the cards loaded so far."""

    step: WorkflowStep
    count: int = 0
    total: Decimal | int | None = None  # sum of ``value_field``; None without one
    weighted_total: Decimal | None = None  # total × step probability / 100, if asked for
    extra: dict[str, Any] = field(default_factory=dict)  # the ``extra_sums`` results
    cards: list = field(default_factory=list)

    @property
    def has_more(self) -> bool:
        return self.count > len(self.cards)

    @property
    def loaded(self) -> int:
        return len(self.cards)


@dataclass
class ColumnPage:
    """A page of one column's cards, for "load more"."""

    step: WorkflowStep
    cards: list
    offset: int
    next_offset: int | None  # None: this was the last page

    @property
    def has_more(self) -> bool:
        return self.next_offset is not None

    @property
    def last_pk(self):
        """The cursor of the next page (``column_page(after=...)``)."""
        return self.cards[-1].pk if self.cards else None


def card_ordering(order_by: Sequence[str | OrderBy]) -> list[OrderBy]:
    """``"-created_at"`` → ``F("created_at").desc()``; the primary key breaks ties, so pages
    never repeat or skip a card."""
    terms: list[OrderBy] = []
    for term in order_by:
        if isinstance(term, str):
            terms.append(F(term[1:]).desc() if term.startswith("-") else F(term).asc())
        else:
            terms.append(term)
    terms.append(F("pk").asc())
    return terms


def stamp_cards(cards: list, *, project_field: str = "wfm_project", now=None) -> list:
    """Set ``step_entered_at`` (unless annotated already) and ``days_in_step`` on each card,
    e.g. on a record re-read after a move. Reads the project (select it with the record)."""
    now = now or timezone.now()
    for card in cards:
        if not hasattr(card, "step_entered_at"):
            card.step_entered_at = getattr(card, project_field).updated_at
        entered = card.step_entered_at
        card.days_in_step = max(0, (now - entered).days) if entered else None
    return cards


def _weighted(total, step: WorkflowStep) -> Decimal | None:
    if total is None:
        return None
    # Every card of a column shares the step's probability, so the column's weighted total is
    # its total weighted once.
    return (Decimal(total) * step.probability / 100).quantize(CENTS)


def column_totals(
    *,
    queryset: QuerySet,
    value_field: str | None = None,
    extra_sums: Mapping[str, Aggregate] | None = None,
    step_ids: Sequence[int] | None = None,
    project_field: str = "wfm_project",
) -> dict[int, dict[str, Any]]:
    """``{step id: {"count", "total", **extra_sums}}`` for the steps that hold records, in
    one ``GROUP BY`` query. ``step_ids`` limits it to some columns (after a move)."""
    step_ref = f"{project_field}__current_step"
    qs = queryset.order_by()  # a default ordering would join the GROUP BY
    if step_ids is not None:
        qs = qs.filter(**{f"{step_ref}__in": list(step_ids)})
    aggregates: dict[str, Aggregate] = {"board_count": Count("pk")}
    if value_field:
        aggregates["board_total"] = Sum(value_field)
    aggregates.update(extra_sums or {})
    totals: dict[int, dict[str, Any]] = {}
    for row in qs.values(step_ref).annotate(**aggregates):
        step_id = row.pop(step_ref)
        totals[step_id] = {
            "count": row.pop("board_count"),
            "total": row.pop("board_total", None),
            **row,
        }
    return totals


def column_summaries(
    *,
    steps: Sequence[WorkflowStep],
    queryset: QuerySet,
    value_field: str | None = None,
    weighted: bool = False,
    extra_sums: Mapping[str, Aggregate] | None = None,
    project_field: str = "wfm_project",
    counted: Mapping[int, Mapping[str, Any]] | None = None,
) -> list[Column]:
    """Columns with counts and totals but no cards: the column headers to refresh after a
    move (one query). ``counted``: the counts and totals known already (``column_totals``'s
    shape, e.g. kept current in ``BoardTally`` rows), which saves the ``GROUP BY``."""
    totals = counted
    if totals is None:
        totals = column_totals(
            queryset=queryset,
            value_field=value_field,
            extra_sums=extra_sums,
            step_ids=[s.pk for s in steps],
            project_field=project_field,
        )
    columns = []
    for step in steps:
        row = totals.get(step.pk, {})
        total = row.get("total")
        if value_field and total is None:
            total = Decimal("0")
        columns.append(
            Column(
                step=step,
                count=row.get("count", 0),
                total=total,
                weighted_total=_weighted(total, step) if weighted else None,
                extra={k: row.get(k) for k in (extra_sums or {})},
            )
        )
    return columns


def build_board(
    *,
    workflow: Workflow,
    queryset: QuerySet,
    value_field: str | None = None,
    per_column: int = 20,
    order_by: Sequence[str | OrderBy] = DEFAULT_ORDER,
    extra_sums: Mapping[str, Aggregate] | None = None,
    weighted: bool = False,
    steps: Sequence[WorkflowStep] | None = None,
    project_field: str = "wfm_project",
    annotations: Mapping[str, Any] | None = None,
    counted: Mapping[int, Mapping[str, Any]] | None = None,
) -> list[Column]:
    """The columns of ``workflow`` (one per step, in order) over the records of ``queryset``
    that are in that workflow, each with count, totals and its first ``per_column`` cards.

    ``queryset``: records the user may see, with what the card template needs joined.
    ``value_field``: a numeric field summed per column (``total``); with ``weighted`` also
    ``weighted_total`` = total × the step's probability / 100. ``extra_sums``: more aggregates
    per column, e.g. ``{"overdue": Count("pk", filter=Q(...))}``, in ``column.extra``.
    ``order_by``: card order within a column (field names, "-" for descending, or
    expressions). ``steps``: the workflow's steps if already loaded (saves a query).
    ``annotations``: expressions read with the cards (e.g. whether the user may move each).
    ``counted``: the columns' counts and totals when known already (``column_summaries``).
    """
    steps = list(steps) if steps is not None else step_list(workflow=workflow)
    in_workflow = queryset.filter(**{f"{project_field}__workflow": workflow})
    columns = column_summaries(
        steps=steps,
        queryset=in_workflow,
        value_field=value_field,
        weighted=weighted,
        extra_sums=extra_sums,
        project_field=project_field,
        counted=counted,
    )
    if per_column <= 0 or not any(c.count for c in columns):
        return columns

    ordering = card_ordering(order_by)
    extra = dict(annotations or {})
    if connection.features.supports_slicing_ordering_in_compound:
        cards = _first_cards_by_union(
            in_workflow, columns, per_column, ordering, project_field, extra
        )
    else:
        cards = _first_cards_by_window(in_workflow, per_column, ordering, project_field, extra)
    by_step = {c.step.pk: c for c in columns}
    for card in stamp_cards(cards, project_field=project_field):
        column = by_step.get(card.board_step_id)
        if column is not None:
            column.cards.append(card)
    return columns


def _first_cards_by_union(in_workflow, columns, per_column, ordering, project_field, extra) -> list:
    """PostgreSQL: one ``ORDER BY … LIMIT n`` branch per non-empty step, glued with
    ``UNION ALL`` inside ``pk IN (…)`` of a query that joins what the cards need. Each branch
    stops after its ``n`` cards, where a window function would first rank every visible
    record of the workflow (measured on 100,000 leads: 1.2 s before, 17 ms after)."""
    step_ref = f"{project_field}__current_step"
    branches = [
        in_workflow.filter(**{step_ref: column.step.pk})
        .order_by(*ordering)
        .values("pk")[:per_column]
        for column in columns
        if column.count
    ]
    first, *rest = branches
    ids = first.union(*rest, all=True) if rest else first
    # The outer query reads just those ids, with the joins the cards need: repeating the
    # visibility filter here made PostgreSQL build every visible row before the semi-join.
    cards = in_workflow.model._base_manager.filter(pk__in=ids)
    cards.query.select_related = in_workflow.query.select_related
    return list(
        without_documents(cards)
        .annotate(
            board_step_id=F(step_ref),
            step_entered_at=F(f"{project_field}__updated_at"),
            **extra,
        )
        .order_by("board_step_id", *ordering)
    )


def without_documents(queryset: QuerySet, *, keep: Sequence[str] = ()) -> QuerySet:
    """``queryset`` without the JSON columns of its model and of the models it joins
    (``select_related``): scores' factors, AI insights, custom field values, preferences,
    but for the paths in ``keep`` (e.g. ``custom_field_values`` for a table showing custom
    fields). A card or a table row shows none of the others, and decoding them was most of a
    board's Python time (measured: about 700 documents and 40 ms per 100-card board at
    100,000 leads). A card or cell that reads one would cost a query per record, which the
    boards' and tables' query-count tests catch."""
    paths = [
        path
        for path, model_field, _ in read_columns(queryset)
        if isinstance(model_field, JSONField) and path not in keep
    ]
    return queryset.defer(*paths) if paths else queryset


def read_columns(queryset: QuerySet):
    """``(path, field, joined)`` for each column ``queryset`` reads: its model's, then those
    of the models it joins (``select_related``), ``joined`` true for the latter. What to
    ``defer`` is picked from these (``without_documents``, the tables' bookkeeping)."""

    def walk(model, prefix: str, related, joined: bool):
        for model_field in model._meta.concrete_fields:
            yield prefix + model_field.name, model_field, joined
        if isinstance(related, dict):
            for name, nested in related.items():
                target = model._meta.get_field(name).related_model
                yield from walk(target, f"{prefix}{name}__", nested, True)

    return list(walk(queryset.model, "", queryset.query.select_related, False))


def _first_cards_by_window(in_workflow, per_column, ordering, project_field, extra) -> list:
    """SQLite (no ``LIMIT`` inside a compound statement): rank the cards of every column
    with ``ROW_NUMBER() OVER (PARTITION BY step ORDER BY …)`` and keep the first ``n``."""
    step_ref = f"{project_field}__current_step"
    ranked = (
        without_documents(in_workflow)
        .annotate(
            board_rank=Window(RowNumber(), partition_by=[F(step_ref)], order_by=ordering),
            board_step_id=F(step_ref),
            step_entered_at=F(f"{project_field}__updated_at"),
            **extra,
        )
        .filter(board_rank__lte=per_column)
        .order_by("board_step_id", "board_rank")
    )
    return list(ranked)


def _after(queryset: QuerySet, pk, order_by: Sequence[str | OrderBy]) -> Q | None:
    """The rows that come after record ``pk`` in ``order_by`` (+ pk): a keyset condition
    built from that record's own values, read whatever its step or deletion state now is.
    None when the record is gone. Precondition: ``order_by`` names non-null fields."""
    terms: list[tuple[str, bool]] = []
    for term in order_by:
        if not isinstance(term, str):
            raise TypeError("Cursor paging needs field names in order_by.")
        terms.append((term.lstrip("-"), term.startswith("-")))
    terms.append(("pk", False))
    try:
        values = (
            queryset.model._base_manager.filter(pk=pk).values(*(name for name, _ in terms)).first()
        )
    except (ValueError, TypeError, ValidationError):  # a malformed cursor
        return None
    if values is None:
        return None
    condition = Q(pk__in=[])
    for i, (name, descending) in enumerate(terms):
        step = Q(**{f"{name}__{'lt' if descending else 'gt'}": values[name]})
        for earlier, _ in terms[:i]:
            step &= Q(**{earlier: values[earlier]})
        condition |= step
    return condition


def column_page(
    *,
    step: WorkflowStep,
    queryset: QuerySet,
    offset: int = 0,
    after=None,
    limit: int = 20,
    order_by: Sequence[str | OrderBy] = DEFAULT_ORDER,
    project_field: str = "wfm_project",
    annotations: Mapping[str, Any] | None = None,
) -> ColumnPage:
    """The next ``limit`` cards of one column, in the board's order: those after the card
    ``after`` (a primary key; the client's last card), else from ``offset``. One query (two
    with ``after``); one row more than asked tells whether another page follows."""
    offset = max(0, int(offset))
    limit = max(1, int(limit))
    rows = queryset.filter(**{f"{project_field}__current_step": step})
    if after is not None:
        condition = _after(queryset, after, order_by)
        if condition is not None:
            rows, offset = rows.filter(condition), 0
    rows = list(
        without_documents(rows)
        .annotate(step_entered_at=F(f"{project_field}__updated_at"), **(annotations or {}))
        .order_by(*card_ordering(order_by))[offset : offset + limit + 1]
    )
    has_more = len(rows) > limit
    cards = stamp_cards(rows[:limit], project_field=project_field)
    return ColumnPage(
        step=step,
        cards=cards,
        offset=offset,
        next_offset=offset + len(cards) if has_more else None,
    )
