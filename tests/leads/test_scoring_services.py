"""Rescoring through the services: stored breakdown, history, events, decay, bulk, and
auto-qualification."""

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crm.models import Event
from crm.services import SYSTEM_USERNAME
from leads import services as lead_services
from leads.models import AutoQualification, Lead, LeadScoreSnapshot, ScoringProfile
from leads.scoring import services as scoring
from leads.tasks import rescore_all_leads
from tests.customfields.factories import CustomFieldFactory
from tests.factories import OrganizationFactory
from tests.leads.factories import LeadFactory
from tests.leads.scoring_factories import active_profile, activity
from wfm.defaults import LeadStep
from wfm.models import StatusHistory

pytestmark = pytest.mark.django_db

# A LeadFactory lead with the default profile: industry 0 and size 0 (unknown), company with
# its own domain 100, web source 70 → demographic 42.5; no activity → behavioural and
# interaction 0; no AI analysis → 50. Total 0.25 × 42.5 + 0.15 × 50 = 18.125.
BASELINE = 18


def score_changed_events(lead):
    return Event.objects.filter(name="lead.score_changed", payload__lead_id=str(lead.pk))


def test_rescore_stores_score_breakdown_and_time():
    lead = LeadFactory()

    scoring.lead_rescore(by=lead.owner, lead=lead)

    lead.refresh_from_db()
    assert lead.lead_score == BASELINE
    assert lead.score_updated_at is not None
    breakdown = lead.lead_score_factors
    assert breakdown["total"] == BASELINE
    assert [c["key"] for c in breakdown["categories"]] == [
        "demographic",
        "behavioural",
        "interaction",
        "ai",
    ]
    for category in breakdown["categories"]:
        assert set(category) >= {"name", "weight", "score", "factors"}
        for factor in category["factors"]:
            assert set(factor) >= {"name", "score", "reason"}
            assert 0 <= factor["score"] <= 100


def test_a_moved_score_is_snapshotted_and_announced_once():
    lead = LeadFactory()

    scoring.lead_rescore(by=lead.owner, lead=lead)
    scoring.lead_rescore(by=lead.owner, lead=lead)  # nothing changed: no new snapshot/event

    assert list(LeadScoreSnapshot.objects.filter(lead=lead).values_list("score", flat=True)) == [
        BASELINE
    ]
    (event,) = score_changed_events(lead)
    assert event.payload == {"lead_id": str(lead.pk), "old": 0, "new": BASELINE}
    assert event.actor == lead.owner


def test_rescore_does_not_write_lead_history_or_touch_updated_at():
    lead = LeadFactory()
    updated_at = Lead.objects.get(pk=lead.pk).updated_at
    history_rows = lead.history.count()

    scoring.lead_rescore(by=lead.owner, lead=lead)

    lead.refresh_from_db()
    assert lead.updated_at == updated_at
    assert lead.history.count() == history_rows


def test_activities_feed_behavioural_and_interaction_factors():
    lead = LeadFactory()
    created = lead.created_at
    activity(lead, type="email", direction="inbound", at=created + timedelta(hours=5))
    activity(lead, type="email", direction="inbound", at=created + timedelta(hours=6))
    activity(lead, type="note", metadata={"kind": "form_submission"})
    activity(lead, type="email", direction="inbound", metadata={"kind": "form_submission"})
    for _ in range(3):
        activity(lead, type="note", metadata={"kind": "web_visit"})
    activity(lead, type="note", metadata={"kind": "content_download"})
    activity(lead, type="call", direction="outbound", at=created + timedelta(hours=2))
    activity(lead, type="call", direction="outbound", is_done=False)  # planned: not held
    activity(lead, type="meeting", at=created + timedelta(days=3))
    # Not counted: automation's own activities, and signals older than the 90-day window.
    activity(lead, type="email", direction="inbound", is_system_activity=True)
    activity(lead, type="note", metadata={"kind": "web_visit"}, at=created - timedelta(days=91))

    scoring.lead_rescore(by=lead.owner, lead=lead)

    breakdown = lead.lead_score_factors
    assert breakdown["signals"] == {
        "inbound_emails": 2,
        "form_submissions": 2,
        "web_visits": 3,
        "content_downloads": 1,
        "calls": 1,
        "meetings": 1,
        "responded": True,
    }
    factors = {f["key"]: f["score"] for c in breakdown["categories"] for f in c["factors"]}
    assert factors["inbound_emails"] == 40  # 2 of 5
    assert factors["form_submissions"] == 67  # 2 of 3
    assert factors["web_visits"] == 30  # 3 of 10
    assert factors["content_downloads"] == 33  # 1 of 3
    assert factors["first_response"] == 85  # the call after 2 h: within 4 h
    assert factors["calls"] == 33
    assert factors["meetings"] == 50
    assert factors["recency"] == 100
    # demographic 42.5; behavioural (40+67+30+33)/4 = 42.5; interaction (85+33+50+100)/4 = 67;
    # AI 50 → 0.25×42.5 + 0.35×42.5 + 0.25×67 + 0.15×50 = 49.75
    assert lead.lead_score == 50


