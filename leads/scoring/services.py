"""Writes of scoring: rescore one lead or many, the score history, ``lead.score_changed`` and
auto-qualification.

One code path serves a single lead (event handlers, the Recalculate button, the API) and every
lead (the command, the nightly task): batches of leads are read with one query
(``leads.scoring.inputs``), scored in Python (``leads.scoring.factors``) and written with one
UPDATE, one insert of snapshots and one of outbox events (the latter two for the leads whose
score moved; the events through ``crm.events.emit_many``, like every event). Small batches are
written row by row; on PostgreSQL a large batch is streamed with COPY into a temporary table
and the scores and snapshots are set-based statements from it.
"""

from __future__ import annotations

import contextvars
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.db.models import F, QuerySet, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from crm import db, events
from crm import services as crm_services
from crm.errors import DomainError
from crm.models import Event, User
from leads.models import AutoQualification, Lead, LeadScoreSnapshot
from leads.scoring import selectors
from leads.scoring.factors import Scorer, Settings
from leads.scoring.inputs import LeadRow, iter_batches, lead_rows, new_lead_rows

logger = logging.getLogger(__name__)

BATCH_SIZE = 2000
SNAPSHOTS_KEPT = 60  # per lead: enough for the sparkline and a few months of changes
RESCORE_DELAY_SECONDS = 5  # a burst of events within this delay rescores a lead once
LOOKAHEAD = timedelta(minutes=10)
SCORE_FIELDS = ("lead_score", "lead_score_factors", "score_updated_at")
SCORE_CHANGED = "lead.score_changed"
QUALIFICATION_FIELDS = ("is_qualified", "qualified_at", "qualified_by", "qualification_notes")


@dataclass
class RescoreResult:
    scored: int = 0
    changed: int = 0
    auto_qualified: list[Any] = field(default_factory=list)
    event_ids: list[int] = field(default_factory=list)
    seconds: float = 0.0


def open_leads() -> QuerySet[Lead]:
    """The leads the nightly rescore and the events look after: live, not converted, not in
    a final step (a finished lead keeps the score it finished with)."""
    return Lead.objects.filter(converted_at__isnull=True, wfm_project__current_step__is_final=False)


@transaction.atomic
def lead_rescore(
    *, by: User | None, lead: Lead, now: datetime | None = None, settings: Settings | None = None
) -> Lead:
    """Recompute one lead's score and breakdown now and store them (any live lead, finished
    ones included: an explicit request). Updates ``lead`` in place and returns it."""
    result = rescore_leads(Lead.objects.filter(pk=lead.pk), by=by, now=now, settings=settings)
    lead.refresh_from_db(fields=[*SCORE_FIELDS, *QUALIFICATION_FIELDS])
    if result.auto_qualified:
        lead.wfm_project.refresh_from_db()
    return lead


def rescore_leads(
    queryset: QuerySet[Lead] | None = None,
    *,
    by: User | None = None,
    now: datetime | None = None,
    settings: Settings | None = None,
    batch_size: int = BATCH_SIZE,
    dispatch_events: bool = True,
    progress: Callable[[int, int], None] | None = None,
    total: int | None = None,
    pipeline: bool | None = None,
) -> RescoreResult:
    """Rescore the leads of ``queryset`` (default: the open leads), batch by batch, each batch
    written in its own transaction.

    For every lead whose score moved: a snapshot and a ``lead.score_changed`` event (written
    to the outbox in bulk; ``dispatch_events=False`` leaves them for the re-dispatch task).
    Leads reaching the profile's threshold before the qualified step are auto-qualified.
    ``progress(done, total)`` is called after each batch is stored.

    ``pipeline`` (default: on PostgreSQL, outside a transaction): a second thread with its
    own connection stores each batch while this one reads and scores the next, so that the
    database's work and Python's overlap.
    """
    started = time.perf_counter()
    job = _RescoreJob(
        by=by,
        now=now or timezone.now(),
        settings=settings or selectors.active_settings(),
        dispatch_events=dispatch_events,
        progress=progress,
        total=total,
    )
    queryset = open_leads() if queryset is None else queryset
    batches = (
        _scored(job, rows) for rows in iter_batches(queryset, batch_size, job.settings, job.now)
    )
    if pipeline is None:
        pipeline = connection.vendor == "postgresql" and not connection.in_atomic_block
    if pipeline:
        _run_pipelined(job, batches)
    else:
        for batch in batches:
            job.store(batch)
    job.result.seconds = time.perf_counter() - started
    return job.result


@dataclass
class NewScores:
    """The scores given to leads before they were saved (``score_new_leads``)."""

    rows: list[LeadRow]
    settings: Settings
    now: datetime


