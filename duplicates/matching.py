"""Blocking: which stored records share a key with some given facts, and how alike they are.

The finder (``services.duplicates_find``) and the live checks (``selectors``) both ask here. A
key shared by more than ``settings.DUPLICATE_MAX_BLOCK`` records (a big customer's domain, a
common company word) is no evidence and is skipped, which bounds the work per record.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Count, F, Q, Window

from duplicates import rules
from duplicates.models import DuplicateKey
from duplicates.sources import SOURCES

# Which keys lead to which comparisons: contact data between leads and people, the company
# between anything and an organization.
PERSON_RULES = frozenset({"email", "phone", "name"})
ORGANIZATION_RULES = frozenset({"domain", "company"})


@dataclass(frozen=True)
class Found:
    """``facts`` (given) is alike ``other`` (stored)."""

    facts: rules.Facts
    other: rules.Facts
    match: rules.Match


def _useful(rule: str, a_type: str, b_type: str, kinds) -> bool:
    if rules.pair_kind(a_type, b_type) not in kinds:
        return False
    has_org = rules.ORGANIZATION in (a_type, b_type)
    return rule in (ORGANIZATION_RULES if has_org else PERSON_RULES)


def holder_types(
    rule: str, facts_type: str, *, types: frozenset[str] | None, kinds: frozenset[str]
) -> frozenset[str]:
    """The record types whose stored ``rule`` keys may make a pair with a ``facts_type``."""
    return frozenset(
        t
        for t in rules.RECORD_TYPES
        if rule in rules.HELD_RULES[t]
        and (types is None or t in types)
        and _useful(rule, facts_type, t, kinds)
    )


def shared_keys(
    keys: Iterable[tuple[str, str, frozenset[str]]],
) -> list[tuple[str, str, str, object]]:
    """The stored keys equal to one of ``keys`` (rule, value, the record types wanted), blocks
    too big to mean anything left out: ``[(rule, value, record_type, record_id)]``. One
    query."""
    grouped: dict[tuple[str, frozenset[str]], set[str]] = defaultdict(set)
    for rule, value, holders in keys:
        if holders:
            grouped[(rule, holders)].add(value)
    if not grouped:
        return []
    where = Q()
    for (rule, holders), values in grouped.items():
        where |= Q(rule=rule, value__in=sorted(values), record_type__in=sorted(holders))
    # One query: each row counts the rows of its block (a window), and big blocks are left
    # out in the database.
    block = Window(Count("id"), partition_by=[F("rule"), F("value")])
    rows = (
        DuplicateKey.objects.filter(where)
        .annotate(block=block)
        .filter(block__lte=settings.DUPLICATE_MAX_BLOCK)
    )
    return list(rows.values_list("rule", "value", "record_type", "record_id"))


def find(
    facts_list: list[rules.Facts],
    *,
    loaded: dict[str, dict] | None = None,
    fresh: dict[str, dict] | None = None,
    min_score: int | None = None,
    types: frozenset[str] | None = None,
    kinds: frozenset[str] = rules.DUPLICATE_KINDS,
) -> list[Found]:
    """Every stored record alike one of ``facts_list`` (itself excepted), scoring at least
    ``min_score`` (default ``settings.DUPLICATE_MIN_SCORE``). ``loaded``: facts already known
    by type and id (not read again); ``fresh``: facts of records whose keys are not stored
    yet (changed since the last run), compared with every given facts directly; ``types``:
    only records of these types; ``kinds``: only pairs of these kinds. Queries: two,
    plus one per record type with candidates to read."""
    min_score = settings.DUPLICATE_MIN_SCORE if min_score is None else min_score
    keyed = [(f, f.blocking_keys()) for f in facts_list]
    rows = shared_keys(
        (rule, value, holder_types(rule, f.type, types=types, kinds=kinds))
        for f, ks in keyed
        for rule, value in ks
    )
    holders: dict[tuple[str, str], list[tuple[str, object]]] = defaultdict(list)
    for rule, value, record_type, record_id in rows:
        holders[(rule, value)].append((record_type, record_id))

    fresh = fresh or {}
    fresh_ids = {pk for by_id in fresh.values() for pk in by_id}
    wanted: dict[tuple, set[tuple[str, object]]] = {}
    need: dict[str, set] = defaultdict(set)
    loaded = {t: dict(v) for t, v in (loaded or {}).items()}
    for facts, keys in keyed:
        others: set[tuple[str, object]] = set()
        for key in keys:
            for record_type, record_id in holders.get(key, ()):
                if record_id == facts.id or record_id in fresh_ids:
                    continue  # itself; a fresh record is compared below, with its new facts
                if (types is None or record_type in types) and _useful(
                    key[0], facts.type, record_type, kinds
                ):
                    others.add((record_type, record_id))
        for record_type, by_id in fresh.items():
            if types is not None and record_type not in types:
                continue
            for record_id, other in by_id.items():
                if record_id != facts.id and rules.pair_kind(facts.type, record_type) in kinds:
                    others.add((record_type, record_id))
                    loaded.setdefault(record_type, {})[record_id] = other
        wanted[(facts.type, facts.id, id(facts))] = others
        for record_type, record_id in others:
            if record_id not in loaded.get(record_type, {}):
                need[record_type].add(record_id)
    for record_type, ids in need.items():
        loaded.setdefault(record_type, {}).update(SOURCES[record_type].facts(ids))

    found: list[Found] = []
    for facts, _ in keyed:
        for record_type, record_id in wanted[(facts.type, facts.id, id(facts))]:
            other = loaded.get(record_type, {}).get(record_id)
            if other is None:  # deleted, converted or anonymised since its keys were stored
                continue
            match = rules.compare(facts, other)
            if match is not None and match.score >= min_score:
                found.append(Found(facts, other, match))
    return found