def test_custom_fields_named_in_the_profile_feed_the_fit_factors():
    lead = LeadFactory(
        custom_field_values={"industry": ["Retail", "Software"], "company_size": "51-200"}
    )

    scoring.lead_rescore(by=None, lead=lead)

    factors = {f["key"]: f for f in lead.lead_score_factors["categories"][0]["factors"]}
    assert factors["industry"]["score"] == 100
    assert factors["industry"]["reason"] == "Retail, Software is a target industry."
    assert factors["company_size"]["score"] == 100
    # demographic (100 + 100 + 100 + 70)/4 = 92.5 → 0.25 × 92.5 + 0.15 × 50 = 30.6
    assert lead.lead_score == 31


def test_bulk_rescore_costs_the_same_queries_for_few_and_many_leads():
    def queries_for(count: int) -> int:
        leads = LeadFactory.create_batch(count)
        for lead in leads:
            activity(lead, type="call", direction="outbound")
        qs = Lead.objects.filter(pk__in=[lead.pk for lead in leads])
        with CaptureQueriesContext(connection) as ctx:
            result = scoring.rescore_leads(qs, dispatch_events=False)
        assert result.scored == result.changed == count
        return len(ctx.captured_queries)

    assert queries_for(3) == queries_for(25)


def test_bulk_rescore_works_in_batches():
    leads = LeadFactory.create_batch(7)
    progress = []

    result = scoring.rescore_leads(
        Lead.objects.filter(pk__in=[lead.pk for lead in leads]),
        batch_size=3,
        progress=lambda done, total: progress.append(done),
        dispatch_events=False,
    )

    assert result.scored == 7
    assert progress == [3, 6, 7]
    assert set(
        Lead.objects.filter(pk__in=[lead.pk for lead in leads]).values_list("lead_score", flat=True)
    ) == {BASELINE}


# Batches of at least ``COPY_FROM`` leads are stored set-based on PostgreSQL (COPY into a
# temporary table, then one statement per kind of row); smaller ones row by row. Setting it to
# 1 sends even one lead down the set-based path.
SET_BASED = pytest.param(
    1,
    id="set-based",
    marks=pytest.mark.skipif(
        connection.vendor != "postgresql", reason="COPY is the PostgreSQL bulk path"
    ),
)
ROW_BY_ROW = pytest.param(10**9, id="row-by-row")


@pytest.mark.parametrize("copy_from", [SET_BASED, ROW_BY_ROW])
def test_score_history_is_capped_per_lead(monkeypatch, copy_from):
    monkeypatch.setattr(scoring, "COPY_FROM", copy_from)
    monkeypatch.setattr(scoring, "SNAPSHOTS_KEPT", 3)
    lead = LeadFactory()
    for source in ["web", "referral", "other", "partner", "cold_call"]:
        Lead.objects.filter(pk=lead.pk).update(source=source)
        scoring.lead_rescore(by=None, lead=lead)

    kept = list(LeadScoreSnapshot.objects.filter(lead=lead).values_list("score", flat=True))
    # 0.25 × (100 + source value)/4 + 7.5: web 18, referral 20, other 15, partner 19,
    # cold call 16; the newest three are kept.
    assert kept == [16, 19, 15]


