"""How many rows a list has, and its pages, without scanning a large filtered set every time.

One rule for the tables and the API (issue 17):

- **Counts.** A list's rows are counted exactly up to ``EXACT_COUNT_LIMIT``
  (``SELECT COUNT(*) FROM (SELECT … LIMIT limit + 1)``: the scan stops at the limit). Above it
  the count is an estimate: on PostgreSQL the planner's row estimate of the query (``EXPLAIN``,
  no scan), elsewhere the limit itself ("1,000+"); never less than what is known to exist.
- **Pages.** A page reads one row more than it shows: that row says whether a next page
  exists, and on a page with no next one the count is exact (the rows before it plus its own),
  with no count query at all.
- **Keyset pages** (``KeysetOrder``): for clients that walk every row (the API's ``cursor``),
  a page starts after the last row of the previous one, by the list's ordering values and the
  primary key, so rows inserted or deleted meanwhile make the walk skip or repeat nothing.
"""

from __future__ import annotations

import functools
import json
import math
import operator
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import EmptyResultSet, ValidationError
from django.db import connections
from django.db.models import F, Field, IntegerField, OrderBy, Q, QuerySet
from django.db.models.expressions import Col, RawSQL
from django.db.models.query import ModelIterable


@dataclass(frozen=True)
class Count:
    """How many rows: ``value`` exactly when ``exact``, else an estimate of at least
    ``known`` (the rows known to exist)."""

    value: int
    exact: bool
    known: int = 0

    @property
    def capped(self) -> bool:
        """An inexact count that is only the limit (no better estimate: "1,000+")."""
        return not self.exact and self.value <= self.known

    @property
    def rounded(self) -> int:
        """The estimate to two significant digits (24,000 rather than 23,817)."""
        if self.exact or self.value < 100:
            return self.value
        step = 10 ** (int(math.log10(self.value)) - 1)
        return max(round(self.value / step) * step, self.known)


def exact_count_limit() -> int:
    return settings.EXACT_COUNT_LIMIT


def count(queryset: QuerySet, *, at_least: int = 0, limit: int | None = None) -> Count:
    """The rows of ``queryset``: exact up to ``limit`` (default ``EXACT_COUNT_LIMIT``), else
    an estimate of at least ``limit + 1`` and ``at_least`` (rows the caller has seen)."""
    limit = exact_count_limit() if limit is None else limit
    queryset = queryset.order_by()
    counted = queryset[: limit + 1].count()
    if counted <= limit:
        return Count(counted, exact=True, known=counted)
    known = max(limit + 1, at_least)
    return Count(max(estimate(queryset) or 0, known), exact=False, known=known)


def estimate(queryset: QuerySet) -> int | None:
    """The planner's estimate of the rows of ``queryset`` (PostgreSQL), else None."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    # The ids only: the estimate is the same, and planning the page's joins is not.
    try:
        sql, params = queryset.order_by().values("pk").query.sql_with_params()
    except EmptyResultSet:  # a condition that matches nothing: no SQL to plan
        return 0
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str | bytes):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


@dataclass
class Window:
    """One page of a list read by offset: its rows, whether a next page exists, and the
    count (``Count``). Reads like Django's ``Page`` where the tables need it."""

    rows: list
    number: int
    size: int
    has_next: bool
    total: Count

    @property
    def object_list(self) -> list:
        return self.rows

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def start_index(self) -> int:
        return self.offset + 1 if self.rows else 0

    @property
    def end_index(self) -> int:
        return self.offset + len(self.rows)

    @property
    def num_pages(self) -> int | None:
        """The number of pages when the count is exact, else None."""
        if not self.total.exact:
            return None
        return max(1, math.ceil(self.total.value / self.size))

    @property
    def last_known_page(self) -> int:
        """The last page known to exist (the last page when the count is exact)."""
        return max(self.number, math.ceil(self.total.known / self.size))

    def nearby_pages(self, spread: int = 2) -> list[int]:
        """Page numbers around this one, up to the last page known to exist."""
        last = self.last_known_page
        return list(range(max(1, self.number - spread), min(last, self.number + spread) + 1))


def of_models(rows) -> bool:
    """Whether ``rows`` is a queryset of model instances (which can take an extra column)."""
    return isinstance(rows, QuerySet) and issubclass(rows._iterable_class, ModelIterable)


