"""My day's lists (analytics.selectors, activities.selectors.due_activities) and the
range merging the cohort queries read through (analytics.selectors.within_any)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from activities import selectors as activity_selectors
from activities.models import Activity
from analytics import selectors
from leads.models import Lead
from tests.leads.factories import LeadFactory

pytestmark = pytest.mark.django_db

T = Activity.Type


def lead_of(owner, *, score=10, days_old=30, quiet_days=None, **fields) -> Lead:
    lead = LeadFactory(owner=owner, **fields)
    now = timezone.now()
    last = None if quiet_days is None else now - timedelta(days=quiet_days)
    Lead.objects.filter(pk=lead.pk).update(
        lead_score=score, created_at=now - timedelta(days=days_old), last_activity_at=last
    )
    return Lead.objects.get(pk=lead.pk)


def task(user, due: datetime, *, lead=None, done=False, subject="Task") -> Activity:
    return Activity.objects.create(
        type=T.TASK,
        subject=subject,
        due_at=due,
        is_done=done,
        lead=lead,
        assigned_to=user,
        created_by=user,
    )


def ids(leads) -> list:
    return [lead.pk for lead in leads]


def test_hot_leads_without_a_planned_activity_best_first(rep1, rep2):
    best = lead_of(rep1, score=95, quiet_days=1)
    good = lead_of(rep1, score=80, quiet_days=1)
    planned = lead_of(rep1, score=99, quiet_days=1)
    task(rep1, timezone.now() + timedelta(days=1), lead=planned)
    lead_of(rep1, score=30, quiet_days=1)  # not hot
    lead_of(rep2, score=97, quiet_days=1)  # not mine
    hot, _ = selectors.leads_needing_attention(user=rep1)
    assert ids(hot) == [best.pk, good.pk]


def test_stale_leads_never_worked_first_then_longest_quiet(rep1, settings):
    settings.DASHBOARD_STALE_DAYS = 14
    quiet_long = lead_of(rep1, days_old=90, quiet_days=60)
    quiet = lead_of(rep1, days_old=90, quiet_days=20)
    never_old = lead_of(rep1, days_old=50)
    never_newer = lead_of(rep1, days_old=20)
    lead_of(rep1, days_old=5)  # never worked, but young
    lead_of(rep1, days_old=90, quiet_days=3)  # worked lately
    _, stale = selectors.leads_needing_attention(user=rep1)
    assert ids(stale) == [never_old.pk, never_newer.pk, quiet_long.pk, quiet.pk]


def test_each_list_holds_its_first_few_and_a_lead_may_be_in_both(rep1, settings):
    settings.DASHBOARD_STALE_DAYS = 14
    hot_and_stale = lead_of(rep1, score=99, days_old=200)  # never worked, oldest
    quiet = [lead_of(rep1, days_old=100, quiet_days=30 + i) for i in range(4)]
    never = [lead_of(rep1, days_old=40 + i) for i in range(3)]
    hot = [lead_of(rep1, score=70 + i, quiet_days=1) for i in range(4)]
    hot_list, stale_list = selectors.leads_needing_attention(user=rep1, limit=3)
    assert ids(hot_list) == [hot_and_stale.pk, hot[3].pk, hot[2].pk]
    # Never worked first (oldest first), cut at the limit: no quiet lead makes it.
    assert ids(stale_list) == [hot_and_stale.pk, never[2].pk, never[1].pk]
    _, longer = selectors.leads_needing_attention(user=rep1, limit=6)
    assert ids(longer)[4:] == [quiet[3].pk, quiet[2].pk]


def test_closed_leads_need_no_attention(rep1):
    converted = lead_of(rep1, score=95, days_old=90)
    Lead.objects.filter(pk=converted.pk).update(converted_at=timezone.now())
    hot, stale = selectors.leads_needing_attention(user=rep1)
    assert converted.pk not in ids(hot) + ids(stale)


def test_due_activities_sections_limits_totals_and_order(rep1, rep2):
    now = timezone.now().replace(hour=10, minute=0)
    overdue = [task(rep1, now - timedelta(days=d), subject=f"late {d}") for d in (1, 5, 3)]
    today = task(rep1, now + timedelta(hours=2), subject="today")
    task(rep1, now + timedelta(days=3), subject="later")  # upcoming: not My day's
    task(rep1, now - timedelta(days=2), done=True)  # done
    task(rep2, now - timedelta(days=1))  # someone else's
    sections = activity_selectors.due_activities(user=rep1, now=now, limit=2)
    assert sections["overdue"].total == 3
    assert [a.pk for a in sections["overdue"].activities] == [overdue[1].pk, overdue[2].pk]
    assert sections["today"].total == 1
    assert [a.pk for a in sections["today"].activities] == [today.pk]


def test_due_activities_count_with_count_star_so_the_index_alone_answers(rep1):
    """The sections' totals count rows (``COUNT(*)``), not ids: PostgreSQL then answers them
    from the assignee index without reading each activity's page (an index-only scan: at a
    million leads a rep's 71,692 overdue activities took 196 ms counting ids, 8 ms so)."""
    task(rep1, timezone.now() - timedelta(days=1))
    with CaptureQueriesContext(connection) as captured:
        sections = activity_selectors.due_activities(user=rep1)
    assert sections["overdue"].total == 1
    (sql,) = [q["sql"] for q in captured]
    assert sql.count("COUNT(*)") == 2 and "COUNT(U0" not in sql


def test_due_activities_of_nobody_are_empty(rep1):
    sections = activity_selectors.due_activities(user=rep1)
    assert sections["overdue"].total == 0 and sections["today"].activities == []


def test_within_any_merges_overlapping_ranges(rep1):
    d = lambda day: datetime(2026, 3, day, tzinfo=UTC)  # noqa: E731
    inside = lead_of(rep1)
    Lead.objects.filter(pk=inside.pk).update(created_at=d(12))
    gap = lead_of(rep1)
    Lead.objects.filter(pk=gap.pk).update(created_at=d(21))

    def found(ranges) -> set:
        return set(Lead.objects.filter(selectors.within_any(ranges)).values_list("pk", flat=True))

    touching = [(d(10), d(15)), (d(1), d(10))]
    assert found(touching) == {inside.pk}
    assert str(selectors.within_any(touching)).count("created_at__gte") == 1  # one range
    apart = [(d(1), d(5)), (d(10), d(15)), (d(25), None)]
    assert found(apart) == {inside.pk}
    assert found([(d(20), None), (d(11), d(13))]) == {inside.pk, gap.pk}
    assert found([]) == set()
