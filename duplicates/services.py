"""Writes of duplicate detection: the incremental finder and "not a duplicate".

``duplicates_find`` looks only at the records changed since the last run started (every record
on the first run): it stores their blocking keys (``DuplicateKey``) and compares each with the
records sharing a key, in batches of ``BATCH`` records whose queries do not depend on how many
records there are. Pairs already dismissed stay dismissed.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from crm import db, permissions
from crm.errors import PermissionDenied, ValidationFailed
from crm.models import User
from crm.services import audit
from duplicates import matching, rules
from duplicates.models import DuplicateCandidate, DuplicateKey, DuplicateRun
from duplicates.rules import OVERLAP
from duplicates.sources import SOURCES, record_facts

logger = logging.getLogger(__name__)

BATCH = 1000


@dataclass
class FindResult:
    checked: int = 0
    pairs: int = 0
    seconds: float = 0.0
    by_type: dict[str, int] = field(default_factory=dict)
    full: bool = False


def last_run_started() -> datetime | None:
    """When the last finished run started: records changed since are not keyed yet."""
    run = DuplicateRun.objects.filter(finished_at__isnull=False).order_by("-started_at").first()
    return run.started_at if run else None


def duplicates_find(*, full: bool = False, batch: int = BATCH) -> FindResult:
    """Find candidate pairs among the records changed since the last run (``full``: all)."""
    started = time.monotonic()
    since = None if full else last_run_started()
    run = DuplicateRun.objects.create(full=since is None)
    result = FindResult(full=since is None)
    for record_type in rules.RECORD_TYPES:
        model = SOURCES[record_type].model
        changed = model.all_objects.order_by("pk")
        if since is not None:
            changed = changed.filter(updated_at__gte=since - OVERLAP)
        ids = list(changed.values_list("pk", flat=True))
        for start in range(0, len(ids), batch):
            result.pairs += _find_batch(record_type, ids[start : start + batch])
        result.by_type[record_type] = len(ids)
        result.checked += len(ids)
    run.finished_at = timezone.now()
    run.records_checked, run.pairs_found = result.checked, result.pairs
    run.save(update_fields=["finished_at", "records_checked", "pairs_found"])
    result.seconds = time.monotonic() - started
    logger.info(
        "Duplicates: %s records checked, %s pairs in %.1f s",
        result.checked,
        result.pairs,
        result.seconds,
    )
    return result


@transaction.atomic
def _find_batch(record_type: str, ids: list) -> int:
    """Re-key ``ids`` (records of one type) and store the pairs they are part of."""
    facts = SOURCES[record_type].facts(ids)  # live ones only: the others lose keys and pairs
    DuplicateKey.objects.filter(record_type=record_type, record_id__in=ids).delete()
    db.insert_rows(
        DuplicateKey,
        ["record_type", "record_id", "rule", "value"],
        (
            (record_type, pk, rule, value[:255])
            for pk, f in facts.items()
            for rule, value in sorted(f.stored_keys())
        ),
    )
    DuplicateCandidate.objects.filter(
        Q(first_id__in=ids) | Q(second_id__in=ids), dismissed_at__isnull=True
    ).delete()
    found = matching.find(list(facts.values()), loaded={record_type: facts})
    now = timezone.now()
    pairs: dict[tuple, DuplicateCandidate] = {}
    for item in found:
        candidate = _candidate(item.facts, item.other, item.match, now)
        key = (candidate.kind, candidate.first_id, candidate.second_id)
        pairs.setdefault(key, candidate)
    if pairs:
        DuplicateCandidate.objects.bulk_create(
            pairs.values(),
            batch_size=1000,
            update_conflicts=True,
            unique_fields=["kind", "first_id", "second_id"],
            update_fields=["score", "reasons", "found_at"],
        )
    return len(pairs)


def ordered(a: rules.Facts, b: rules.Facts) -> tuple[rules.Facts, rules.Facts]:
    """A pair's order: of one type, the smaller id first; else the lead first."""
    if a.type == b.type:
        return (a, b) if str(a.id) < str(b.id) else (b, a)
    return (a, b) if a.type == rules.LEAD else (b, a)


def _candidate(a: rules.Facts, b: rules.Facts, match: rules.Match, now) -> DuplicateCandidate:
    first, second = ordered(a, b)
    return DuplicateCandidate(
        kind=rules.pair_kind(first.type, second.type),
        first_type=first.type,
        first_id=first.id,
        second_type=second.type,
        second_id=second.id,
        score=match.score,
        reasons=match.reasons,
        found_at=now,
    )


@transaction.atomic
def candidate_dismiss(*, by: User, candidate: DuplicateCandidate) -> DuplicateCandidate:
    """Mark a pair "not a duplicate": it is shown no more, and later runs keep it dismissed.
    ``by`` must be allowed to change both records."""
    records = [_record(candidate.first_type, candidate.first_id)]
    records.append(_record(candidate.second_type, candidate.second_id))
    if any(r is None or not permissions.can_change(by, r) for r in records):
        raise PermissionDenied("You may not change both of these records.")
    if candidate.dismissed_at is None:
        candidate.dismissed_at = timezone.now()
        candidate.dismissed_by = by
        candidate.save(update_fields=["dismissed_at", "dismissed_by"])
        audit(by=by, action="duplicate.dismissed", obj=records[0], other=str(candidate.second_id))
    return candidate


@transaction.atomic
def pair_dismiss(*, by: User, first, second) -> DuplicateCandidate:
    """Mark two records (as loaded by the caller) "not a duplicate", whether or not a run
    has stored them as a pair yet."""
    a, b = record_facts(first), record_facts(second)
    if not rules.pair_kind(a.type, b.type) or a.id == b.id:
        raise ValidationFailed("These two records cannot be duplicates of each other.")
    match = rules.compare(a, b) or rules.Match(score=0)
    candidate = _candidate(a, b, match, timezone.now())
    stored, _ = DuplicateCandidate.objects.get_or_create(
        kind=candidate.kind,
        first_id=candidate.first_id,
        second_id=candidate.second_id,
        defaults={
            "first_type": candidate.first_type,
            "second_type": candidate.second_type,
            "score": candidate.score,
            "reasons": candidate.reasons,
        },
    )
    return candidate_dismiss(by=by, candidate=stored)


def _record(record_type: str, pk):
    return SOURCES[record_type].model.objects.filter(pk=pk).first()


def records_forget(*, record_type: str, ids) -> int:
    """Drop what the finder holds on these records (their keys and pairs): an anonymized
    record's normalised email, phone and name are personal data. A later run finds the
    records again from what they hold then."""
    ids = list(ids)
    keys, _ = DuplicateKey.objects.filter(record_type=record_type, record_id__in=ids).delete()
    pairs, _ = DuplicateCandidate.objects.filter(
        Q(first_type=record_type, first_id__in=ids) | Q(second_type=record_type, second_id__in=ids)
    ).delete()
    return keys + pairs