def _capped_count_sql(queryset: QuerySet, limit: int) -> RawSQL:
    """``COUNT(*)`` of at most ``limit + 1`` rows of ``queryset``, as an expression: an
    uncorrelated subquery, run once beside the page's own query (no second round trip)."""
    sql, params = queryset.order_by().values("pk")[: limit + 1].query.sql_with_params()
    return RawSQL(f"SELECT COUNT(*) FROM ({sql}) AS capped", params, output_field=IntegerField())


# Page numbers from 1 up to below this, for the tables and the API alike: the offset of the
# last one (times a page's rows) stays far inside the databases' 64-bit OFFSET.
MAX_PAGE_NUMBER = 10**9


def window(queryset: QuerySet, *, number: int, size: int, limit: int | None = None) -> Window:
    """Page ``number`` (from 1) of ``queryset`` by ``size`` rows, in one query with the
    capped count (``count``'s rule), plus the estimate's ``EXPLAIN`` above the limit. A page
    past the end has no rows (and the count costs a query of its own)."""
    limit = exact_count_limit() if limit is None else limit
    offset = (number - 1) * size
    if not of_models(queryset):  # a list, or rows as dicts: no extra column in them
        rows = list(queryset[offset : offset + size + 1])
        has_next, rows = len(rows) > size, rows[:size]
        seen = offset + len(rows) + (1 if has_next else 0)
        if isinstance(queryset, QuerySet) and (has_next or not rows and number > 1):
            total = count(queryset, at_least=seen, limit=limit)
        else:
            total = Count(len(queryset), exact=True) if has_next else Count(seen, exact=True)
        return Window(rows, number, size, has_next, total)
    try:
        capped = _capped_count_sql(queryset, limit)
    except EmptyResultSet:  # ``none()``, or a condition no row can meet (a value out of range)
        return Window([], number, size, False, Count(0, exact=True))
    annotated = queryset.annotate(paging_capped_count=capped)
    rows = list(annotated[offset : offset + size + 1])
    has_next = len(rows) > size
    rows = rows[:size]
    seen = offset + len(rows) + (1 if has_next else 0)
    if not rows:  # an empty list, or past its end (a count of its own: a rare request)
        total = count(queryset, limit=limit) if number > 1 else Count(0, exact=True)
        return Window(rows, number, size, False, total)
    if not has_next:  # the rows before this page and its own are all there are
        return Window(rows, number, size, False, Count(seen, exact=True, known=seen))
    counted = rows[0].paging_capped_count
    if counted <= limit and seen <= limit:
        return Window(rows, number, size, True, Count(counted, exact=True, known=counted))
    known = max(limit + 1, seen)
    value = max(estimate(queryset) or 0, known)
    return Window(rows, number, size, True, Count(value, exact=False, known=known))


# --- keyset pages ------------------------------------------------------------------------------
class InvalidCursor(ValueError):
    pass


@dataclass(frozen=True)
class _Key:
    expression: object
    descending: bool
    nulls_last: bool
    nullable: bool

    def reversed(self) -> _Key:
        return _Key(self.expression, not self.descending, not self.nulls_last, self.nullable)


