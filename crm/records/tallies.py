"""Board column counts and totals kept current instead of counted (issue 17, SPEC §11).

A board's column heads are each column's count and value total over the records the user may
see. Counting them is one ``GROUP BY`` over every such record of the workflow: 60 ms at
100,000 leads, 0.8 s at a million, and a plan PostgreSQL changes its mind about from one
minute to the next. Here they are kept in ``wfm.BoardTally`` rows instead, one per column and
viewer, which a board reads in one indexed query whatever its size.

What is counted, per record on a board (a record of a type with a ``Board``, not deleted):

- once for everyone who sees every record of the type (``viewer`` empty: managers, analysts);
- once for each user holding the *view* object permission on it (``viewer`` = that user: a
  Sales Rep's own, assigned and shared records). That is exactly what ``permissions.visible``
  lets such a user see.

``wfm.BoardEntry`` remembers, per record and viewer, the step and value a tally last counted.
``refresh(rt, ids)`` compares that with the records as they are now and moves only the
difference between tallies, in one transaction: it is idempotent (a second run finds nothing
to move), so it can run from as many places as a change is noticed:

- the records' outbox events (``crm.events``): every event of a board type and
  ``wfm.status_changed``, run ``inline`` right after commit and before the realtime
  publishers, which then push column heads read from these tallies;
- a view permission saved or deleted (guardian's admin, ``permissions.share``), after commit;
- ``rebuild()``, which recounts everything from the records (``manage.py board_tallies``,
  nightly from beat, and after the benchmark's ``COPY``): what bulk writes that emit no event
  (a ``COPY``, an ``UPDATE`` from the shell) changed is counted again there.

Two refreshes of one record never interleave: each locks the records first (``SELECT … FOR
UPDATE``), then the tally rows in one order. Until a workflow was first rebuilt
(``Workflow.tallied_at``) its boards count, as before; so does every board with a filter or a
search, whose records no tally describes.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from decimal import Decimal

from django.db import IntegrityError, connection, transaction
from django.db.models import Count, F, Sum
from django.db.models.functions import Coalesce
from django.db.models.signals import post_delete, post_save
from django.utils import timezone

from crm import permissions
from crm.records import registry
from crm.records.types import RecordType
from wfm.models import BoardEntry, BoardTally, Workflow, WorkflowStep

logger = logging.getLogger(__name__)

Key = tuple[int, int | None]  # (project id, viewer id); None: everyone who sees all


# --- reading ----------------------------------------------------------------------------------
def apply(workflow: Workflow, *, filtered: bool) -> bool:
    """Whether the tallies hold a board's column heads: its workflow was tallied and the board
    shows all its records (a filter or a search counts its own)."""
    return workflow.tallied_at is not None and not filtered


def column_counts(
    rt: RecordType, user, workflow: Workflow, steps: Sequence[WorkflowStep], *, filtered: bool
) -> dict[int, dict] | None:
    """``{step id: {"count", "total"}}`` of the board's columns as ``user`` sees them, in one
    query (``wfm.boards.column_totals``'s shape), or None when the tallies do not hold them
    (``apply``): count instead."""
    if not apply(workflow, filtered=filtered):
        return None
    model = rt.model
    if not (user.is_authenticated and user.is_active) or not permissions.role_allows(
        user, model, "view"
    ):
        return {}
    viewer = None if permissions.has_all_access(user, model, "view") else user.pk
    rows = BoardTally.objects.filter(step_id__in=[s.pk for s in steps], viewer_id=viewer)
    return {
        step_id: {"count": count, "total": total}
        for step_id, count, total in rows.values_list("step_id", "count", "total")
        if count
    }


# --- keeping them current ---------------------------------------------------------------------
def board_types() -> list[RecordType]:
    return [rt for rt in registry.all_types() if rt.board is not None]


def refresh(rt: RecordType, ids: Iterable) -> None:
    """Bring the tallies up to date with the records ``ids`` of ``rt`` (see the module)."""
    ids = sorted({str(pk) for pk in ids if pk}, key=str)
    if not ids or rt.board is None:
        return
    model, value_field = rt.model, rt.board.value_field
    with transaction.atomic():
        # The records first, locked in key order: a concurrent refresh of one of them waits
        # here, then finds the entries this one wrote. Deleted ones too (they leave).
        records = list(
            model._base_manager.filter(pk__in=ids)
            .order_by("pk")
            .select_for_update(of=("self",))
            .values_list("pk", "wfm_project_id", "wfm_project__current_step_id", value_field)
        )
        live = set(model._default_manager.filter(pk__in=ids).values_list("pk", flat=True))
        desired: dict[Key, tuple[int, Decimal | None]] = {}
        project_of = {}
        for pk, project_id, step_id, value in records:
            project_of[pk] = project_id
            if pk in live:
                desired[(project_id, None)] = (step_id, value)
        permission_id = permissions.permission_id(model, "view")
        viewers = permissions.user_permission_model(model).objects.filter(
            content_object_id__in=[pk for pk in project_of if pk in live],
            permission_id=permission_id,
        )
        for pk, user_id in viewers.values_list("content_object_id", "user_id"):
            project_id = project_of[pk]
            desired[(project_id, user_id)] = desired[(project_id, None)]
        _apply(set(project_of.values()), desired)


def _apply(projects: set[int], desired: dict[Key, tuple[int, Decimal | None]]) -> None:
    """Move between tallies what changed from the entries of ``projects`` to ``desired``."""
    stored = {
        (e.project_id, e.viewer_id): e
        for e in BoardEntry.objects.select_for_update().filter(project_id__in=projects)
    }
    deltas: dict[tuple[int, int | None], list] = defaultdict(lambda: [0, Decimal(0)])
    gone, new = [], []
    for key, entry in stored.items():
        if desired.get(key) != (entry.step_id, entry.value):
            deltas[(entry.step_id, key[1])][0] -= 1
            deltas[(entry.step_id, key[1])][1] -= entry.value or 0
            gone.append(entry.pk)
    for key, (step_id, value) in desired.items():
        entry = stored.get(key)
        if entry is None or (entry.step_id, entry.value) != (step_id, value):
            deltas[(step_id, key[1])][0] += 1
            deltas[(step_id, key[1])][1] += value or 0
            new.append(
                BoardEntry(project_id=key[0], viewer_id=key[1], step_id=step_id, value=value)
            )
    if gone:
        BoardEntry.objects.filter(pk__in=gone).delete()
    if new:
        BoardEntry.objects.bulk_create(new)
    # One order for every refresh: two never wait on each other's tally rows.
    for (step_id, viewer_id), (count, total) in sorted(
        deltas.items(), key=lambda item: (item[0][0], item[0][1] or 0)
    ):
        if count or total:
            _add(step_id, viewer_id, count, total)


def _add(step_id: int, viewer_id: int | None, count: int, total: Decimal) -> None:
    tallies = BoardTally.objects.filter(step_id=step_id, viewer_id=viewer_id)
    if tallies.update(count=F("count") + count, total=F("total") + total):
        return
    try:
        with transaction.atomic():
            BoardTally.objects.create(
                step_id=step_id, viewer_id=viewer_id, count=count, total=total
            )
    except IntegrityError:  # another refresh created the row meanwhile
        tallies.update(count=F("count") + count, total=F("total") + total)


def refresh_later(rt: RecordType, pk) -> None:
    """``refresh`` the record once the current transaction commits (nothing if it rolls
    back); the records of one transaction in one refresh (a bulk assignment moves dozens of
    permissions)."""
    if connection.in_atomic_block:
        # Join the refresh already waiting in this transaction (Django keeps its callbacks as
        # (savepoint ids, callback, robust)). That one is dropped only with a savepoint it
        # was registered in; any such savepoint still open is open now too, so rolling it
        # back undoes this change as well: nothing is missed, at worst a record is refreshed
        # that a rolled-back inner savepoint left as it was.
        for _sids, callback, _robust in connection.run_on_commit:
            if isinstance(callback, _Pending) and not callback.done:
                callback.add(rt.key, pk)
                return
    pending = _Pending()
    pending.add(rt.key, pk)
    transaction.on_commit(pending)


class _Pending:
    """The records a committed transaction's permission changes touched, by type."""

    def __init__(self) -> None:
        self.ids: dict[str, set] = defaultdict(set)
        self.done = False  # run (a test's captured callbacks run without a commit)

    def add(self, key: str, pk) -> None:
        self.ids[key].add(pk)

    def __call__(self) -> None:
        self.done = True
        for key, ids in self.ids.items():
            try:
                refresh(registry.get(key), ids)
            except Exception:  # noqa: BLE001 - what committed stands; the nightly rebuild mends
                logger.exception("Board tallies of %s %s not refreshed", key, sorted(ids))


def rebuild(rt: RecordType) -> int:
    """Count every record of ``rt`` again into its tallies (one transaction) and mark its
    workflows as tallied; returns the number of records counted."""
    if rt.board is None:
        return 0
    model, value_field = rt.model, rt.board.value_field
    step_ids = [s.pk for s in rt.board.steps()]
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # Refreshes wait for the rebuild rather than move what it is recounting.
            cursor = connection.cursor()
            for table in (BoardEntry._meta.db_table, BoardTally._meta.db_table):
                cursor.execute(f"LOCK TABLE {connection.ops.quote_name(table)} IN EXCLUSIVE MODE")
        BoardEntry.objects.filter(step_id__in=step_ids).delete()
        BoardTally.objects.filter(step_id__in=step_ids).delete()
        records = model._default_manager.order_by()
        _insert_entries(
            records.annotate(
                e_project=F("wfm_project_id"),
                e_step=F("wfm_project__current_step_id"),
                e_value=F(value_field),
            ).values_list("e_project", "e_step", "e_value"),
            with_viewer=False,
        )
        viewers = permissions.user_permission_model(model).objects.filter(
            permission_id=permissions.permission_id(model, "view"),
            content_object_id__in=records.values("pk"),
        )
        _insert_entries(
            viewers.order_by()
            .annotate(
                e_project=F("content_object__wfm_project_id"),
                e_viewer=F("user_id"),
                e_step=F("content_object__wfm_project__current_step_id"),
                e_value=F(f"content_object__{value_field}"),
            )
            .values_list("e_project", "e_viewer", "e_step", "e_value"),
            with_viewer=True,
        )
        _insert_tallies(step_ids)
        counted = records.count()
        now = timezone.now()
        for workflow in Workflow.objects.filter(steps__pk__in=step_ids).distinct():
            workflow.tallied_at = now
            workflow.save(update_fields=["tallied_at"])  # moves the reference data's version
    return counted


def _insert_entries(rows, *, with_viewer: bool) -> None:
    """``INSERT … SELECT`` the entries ``rows`` select (no row passes through Python)."""
    q = connection.ops.quote_name
    table = q(BoardEntry._meta.db_table)
    sql, params = rows.query.sql_with_params()
    viewer = "sub.e_viewer" if with_viewer else "NULL"
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (project_id, viewer_id, step_id, value) "
            f"SELECT sub.e_project, {viewer}, sub.e_step, sub.e_value FROM ({sql}) sub",
            params,
        )


