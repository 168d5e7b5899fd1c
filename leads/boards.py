"""Read-only lead boards grouped by a field (source, assignee, priority).

The step board is ``wfm.boards``; these group the same filtered leads by another field, with
the same query budget: one ``GROUP BY`` for counts and totals, one windowed query for the first
cards of every column.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, F, QuerySet, Sum, Window
from django.db.models.functions import RowNumber

from crm.selectors import assignable_users
from leads.models import Lead
from wfm.boards import stamp_cards

GROUPINGS = {
    "source": ("Source", "source"),
    "assignee": ("Assignee", "assigned_to_id"),
    "priority": ("Priority", "priority"),
}


@dataclass
class Group:
    key: Any
    label: str
    count: int = 0
    total: Any = 0
    cards: list = field(default_factory=list)


def _groups(grouping: str) -> list[tuple[Any, str]]:
    if grouping == "source":
        return list(Lead.Source.choices)
    if grouping == "priority":
        return list(reversed(Lead.Priority.choices))
    users = [(u.pk, u.display_name) for u in assignable_users(with_roles=False)]
    return [(None, "Unassigned"), *users]


def group_board(*, queryset: QuerySet[Lead], grouping: str, per_column: int = 20) -> list[Group]:
    field_name = GROUPINGS[grouping][1]
    columns = {key: Group(key=key, label=label) for key, label in _groups(grouping)}
    summary = (
        queryset.order_by().values(field_name).annotate(n=Count("pk"), total=Sum("estimated_value"))
    )
    for row in summary:
        column = columns.setdefault(
            row[field_name], Group(key=row[field_name], label=str(row[field_name]))
        )
        column.count, column.total = row["n"], row["total"] or 0
    ranked = (
        queryset.annotate(
            _rank=Window(RowNumber(), partition_by=[F(field_name)], order_by=F("created_at").desc())
        )
        .filter(_rank__lte=per_column)
        .order_by("-created_at")
    )
    for lead in stamp_cards(list(ranked)):
        columns[getattr(lead, field_name)].cards.append(lead)
    return [c for c in columns.values() if c.count or grouping != "assignee"]