def score_new_leads(leads: list[Lead], *, now: datetime) -> NewScores:
    """Score leads built but not saved yet (``leads.services.lead_create_many``): their score
    fields are set, so that they are inserted scored rather than inserted, read back and
    updated (a second write of every row and all its indexes). Once they are saved,
    ``record_new_scores`` does the rest of what a rescore does."""
    settings = selectors.active_settings()
    scorer = Scorer(settings, now)
    rows = new_lead_rows(leads, settings, now)
    for lead, row in zip(leads, rows, strict=True):
        row.new_score, factors, row.document = scorer.score(row.inputs)
        lead.lead_score, lead.lead_score_factors, lead.score_updated_at = (
            row.new_score,
            factors,
            now,
        )
    return NewScores(rows=rows, settings=settings, now=now)


def record_new_scores(scores: NewScores, *, by: User | None) -> RescoreResult:
    """For leads saved with the scores of ``score_new_leads``, what a rescore writes besides
    the scores: a snapshot and a ``lead.score_changed`` event per score that moved from the
    initial 0, and auto-qualification."""
    changes = [row for row in scores.rows if row.new_score != row.old_score]
    db.insert(
        LeadScoreSnapshot,
        [LeadScoreSnapshot(lead_id=row.id, score=row.new_score, at=scores.now) for row in changes],
    )
    result = RescoreResult(scored=len(scores.rows), changed=len(changes))
    result.event_ids = _emit_score_changes(changes, by, dispatch=True)
    _auto_qualify(scores.rows, scores.settings, selectors.qualified_step_orders(), result)
    return result


class _RescoreJob:
    """One rescore run: what the reading side and the storing side share."""

    def __init__(self, *, by, now, settings, dispatch_events, progress, total):
        self.by = by
        self.now = now
        self.settings = settings
        self.scorer = Scorer(settings, now)
        self.qualified_orders = selectors.qualified_step_orders()
        self.dispatch_events = dispatch_events
        self.progress = progress
        self.total = total
        self.result = RescoreResult()

    def store(self, batch: list[LeadRow]) -> None:
        """Write one scored batch in its own transaction (see ``rescore_leads``)."""
        with transaction.atomic():
            if connection.vendor == "postgresql" and len(batch) >= COPY_FROM:
                # Scores can always be recomputed: a bulk batch need not wait for its WAL
                # to reach the disk (a crash loses at most the last batches' scores).
                # JIT compilation (tens of ms) never pays off for these per-batch statements.
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL synchronous_commit TO OFF")
                    cursor.execute("SET LOCAL jit TO OFF")
                changes = _store_by_copy(batch, self.now)
            else:
                changes = _store_by_rows(batch, self.now)
            event_ids = _emit_score_changes(changes, self.by, dispatch=self.dispatch_events)
            self.result.scored += len(batch)
            self.result.changed += len(changes)
            self.result.event_ids.extend(event_ids)
            _auto_qualify(batch, self.settings, self.qualified_orders, self.result)
        if self.progress is not None:
            done = self.result.scored
            self.progress(done, self.total if self.total is not None else done)


def _scored(job: _RescoreJob, rows: list[dict]) -> list[LeadRow]:
    batch = lead_rows(rows, job.settings)
    for row in batch:
        row.new_score, _, row.document = job.scorer.score(row.inputs, as_dict=False)
    return batch


def _run_pipelined(job: _RescoreJob, batches) -> None:
    """Store batches on a writer thread while this thread reads and scores the next."""
    pending: queue.Queue = queue.Queue(maxsize=2)
    failure: list[BaseException] = []

    def store_all() -> None:
        try:
            while (batch := pending.get()) is not None:
                if not failure:
                    job.store(batch)
        except BaseException as exc:  # re-raised on the reading thread
            failure.append(exc)
            while pending.get() is not None:  # let the reader finish its puts
                pass
        finally:
            connection.close()  # the writer thread's own connection

    # The writer runs in a copy of this thread's context, so the events it emits carry the
    # same tags (``crm.events`` payload hooks read context variables).
    context = contextvars.copy_context()
    writer = threading.Thread(
        target=context.run, args=(store_all,), name="rescore-writer", daemon=True
    )
    writer.start()
    try:
        for batch in batches:
            if failure:
                break
            pending.put(batch)
    finally:
        pending.put(None)
        writer.join()
    if failure:
        raise failure[0]


COPY_FROM = 200  # batches at least this large go through COPY on PostgreSQL


def _store_by_rows(batch: list[LeadRow], now: datetime) -> list[LeadRow]:
    """Store a batch row by row (small batches, and other databases than PostgreSQL): the
    scores, then for the leads whose score moved a snapshot. Returns those leads."""
    write_scores([(row.id, row.new_score, row.document) for row in batch], now)
    changes = [row for row in batch if row.new_score != row.old_score]
    if not changes:
        return []
    LeadScoreSnapshot.objects.bulk_create(
        LeadScoreSnapshot(lead_id=row.id, score=row.new_score, at=now) for row in changes
    )
    _prune_snapshots([row.id for row in changes])
    return changes