def varied_leads() -> list[Lead]:
    """Leads whose every factor differs: activities of each kind, custom fields, an AI
    analysis, an idle one (decayed), a bare one."""
    now = timezone.now()
    engaged = LeadFactory(
        source="referral", custom_field_values={"industry": "Software", "company_size": "51-200"}
    )
    activity(engaged, type="email", direction="inbound", at=now - timedelta(days=3))
    activity(engaged, type="note", metadata={"kind": "web_visit"}, at=now - timedelta(days=2))
    activity(engaged, type="note", metadata={"kind": "form_submission"})
    activity(engaged, type="call", direction="outbound", at=engaged.created_at + timedelta(hours=2))
    activity(engaged, type="meeting", at=now - timedelta(days=1))
    analysed = LeadFactory(
        source="event",
        contact_email="bo@gmail.com",
        ai_insights={"budget": {"level": "confirmed"}, "sentiment": -0.4, "need": ["reports"]},
    )
    activity(analysed, type="email", direction="outbound")
    idle = LeadFactory(source="cold_call")
    Lead.objects.filter(pk=idle.pk).update(
        created_at=now - timedelta(days=200), last_activity_at=now - timedelta(days=120)
    )
    bare = LeadFactory(source="other", company_name="", contact_email="")
    many = LeadFactory.create_batch(3)
    return [engaged, analysed, idle, bare, *many]


def score_state(leads: list[Lead]) -> dict:
    scores = {
        pk: (score, factors)
        for pk, score, factors in Lead.objects.filter(pk__in=[x.pk for x in leads]).values_list(
            "pk", "lead_score", "lead_score_factors"
        )
    }
    snapshots = sorted(LeadScoreSnapshot.objects.values_list("lead_id", "score", "at"))
    events = sorted(
        (e.payload["lead_id"], e.payload["old"], e.payload["new"], e.actor_id)
        for e in Event.objects.filter(name="lead.score_changed")
    )
    return {"scores": scores, "snapshots": snapshots, "events": events}


@pytest.mark.parametrize("copy_from", [SET_BASED, ROW_BY_ROW])
def test_the_full_rescore_and_the_one_lead_rescore_give_the_same_numbers(
    monkeypatch, manager, copy_from
):
    leads = varied_leads()
    now = timezone.now()

    with monkeypatch.context() as patch:
        patch.setattr(scoring, "COPY_FROM", copy_from)
        result = scoring.rescore_leads(
            Lead.objects.all(), by=manager, now=now, batch_size=3, dispatch_events=False
        )
    full = score_state(leads)

    Lead.objects.update(lead_score=0, lead_score_factors={}, score_updated_at=None)
    LeadScoreSnapshot.objects.all().delete()
    Event.objects.filter(name="lead.score_changed").delete()
    for lead in leads:
        scoring.lead_rescore(by=manager, lead=lead, now=now)
    one_by_one = score_state(leads)

    assert result.scored == result.changed == len(leads)
    assert len(result.event_ids) == len(leads)
    assert len({score for score, _ in full["scores"].values()}) >= 4  # the leads do differ
    assert full == one_by_one


def test_nightly_rescore_decays_idle_leads_with_the_clock():
    start = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        lead = LeadFactory()
        Lead.objects.filter(pk=lead.pk).update(last_activity_at=start)

    with time_machine.travel(start + timedelta(days=1), tick=False):
        rescore_all_leads()
    lead.refresh_from_db()
    # recency 100 × 0.5^(1/14) = 95 → interaction 23.75;
    # 0.25 × 42.5 + 0.25 × 23.75 + 0.15 × 50 = 24.06
    assert lead.lead_score == 24
    assert lead.lead_score_factors["decay"] is None

    with time_machine.travel(start + timedelta(days=90), tick=False):
        rescore_all_leads()
    lead.refresh_from_db()
    # recency 100 × 0.5^(90/14) = 1 → interaction 0.25; raw 18.19;
    # decay after 30 days, halving every 60: 0.5^((90 − 30)/60) = 0.5 → 9.09
    assert lead.lead_score_factors["decay"]["factor"] == 0.5
    assert lead.lead_score == 9
    assert list(
        LeadScoreSnapshot.objects.filter(lead=lead).order_by("at").values_list("score", flat=True)
    ) == [24, 9]


