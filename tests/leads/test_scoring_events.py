"""Rescoring on the events that change a score's inputs, coalesced (eager Celery, as in the
embedded mode)."""

import pytest
from django.db import transaction

from activities import services as activity_services
from crm import events
from crm.models import Event
from leads import services as lead_services
from leads.models import AutoQualification, Lead, LeadScoreSnapshot
from leads.scoring import services as scoring
from tests.leads.factories import LeadFactory
from tests.leads.scoring_factories import active_profile

pytestmark = pytest.mark.django_db


@pytest.fixture
def rescores(monkeypatch):
    """The lead ids of every rescore run (each run of ``rescore_leads``)."""
    runs = []
    real = scoring.rescore_leads

    def counting(queryset=None, **kwargs):
        result = real(queryset, **kwargs)
        runs.append(result.scored)
        return result

    monkeypatch.setattr(scoring, "rescore_leads", counting)
    return runs


def log(by, lead, **fields):
    fields.setdefault("subject", "Logged")
    return activity_services.activity_create(by=by, lead=lead, **fields)


def test_three_activities_logged_in_one_transaction_rescore_the_lead_once(
    rep1, rescores, django_capture_on_commit_callbacks
):
    lead = LeadFactory(owner=rep1)

    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        log(rep1, lead, type="email", direction="inbound")
        log(rep1, lead, type="note", metadata={"kind": "web_visit"})
        log(rep1, lead, type="call", direction="outbound")

    assert rescores == [1]
    lead.refresh_from_db()
    signals = lead.lead_score_factors["signals"]
    assert (signals["inbound_emails"], signals["web_visits"], signals["calls"]) == (1, 1, 1)
    assert LeadScoreSnapshot.objects.filter(lead=lead).count() == 1
    assert Event.objects.filter(name="lead.score_changed").count() == 1


def test_without_the_look_ahead_each_of_the_three_events_would_rescore(
    rep1, rescores, monkeypatch, django_capture_on_commit_callbacks
):
    # The control experiment of the test above: the coalescing is what makes it one.
    monkeypatch.setattr(scoring, "later_event_rescores", lambda *args: False)
    lead = LeadFactory(owner=rep1)

    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        for _ in range(3):
            log(rep1, lead, type="email", direction="inbound")

    assert rescores == [1, 1, 1]


def test_activities_in_separate_transactions_rescore_each_time(
    rep1, rescores, django_capture_on_commit_callbacks
):
    lead = LeadFactory(owner=rep1)

    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            log(rep1, lead, type="email", direction="inbound")

    assert rescores == [1, 1]
    lead.refresh_from_db()
    assert lead.lead_score_factors["signals"]["inbound_emails"] == 2


def test_a_new_lead_is_scored_when_created(rep1, rescores, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        lead = lead_services.lead_create(
            by=rep1,
            name="Fleet telematics",
            source="referral",
            company_name="Acme",
            contact_email="ann@acme.io",
        )

    lead.refresh_from_db()
    assert rescores == [1]
    # demographic (0 + 0 + 100 + 100)/4 = 50 → 0.25 × 50 + 0.15 × 50 = 20
    assert lead.lead_score == 20
    assert lead.score_updated_at is not None


def test_an_edit_of_an_input_rescores(rep1, rescores, django_capture_on_commit_callbacks):
    lead = LeadFactory(owner=rep1, source="other")

    with django_capture_on_commit_callbacks(execute=True):
        lead_services.lead_update(by=rep1, lead=lead, data={"source": "referral"})

    lead.refresh_from_db()
    assert rescores == [1]
    assert lead.lead_score == 20


def test_completing_an_activity_rescores(rep1, rescores, django_capture_on_commit_callbacks):
    lead = LeadFactory(owner=rep1)
    with django_capture_on_commit_callbacks(execute=True):
        call = log(rep1, lead, type="call", direction="outbound", is_done=False)
    assert rescores == [1]

    with django_capture_on_commit_callbacks(execute=True):
        activity_services.activity_complete(by=rep1, activity=call)

    assert rescores == [1, 1]
    lead.refresh_from_db()
    assert lead.lead_score_factors["signals"]["calls"] == 1


def test_events_about_finished_leads_do_not_rescore(
    rep1, rescores, django_capture_on_commit_callbacks
):
    lead = LeadFactory(owner=rep1)
    lead_services.lead_disqualify(by=rep1, lead=lead, reason="No budget")

    with django_capture_on_commit_callbacks(execute=True):
        log(rep1, lead, type="email", direction="inbound")

    assert rescores == []


def test_an_event_handled_twice_rescores_once(rep1, rescores):
    lead = LeadFactory(owner=rep1)
    event = events.emit("lead.updated", actor=rep1, lead_id=lead.pk, fields=["source"], touch={})

    assert events.process(event.pk)
    assert events.process(event.pk)

    assert rescores == [1]


def test_auto_qualification_from_an_event_happens_once_with_history(
    rep1, steps, django_capture_on_commit_callbacks
):
    active_profile(auto_qualify_threshold=20)
    lead = LeadFactory(owner=rep1, source="other")

    with django_capture_on_commit_callbacks(execute=True):
        lead_services.lead_update(by=rep1, lead=lead, data={"source": "referral"})
    with django_capture_on_commit_callbacks(execute=True):
        lead_services.lead_update(by=rep1, lead=lead, data={"description": "Still keen"})

    lead.refresh_from_db()
    assert lead.is_qualified
    assert lead.wfm_project.current_step.name == "Qualified"
    assert AutoQualification.objects.filter(lead=lead).count() == 1
    history = [
        h for h in lead_services.selectors.lead_timeline_history(lead=lead) if h.get("reason")
    ]
    assert history[0]["reason"] == "Auto-qualified: score 20 ≥ 20"
    assert Event.objects.filter(name="lead.qualified").count() == 1
    assert Lead.objects.filter(is_qualified=True).count() == 1


def test_an_ai_analysis_stored_on_the_lead_rescores_it(
    rep1, rescores, django_capture_on_commit_callbacks
):
    from aiagent import services as ai_services

    lead = LeadFactory(owner=rep1)

    with django_capture_on_commit_callbacks(execute=True):
        ai_services.lead_set_insights(
            by=rep1, lead=lead, insights={"budget": {"level": "confirmed"}, "intent": "high"}
        )

    lead.refresh_from_db()
    assert rescores == [1]
    ai = next(c for c in lead.lead_score_factors["categories"] if c["key"] == "ai")
    # budget 100, intent 85, the four other keys neutral 50: (100 + 85 + 4 × 50) / 6
    assert ai["score"] == round(385 / 6, 1)
    assert {f["key"]: f["score"] for f in ai["factors"]}["budget"] == 100
