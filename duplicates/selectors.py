"""Reads of duplicate detection. Every answer holds only records the user may see
(``crm.permissions.visible``), and never a pair someone marked "not a duplicate".

- ``duplicates_for``: the records alike one record, now (its detail page, the API);
- ``candidates_for_data``: the records alike a form's data before it is saved;
- ``candidate_groups``: the stored pairs of one record type as groups, for the Duplicates page.
"""

from __future__ import annotations

import contextlib
import dataclasses
import uuid
from dataclasses import dataclass, field

from django.conf import settings
from django.core.paginator import Page, Paginator
from django.db.models import Model, Q
from django.urls import NoReverseMatch, reverse

from crm import permissions
from crm.models import User
from duplicates import matching, rules
from duplicates.models import DuplicateCandidate, DuplicateRun
from duplicates.rules import OVERLAP
from duplicates.sources import SOURCES, form_facts, record_facts

# The record types the Duplicates page has a tab for, and the pair kinds each tab lists.
PAGE_KINDS = {
    rules.LEAD: (DuplicateCandidate.Kind.LEAD, DuplicateCandidate.Kind.LEAD_PERSON),
    rules.PERSON: (DuplicateCandidate.Kind.PERSON,),
    rules.ORGANIZATION: (DuplicateCandidate.Kind.ORGANIZATION,),
}
DETAIL_URLS = {
    rules.LEAD: "leads:detail",
    rules.PERSON: "crm:person_detail",
    rules.ORGANIZATION: "crm:organization_detail",
}
# The merge screens (URL names; until one exists, no merge link is shown).
MERGE_URLS = {
    rules.LEAD: "leads:merge",
    rules.PERSON: "crm:person_merge",
    rules.ORGANIZATION: "crm:organization_merge",
}
LIVE_LIMIT = 10  # candidates shown for one record or form


@dataclass
class Candidate:
    """A record alike the one asked about."""

    type: str
    record: Model
    score: int
    reasons: list[dict]

    @property
    def url(self) -> str:
        return reverse(DETAIL_URLS[self.type], args=[self.record.pk])

    @property
    def type_label(self) -> str:
        return SOURCES[self.type].model._meta.verbose_name.capitalize()

    @property
    def label(self) -> str:
        return str(self.record)


def may_review(user: User, record_type: str) -> bool:
    """The Duplicates page of a record type: for users who may change every record of it
    (managers, administrators)."""
    return permissions.has_all_access(user, SOURCES[record_type].model, "change")


def merge_url(record_type: str, ids) -> str:
    """The merge screen for ``ids`` (``?ids=a,b``), or "" while there is none."""
    try:
        url = reverse(MERGE_URLS[record_type])
    except NoReverseMatch:
        return ""
    return f"{url}?ids={','.join(str(i) for i in ids)}"


def _fresh(facts: rules.Facts, *, types, kinds) -> dict[str, dict]:
    """The facts of the records changed since the last run started (their keys may not be
    stored yet) that could pair with ``facts``, the newest ``DUPLICATE_LIVE_FRESH`` of each
    type: one query per such type."""
    started = (
        DuplicateRun.objects.filter(finished_at__isnull=False)
        .order_by("-started_at")
        .values_list("started_at", flat=True)
        .first()
    )
    # As far back as the next run will look (``rules.OVERLAP`` before the last start); before
    # any run, the newest of all. A plain range (not an OR with "no run yet"), so that the
    # ``updated_at`` index reads just those rows.
    changed = Q(updated_at__gte=started - OVERLAP) if started is not None else Q()
    limit = settings.DUPLICATE_LIVE_FRESH
    return {
        t: SOURCES[t].recent(changed, limit)
        for t in rules.RECORD_TYPES
        if (types is None or t in types) and rules.pair_kind(facts.type, t) in kinds
    }


def _dismissed(facts: rules.Facts, others: list[rules.Facts]) -> set:
    """The ids among ``others`` dismissed as duplicates of ``facts``."""
    if facts.id is None or not others:
        return set()
    ids = [o.id for o in others]
    rows = DuplicateCandidate.objects.filter(dismissed_at__isnull=False).filter(
        Q(first_id=facts.id, second_id__in=ids) | Q(second_id=facts.id, first_id__in=ids)
    )
    return {b if a == facts.id else a for a, b in rows.values_list("first_id", "second_id")}


def _candidates(user: User, facts: rules.Facts, *, types=None) -> list[Candidate]:
    kinds = rules.DUPLICATE_KINDS
    if types is not None:  # e.g. the convert modal: a lead's organization too
        kinds = kinds | {"lead_organization"}
        types = frozenset(types)
    fresh = _fresh(facts, types=types, kinds=kinds)
    found = matching.find([facts], fresh=fresh, types=types, kinds=kinds)
    dismissed = _dismissed(facts, [f.other for f in found])
    found = [f for f in found if f.other.id not in dismissed]
    found.sort(key=lambda f: (-f.match.score, str(f.other.id)))
    by_type: dict[str, list] = {}
    for f in found:
        by_type.setdefault(f.other.type, []).append(f.other.id)
    visible: dict[tuple[str, object], Model] = {}
    for record_type, ids in by_type.items():
        model = SOURCES[record_type].model
        qs = model.objects.filter(pk__in=ids)
        if record_type == rules.PERSON:
            qs = qs.select_related("organization")
        for record in permissions.visible(user, qs):
            visible[(record_type, record.pk)] = record
    out = [
        Candidate(f.other.type, visible[(f.other.type, f.other.id)], f.match.score, f.match.reasons)
        for f in found
        if (f.other.type, f.other.id) in visible
    ]
    return out[:LIVE_LIMIT]