def test_nightly_rescore_leaves_finished_leads_alone(steps):
    lead = LeadFactory()
    lead_services.lead_disqualify(by=lead.owner, lead=lead, reason="No budget")

    summary = rescore_all_leads()

    lead.refresh_from_db()
    assert summary["scored"] == 0
    assert lead.score_updated_at is None


# --- auto-qualification ---------------------------------------------------------------------------
def test_lead_reaching_the_threshold_is_qualified_by_the_system_with_history(steps):
    active_profile(auto_qualify_threshold=BASELINE)
    lead = LeadFactory()

    scoring.lead_rescore(by=lead.owner, lead=lead)

    lead.refresh_from_db()
    assert lead.is_qualified
    assert lead.qualified_by.username == SYSTEM_USERNAME
    assert lead.qualification_notes == f"Auto-qualified: score {BASELINE} ≥ {BASELINE}"
    assert lead.wfm_project.current_step == steps[LeadStep.QUALIFIED]
    move = StatusHistory.objects.filter(project=lead.wfm_project).latest("at")
    assert move.reason == f"Auto-qualified: score {BASELINE} ≥ {BASELINE}"
    assert move.changed_by.username == SYSTEM_USERNAME
    assert move.is_system
    assert AutoQualification.objects.get(lead=lead).score == BASELINE
    assert Event.objects.filter(name="lead.qualified", payload__lead_id=str(lead.pk)).exists()


def test_auto_qualification_happens_only_once_per_lead(steps):
    active_profile(auto_qualify_threshold=BASELINE)
    lead = LeadFactory()
    scoring.lead_rescore(by=lead.owner, lead=lead)
    lead.refresh_from_db()
    # A rep disqualifies it, then reopens it: it is back in New Lead, unqualified.
    lead_services.lead_disqualify(by=lead.owner, lead=lead, reason="Wrong contact")
    lead_services.lead_transition(by=lead.owner, lead=lead, to_step=steps[LeadStep.NEW_LEAD])
    lead.refresh_from_db()
    assert not lead.is_qualified

    scoring.lead_rescore(by=lead.owner, lead=lead)

    lead.refresh_from_db()
    assert not lead.is_qualified
    assert lead.wfm_project.current_step == steps[LeadStep.NEW_LEAD]
    assert AutoQualification.objects.filter(lead=lead).count() == 1


def test_below_the_threshold_or_past_qualified_nothing_happens(steps):
    lead = LeadFactory()  # default threshold 75, score 18
    scoring.lead_rescore(by=lead.owner, lead=lead)
    lead.refresh_from_db()
    assert not lead.is_qualified

    active_profile(auto_qualify_threshold=None)
    scoring.lead_rescore(by=lead.owner, lead=lead)
    lead.refresh_from_db()
    assert not lead.is_qualified
    assert not AutoQualification.objects.exists()


def test_a_guard_refusing_the_move_leaves_the_lead_for_a_later_try(steps):
    qualified = steps[LeadStep.QUALIFIED]
    qualified.required_fields = ["estimated_close_date"]
    qualified.save(update_fields=["required_fields"])
    active_profile(auto_qualify_threshold=BASELINE)
    lead = LeadFactory(estimated_close_date=None)

    scoring.lead_rescore(by=lead.owner, lead=lead)

    lead.refresh_from_db()
    assert not lead.is_qualified
    assert not AutoQualification.objects.filter(lead=lead).exists()
    assert lead.lead_score == BASELINE  # the score itself is stored


