"""Read-only boards by another field than the step (``Board.groupings``, ``?group=<key>``):
leads by source or priority, deals by status or close month, either by assignee.

``group_board`` builds the columns of one grouping (``crm.records.types.Grouping``) over the
board's filtered records with the step board's query budget (``wfm.boards``), whatever the
number of cards: one ``GROUP BY`` for every column's count and total, and one query for every
column's first cards (``ROW_NUMBER() OVER (PARTITION BY <value> ORDER BY …)`` kept to the
first ``per_column``). Column labels come from the grouping's fixed columns or from the
cards themselves (an assignee's name off the joined user), never from a query of their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Count, F, QuerySet, Sum, Window
from django.db.models.expressions import Expression
from django.db.models.functions import RowNumber

from crm.records.types import Grouping
from wfm.boards import card_ordering, stamp_cards, without_documents

# The annotation holding a record's column value: a field or an expression alike.
VALUE = "board_group"


@dataclass
class Group:
    """One column of a grouped board: its value, label, count, total and first cards."""

    key: Any
    label: str
    count: int = 0
    total: Decimal = Decimal(0)
    cards: list = field(default_factory=list)


def group_board(
    *,
    queryset: QuerySet,
    grouping: Grouping,
    value_field: str,
    per_column: int = 20,
    project_field: str = "wfm_project",
) -> list[Group]:
    """The columns of ``grouping`` over ``queryset`` (the records the user may see, filtered,
    with what the cards read joined): the fixed columns in order, then one per other value
    found. ``value_field`` is summed per column."""
    by = grouping.by if isinstance(grouping.by, Expression) else F(grouping.by)
    rows = queryset.annotate(**{VALUE: by})
    fixed = {key: Group(key=key, label=label) for key, label in grouping.columns()}
    found: dict[Any, Group] = {}
    summary = rows.order_by().values(VALUE).annotate(n=Count("pk"), total=Sum(value_field))
    for row in summary:
        key = row[VALUE]
        group = fixed.get(key) or found.setdefault(key, Group(key=key, label=""))
        group.count, group.total = row["n"], row["total"] or Decimal(0)
    if per_column > 0 and (found or any(g.count for g in fixed.values())):
        ranked = (
            without_documents(rows)
            .annotate(
                board_rank=Window(
                    RowNumber(),
                    partition_by=[F(VALUE)],
                    order_by=card_ordering(grouping.order_by),
                ),
                step_entered_at=F(f"{project_field}__updated_at"),
            )
            .filter(board_rank__lte=per_column)
            .order_by(VALUE, "board_rank")
        )
        for card in stamp_cards(list(ranked), project_field=project_field):
            group = fixed.get(getattr(card, VALUE)) or found.get(getattr(card, VALUE))
            if group is not None:  # None: a record that changed between the two queries
                group.cards.append(card)
    for group in found.values():
        group.label = grouping.describe(group.key, group.cards[0] if group.cards else None)
    return [*fixed.values(), *sorted(found.values(), key=grouping.order)]


def _assignee_name(user_id, card) -> str:
    # Every column found has cards (each has at least one), and cards join their assignee.
    if user_id is None:
        return "Unassigned"
    return card.assigned_to.display_name if card is not None else str(user_id)


def _unassigned_then_by_name(group: Group) -> tuple:
    return (group.key is not None, group.label.casefold())


def by_assignee() -> Grouping:
    """Columns per assignee who holds any of the records, "Unassigned" first: a list of every
    user would be mostly empty columns."""
    return Grouping(
        label="Assignee",
        by="assigned_to_id",
        describe=_assignee_name,
        order=_unassigned_then_by_name,
    )
