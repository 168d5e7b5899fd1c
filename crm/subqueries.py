"""Reading a few rows picked by several small "first N" subqueries in one query."""

from __future__ import annotations

from functools import reduce
from operator import or_

from django.db import connections
from django.db.models import Q, QuerySet


def pk_in_any(*picks: QuerySet) -> Q:
    """Rows whose primary key is in any of ``picks`` (each a sliced ``values("pk")``
    queryset, e.g. an index-ordered ``[:8]``).

    Where the database takes ordered, limited members in a compound statement (PostgreSQL),
    the picks become one ``UNION ALL``: the planner reads its few keys and fetches them by
    primary key. An ``OR`` of ``IN`` subqueries instead makes PostgreSQL scan the whole table
    and probe each row against the hashed picks (measured: 150 ms on 100,000 leads for 16
    rows). SQLite refuses a ``LIMIT`` inside a compound member, and its tables are small:
    there the picks are OR-ed.
    """
    first, *rest = picks
    if rest and connections[first.db].features.supports_slicing_ordering_in_compound:
        return Q(pk__in=first.union(*rest, all=True))
    return reduce(or_, (Q(pk__in=pick) for pick in picks))