# --- profile ------------------------------------------------------------------------------------
def test_default_profile_is_installed_and_active():
    profile = ScoringProfile.objects.get(is_active=True)
    assert profile.weights == {
        "demographic": 0.25,
        "behavioural": 0.35,
        "interaction": 0.25,
        "ai": 0.15,
    }
    assert profile.auto_qualify_threshold == 75


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        (
            {
                "weight_demographic": 0,
                "weight_behavioural": 0,
                "weight_interaction": 0,
                "weight_ai": 0,
            },
            "__all__",
            "add up to 0",
        ),
        ({"weight_ai": -1}, "weight_ai", "greater than or equal to 0"),
        ({"response_time_bands": [[4, 80], [1, 100]]}, "response_time_bands", "increasing"),
        ({"response_time_bands": [[1, 120]]}, "response_time_bands", "from 0 to 100"),
        ({"source_values": {"carrier_pigeon": 10}}, "source_values", "Unknown sources"),
        ({"source_values": {"web": "high"}}, "source_values", "0 to 100"),
        ({"target_industries": "Software"}, "target_industries", "list"),
        ({"activity_kinds": {"page_views": ["x"]}}, "activity_kinds", "keys"),
    ],
)
def test_profile_validation_explains_what_is_wrong(changes, field, message):
    profile = ScoringProfile.objects.get(is_active=True)
    for name, value in changes.items():
        setattr(profile, name, value)

    with pytest.raises(ValidationError) as exc:
        profile.full_clean()

    assert message in " ".join(exc.value.message_dict[field])


def test_only_one_profile_can_be_active():
    other = ScoringProfile(name="Aggressive", is_active=True)

    with pytest.raises(ValidationError) as exc:
        other.full_clean()

    assert "only one can be active" in exc.value.message_dict["is_active"][0]


def test_weights_are_read_from_the_active_profile():
    lead = LeadFactory()
    active_profile(weight_demographic=1, weight_behavioural=0, weight_interaction=0, weight_ai=0)

    scoring.lead_rescore(by=None, lead=lead)

    assert lead.lead_score == 43  # demographic alone: 42.5


# --- command ------------------------------------------------------------------------------------
def test_rescore_leads_command_prints_progress_and_a_summary():
    LeadFactory.create_batch(5)
    out = StringIO()

    call_command("rescore_leads", "--batch", "2", stdout=out)

    text = out.getvalue()
    assert "Rescoring 5 open leads" in text
    assert "] 2/5 40%" in text
    assert "] 5/5 100%" in text
    assert "Rescored 5 leads" in text
    assert "5 scores changed" in text
    assert set(Lead.objects.values_list("lead_score", flat=True)) == {BASELINE}


# --- the pipelined bulk rescore (a writer thread with its own connection) -------------------
@pytest.mark.django_db(transaction=True)
def test_pipelined_rescore_stores_every_batch():
    leads = LeadFactory.create_batch(5)
    progress = []

    result = scoring.rescore_leads(
        batch_size=2, pipeline=True, progress=lambda done, total: progress.append(done)
    )

    assert result.scored == result.changed == 5
    assert progress == [2, 4, 5]
    scores = Lead.objects.filter(pk__in=[lead.pk for lead in leads]).values_list(
        "lead_score", flat=True
    )
    assert set(scores) == {BASELINE}
    assert LeadScoreSnapshot.objects.count() == 5


@pytest.mark.django_db(transaction=True)
def test_a_failing_writer_stops_the_pipelined_rescore(monkeypatch):
    LeadFactory.create_batch(5)

    def broken(updates, at):
        raise RuntimeError("disk full")

    monkeypatch.setattr(scoring, "write_scores", broken)

    with pytest.raises(RuntimeError, match="disk full"):
        scoring.rescore_leads(batch_size=2, pipeline=True)
    assert not Lead.objects.exclude(score_updated_at=None).exists()


@pytest.mark.parametrize("copy_from", [SET_BASED, ROW_BY_ROW])
def test_score_events_go_through_the_outbox_and_carry_the_automation_chain(
    monkeypatch, copy_from, django_capture_on_commit_callbacks
):
    """A rescore run by a rule's action writes its events through ``crm.events``: they name
    the rules that caused them (the automation loop guard), on either storing path, and are
    dispatched by one task after commit."""
    from activities.automation import CHAIN_KEY, automation_chain

    monkeypatch.setattr(scoring, "COPY_FROM", copy_from)
    leads = LeadFactory.create_batch(3)
    qs = Lead.objects.filter(pk__in=[lead.pk for lead in leads])
    with (
        django_capture_on_commit_callbacks(execute=False) as callbacks,
        automation_chain((41, 42)),
    ):
        result = scoring.rescore_leads(qs, pipeline=False)
    events = Event.objects.filter(name="lead.score_changed")
    assert sorted(result.event_ids) == sorted(events.values_list("pk", flat=True))
    assert len(result.event_ids) == 3
    assert all(e.payload[CHAIN_KEY] == [41, 42] for e in events)
    assert {e.payload["lead_id"] for e in events} == {str(lead.pk) for lead in leads}
    assert len(callbacks) == 1


