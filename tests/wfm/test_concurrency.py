"""Concurrent moves of one record serialize on the project row lock (PostgreSQL)."""

import threading
import time

import pytest
from django.db import connection

from crm.errors import DomainError
from tests.factories import UserFactory
from tests.wfm.factories import build_workflow
from wfm import services
from wfm.models import Project, StatusHistory

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL row locks (SELECT … FOR UPDATE); run with "
        "DATABASE_URL=postgres://…",
    ),
    pytest.mark.django_db(transaction=True),
]


class SlowRecord:
    """An adapter that dawdles inside the transaction, after the project has been read and
    before it is written: without the row lock both moves would start from the same step."""

    def label(self) -> str:
        return "Acme Corp"

    def is_deleted(self) -> bool:
        time.sleep(0.3)
        return False

    def score(self) -> int | None:
        return None

    def missing_fields(self, step) -> list[str]:
        return []


def race(project_id: int, user, targets) -> list[tuple[str, str]]:
    """Move the project to each target from its own thread, all at once."""
    barrier = threading.Barrier(len(targets))
    results: list[tuple[str, str]] = []

    def worker(step):
        try:
            project = Project.objects.get(pk=project_id)  # read before the race: stale soon
            barrier.wait(timeout=10)
            services.project_transition(
                by=user, project=project, to_step=step, adapter=SlowRecord()
            )
            results.append(("moved", step.name))
        except DomainError as error:
            results.append((error.code, step.name))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(step,)) for step in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    return results


def assert_consistent_history(project: Project) -> list[StatusHistory]:
    rows = list(StatusHistory.objects.filter(project=project).order_by("at", "pk"))
    assert rows[0].from_step_id is None
    for previous, row in zip(rows, rows[1:], strict=False):
        assert row.from_step_id == previous.to_step_id, "a move started from a stale step"
    project.refresh_from_db()
    assert project.current_step_id == rows[-1].to_step_id, "lost update"
    return rows


def test_two_different_moves_at_once_one_wins_and_history_stays_consistent():
    user = UserFactory()
    workflow, steps = build_workflow(
        ["Open", "Won", "Lost"], [("Open", "Won"), ("Open", "Lost")], final=("Won", "Lost")
    )
    project = services.project_start(by=user, workflow=workflow)

    results = race(project.pk, user, [steps["Won"], steps["Lost"]])

    moved = [name for outcome, name in results if outcome == "moved"]
    refused = [outcome for outcome, _ in results if outcome != "moved"]
    assert len(moved) == 1
    assert refused == ["transition_not_allowed"]  # judged from the winner's step
    rows = assert_consistent_history(project)
    assert [r.to_step.name for r in rows] == ["Open", moved[0]]


def test_the_same_move_twice_at_once_is_made_once():
    user = UserFactory()
    workflow, steps = build_workflow(["Open", "Working"], [("Open", "Working")])
    project = services.project_start(by=user, workflow=workflow)

    results = race(project.pk, user, [steps["Working"], steps["Working"]])

    assert sorted(outcome for outcome, _ in results) == ["already_at_step", "moved"]
    rows = assert_consistent_history(project)
    assert len(rows) == 2


def test_chained_moves_at_once_both_land_in_order():
    user = UserFactory()
    workflow, steps = build_workflow(
        ["A", "B", "C"], [("A", "B"), ("B", "C"), ("A", "C"), ("C", "B")]
    )
    project = services.project_start(by=user, workflow=workflow)

    results = race(project.pk, user, [steps["B"], steps["C"]])

    # Whichever goes first, the second move is allowed from where the first left the record.
    assert [outcome for outcome, _ in results] == ["moved", "moved"]
    rows = assert_consistent_history(project)
    assert len(rows) == 3
