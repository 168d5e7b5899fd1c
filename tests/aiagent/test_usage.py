"""What the dashboard's AI section counts: qualification analyses run (recorded by the
service that runs them), AI suggestions shown and applied (``aiagent.selectors.ai_usage``)."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from django.utils import timezone

from aiagent import selectors, services
from aiagent.models import AnalysisRun, Proposal
from analytics.filters import Filters
from analytics.periods import Period
from leads.models import Lead
from tests.aiagent.factories import AnalysisRunFactory, ProposalFactory, make_lead
from tests.aiagent.test_analysis import CALL_NOTES

pytestmark = pytest.mark.django_db

Status = Proposal.Status


def at(day: date, hour: int = 12, minute: int = 0) -> datetime:
    return timezone.make_aware(datetime(day.year, day.month, day.day, hour, minute))


def march(compare: bool = True, **kw) -> Filters:
    # 1–10 March; the previous period is 19–28 February.
    return Filters(Period("custom", date(2026, 3, 1), date(2026, 3, 10)), compare=compare, **kw)


# --- recording ---------------------------------------------------------------------------------
def test_an_analysis_is_recorded_with_the_values_it_offered(rep1):
    lead = make_lead(rep1, "Northwind")

    outcome = services.lead_analyze(by=rep1, lead=lead, text=CALL_NOTES)

    run = AnalysisRun.objects.get()
    assert (run.user, run.lead_id, run.mode, run.stored) == (rep1, lead.pk, "rules", True)
    assert run.suggested == len(outcome.insights["suggested_fields"]) > 0
    assert run.applied == 0
    assert Lead.objects.get(pk=lead.pk).ai_insights["analysis_run"] == run.pk


def test_a_read_only_analysis_is_recorded_but_offers_nothing(world, analyst):
    services.lead_analyze(by=analyst, lead=world.leads1[0], text=CALL_NOTES)

    run = AnalysisRun.objects.get()
    assert (run.user, run.stored, run.suggested) == (analyst, False, 0)


def test_nothing_to_analyse_records_no_run(rep1):
    from crm.errors import Conflict

    with pytest.raises(Conflict):
        services.lead_analyze(by=rep1, lead=make_lead(rep1, "Empty"))
    assert not AnalysisRun.objects.exists()


def test_an_applied_suggestion_counts_on_the_run_that_offered_it(rep1):
    lead = make_lead(rep1, "Northwind")
    services.lead_analyze(by=rep1, lead=lead, text=CALL_NOTES)
    first = AnalysisRun.objects.get()
    lead.refresh_from_db()
    services.lead_apply_suggestion(by=rep1, lead=lead, field="estimated_value")
    assert AnalysisRun.objects.get(pk=first.pk).applied == 1

    services.lead_analyze(by=rep1, lead=lead, text=CALL_NOTES)
    second = AnalysisRun.objects.exclude(pk=first.pk).get()
    lead.refresh_from_db()
    field = lead.ai_insights["suggested_fields"][0]["field"]
    services.lead_apply_suggestion(by=rep1, lead=lead, field=field)
    assert AnalysisRun.objects.get(pk=second.pk).applied == 1
    assert AnalysisRun.objects.get(pk=first.pk).applied == 1


# --- counting ----------------------------------------------------------------------------------
@pytest.fixture
def usage(rep1, rep2):
    """Proposals and analyses of two reps around 1–10 March (the previous period: 19–28
    February)."""

    def proposal(user, day, status, **kw):
        return ProposalFactory(user=user, created_at=at(day, **kw), status=status)

    proposal(rep1, date(2026, 3, 2), Status.CONFIRMED)
    proposal(rep1, date(2026, 3, 3), Status.REJECTED)
    proposal(rep1, date(2026, 3, 4), Status.PENDING)
    proposal(rep1, date(2026, 3, 5), Status.FAILED)  # confirmed, but it did not work
    proposal(rep1, date(2026, 3, 10), Status.CONFIRMED, hour=23, minute=59)  # last minute
    proposal(rep1, date(2026, 3, 11), Status.CONFIRMED, hour=0)  # the day after
    proposal(rep1, date(2026, 2, 25), Status.CONFIRMED)  # previous period
    proposal(rep1, date(2026, 1, 5), Status.CONFIRMED)  # outside both
    proposal(rep2, date(2026, 3, 6), Status.CONFIRMED)
    proposal(rep2, date(2026, 3, 7), Status.EXPIRED)

    def run(user, day, **kw):
        return AnalysisRunFactory(user=user, created_at=at(day), **kw)

    run(rep1, date(2026, 3, 2), suggested=3, applied=1)
    run(rep1, date(2026, 3, 8), stored=False)
    run(rep1, date(2026, 2, 20), suggested=2, applied=2)
    run(rep2, date(2026, 3, 9), suggested=2)


def test_ai_usage_of_the_team_hand_computed(usage, manager):
    found = selectors.ai_usage(user=manager, filters=march())

    assert found["proposals_shown"] == 7 and found["proposals_applied"] == 3
    assert found["field_suggestions_shown"] == 5 and found["field_suggestions_applied"] == 1
    assert found["suggestions_shown"] == 12 and found["suggestions_applied"] == 4
    assert found["apply_rate"] == pytest.approx(4 / 12)
    assert found["analyses_run"] == 3
    previous = found["previous"]
    assert (previous["proposals_shown"], previous["proposals_applied"]) == (1, 1)
    assert (previous["suggestions_shown"], previous["suggestions_applied"]) == (3, 3)
    assert previous["analyses_run"] == 1 and previous["apply_rate"] == 1.0


def test_a_rep_counts_only_its_own(usage, rep1, rep2):
    mine = selectors.ai_usage(user=rep1, filters=march())
    assert (mine["suggestions_shown"], mine["suggestions_applied"]) == (8, 3)
    assert mine["analyses_run"] == 2
    # Asking for another rep's figures gives nothing, not theirs.
    other = selectors.ai_usage(user=rep1, filters=march(owner=rep2.pk))
    assert (other["suggestions_shown"], other["analyses_run"]) == (0, 0)


def test_the_owner_filter_narrows_the_team_to_one_user(usage, manager, analyst, rep2):
    theirs = selectors.ai_usage(user=manager, filters=march(owner=rep2.pk))
    assert (theirs["proposals_shown"], theirs["proposals_applied"]) == (2, 1)
    assert (theirs["field_suggestions_shown"], theirs["analyses_run"]) == (2, 1)
    # Analysts read the team's figures too; a viewer only its own (none).
    assert selectors.ai_usage(user=analyst, filters=march())["suggestions_shown"] == 12


def test_no_use_no_rate_and_no_previous_without_compare(usage, viewer):
    found = selectors.ai_usage(user=viewer, filters=march(compare=False))
    assert found["suggestions_shown"] == 0 and found["apply_rate"] is None
    assert found["previous"] is None


def test_ai_usage_is_one_query(usage, manager, django_assert_num_queries):
    from analytics.selectors import sees_team

    sees_team(manager)  # the user's permissions, read once per request anyway
    with django_assert_num_queries(1):
        selectors.ai_usage(user=manager, filters=march())
