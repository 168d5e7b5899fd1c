"""Date filters of the tables and the API (``created_after`` / ``_before`` and the like) take
whole local days and compare the timestamp column with the days' local midnights, so that its
index serves them (a ``::date`` cast of every row could not use it)."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from crm.filters import OrganizationFilter, PersonFilter
from leads.filters import LeadFilter
from leads.models import Lead
from tests.leads.factories import LeadFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "filterset, params",
    [
        (LeadFilter, {"created_after": "2026-03-02", "created_before": "2026-03-02"}),
        (LeadFilter, {"qualified_after": "2026-03-02", "converted_before": "2026-03-02"}),
        (PersonFilter, {"created_after": "2026-03-02", "created_before": "2026-03-02"}),
        (OrganizationFilter, {"created_after": "2026-03-02", "created_before": "2026-03-02"}),
    ],
)
def test_day_filters_compare_the_column_not_its_date(filterset, params):
    sql = str(filterset(params, queryset=filterset._meta.model.objects.all()).qs.query).lower()
    where = sql.split(" where ", 1)[1]
    for name in params:
        column = {"created": "created_at", "qualified": "qualified_at", "converted": "converted_at"}
        assert f'."{column[name.split("_")[0]]}" ' in where, where
    assert "::date" not in where and "django_datetime_cast_date" not in where, where


def test_days_are_local_and_both_ends_included(settings):
    settings.TIME_ZONE = "Europe/Berlin"
    berlin = ZoneInfo("Europe/Berlin")
    times = {
        "first minute": datetime(2026, 3, 2, 0, 0, tzinfo=berlin),
        "last minute": datetime(2026, 3, 2, 23, 59, tzinfo=berlin),
        "day before": datetime(2026, 3, 1, 23, 59, tzinfo=berlin),
        "day after": datetime(2026, 3, 3, 0, 0, tzinfo=berlin),
    }
    for name, at in times.items():
        lead = LeadFactory(name=name)
        Lead.objects.filter(pk=lead.pk).update(created_at=at)

    def names(**params) -> set[str]:
        found = LeadFilter(params, queryset=Lead.objects.all()).qs
        return set(found.values_list("name", flat=True))

    assert names(created_after="2026-03-02", created_before="2026-03-02") == {
        "first minute",
        "last minute",
    }
    assert names(created_after="2026-03-03") == {"day after"}
    assert names(created_before="2026-03-01") == {"day before"}


def test_a_day_across_a_clock_change_has_its_23_hours(settings):
    settings.TIME_ZONE = "Europe/Berlin"
    berlin = ZoneInfo("Europe/Berlin")  # 29 March 2026: clocks jump from 02:00 to 03:00
    late = LeadFactory(name="late")
    Lead.objects.filter(pk=late.pk).update(created_at=datetime(2026, 3, 29, 23, 30, tzinfo=berlin))
    next_day = LeadFactory(name="next")
    Lead.objects.filter(pk=next_day.pk).update(
        created_at=datetime(2026, 3, 30, 0, 0, tzinfo=berlin)
    )
    found = LeadFilter(
        {"created_after": "2026-03-29", "created_before": "2026-03-29"}, queryset=Lead.objects.all()
    ).qs
    assert list(found.values_list("name", flat=True)) == ["late"]


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31"])
def test_the_first_and_last_representable_days_are_answered(day):
    LeadFactory(name="any")
    for name in ("created_after", "created_before"):
        found = LeadFilter({name: day}, queryset=Lead.objects.all())
        assert found.is_valid(), found.errors
        expected = {"created_after": day == "0001-01-01", "created_before": day == "9999-12-31"}
        assert found.qs.exists() is expected[name]