def _emit_score_changes(changes: list[LeadRow], by: User | None, *, dispatch: bool) -> list[int]:
    """One ``lead.score_changed`` per moved score, through the outbox's bulk form (one
    INSERT); after commit one task dispatches them (unless ``dispatch`` is off)."""
    if not changes:
        return []
    return events.emit_many(
        SCORE_CHANGED,
        (
            {"lead_id": str(row.id), "old": row.old_score, "new": row.new_score}
            for row in sorted(changes, key=lambda row: row.id)
        ),
        actor=by,
        dispatch=dispatch,
    )


def write_scores(updates: list[tuple[Any, int, str]], at: datetime) -> None:
    """Store ``(lead id, score, breakdown as JSON)`` rows, one prepared UPDATE per row
    (``executemany``).

    Not ``save()`` nor ``bulk_update``: no history row and no ``updated_at`` for a score (it
    is not an edit), and ``bulk_update``'s CASE per row is quadratic on large batches.
    """
    if not updates:
        return
    table = connection.ops.quote_name(Lead._meta.db_table)
    at_value = Lead._meta.get_field("score_updated_at").get_db_prep_value(at, connection)
    id_field = Lead._meta.pk
    rows = [
        (score, factors, at_value, id_field.get_db_prep_value(lead_id, connection))
        for lead_id, score, factors in updates
    ]
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {table} SET lead_score = %s, lead_score_factors = %s, "
            "score_updated_at = %s WHERE id = %s",
            rows,
        )


# The batch as streamed by COPY: one temporary table per connection, emptied after each batch.
BATCH_TABLE = "lead_rescore_batch"


def _store_by_copy(batch: list[LeadRow], now: datetime) -> list[LeadRow]:
    """PostgreSQL, large batches: what ``_store_by_rows`` does, set-based.

    The batch is streamed with COPY into a temporary table; then one UPDATE … FROM stores the
    scores, one INSERT … SELECT the snapshots of the moved scores and one DELETE prunes their
    histories. No statement per lead, and no Python between the statements. Returns the leads
    whose score moved (the same test as the SELECT's).
    """
    q = connection.ops.quote_name
    snapshot = LeadScoreSnapshot._meta
    lead_table, snapshot_table = q(Lead._meta.db_table), q(snapshot.db_table)
    snapshot_lead = q(snapshot.get_field("lead").column)
    at_value = Lead._meta.get_field("score_updated_at").get_db_prep_value(now, connection)
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {BATCH_TABLE} "
            "(id uuid, score smallint, old_score smallint, factors jsonb)"
        )
        with cursor.cursor.copy(
            f"COPY {BATCH_TABLE} (id, score, old_score, factors) FROM STDIN"
        ) as copy:
            for row in batch:
                copy.write_row((row.id, row.new_score, row.old_score, row.document))
        # A temporary table has no statistics until analyzed: the planner then guesses
        # thousands of rows and joins by scanning the whole leads table once per batch
        # (70 ms of an 85 ms statement on 100k leads). With its row count known, it walks
        # the primary key index over the batch instead.
        cursor.execute(f"ANALYZE {BATCH_TABLE} (id)")
        cursor.execute(
            f"UPDATE {lead_table} AS l SET lead_score = b.score, lead_score_factors = b.factors, "
            f"score_updated_at = %s FROM {BATCH_TABLE} AS b WHERE l.id = b.id",
            [at_value],
        )
        moved = f"SELECT id, score, old_score FROM {BATCH_TABLE} WHERE score <> old_score"
        cursor.execute(
            f"INSERT INTO {snapshot_table} ({snapshot_lead}, score, at) "
            f"SELECT id, score, %s FROM ({moved}) AS m",
            [at_value],
        )
        if cursor.rowcount:
            # Per moved lead, its snapshots beyond the newest SNAPSHOTS_KEPT, found through
            # the (lead, -at) index (LATERAL: a lookup per lead whatever the table's
            # statistics say), then deleted by primary key.
            cursor.execute(
                f"DELETE FROM {snapshot_table} WHERE id = ANY(ARRAY("
                f"SELECT old.id FROM ({moved}) AS m CROSS JOIN LATERAL ("
                f"SELECT c.id FROM {snapshot_table} AS c WHERE c.{snapshot_lead} = m.id "
                "ORDER BY c.at DESC, c.id DESC OFFSET %s) AS old))",
                [SNAPSHOTS_KEPT],
            )
        cursor.execute(f"TRUNCATE {BATCH_TABLE}")
    return [row for row in batch if row.new_score != row.old_score]