class KeysetOrder:
    """The ordering of a queryset as keys for keyset pages: each ordering term (records
    without a value last, as the API's ``StableOrderingFilter`` sorts them) and the primary
    key as the last tie-break.

    ``page(after=values, backwards=…)`` reads the rows strictly after (or before) the row
    whose key values are ``values``; ``values_of(row)`` gives a row's values.
    """

    prefix = "keyset_"

    def __init__(self, queryset: QuerySet):
        self.queryset = queryset
        self.model = queryset.model
        terms = list(queryset.query.order_by) or list(queryset.query.get_meta().ordering)
        keys = [self._key(term) for term in terms]
        pk_name = self.model._meta.pk.name
        last = keys[-1].expression if keys else None
        if not (isinstance(last, F) and last.name in ("pk", pk_name)):
            keys.append(_Key(F("pk"), descending=False, nulls_last=True, nullable=False))
        self.keys = keys

    def _key(self, term) -> _Key:
        if isinstance(term, str):
            descending = term.startswith("-")
            term = F(term.lstrip("-")).desc() if descending else F(term).asc()
        if not isinstance(term, OrderBy):  # a bare expression: ascending
            term = OrderBy(term)
        expression = term.expression
        nullable = not self._plain_required_column(expression)
        # Explicit NULL placement for nullable keys (the same on every database); a required
        # column keeps the term as written so that its index still serves the order.
        nulls_last = not term.nulls_first
        return _Key(expression, term.descending, nulls_last, nullable)

    def _plain_required_column(self, expression) -> bool:
        if isinstance(expression, Col):
            return not expression.target.null
        if not isinstance(expression, F) or "__" in expression.name:
            return False
        if expression.name == "pk":
            return True
        try:
            field: Field = self.model._meta.get_field(expression.name)
        except Exception:  # an annotation: not a plain column
            return False
        return field.concrete and not field.null and not field.is_relation

    def _name(self, i: int) -> str:
        return f"{self.prefix}{i}"

    def _ordered(self, keys: list[_Key]) -> QuerySet:
        queryset = self.queryset.annotate(
            **{self._name(i): key.expression for i, key in enumerate(self.keys)}
        )
        order = []
        for i, key in enumerate(keys):
            ref = F(self._name(i))
            if not key.nullable:
                order.append(ref.desc() if key.descending else ref.asc())
            elif key.nulls_last:
                order.append(
                    ref.desc(nulls_last=True) if key.descending else ref.asc(nulls_last=True)
                )
            else:
                order.append(
                    ref.desc(nulls_first=True) if key.descending else ref.asc(nulls_first=True)
                )
        return queryset.order_by(*order)

    def _output_field(self, queryset: QuerySet, i: int) -> Field:
        return queryset.query.annotations[self._name(i)].output_field

    def parse(self, values: list, queryset: QuerySet) -> list:
        """Values from a cursor, typed (``InvalidCursor`` when they do not fit the keys)."""
        if not isinstance(values, list) or len(values) != len(self.keys):
            raise InvalidCursor("The cursor does not fit this ordering.")
        out = []
        for i, value in enumerate(values):
            if value is None:
                if not self.keys[i].nullable:
                    raise InvalidCursor("The cursor does not fit this ordering.")
                out.append(None)
                continue
            if (
                isinstance(value, bool | dict | list)
                or isinstance(value, int)
                and abs(value) > 2**63 - 1  # no database column
                or isinstance(value, str)
                and ("\x00" in value or len(value) > 10_000)
            ):
                raise InvalidCursor("The cursor does not fit this ordering.")
            field = self._output_field(queryset, i)
            try:
                typed = field.to_python(value)
            except (ValidationError, TypeError, ValueError, ArithmeticError):
                raise InvalidCursor("The cursor does not fit this ordering.") from None
            if isinstance(typed, float) and not math.isfinite(typed):
                raise InvalidCursor("The cursor does not fit this ordering.")
            out.append(typed)
        return out

    def _after(self, keys: list[_Key], values: list) -> Q:
        """Rows strictly after ``values`` in the order of ``keys`` (lexicographic, NULLs
        where each key puts them)."""
        branches = []  # each: "equal on the keys before, then after on this one"
        equal = Q()
        for i, (key, value) in enumerate(zip(keys, values, strict=True)):
            name = self._name(i)
            if value is None:
                after = Q(**{f"{name}__isnull": False}) if not key.nulls_last else None
                same = Q(**{f"{name}__isnull": True})
            else:
                op = "lt" if key.descending else "gt"
                after = Q(**{f"{name}__{op}": value})
                if key.nullable and key.nulls_last:
                    after |= Q(**{f"{name}__isnull": True})
                same = Q(**{name: value})
            if after is not None:
                branches.append(equal & after)
            equal &= same
        # The primary key, last and never NULL, always gives a branch.
        condition = functools.reduce(operator.or_, branches)
        # The first key bounds an index range scan when it cannot be NULL.
        first, value = keys[0], values[0]
        if not first.nullable and value is not None and len(keys) > 1:
            op = "lte" if first.descending else "gte"
            condition &= Q(**{f"{self._name(0)}__{op}": value})
        return condition

    def page(self, *, size: int, after: list | None = None, backwards: bool = False) -> list:
        """Up to ``size + 1`` rows after ``after`` (the extra row says that more follow);
        ``backwards``: the rows before it, read in reverse order (nearest first)."""
        keys = [key.reversed() for key in self.keys] if backwards else self.keys
        queryset = self._ordered(keys)
        if after is not None:
            queryset = queryset.filter(self._after(keys, self.parse(after, queryset)))
        return list(queryset[: size + 1])

    def values_of(self, row) -> list:
        return [_jsonable(getattr(row, self._name(i))) for i in range(len(self.keys))]


def _jsonable(value):
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)