def _insert_tallies(step_ids: Sequence[int]) -> None:
    """The tallies of the entries just inserted: a row per column and viewer (a few hundred
    at most, whatever the number of records)."""
    rows = (
        BoardEntry.objects.filter(step_id__in=step_ids)
        .values("step_id", "viewer_id")
        .annotate(n=Count("*"), summed=Coalesce(Sum("value"), Decimal(0)))
        .order_by()
    )
    BoardTally.objects.bulk_create(
        BoardTally(step_id=r["step_id"], viewer_id=r["viewer_id"], count=r["n"], total=r["summed"])
        for r in rows
    )


def rebuild_all() -> dict[str, int]:
    return {rt.key: rebuild(rt) for rt in board_types()}


# --- what notices a change --------------------------------------------------------------------
def record_ids(rt: RecordType, payload: dict, event_name: str) -> list:
    """The records of ``rt`` an event is about (its id, the ones merged into it, or the
    record of the moved project)."""
    if event_name == "wfm.status_changed":
        project_id = payload.get("project_id")
        if project_id is None:
            return []
        return list(
            rt.model._base_manager.filter(wfm_project_id=project_id).values_list("pk", flat=True)
        )
    ids = [payload.get(f"{rt.key}_id"), *(payload.get("merged_ids") or [])]
    return [pk for pk in ids if pk]