def _prune_snapshots(lead_ids: list[Any]) -> None:
    """Keep the newest ``SNAPSHOTS_KEPT`` snapshots of each lead (one statement)."""
    ranked = (
        LeadScoreSnapshot.objects.filter(lead_id__in=lead_ids)
        .annotate(
            rank=Window(RowNumber(), partition_by=[F("lead_id")], order_by=[F("at").desc(), "-pk"])
        )
        .filter(rank__gt=SNAPSHOTS_KEPT)
        .values("pk")
    )
    ids = list(ranked)
    if ids:
        LeadScoreSnapshot.objects.filter(pk__in=[r["pk"] for r in ids]).delete()


# --- auto-qualification -------------------------------------------------------------------------
def auto_qualify_reason(score: int, threshold: int) -> str:
    return f"Auto-qualified: score {score} ≥ {threshold}"


def _auto_qualify(
    batch: list[LeadRow],
    settings: Settings,
    qualified_orders: dict[int, int],
    result: RescoreResult,
) -> None:
    threshold = settings.auto_qualify_threshold
    if threshold is None:
        return
    candidates = {
        row.id: row
        for row in batch
        if row.new_score >= threshold
        and not row.is_qualified
        and not row.is_converted
        and not row.step_is_final
        and row.workflow_id in qualified_orders
        and row.step_order < qualified_orders[row.workflow_id]
    }
    if not candidates:
        return
    done_before = set(
        AutoQualification.objects.filter(lead_id__in=list(candidates)).values_list(
            "lead_id", flat=True
        )
    )
    for lead_id, row in candidates.items():
        if lead_id not in done_before and lead_auto_qualify(
            lead_id=lead_id, score=row.new_score, threshold=threshold
        ):
            result.auto_qualified.append(lead_id)


def lead_auto_qualify(*, lead_id, score: int, threshold: int) -> bool:
    """Qualify a lead as the system because its score reached ``threshold``: it moves to the
    qualified step through the WFM service with the reason in its history. At most once per
    lead (``AutoQualification`` is unique per lead). False when it could not (a guard of the
    qualified step refused, the lead changed meanwhile): the next rescore tries again."""
    from leads import services as lead_services

    reason = auto_qualify_reason(score, threshold)
    try:
        with transaction.atomic():
            AutoQualification.objects.create(lead_id=lead_id, score=score, threshold=threshold)
            lead = Lead.objects.select_related(
                "wfm_project__workflow", "wfm_project__current_step"
            ).get(pk=lead_id)
            lead_services.lead_qualify(
                by=crm_services.system_user(), lead=lead, notes=reason, system=True
            )
    except IntegrityError:
        return False  # qualified automatically once already
    except DomainError as exc:
        logger.info("Lead %s not auto-qualified: %s", lead_id, exc.message)
        return False
    return True


# --- event-driven rescoring ----------------------------------------------------------------------
def _pending_key(lead_id) -> str:
    return f"pipecrm:rescore-pending:{lead_id}"


def request_rescore(lead_id) -> bool:
    """Ask for a lead to be rescored soon; requests within ``RESCORE_DELAY_SECONDS`` coalesce
    into one task. With eager Celery (embedded mode) the task runs at once. True when a task
    was scheduled by this call."""
    from leads.tasks import rescore_lead

    if not cache.add(_pending_key(lead_id), 1, timeout=RESCORE_DELAY_SECONDS * 4):
        return False
    rescore_lead.apply_async((str(lead_id),), countdown=RESCORE_DELAY_SECONDS)
    return True


def rescore_requested(lead_id) -> RescoreResult | None:
    """Run a requested rescore (the task's body): open leads only; None if it is not one."""
    cache.delete(_pending_key(lead_id))
    qs = open_leads().filter(pk=lead_id)
    if not qs.exists():
        return None
    return rescore_leads(qs)


def later_event_rescores(event: Event, lead_id, names: frozenset[str]) -> bool:
    """True if an event committed after ``event`` (or with it) also rescores this lead: this
    one can then skip, and a burst of events from one transaction rescores the lead once.

    Safe: the later event was committed no earlier than this one, so its rescore (done, or
    still to come when it is pending) sees everything this one would have seen. A later event
    whose handlers failed (retrying, or dead) does not count. Only the next minutes are looked
    at: skipping is an optimisation, never needed for correctness.
    """
    return (
        Event.objects.filter(
            pk__gt=event.pk,
            name__in=names,
            created_at__lte=event.created_at + LOOKAHEAD,
            payload__lead_id=str(lead_id),
        )
        .exclude(status__in=[Event.Status.FAILED, Event.Status.DEAD])
        .exists()
    )