@pytest.mark.django_db(transaction=True)
def test_pipelined_rescore_events_carry_the_automation_chain():
    """The pipelined writer thread emits in a copy of the caller's context."""
    from activities.automation import CHAIN_KEY, automation_chain

    leads = LeadFactory.create_batch(2)
    qs = Lead.objects.filter(pk__in=[lead.pk for lead in leads])
    with automation_chain((7,)):
        scoring.rescore_leads(qs, pipeline=True, dispatch_events=False)
    events = Event.objects.filter(name="lead.score_changed")
    assert events.count() == 2
    assert all(e.payload[CHAIN_KEY] == [7] for e in events)


# --- leads created in bulk are inserted scored ----------------------------------------------------
def test_leads_created_in_bulk_are_stored_with_the_scores_a_rescore_gives(rep1):
    organization = OrganizationFactory(
        name="Contoso", industry="Software", size="51-200", domain="contoso.com", owner=rep1
    )
    rows = [
        {"name": "Plain", "contact_email": "a@gmail.com"},
        {
            "name": "Referral",
            "source": "referral",
            "company_name": "Acme",
            "contact_email": "b@acme.io",
        },
        {
            "name": "Fit",
            "company_name": "Contoso",
            "organization": organization,
            "custom_field_values": {"industry": ["Retail", "Software"], "company_size": "51-200"},
        },
    ]
    CustomFieldFactory(
        entity_type="lead", name="industry", type="multi_select", options=["Retail", "Software"]
    )
    CustomFieldFactory(entity_type="lead", name="company_size")

    created = lead_services.lead_create_many(by=rep1, rows=rows)
    assert not [r for r in created if not isinstance(r, Lead)], created

    leads = list(Lead.objects.filter(pk__in=[lead.pk for lead in created]).order_by("name"))
    stored = {lead.name: (lead.lead_score, lead.lead_score_factors) for lead in leads}
    assert all(lead.score_updated_at is not None and lead.lead_score > 0 for lead in leads)
    assert len({score for score, _ in stored.values()}) == 3  # the inputs tell them apart

    result = scoring.rescore_leads(Lead.objects.filter(pk__in=[lead.pk for lead in leads]))

    assert result.changed == 0
    for lead in leads:
        lead.refresh_from_db()
        assert (lead.lead_score, lead.lead_score_factors) == stored[lead.name]
        # as a rescore of a new lead records it: one snapshot, one event from 0
        assert list(
            LeadScoreSnapshot.objects.filter(lead=lead).values_list("score", flat=True)
        ) == [lead.lead_score]
        assert [(e.payload["old"], e.payload["new"]) for e in score_changed_events(lead)] == [
            (0, lead.lead_score)
        ]


def test_leads_created_in_bulk_reaching_the_threshold_are_auto_qualified(rep1, steps):
    active_profile(auto_qualify_threshold=BASELINE)

    lead, low = lead_services.lead_create_many(
        by=rep1,
        rows=[
            {  # as BASELINE's lead: own domain, web source
                "name": "Reaches",
                "source": "web",
                "company_name": "Acme",
                "contact_email": "x@acme.io",
            },
            {"name": "Below", "source": "cold_call"},
        ],
    )

    lead.refresh_from_db()
    low.refresh_from_db()
    assert lead.lead_score >= BASELINE > low.lead_score
    assert lead.is_qualified and lead.wfm_project.current_step == steps[LeadStep.QUALIFIED]
    assert not low.is_qualified
    created, qualified = (
        Event.objects.filter(name=name, payload__lead_id=str(lead.pk)).get().pk
        for name in ("lead.created", "lead.qualified")
    )
    assert created < qualified  # announced in the order they happened
