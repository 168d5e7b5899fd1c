"""The scoring rules, computed by hand (no database)."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from leads.scoring.factors import LeadInputs, Settings, Signals, compute, insight_score

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def settings(**overrides) -> Settings:
    values = {
        "name": "Test",
        "weights": {"demographic": 0.25, "behavioural": 0.35, "interaction": 0.25, "ai": 0.15},
        "target_industries": frozenset({"software"}),
        "target_company_sizes": frozenset({"51-200"}),
        "target_locations": (),
        "source_values": {"referral": 100, "web": 70},
        "saturation": {
            "inbound_emails": 5,
            "form_submissions": 3,
            "web_visits": 10,
            "content_downloads": 3,
            "calls": 3,
            "meetings": 2,
        },
        "response_time_bands": ((1, 100), (4, 85), (24, 60), (72, 30), (168, 10)),
        "recency_half_life_days": 14,
        "decay_after_days": 30,
        "decay_half_life_days": 60,
    }
    values.update(overrides)
    return Settings(**values)


def engaged_lead(**overrides) -> LeadInputs:
    created = NOW - timedelta(days=20)
    values = {
        "created_at": created,
        "source": "referral",
        "company_name": "Acme",
        "contact_email": "ann@acme.io",
        "custom_field_values": {"industry": "Software", "company_size": "11-50"},
        "ai_insights": {
            "budget": "confirmed",
            "authority": "high",
            "need": ["slow reporting", "manual data entry"],
            "timeline": "next quarter",
            "sentiment": 0.8,
            "intent": "High",
        },
        "signals": Signals(
            inbound_emails=2,
            form_submissions=1,
            web_visits=5,
            content_downloads=0,
            calls=1,
            meetings=1,
            first_response_at=created + timedelta(hours=3),
            last_activity_at=NOW - timedelta(days=14),
        ),
    }
    values.update(overrides)
    return LeadInputs(**values)


def factors_of(breakdown: dict, category: str) -> dict[str, dict]:
    cat = next(c for c in breakdown["categories"] if c["key"] == category)
    return {f["key"]: f for f in cat["factors"]}


def category_score(breakdown: dict, category: str) -> float:
    return next(c["score"] for c in breakdown["categories"] if c["key"] == category)


# Hand computation for engaged_lead():
# demographic: industry 100 (target), size 30 (not target), company+domain 100, location not
#   counted (no targets), source referral 100                      → (100+30+100+100)/4 = 82.5
# behavioural: emails 2/5 → 40, forms 1/3 → 33, visits 5/10 → 50, downloads 0 → (123)/4 = 30.75
# interaction: response 3 h ≤ 4 h → 85, calls 1/3 → 33, meetings 1/2 → 50,
#   recency 14 days with half-life 14 → 50                         → 218/4 = 54.5
# AI: budget 100, authority 85, need 2 items → 100, timeline 65, sentiment 0.8 → 80,
#   intent 85                                                         → 515/6 = 85.833…
DEMO, BEHAV, INTER, AI = 82.5, 30.75, 54.5, 515 / 6


def test_each_factor_scores_as_computed_by_hand():
    breakdown = compute(engaged_lead(), settings(), NOW)

    demographic = factors_of(breakdown, "demographic")
    assert demographic["industry"]["score"] == 100
    assert demographic["industry"]["reason"] == "Software is a target industry."
    assert demographic["company_size"]["score"] == 30
    assert demographic["company_domain"]["score"] == 100
    assert "acme.io" in demographic["company_domain"]["reason"]
    assert demographic["location"]["counted"] is False
    assert demographic["source"]["score"] == 100
    assert category_score(breakdown, "demographic") == DEMO

    behavioural = factors_of(breakdown, "behavioural")
    assert [f["score"] for f in behavioural.values()] == [40, 33, 50, 0]
    assert behavioural["inbound_emails"]["reason"] == "2 inbound emails in 90 days; 5 count fully."
    assert category_score(breakdown, "behavioural") == pytest.approx(BEHAV, abs=0.1)

    interaction = factors_of(breakdown, "interaction")
    assert interaction["first_response"]["score"] == 85
    assert "3 h" in interaction["first_response"]["reason"]
    assert interaction["calls"]["score"] == 33
    assert interaction["meetings"]["score"] == 50
    assert interaction["recency"]["score"] == 50
    assert category_score(breakdown, "interaction") == INTER

    ai = factors_of(breakdown, "ai")
    assert {k: f["score"] for k, f in ai.items()} == {
        "budget": 100,
        "authority": 85,
        "need": 100,
        "timeline": 65,
        "sentiment": 80,
        "intent": 85,
    }
    assert category_score(breakdown, "ai") == pytest.approx(AI, abs=0.1)


def test_total_is_the_weighted_sum_of_the_categories():
    breakdown = compute(engaged_lead(), settings(), NOW)

    raw = 0.25 * DEMO + 0.35 * BEHAV + 0.25 * INTER + 0.15 * AI  # 57.8875
    assert breakdown["raw_total"] == pytest.approx(raw, abs=0.05)
    assert breakdown["total"] == 58
    assert breakdown["decay"] is None
    assert [c["weight"] for c in breakdown["categories"]] == [0.25, 0.35, 0.25, 0.15]


def test_changing_a_weight_changes_the_total_as_computed_by_hand():
    heavy_fit = settings(weights={"demographic": 2, "behavioural": 1, "interaction": 1, "ai": 0})
    breakdown = compute(engaged_lead(), heavy_fit, NOW)

    # Weights divided by their sum (4): 0.5, 0.25, 0.25, 0.
    assert [c["weight"] for c in breakdown["categories"]] == [0.5, 0.25, 0.25, 0.0]
    expected = 0.5 * DEMO + 0.25 * BEHAV + 0.25 * INTER  # 62.5625
    assert breakdown["total"] == round(expected) == 63

    only_demographic = settings(
        weights={"demographic": 1, "behavioural": 0, "interaction": 0, "ai": 0}
    )
    assert compute(engaged_lead(), only_demographic, NOW)["total"] == 83  # 82.5 rounds up


def test_inactivity_decays_the_total_after_the_grace_period():
    later = NOW + timedelta(days=60)  # last activity 74 days before
    breakdown = compute(engaged_lead(), settings(), later)

    recency = factors_of(breakdown, "interaction")["recency"]["score"]
    assert recency == round(100 * 0.5 ** (74 / 14)) == 3
    inter = (85 + 33 + 50 + 3) / 4
    raw = 0.25 * DEMO + 0.35 * BEHAV + 0.25 * inter + 0.15 * AI
    multiplier = 0.5 ** ((74 - 30) / 60)
    assert breakdown["decay"]["days_inactive"] == 74
    assert breakdown["decay"]["factor"] == round(multiplier, 3)
    assert "No activity for 74 days" in breakdown["decay"]["reason"]
    assert breakdown["total"] == round(raw * multiplier) == 33


def test_no_decay_when_the_half_life_is_zero():
    breakdown = compute(engaged_lead(), settings(decay_half_life_days=0), NOW + timedelta(days=60))

    assert breakdown["decay"] is None


def test_a_lead_without_any_data_scores_low_and_says_why():
    bare = LeadInputs(created_at=NOW - timedelta(days=2), source="other")
    breakdown = compute(bare, settings(), NOW)

    demographic = factors_of(breakdown, "demographic")
    assert demographic["industry"]["reason"] == "Industry unknown."
    assert demographic["company_domain"]["score"] == 0
    assert demographic["source"]["reason"] == "Other is not a valued source."
    assert factors_of(breakdown, "interaction")["first_response"]["reason"] == (
        "No outbound contact yet."
    )
    assert factors_of(breakdown, "interaction")["recency"]["reason"] == "No activity yet."
    ai = factors_of(breakdown, "ai")
    assert list(ai) == ["ai_analysis"]
    assert ai["ai_analysis"]["score"] == 50
    assert "neutral" in ai["ai_analysis"]["reason"]
    # 0.15 × 50 (AI neutral) + nothing else
    assert breakdown["total"] == 8


def test_free_mail_is_not_a_company_domain_and_the_organization_fills_gaps():
    lead = engaged_lead(
        contact_email="ann@gmail.com",
        custom_field_values={},
        organization_industry="software",
        organization_size="51-200",
        organization_domain="",
    )
    demographic = factors_of(compute(lead, settings(), NOW), "demographic")

    assert demographic["company_domain"]["score"] == 50
    assert "free-mail" in demographic["company_domain"]["reason"]
    assert demographic["industry"]["score"] == 100  # from the organization, any case
    assert demographic["company_size"]["score"] == 100


def test_location_counts_only_when_known_and_targeted():
    targeted = settings(target_locations=("germany",))
    known = engaged_lead(organization_address="Hauptstraße 1, Berlin, Germany")
    unknown = engaged_lead()

    assert factors_of(compute(known, targeted, NOW), "demographic")["location"]["score"] == 100
    location = factors_of(compute(unknown, targeted, NOW), "demographic")["location"]
    assert location["counted"] is False
    elsewhere = engaged_lead(custom_field_values={"country": "France"})
    assert factors_of(compute(elsewhere, targeted, NOW), "demographic")["location"]["score"] == 20


def test_counts_saturate_at_the_profile_setting():
    lead = engaged_lead(signals=Signals(inbound_emails=12, web_visits=10))
    behavioural = factors_of(compute(lead, settings(), NOW), "behavioural")

    assert behavioural["inbound_emails"]["score"] == 100
    assert behavioural["web_visits"]["score"] == 100


@pytest.mark.parametrize(
    ("hours", "score"),
    [(0.5, 100), (1, 100), (2, 85), (23, 60), (48, 30), (100, 10), (200, 0)],
)
def test_first_response_time_falls_in_its_band(hours, score):
    created = NOW - timedelta(days=30)
    lead = engaged_lead(
        created_at=created,
        signals=Signals(first_response_at=created + timedelta(hours=hours)),
    )
    assert (
        factors_of(compute(lead, settings(), NOW), "interaction")["first_response"]["score"]
        == score
    )


@pytest.mark.parametrize(
    ("key", "value", "score"),
    [
        ("budget", True, 100),
        ("budget", {"level": "low", "confidence": 0.9}, 30),
        ("budget", {"score": 72}, 72),
        ("budget", "Approved €50k for Q3", 75),
        ("budget", "No budget until next year", 30),
        ("sentiment", -0.5, 25),
        ("sentiment", "negative", 10),
        ("intent", 0.9, 90),
        ("timeline", "immediate", 100),
        ("need", ["reporting"], 75),
    ],
)
def test_ai_insights_accept_the_usual_shapes(key, value, score):
    assert insight_score(key, value)[0] == score


def test_ai_keys_missing_from_an_analysis_are_neutral():
    lead = engaged_lead(ai_insights={"intent": "high"})
    ai = factors_of(compute(lead, settings(), NOW), "ai")

    assert ai["intent"]["score"] == 85
    assert ai["budget"]["score"] == 50
    assert ai["budget"]["reason"] == "Not in the analysis: neutral 50."


def test_total_stays_within_0_and_100():
    perfect = engaged_lead(
        custom_field_values={"industry": "software", "company_size": "51-200"},
        ai_insights=dict.fromkeys(("budget", "authority", "need", "timeline", "sentiment"), 1.0)
        | {"intent": 1.0},
        signals=Signals(
            inbound_emails=9,
            form_submissions=9,
            web_visits=99,
            content_downloads=9,
            calls=9,
            meetings=9,
            first_response_at=NOW - timedelta(days=20),
            last_activity_at=NOW,
        ),
    )
    assert compute(perfect, settings(), NOW)["total"] == 100


def test_the_ai_agents_analysis_shape_is_understood():
    # aiagent.analysis stores {"level", "summary", …} per key, with its level words.
    insights = {
        "budget": {"level": "confirmed", "summary": "€50k approved", "amount": "50000"},
        "authority": {"level": "influencer", "summary": "Head of IT, CFO signs"},
        "need": {"level": "high", "summary": "Manual reporting", "pain_points": ["reports"]},
        "timeline": {"level": "next quarter", "summary": "Start in Q3", "date": "2026-07-01"},
        "sentiment": {"level": "positive", "summary": "Keen", "polarity": 0.6},
        "intent": {"level": "ready to buy", "summary": "Asked for a quote"},
        "next_actions": [{"type": "call", "subject": "Send quote"}],
        "source": "rules",
    }
    ai = factors_of(compute(engaged_lead(ai_insights=insights), settings(), NOW), "ai")

    assert {k: f["score"] for k, f in ai.items()} == {
        "budget": 100,
        "authority": 65,
        "need": 85,
        "timeline": 65,
        "sentiment": 85,
        "intent": 100,
    }
    assert ai["budget"]["reason"] == "“confirmed”: €50k approved."


def test_the_stored_json_is_the_breakdown():
    from leads.scoring.factors import Scorer

    scorer = Scorer(settings(), NOW + timedelta(days=60))  # with a decay
    for lead in (engaged_lead(), LeadInputs(created_at=NOW - timedelta(days=200))):
        total, breakdown, document = scorer.score(lead)
        assert json.loads(document) == breakdown
        assert scorer.score(lead, as_dict=False) == (total, None, document)
