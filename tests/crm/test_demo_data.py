"""The demo data (``manage.py seed_demo``): enough history, outcomes and activity that every
dashboard panel and the conversion likelihood have something true to show.

Seeding takes a while, so it runs once for the module, in a transaction rolled back at the
end; each test runs inside it (in a savepoint of its own).
"""

import io
from collections import Counter
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import transaction
from django.db.models import Count, Exists, F, OuterRef
from django.utils import timezone

from activities.models import Activity
from crm.formatting import HOT_FROM, temperature
from crm.models import Organization, Person
from deals.models import Deal
from leads.models import ConversionModel, Lead, TouchPoint
from leads.predictive import CALIBRATION_MIN_HELD_OUT, MIN_FINISHED, finished_leads
from leads.scoring.services import open_leads
from wfm.defaults import DealStep
from wfm.models import StatusHistory, WorkflowStep

# Under `make test` the module's tests go to one xdist worker, so the demo is seeded once
# (tests/conftest.py, SHARED_FIXTURE_MODULES).
pytestmark = pytest.mark.django_db


def _counts() -> dict[str, int]:
    return {
        "leads": Lead.all_objects.count(),
        "deals": Deal.all_objects.count(),
        "people": Person.all_objects.count(),
        "organizations": Organization.all_objects.count(),
        "activities": Activity.objects.count(),
        "touch points": TouchPoint.objects.count(),
        "status history": StatusHistory.objects.count(),
        "models": ConversionModel.objects.count(),
    }


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker):
    """The demo seeded once, then seeded again: ``(output of the first run, counts after
    the first run, counts after the second)``."""
    with django_db_blocker.unblock(), transaction.atomic():
        out = io.StringIO()
        call_command("seed_demo", stdout=out)
        first = _counts()
        call_command("seed_demo", stdout=io.StringIO())
        yield out.getvalue(), first, _counts()
        transaction.set_rollback(True)


def test_seeding_twice_changes_nothing(seeded):
    _, first, second = seeded
    assert first == second
    assert first["leads"] >= 150


def test_leads_span_six_months_with_fewer_on_weekends(seeded):
    now = timezone.now()
    created = list(Lead.objects.values_list("created_at", flat=True))
    assert min(created) <= now - timedelta(days=183)
    assert max(created) >= now - timedelta(days=7)
    assert max(created) <= now
    per_weekday = Counter(timezone.localtime(at).weekday() for at in created)
    weekdays = sum(per_weekday[d] for d in range(5)) / 5
    weekends = (per_weekday[5] + per_weekday[6]) / 2
    assert weekends < weekdays / 2
    months = Counter(timezone.localtime(at).strftime("%Y-%m") for at in created)
    assert len(months) >= 7


def test_leads_come_from_many_sources_owners_and_a_few_unassigned(seeded):
    leads = Lead.objects.all()
    assert leads.values("source").distinct().count() >= 8
    owners = set(leads.values_list("owner__username", flat=True))
    assert {"rep1", "rep2", "manager"} <= owners
    unassigned = leads.filter(assigned_to__isnull=True).count()
    assert 0 < unassigned < leads.count() / 10


def test_enough_finished_leads_for_the_conversion_model(seeded):
    output, _, _ = seeded
    finished = finished_leads()
    converted = finished.filter(converted_at__isnull=False)
    assert finished.count() >= MIN_FINISHED
    assert converted.count() >= 20 and finished.count() - converted.count() >= 20
    model = ConversionModel.objects.get()
    assert model.auc is not None and model.auc > 0.6
    # Enough held-out leads that the dashboard shows the model's calibration.
    assert model.calibration["n"] == model.n_test >= CALIBRATION_MIN_HELD_OUT
    assert "conversion model: Trained" in output
    # Every converted lead became a person, an organization and a deal.
    assert not converted.filter(converted_to_deal__isnull=True).exists()
    assert not converted.filter(converted_to_person__isnull=True).exists()


def test_sources_convert_differently(seeded):
    def rate(source: str) -> float:
        finished = finished_leads().filter(source=source)
        return finished.filter(converted_at__isnull=False).count() / max(1, finished.count())

    assert rate(Lead.Source.REFERRAL) > rate(Lead.Source.COLD_CALL)


def test_open_leads_are_at_every_open_step_and_scored_cold_warm_and_hot(seeded):
    output, _, _ = seeded
    leads = open_leads()
    steps = set(leads.values_list("wfm_project__current_step__status__name", flat=True))
    assert steps == {"New Lead", "Contacted", "Qualified"}
    bands = Counter(temperature(score) for score in leads.values_list("lead_score", flat=True))
    assert bands["cold"] >= 5 and bands["warm"] >= 5 and bands["hot"] >= 5, bands
    assert "open leads by temperature" in output
    assert not leads.filter(score_updated_at__isnull=True).exists()


def test_open_leads_have_activity_histories(seeded):
    leads = open_leads().exclude(wfm_project__current_step__status__name="New Lead")
    worked = leads.filter(activities__is_system_activity=False, activities__is_done=True)
    assert worked.distinct().count() == leads.count()
    kinds = Counter(
        Activity.objects.filter(lead__in=open_leads(), is_system_activity=False).values_list(
            "type", flat=True
        )
    )
    for kind in ("call", "email", "meeting", "note"):
        assert kinds[kind] > 0, kind
    # Done activities are in the past; last_activity_at follows them.
    now = timezone.now()
    assert not Activity.objects.filter(is_done=True, done_at__gt=now).exists()
    lead = leads.filter(last_activity_at__isnull=False).first()
    latest = lead.activities.filter(is_system_activity=False).latest("created_at")
    assert lead.last_activity_at == latest.created_at