def _on_event(event) -> None:
    """An outbox event of a board type's record, or a project's move (``watch``)."""
    payload = event.payload or {}
    for rt in board_types():
        if event.name == "wfm.status_changed" or (
            event.name.startswith(f"{rt.key}.") and _may_move(rt, event.name, payload)
        ):
            refresh(rt, record_ids(rt, payload, event.name))


# Events that never move a record between columns, values or viewers: a rescore emits
# thousands of the first; the others change other fields. Run inline before the realtime
# publishers, every refresh skipped is a delivery sooner (measured under load, issue 21).
_IGNORED = frozenset({"score_changed", "touched", "anonymized"})
# Of an ``<kind>.updated`` event's fields, those a tally depends on (besides the value).
_COUNTED_FIELDS = frozenset({"deleted_at", "owner", "assigned_to", "step", "wfm_project"})


def _may_move(rt: RecordType, name: str, payload: dict) -> bool:
    if name != f"{rt.key}.updated":
        return True
    fields = payload.get("fields")
    if fields is None:  # an older event, or one that does not say: refresh
        return True
    return bool(set(fields) & (_COUNTED_FIELDS | {rt.board.value_field}))


def _permission_changed(sender, instance=None, **kwargs) -> None:
    rt = next(
        (t for t in board_types() if permissions.user_permission_model(t.model) is sender), None
    )
    if rt is None or instance is None:
        return
    if instance.permission_id == permissions.permission_id(rt.model, "view"):
        refresh_later(rt, instance.content_object_id)


def watch(rt: RecordType) -> None:
    """Keep ``rt``'s tallies current, if it has a board. Called for each record type as it is
    registered (``registry.when_registered``), which its app does in ``ready`` before its
    realtime publishers register: the tallies move before heads are pushed."""
    from crm.events import EVENT_NAMES, handles

    if rt.board is None:
        return

    names = sorted(
        n for n in EVENT_NAMES if n.startswith(f"{rt.key}.") and n.split(".", 1)[1] not in _IGNORED
    )
    handles(*names, "wfm.status_changed", inline=True)(_on_event)
    perm_model = permissions.user_permission_model(rt.model)
    uid = f"board-tallies-{rt.key}"
    post_save.connect(_permission_changed, sender=perm_model, dispatch_uid=f"{uid}-save")
    post_delete.connect(_permission_changed, sender=perm_model, dispatch_uid=f"{uid}-delete")
