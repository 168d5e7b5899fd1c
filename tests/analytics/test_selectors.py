"""The dashboard's figures against a hand-computed dataset (analytics.selectors)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from activities import services as activity_services
from activities.models import Activity
from analytics import periods, selectors
from analytics.filters import Filters
from analytics.periods import Period
from crm.services import system_user
from leads.models import Lead
from tests.leads.factories import LeadFactory

pytestmark = pytest.mark.django_db

DAY = date(2026, 3, 10)  # a Tuesday


def at(day: date, hour: int = 12, minute: int = 0) -> datetime:
    return timezone.make_aware(datetime(day.year, day.month, day.day, hour, minute))


def make_lead(owner, created: datetime, **fields) -> Lead:
    lead = LeadFactory(owner=owner, **fields)
    Lead.objects.filter(pk=lead.pk).update(created_at=created)
    return lead


def march(compare=True, **kw) -> Filters:
    period = Period("custom", date(2026, 3, 1), date(2026, 3, 10))
    return Filters(period=period, compare=compare, **kw)


def test_period_presets_and_previous():
    p = periods.preset("this_week", on=DAY)
    assert (p.start, p.end) == (date(2026, 3, 9), DAY)
    assert p.previous() == Period("previous", date(2026, 3, 7), date(2026, 3, 8))
    q = periods.preset("this_quarter", on=DAY)
    assert q.start == date(2026, 1, 1)
    assert periods.preset("last_7_days", on=DAY).start == date(2026, 3, 4)
    assert periods.preset("all").previous() is None


def test_period_bounds_are_local_midnights(settings):
    settings.TIME_ZONE = "Europe/Berlin"
    with timezone.override(ZoneInfo("Europe/Berlin")):
        since, until = Period("custom", DAY, DAY).bounds()
        assert since.astimezone(ZoneInfo("UTC")).hour == 23  # 00:00 CET is 23:00 UTC
        assert until - since == timedelta(days=1)


def test_lead_kpis_hand_computed(manager, rep1):
    qualified = make_lead(rep1, at(date(2026, 3, 2)), lead_score=80, is_qualified=True)
    Lead.objects.filter(pk=qualified.pk).update(qualified_at=at(date(2026, 3, 3)))
    converted = make_lead(rep1, at(date(2026, 3, 4)), lead_score=45)
    Lead.objects.filter(pk=converted.pk).update(converted_at=at(date(2026, 3, 6)))
    make_lead(rep1, at(date(2026, 3, 5)), lead_score=10)
    make_lead(rep1, at(date(2026, 2, 25)), lead_score=10)  # previous period
    make_lead(rep1, at(date(2026, 1, 5)), lead_score=10)  # outside both
    activity_services.activity_create(by=rep1, type="call", subject="Call", lead=qualified)
    # A system activity earlier than the call is not a response.
    activity_services.activity_create(
        by=system_user(), type="task", subject="Welcome", lead=qualified, is_system_activity=True
    )
    Activity.objects.filter(lead=qualified, is_system_activity=False).update(
        created_at=at(date(2026, 3, 2), 18)
    )
    Activity.objects.filter(lead=qualified, is_system_activity=True).update(
        created_at=at(date(2026, 3, 2), 13)
    )
    activity_services.lead_first_activity_refresh(lead_ids=[qualified.pk])

    kpis = selectors.lead_kpis(user=manager, filters=march())
    assert kpis["total"] == 3
    assert kpis["qualified"] == 1 and kpis["converted"] == 1
    assert kpis["qualification_rate"] == pytest.approx(1 / 3)
    assert kpis["conversion_rate"] == pytest.approx(1 / 3)
    assert kpis["avg_score"] == pytest.approx((80 + 45 + 10) / 3)
    assert (kpis["cold"], kpis["warm"], kpis["hot"]) == (1, 1, 1)
    assert kpis["avg_qualify_seconds"] == pytest.approx(86400)
    assert kpis["avg_convert_seconds"] == pytest.approx(2 * 86400)
    assert kpis["avg_first_response_seconds"] == pytest.approx(6 * 3600)
    assert kpis["previous"]["total"] == 1
    assert kpis["previous"]["qualification_rate"] == 0


def test_empty_period_gives_none_not_errors(manager):
    kpis = selectors.lead_kpis(user=manager, filters=march())
    assert kpis["total"] == 0
    assert kpis["qualification_rate"] is None and kpis["conversion_rate"] is None
    assert kpis["avg_score"] is None and kpis["avg_first_response_seconds"] is None
    figures = selectors.deal_figures(user=manager, filters=march())
    assert figures.win_rate is None and figures.pipeline_value == Decimal("0")
    assert selectors.change(5, 0) is None and selectors.ratio(1, 0) is None


def test_midnight_boundary(manager, rep1):
    make_lead(rep1, at(date(2026, 3, 10), 23, 59))
    make_lead(rep1, at(date(2026, 3, 11), 0, 0))
    make_lead(rep1, at(date(2026, 3, 1), 0, 0))
    make_lead(rep1, at(date(2026, 2, 28), 23, 59))
    assert selectors.lead_kpis(user=manager, filters=march())["total"] == 2


def test_rep_counts_only_own_leads(rep1, rep2, manager):
    make_lead(rep1, at(date(2026, 3, 2)))
    make_lead(rep2, at(date(2026, 3, 2)))
    make_lead(rep2, at(date(2026, 3, 3)))
    assert selectors.lead_kpis(user=rep1, filters=march())["total"] == 1
    assert selectors.lead_kpis(user=rep2, filters=march())["total"] == 2
    assert selectors.lead_kpis(user=manager, filters=march())["total"] == 3
    breakdown = selectors.lead_breakdown(user=rep1, filters=march())
    assert list(breakdown.by_owner) == [rep1.pk]


def test_breakdown_by_source_and_touch(manager, rep1):
    make_lead(rep1, at(date(2026, 3, 2)), source="event", utm_source="webinar")
    make_lead(
        rep1, at(date(2026, 3, 2)), source="event", utm_source="webinar", last_touch_source="ads"
    )
    make_lead(rep1, at(date(2026, 3, 3)), source="web")
    breakdown = selectors.lead_breakdown(user=manager, filters=march())
    assert {r.key: r.total for r in breakdown.by_source} == {"event": 2, "web": 1}
    assert {r.key: r.total for r in breakdown.first_touch} == {"webinar": 2, "": 1}
    assert {r.key: r.total for r in breakdown.last_touch} == {"webinar": 1, "ads": 1, "": 1}


def test_funnel_counts_steps_reached(manager, rep1):
    from leads import services

    steps = selectors.lead_workflow_steps()
    lead = make_lead(rep1, at(date(2026, 3, 2)))
    make_lead(rep1, at(date(2026, 3, 3)))
    second = next(s for s in steps if s.order > lead.wfm_project.current_step.order)
    services.lead_transition(by=manager, lead=lead, to_step=second)
    rows = selectors.funnel(user=manager, filters=march(), steps=steps)
    by_name = {r["name"]: r for r in rows}
    first = rows[0]
    assert first["reached"] == 2
    assert by_name[second.name]["reached"] == 1
    assert by_name[second.name]["rate"] == pytest.approx(0.5)
    assert first["median_seconds"] is not None  # the first lead left its first step