def test_status_history_is_in_the_past_and_in_order(seeded):
    now = timezone.now()
    moves: dict = {}
    for project_id, at in (
        StatusHistory.objects.filter(project__lead__isnull=False)
        .order_by("pk")
        .values_list("project_id", "at")
    ):
        moves.setdefault(project_id, []).append(at)
    assert moves
    for times in moves.values():
        assert times == sorted(times)
        assert times[-1] <= now
    created = dict(Lead.objects.values_list("wfm_project_id", "created_at"))
    assert all(moves[project][0] == at for project, at in created.items())
    # Some moves are weeks apart: time in step means something.
    assert any(len(t) > 2 and t[-1] - t[0] > timedelta(days=14) for t in moves.values())


def test_deal_status_history_is_in_the_past_and_in_order(seeded):
    now = timezone.now()
    moves: dict = {}
    for project_id, at in (
        StatusHistory.objects.filter(project__deal__isnull=False)
        .order_by("pk")
        .values_list("project_id", "at")
    ):
        moves.setdefault(project_id, []).append(at)
    for project, created in Deal.objects.values_list("wfm_project_id", "created_at"):
        times = moves[project]
        assert times == sorted(times) and times[-1] <= now
        assert times[0] == created


def test_first_and_last_touch_differ_for_some_leads(seeded):
    touched = Lead.objects.annotate(n=Count("touch_points")).filter(n__gte=2)
    assert touched.exists()
    assert touched.exclude(last_touch_source="").exclude(last_touch_source=F("utm_source")).exists()


def test_deals_are_open_won_and_lost_with_close_dates(seeded):
    deals = Deal.objects.select_related("wfm_project__current_step__status")
    steps = Counter(d.wfm_project.current_step.name for d in deals)
    pipeline = WorkflowStep.objects.filter(workflow__name="Sales Pipeline")
    assert set(steps) == {s.status.name for s in pipeline}
    assert steps[DealStep.CLOSED_WON] >= 10 and steps[DealStep.CLOSED_LOST] >= 5
    today = timezone.localdate()
    open_deals = deals.filter(won_at__isnull=True, lost_at__isnull=True)
    dated = open_deals.exclude(expected_close_date=None)
    assert dated.count() >= open_deals.count() * 0.8
    assert dated.filter(expected_close_date__lte=today + timedelta(days=31)).exists()
    assert dated.filter(expected_close_date__gte=today + timedelta(days=60)).exists()
    won = deals.filter(won_at__isnull=False)
    assert all(d.amount > 0 and d.currency == "EUR" for d in won)
    months = {timezone.localtime(d.won_at).strftime("%Y-%m") for d in won}
    assert len(months) >= 3


def test_reps_have_overdue_and_today_activities(seeded):
    now = timezone.now()
    today = timezone.localdate()
    for username in ("rep1", "rep2"):
        planned = Activity.objects.filter(assigned_to__username=username, is_done=False)
        assert planned.filter(due_at__lt=now).exists(), username
        due_today = [timezone.localtime(a.due_at).date() for a in planned.filter(due_at__gte=now)]
        assert today in due_today, username


def test_my_day_has_hot_leads_without_a_next_step_and_stale_leads(seeded):
    now = timezone.now()
    planned = Activity.objects.filter(lead=OuterRef("pk"), is_done=False)
    leads = open_leads().annotate(has_next=Exists(planned))
    assert leads.filter(lead_score__gte=HOT_FROM, has_next=False).exists()
    assert leads.filter(last_activity_at__lt=now - timedelta(days=14)).exists()
    today = timezone.localdate()
    closing = Deal.objects.filter(
        won_at=None,
        lost_at=None,
        expected_close_date__year=today.year,
        expected_close_date__month=today.month,
    )
    assert closing.exists()


def test_some_leads_were_analysed_and_a_suggestion_applied(seeded):
    analysed = [i for i in Lead.objects.values_list("ai_insights", flat=True) if i]
    assert len(analysed) >= 10
    assert any(i.get("applied_fields") for i in analysed)
    # The dashboard's AI section counts them: each analysis was recorded as it ran.
    from aiagent.models import AnalysisRun

    runs = AnalysisRun.objects.filter(stored=True)
    assert runs.count() == len(analysed)
    assert runs.filter(applied__gt=0).exists()


def test_no_two_organizations_share_a_domain(seeded):
    shared = (
        Organization.objects.exclude(domain="")
        .values("domain")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
    )
    assert list(shared) == []


def test_the_demo_holds_the_duplicates_entered_on_purpose_and_no_accidental_one(seeded):
    from duplicates.models import DuplicateCandidate
    from duplicates.sources import SOURCES

    def name(record_type, pk):
        return str(SOURCES[record_type].model.objects.get(pk=pk))

    pairs = {
        (c.kind, frozenset({name(c.first_type, c.first_id), name(c.second_type, c.second_id)}))
        for c in DuplicateCandidate.objects.filter(dismissed_at__isnull=True)
    }
    northwind = {"Northwind Traders – Fleet telematics", "Northwind – telematics follow-up"}
    # Exactly the records entered twice on purpose: the generated contacts never share a
    # name at one company by chance (two Sven Garcías at Coho Winery were listed once).
    assert pairs == {
        ("lead", frozenset(northwind)),
        ("lead_person", frozenset({"Stark Renewables – Solar farm monitoring", "Kenji Sato"})),
        ("person", frozenset({"Priya Nair"})),
        ("organization", frozenset({"Initech", "Initech Software"})),
    }