def duplicates_for(*, user: User, record: Model, types=None) -> list[Candidate]:
    """The records ``user`` may see that look like ``record`` (a lead, person or
    organization), best first. A lead's list holds people too; ``types``: only records of
    these types, organizations included for a lead (what the convert modal offers)."""
    return _candidates(user, record_facts(record), types=types)


def candidates_for_data(
    *, user: User, kind: str, data, exclude_id=None, types=None
) -> list[Candidate]:
    """The records ``user`` may see that look like a form's data (``kind``: lead, person or
    organization), before it is saved; ``exclude_id``: the record being edited."""
    facts = form_facts(kind, data)
    if exclude_id:
        with contextlib.suppress(ValueError):  # not an id: nothing to leave out
            facts = dataclasses.replace(facts, id=uuid.UUID(str(exclude_id)))
    if not facts.blocking_keys():
        return []
    return _candidates(user, facts, types=types)


# --- the Duplicates page ---------------------------------------------------------------------
@dataclass
class Group:
    """Records linked by candidate pairs (A ~ B, B ~ C: one group of three)."""

    records: list[tuple[str, Model]] = field(default_factory=list)
    pairs: list[dict] = field(default_factory=list)
    score: int = 0

    @property
    def merge_url(self) -> str:
        types = {t for t, _ in self.records}
        if len(types) != 1:
            return ""
        return merge_url(types.pop(), [r.pk for _, r in self.records])


def candidate_groups(*, user: User, record_type: str, page: int = 1, per_page: int = 20) -> Page:
    """The stored, undismissed pairs of ``record_type``'s tab as groups, best first, with
    their records; groups with a record ``user`` may not see are left out. Queries: the
    pairs' ids, one per record type on the page, and one for the page's pairs."""
    kinds = PAGE_KINDS[record_type]
    pairs = DuplicateCandidate.objects.filter(kind__in=kinds, dismissed_at__isnull=True)
    edges = list(
        pairs.order_by("-score").values_list(
            "pk", "first_type", "first_id", "second_type", "second_id", "score"
        )[: settings.DUPLICATE_PAGE_MAX_PAIRS]
    )
    parent: dict = {}

    def root(node):
        while parent.setdefault(node, node) != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for _, at, a, bt, b, _ in edges:
        parent[root((bt, b))] = root((at, a))
    members: dict = {}  # root → {member: None}, an ordered set
    best: dict = {}
    pair_ids: dict = {}
    for pk, at, a, bt, b, score in edges:
        r = root((at, a))
        members.setdefault(r, {}).update({(at, a): None, (bt, b): None})
        best[r] = max(best.get(r, 0), score)
        pair_ids.setdefault(r, []).append(pk)
    order = sorted(members, key=lambda r: (-best[r], str(r[1])))
    paginator = Paginator(order, per_page)
    page_obj = paginator.get_page(page)
    wanted: dict[str, set] = {}
    for r in page_obj.object_list:
        for t, pk in members[r]:
            wanted.setdefault(t, set()).add(pk)
    records: dict = {}
    for t, ids in wanted.items():
        qs = SOURCES[t].model.objects.filter(pk__in=ids).select_related("owner")
        for record in permissions.visible(user, qs):
            records[(t, record.pk)] = record
    page_pairs = {
        c.pk: c
        for c in DuplicateCandidate.objects.filter(
            pk__in=[pk for r in page_obj.object_list for pk in pair_ids[r]]
        )
    }
    groups = []
    for r in page_obj.object_list:
        if any(m not in records for m in members[r]):
            continue  # a record deleted since, or one the user may not see
        group = Group(score=best[r])
        group.records = [(t, records[(t, pk)]) for t, pk in members[r]]
        for pk in pair_ids[r]:
            c = page_pairs[pk]
            group.pairs.append(
                {
                    "candidate": c,
                    "first": records[(c.first_type, c.first_id)],
                    "second": records[(c.second_type, c.second_id)],
                }
            )
        groups.append(group)
    page_obj.object_list = groups
    return page_obj


def candidate_get(*, user: User, candidate_id) -> DuplicateCandidate:
    from crm.errors import NotFound

    try:
        candidate = DuplicateCandidate.objects.filter(pk=int(candidate_id)).first()
    except (TypeError, ValueError):
        candidate = None
    if candidate is None:
        raise NotFound("No such duplicate candidate.")
    for t, pk in (
        (candidate.first_type, candidate.first_id),
        (candidate.second_type, candidate.second_id),
    ):
        qs = SOURCES[t].model.objects.filter(pk=pk)
        if not permissions.visible(user, qs).exists():
            raise NotFound("No such duplicate candidate.")
    return candidate


def record_get(*, user: User, record_type: str, pk, action: permissions.Action = "view") -> Model:
    """One lead, person or organization ``user`` may ``action`` (404 / 403 otherwise)."""
    from crm.selectors import get_visible

    model = SOURCES[record_type].model
    return get_visible(user=user, queryset=model.objects.all(), pk=pk, action=action)
