"""Qualification analysis: the offline analyser's extractions, storing insights (which feeds
the score), suggested field values and applying them, the API and the panel."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from aiagent import analysis, services
from crm.events import EVENT_NAMES
from crm.models import Event
from customfields.services import custom_field_create
from leads.models import Lead
from tests.aiagent.conftest import tool_reply
from tests.aiagent.factories import make_lead

pytestmark = pytest.mark.django_db

TODAY = date(2026, 1, 15)

CALL_NOTES = """Spoke with Dana, the CTO at Northwind. They have a budget of $50k approved for
this project. They're struggling with manual spreadsheets and losing deals because follow-ups
slip. Want to go live next quarter. Dana was very excited about the demo and asked us to send
a proposal."""

EMAIL = """Hi, thanks for the info. Our budget is around 50,000 EUR but I need to check with my
manager before we commit. We'd want this within 3 months. Honestly we're a bit concerned about
the price."""


def rules(text: str, **kwargs) -> dict:
    return analysis.analyze_rules(text, today=TODAY, definitions=[], **kwargs)


def test_call_notes_are_extracted():
    insights = rules(CALL_NOTES)
    assert insights["budget"] == {
        "level": "confirmed",
        "amount": "50000.00",
        "currency": "USD",
        "summary": insights["budget"]["summary"],
    }
    assert "$50k" in insights["budget"]["summary"]
    assert insights["authority"]["level"] == "decision maker"
    assert insights["authority"]["title"] == "CTO"
    assert insights["need"]["level"] == "high"
    assert any("spreadsheets" in p for p in insights["need"]["pain_points"])
    assert insights["timeline"]["level"] == "next quarter"
    assert insights["timeline"]["date"] == "2026-06-30"
    assert insights["sentiment"]["level"] == "positive"
    assert insights["intent"]["level"] == "high"
    subjects = [a["subject"] for a in insights["next_actions"]]
    assert "Send the proposal" in subjects and "Schedule the product demo" in subjects
    assert "Confirm the budget" not in subjects
    assert insights["source"] == "rules"


def test_email_with_an_approver_and_concerns():
    insights = rules(EMAIL)
    assert insights["budget"]["amount"] == "50000.00"
    assert insights["budget"]["currency"] == "EUR"
    assert insights["budget"]["level"] == "strong"
    assert insights["authority"]["level"] == "influencer"
    assert insights["timeline"]["date"] == "2026-04-15"
    assert insights["timeline"]["level"] == "this quarter"
    assert insights["sentiment"]["level"] == "negative"
    assert "intent" not in insights
    subjects = [a["subject"] for a in insights["next_actions"]]
    assert "Meet the decision maker" in subjects and "Address their concerns" in subjects


@pytest.mark.parametrize(
    ("text", "amount", "currency"),
    [
        ("They can spend $1.5m next year.", "1500000.00", "USD"),
        ("A budget of € 20.000 is set aside.", "20000.00", "EUR"),
        ("Around £30,000 for the rollout.", "30000.00", "GBP"),
        ("Roughly 100k dollars in total.", "100000.00", "USD"),
        ("Our budget is 15000 for this.", "15000.00", None),
        ("Budget: 20k", "20000.00", None),
    ],
)
def test_budget_amounts(text, amount, currency):
    budget = rules(text)["budget"]
    assert budget["amount"] == amount
    assert budget.get("currency") == currency


@pytest.mark.parametrize(
    ("text", "level", "day"),
    [
        ("We need this by March.", "this quarter", "2026-03-31"),
        ("Decision by end of Q2 2026.", "next quarter", "2026-06-30"),
        ("Go-live within 2 weeks, it is urgent.", "immediate", "2026-01-22"),
        ("They want to start next year.", "next year", "2027-06-30"),
        ("No rush on their side.", "later", None),
        ("Launch this month please.", "this month", "2026-01-31"),
    ],
)
def test_timelines(text, level, day):
    timeline = rules(text)["timeline"]
    assert timeline["level"] == level
    assert timeline.get("date") == day


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("I'm the decision maker here.", "decision maker"),
        ("Spoke to the Head of Operations.", "decision maker"),
        ("Their Director of IT joined.", "decision maker"),
        ("I sign off on purchases.", "decision maker"),
        ("She has to ask her VP first; needs approval from finance.", "influencer"),
    ],
)
def test_authority(text, level):
    assert rules(text)["authority"]["level"] == level


def test_negative_signals():
    insights = rules("We are happy with our current tool, no need to change. Not interested.")
    assert insights["need"]["level"] == "low"
    assert insights["intent"]["level"] == "not interested"
    assert rules("There is no budget this year.")["budget"]["level"] == "no budget"


def test_text_without_signals_gives_only_next_actions():
    insights = rules("Had lunch.")
    assert not {"budget", "authority", "need", "timeline", "intent"} & set(insights)
    assert insights["next_actions"]


def test_suggested_fields_match_custom_fields(rep1, manager):
    for name, label, kind, options in [
        ("budget", "Budget", "decimal", []),
        ("decision_maker", "Decision maker", "boolean", []),
        ("timeline", "Timeline", "dropdown", ["This quarter", "Next quarter", "Next year"]),
        ("pain_points", "Pain points", "long_text", []),
        ("industry", "Industry", "text", []),
    ]:
        custom_field_create(
            by=manager, entity_type="lead", name=name, label=label, type=kind, options=options
        )
    lead = make_lead(rep1, "Northwind", estimated_value=Decimal("10000"))
    insights = analysis.analyze_rules(CALL_NOTES, lead=lead, today=TODAY)
    fields = {s["field"]: s for s in insights["suggested_fields"]}
    assert fields["estimated_value"]["value"] == "50000.00"
    assert fields["estimated_value"]["currency"] == "USD"
    assert fields["estimated_close_date"]["value"] == "2026-06-30"
    assert fields["cf:budget"]["value"] == "50000.00"
    assert fields["cf:decision_maker"]["value"] is True
    assert fields["cf:timeline"]["value"] == "Next quarter"
    assert "spreadsheets" in fields["cf:pain_points"]["value"]
    assert "cf:industry" not in fields


def test_analysing_stores_insights_and_feeds_the_score(rep1, django_capture_on_commit_callbacks):
    lead = make_lead(rep1, "Northwind")
    with django_capture_on_commit_callbacks(execute=True):
        outcome = services.lead_analyze(by=rep1, lead=lead, text=CALL_NOTES)
    assert outcome.stored and outcome.mode == "rules"
    event = Event.objects.filter(name="lead.updated").latest("pk")
    assert event.payload["fields"] == ["ai_insights"] and event.payload["lead_id"] == str(lead.pk)
    lead = Lead.objects.get(pk=lead.pk)
    assert lead.ai_insights["budget"]["level"] == "confirmed"
    ai = next(c for c in lead.lead_score_factors["categories"] if c["key"] == "ai")
    budget = next(f for f in ai["factors"] if f["key"] == "budget")
    assert budget["score"] == 100
    assert "lead.updated" in EVENT_NAMES


def test_analysing_without_text_uses_the_leads_own_texts(rep1):
    lead = make_lead(rep1, "Northwind", description="The CFO approved a budget of $80k.")
    outcome = services.lead_analyze(by=rep1, lead=lead)
    assert outcome.insights["budget"]["amount"] == "80000.00"


def test_nothing_to_analyse_is_a_clear_error(rep1):
    from crm.errors import Conflict

    lead = make_lead(rep1, "Empty")
    with pytest.raises(Conflict) as exc:  # the lead has no text yet: its state, 409
        services.lead_analyze(by=rep1, lead=lead)
    assert exc.value.code == "nothing_to_analyse" and "text" in exc.value.details


def test_claude_analysis_is_normalised(rep1, claude):
    claude.replies = [
        tool_reply(
            (
                "record_insights",
                {
                    "budget": {
                        "level": "confirmed",
                        "summary": "50k approved",
                        "amount": 50000,
                        "currency": "usd",
                    },
                    "authority": {"level": "supreme overlord", "summary": "bogus level"},
                    "intent": {"level": "high", "summary": "asked for a proposal"},
                    "next_actions": [{"type": "call", "subject": "Call Dana", "due_in_days": 500}],
                    "evil": "ignored",
                },
            )
        )
    ]
    lead = make_lead(rep1, "Northwind")
    outcome = services.lead_analyze(by=rep1, lead=lead, text="notes")
    assert outcome.mode == "claude"
    insights = outcome.insights
    assert insights["budget"]["amount"] == "50000.00" and insights["budget"]["currency"] == "USD"
    assert "authority" not in insights and "evil" not in insights
    assert insights["next_actions"] == [
        {"type": "call", "subject": "Call Dana", "due_in_days": 90, "reason": ""}
    ]
    request = claude.requests[0]
    assert request["tool_choice"] == {"type": "tool", "name": "record_insights"}
    assert "<untrusted_record_data" in request["messages"][0]["content"]


def test_claude_failure_falls_back_to_rules(rep1, claude):
    from tests.aiagent.conftest import error_reply

    claude.replies = [error_reply(503, "api_error")]
    lead = make_lead(rep1, "Northwind")
    outcome = services.lead_analyze(by=rep1, lead=lead, text=CALL_NOTES)
    assert outcome.mode == "rules" and "503" in outcome.notice
    assert outcome.insights["budget"]["amount"] == "50000.00"


# --- API and panel --------------------------------------------------------------------------------
def test_analyze_api(rep1, rep2, api_as):
    lead = make_lead(rep1, "Northwind")
    response = api_as(rep1).post(
        f"/api/v1/leads/{lead.pk}/analyze/", {"text": CALL_NOTES}, format="json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["stored"] is True and body["mode"] == "rules"
    assert body["insights"]["authority"]["level"] == "decision maker"
    assert set(body["insights"]) >= {
        "budget",
        "authority",
        "need",
        "timeline",
        "sentiment",
        "intent",
        "next_actions",
        "suggested_fields",
    }
    other = api_as(rep2).post(f"/api/v1/leads/{lead.pk}/analyze/", {"text": "x"}, format="json")
    assert other.status_code == 404
    assert other.json()["error"]["code"] == "not_found"
    empty = api_as(rep1).post(
        f"/api/v1/leads/{make_lead(rep1, 'E').pk}/analyze/", {}, format="json"
    )
    assert empty.status_code == 409 and "text" in empty.json()["error"]["details"]


def test_panel_analyse_and_apply_a_suggested_field(rep1, manager, client):
    custom_field_create(
        by=manager, entity_type="lead", name="budget", label="Budget", type="decimal"
    )
    lead = make_lead(rep1, "Northwind")
    client.force_login(rep1)
    panel = client.get(f"/ai/leads/{lead.pk}/insights/", HTTP_HX_REQUEST="true")
    assert panel.status_code == 200 and "No analysis yet" in panel.content.decode()
    response = client.post(
        f"/ai/leads/{lead.pk}/insights/analyze/", {"text": CALL_NOTES}, HTTP_HX_REQUEST="true"
    )
    html = response.content.decode()
    assert "decision maker" in html and 'data-field="cf:budget"' in html
    response = client.post(
        f"/ai/leads/{lead.pk}/insights/apply/", {"field": "cf:budget"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert "recordSaved" in response["HX-Trigger"]
    lead = Lead.objects.get(pk=lead.pk)
    assert lead.custom_field_values["budget"] == "50000.00"
    assert 'data-field="cf:budget"' not in response.content.decode()
    assert lead.ai_insights["applied_fields"][0]["field"] == "cf:budget"
    response = client.post(
        f"/ai/leads/{lead.pk}/insights/apply/", {"field": "estimated_value"}, HTTP_HX_REQUEST="true"
    )
    lead = Lead.objects.get(pk=lead.pk)
    assert lead.estimated_value == Decimal("50000.00") and lead.currency == "USD"


def test_panel_is_read_only_for_others(world, analyst, client):
    lead = world.leads1[0]
    client.force_login(world.rep2)
    assert client.get(f"/ai/leads/{lead.pk}/insights/").status_code == 404
    assert (
        client.post(
            f"/ai/leads/{lead.pk}/insights/apply/", {"field": "estimated_value"}
        ).status_code
        == 404
    )
    client.force_login(analyst)
    html = client.get(f"/ai/leads/{lead.pk}/insights/").content.decode()
    assert "Analyse" not in html
    assert (
        client.post(
            f"/ai/leads/{lead.pk}/insights/apply/", {"field": "estimated_value"}
        ).status_code
        == 403
    )


def test_apply_takes_the_value_from_the_stored_suggestion(rep1, client):
    lead = make_lead(rep1, "Northwind")
    services.lead_analyze(by=rep1, lead=lead, text=CALL_NOTES)
    client.force_login(rep1)
    client.post(
        f"/ai/leads/{lead.pk}/insights/apply/",
        {"field": "estimated_value", "value": "1"},
        HTTP_HX_REQUEST="true",
    )
    assert Lead.objects.get(pk=lead.pk).estimated_value == Decimal("50000.00")
    response = client.post(
        f"/ai/leads/{lead.pk}/insights/apply/", {"field": "cf:nope"}, HTTP_HX_REQUEST="true"
    )
    assert "no longer there" in response.content.decode()
