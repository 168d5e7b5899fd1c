"""The next-best-action rules (``aiagent.next_action``), one lead's facts in, suggestions out:
each rule fires with its reason and its figures, and does not fire otherwise. No database."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from aiagent import next_action
from aiagent.next_action import ActivityFact, Facts, StepFact

NOW = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)  # a Friday

NEW = StepFact(1, "New Lead", 1, is_initial=True, probability=10, min_score=0)
CONTACTED = StepFact(2, "Contacted", 2, probability=20, min_score=25)
QUALIFIED = StepFact(3, "Qualified", 3, probability=50, min_score=50)
CONVERTED = StepFact(4, "Converted", 4, is_final=True, outcome="won", probability=100, min_score=75)
DISQUALIFIED = StepFact(5, "Disqualified", 5, is_final=True, outcome="lost")
PROPOSAL = StepFact(6, "Proposal sent", 3, probability=50)


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def act(subject: str, type_: str = "call", *, done: bool = True, days: float = 1, **kw):
    """An activity done ``days`` ago, or (``done=False``) due in ``-days`` days."""
    when = ago(days)
    return ActivityFact(
        id=kw.pop("id", f"a-{subject}"),
        type=type_,
        subject=subject,
        due_at=kw.pop("due_at", None if done else when),
        is_done=done,
        done_at=when if done else None,
        created_at=kw.pop("created_at", when if done else ago(30)),
        **kw,
    )


def facts(**overrides) -> Facts:
    """A lead contacted two days ago, score 40, in "Contacted" for three days, nothing planned:
    only the fallback (plan the next step) fires."""
    base = {
        "now": NOW,
        "name": "Acme expansion",
        "contact_name": "Dana Reyes",
        "has_phone": True,
        "has_email": True,
        "created_at": ago(20),
        "source": "Website",
        "score": 40,
        "step": CONTACTED,
        "step_since": ago(3),
        "qualified_step": QUALIFIED,
        "moves": (NEW, QUALIFIED, CONVERTED, DISQUALIFIED),
        "done_activities": (act("Intro call", days=2),),
        "last_activity_at": ago(2),
    }
    base.update(overrides)
    return Facts(**base)


def best(f: Facts):
    return next_action.suggest(f)[0]


def rules(f: Facts) -> list[str]:
    return [s.rule for s in next_action.suggest(f)]


ANALYSED = "2026-12-02T09:00:00+00:00"


# --- the baseline ------------------------------------------------------------------------------
def test_a_lead_in_good_order_gets_only_the_plan_next_fallback():
    suggestions = next_action.suggest(facts())
    assert [s.rule for s in suggestions] == ["plan_next"]
    plan = suggestions[0]
    assert plan.subject == "Plan the next step with Dana Reyes"
    assert plan.reason == "Nothing is planned on this lead and its last activity was 2 days ago."
    assert (plan.type, plan.due_in_days, plan.due, plan.actions) == (
        "task",
        2,
        "in 2 days",
        ("task",),
    )


def test_with_something_planned_the_fallback_is_keep_to_the_plan():
    f = facts(open_activities=(act("Send the case study", "email", done=False, days=-3),))
    suggestion = best(f)
    assert suggestion.rule == "on_track" and not suggestion.is_actionable
    assert suggestion.reason == (
        "The email “Send the case study” is planned for Dec 7; nothing else needs doing now."
    )
    assert rules(facts()) == ["plan_next"]


# --- closed ------------------------------------------------------------------------------------
def test_a_converted_lead_has_nothing_to_do_and_nothing_else():
    f = facts(
        is_converted=True,
        converted_at=ago(3),
        step=CONVERTED,
        open_activities=(act("Overdue thing", "task", done=False, days=4),),
    )
    assert rules(f) == ["closed"]
    assert best(f).reason == "The lead was converted on Dec 1: the work goes on in its deal."
    assert not best(f).is_actionable and best(f).actions == ()


def test_a_disqualified_lead_says_why_there_is_nothing_to_do():
    f = facts(step=DISQUALIFIED, disqualify_reason="No budget this year.")
    assert rules(f) == ["closed"]
    assert best(f).reason == "The lead is in “Disqualified” (No budget this year): nothing to do."


def test_a_final_step_without_outcome_is_closed_too():
    final = StepFact(7, "Archived", 9, is_final=True)
    assert (
        best(facts(step=final)).reason == "The lead is in the final step “Archived”: nothing to do."
    )


def test_an_open_lead_is_not_closed():
    assert next_action.closed(facts()) is None


# --- overdue -----------------------------------------------------------------------------------
def test_an_overdue_activity_comes_first_with_its_days_late():
    f = facts(
        open_activities=(
            act("Send pricing", "task", done=False, days=3, id="t1"),
            act("Check in", "call", done=False, days=1),
        ),
        is_converted=False,
        score=80,  # a move would fire too; overdue still comes first
    )
    suggestion = best(f)
    assert suggestion.rule == "overdue"
    assert suggestion.subject == "Send pricing" and suggestion.type == "task"
    assert suggestion.reason == "“Send pricing” was due Dec 1 (3 days overdue); 1 more overdue."
    assert suggestion.due == "today" and suggestion.actions == ("complete",)
    assert suggestion.activity_id == "t1"


def test_an_activity_due_later_is_not_overdue():
    f = facts(open_activities=(act("Send pricing", "task", done=False, days=-1),))
    assert next_action.overdue(f) is None
    assert "overdue" not in rules(f)


# --- first contact -----------------------------------------------------------------------------
def test_a_lead_nobody_contacted_gets_a_first_call_today():
    f = facts(
        step=NEW, step_since=ago(3), created_at=ago(3), done_activities=(), last_activity_at=None
    )
    suggestion = best(f)
    assert suggestion.rule == "first_contact"
    assert (suggestion.type, suggestion.subject, suggestion.due) == (
        "call",
        "First call to Dana Reyes",
        "today",
    )
    assert suggestion.reason == (
        "Nobody has contacted Dana Reyes yet; the lead came in 3 days ago (source: Website)."
    )


def test_without_a_phone_the_first_contact_is_an_email_that_can_be_drafted():
    f = facts(done_activities=(), has_phone=False, created_at=ago(0), source="")
    suggestion = best(f)
    assert (suggestion.type, suggestion.subject) == ("email", "First email to Dana Reyes")
    assert suggestion.actions == ("task", "draft")
    assert suggestion.reason == "Nobody has contacted Dana Reyes yet; the lead came in today."


def test_a_system_activity_is_not_a_contact_but_a_logged_or_planned_call_is():
    system = act("Converted", "call", is_system=True)
    assert next_action.first_contact(facts(done_activities=(system,))) is not None
    inbound = act("Web form: pricing question", "email", direction="inbound")
    assert next_action.first_contact(facts(done_activities=(inbound,))) is not None
    outbound = act("Intro email", "email", direction="outbound")
    assert next_action.first_contact(facts(done_activities=(outbound,))) is None
    assert next_action.first_contact(facts()) is None
    planned = act("Intro call", "call", done=False, days=-1)
    assert next_action.first_contact(facts(done_activities=(), open_activities=(planned,))) is None


# --- buying signal -----------------------------------------------------------------------------
def test_buying_intent_in_the_analysis_asks_for_the_proposal():
    insights = {
        "analyzed_at": ANALYSED,
        "intent": {"level": "high", "summary": "They asked us to send a proposal."},
    }
    suggestion = best(facts(insights=insights))
    assert suggestion.rule == "buying_signal"
    assert (suggestion.type, suggestion.subject, suggestion.due) == (
        "email",
        "Send the proposal",
        "tomorrow",
    )
    assert suggestion.reason == (
        "The analysis of Dec 2 found high buying intent: “They asked us to send a proposal”."
    )
    assert suggestion.actions == ("task", "draft")
    ready = {"analyzed_at": ANALYSED, "intent": {"level": "ready to buy", "summary": ""}}
    assert best(facts(insights=ready)).subject == "Send the contract"


def test_no_buying_signal_for_medium_intent_or_once_the_proposal_went_out():
    medium = {"analyzed_at": ANALYSED, "intent": {"level": "medium", "summary": "Comparing."}}
    assert next_action.buying_signal(facts(insights=medium)) is None
    high = {"analyzed_at": ANALYSED, "intent": {"level": "high", "summary": "Send a quote."}}
    sent = act("Send the proposal", "email", days=1)
    assert next_action.buying_signal(facts(insights=high, done_activities=(sent,))) is None
    planned = act("Send the proposal", "email", done=False, days=-1)
    assert "buying_signal" not in rules(facts(insights=high, open_activities=(planned,)))


# --- gone quiet --------------------------------------------------------------------------------
def test_quiet_for_nine_days_while_the_score_rose_after_the_webinar_means_call_today():
    f = facts(
        score=78,
        last_activity_at=ago(9),
        done_activities=(act("Intro call", days=9),),
        score_before=(ago(16), 61),
        score_history=((ago(5), 78),),
        last_touch="Spring webinar",
        last_touch_at=ago(5),
    )
    suggestion = best(f)
    assert suggestion.rule == "gone_quiet"
    assert (suggestion.type, suggestion.subject, suggestion.due) == (
        "call",
        "Call Dana Reyes",
        "today",
    )
    assert suggestion.reason == (
        "No activity for 9 days and the score rose to 78 (from 61) since Nov 29 after Spring "
        "webinar → call today."
    )


def test_quiet_without_a_rise_calls_a_cold_lead_tomorrow_and_a_hot_one_today():
    cold = best(facts(last_activity_at=ago(8), score=30, score_history=((ago(10), 28),)))
    assert cold.rule == "gone_quiet" and cold.due == "tomorrow"
    assert cold.reason == "No activity for 8 days (score 30) → call tomorrow."
    hot = best(facts(last_activity_at=ago(8), score=72, moves=()))
    assert hot.due == "today"
    assert hot.reason == "No activity for 8 days; the lead is hot (score 72) → call today."


def test_not_quiet_before_seven_days_or_with_something_planned():
    assert next_action.gone_quiet(facts(last_activity_at=ago(6))) is None
    planned = act("Check in", "call", done=False, days=-2)
    assert (
        next_action.gone_quiet(facts(last_activity_at=ago(12), open_activities=(planned,))) is None
    )


# --- moves -------------------------------------------------------------------------------------
def test_contacted_but_still_new_moves_to_the_next_step():
    f = facts(step=NEW, moves=(CONTACTED, QUALIFIED, DISQUALIFIED), step_since=ago(3))
    suggestion = best(f)
    assert suggestion.rule == "contacted_not_moved"
    assert (suggestion.type, suggestion.subject, suggestion.actions) == (
        "move",
        "Move to Contacted",
        ("move",),
    )
    assert (suggestion.move_to_step_id, suggestion.move_to_step) == (2, "Contacted")
    assert suggestion.reason == (
        "The call “Intro call” on Dec 2 reached Dana Reyes, but the lead is still in “New Lead”."
    )


def test_not_contacted_or_already_past_the_first_step_is_no_move():
    new = facts(step=NEW, moves=(CONTACTED,), done_activities=(), last_activity_at=None)
    assert next_action.contacted_not_moved(new) is None
    assert next_action.contacted_not_moved(facts()) is None


def test_a_score_past_the_qualified_threshold_moves_to_qualified():
    f = facts(score=62, score_before=(ago(20), 45), score_history=((ago(2), 62),))
    suggestion = best(f)
    assert suggestion.rule == "score_reached_step"
    assert (suggestion.subject, suggestion.move_to_step_id) == ("Move to Qualified", 3)
    assert suggestion.reason == (
        "The score is 62 (up from 45 since Dec 2), past the 50 that “Qualified” asks for; "
        "the lead is still in “Contacted”."
    )


def test_a_score_below_the_threshold_or_a_final_step_is_no_move():
    assert next_action.score_reached_step(facts(score=45)) is None
    # 80 passes the converted step's 75, but conversion has its own form.
    only_final = facts(score=80, moves=(CONVERTED, DISQUALIFIED))
    assert next_action.score_reached_step(only_final) is None
    # "Contacted" asks for 25: a score alone does not say the lead was contacted.
    early = facts(step=NEW, score=30, moves=(CONTACTED,), done_activities=(), last_activity_at=None)
    assert next_action.score_reached_step(early) is None


# --- qualified leads ---------------------------------------------------------------------------
def qualified(**overrides) -> Facts:
    base = {
        "step": QUALIFIED,
        "is_qualified": True,
        "qualified_at": ago(4),
        "score": 81,
        "moves": (CONTACTED, CONVERTED, DISQUALIFIED),
    }
    base.update(overrides)
    return facts(**base)


def test_qualified_without_a_meeting_books_one():
    suggestion = best(qualified())
    assert suggestion.rule == "qualified_no_meeting"
    assert (suggestion.type, suggestion.subject, suggestion.due) == (
        "meeting",
        "Book a meeting or demo with Dana Reyes",
        "in 2 days",
    )
    assert (
        suggestion.reason
        == "Qualified 4 days ago with score 81, but no meeting has been held or booked."
    )


def test_a_booked_meeting_means_no_booking_suggestion():
    booked = act("Demo", "meeting", done=False, days=-2)
    f = qualified(open_activities=(booked,))
    assert next_action.qualified_no_meeting(f) is None
    assert best(f).rule == "on_track"
    assert next_action.qualified_no_meeting(facts()) is None  # not qualified


def test_qualified_with_a_meeting_held_is_ready_to_convert():
    held = act("Demo", "meeting", days=1)
    suggestion = best(qualified(done_activities=(held,), last_activity_at=ago(1)))
    assert suggestion.rule == "ready_to_convert"
    assert (suggestion.type, suggestion.subject, suggestion.actions) == (
        "move",
        "Convert to a deal",
        ("convert",),
    )
    assert suggestion.reason == "Qualified with score 81 and the meeting “Demo” was held on Dec 3."
    assert next_action.ready_to_convert(qualified()) is None


# --- BANT gaps ---------------------------------------------------------------------------------
def test_bant_gaps_of_the_latest_analysis_ask_to_confirm_them():
    insights = {
        "analyzed_at": ANALYSED,
        "budget": {"level": "unclear", "summary": "Budget not discussed yet."},
        "authority": {"level": "decision maker", "summary": "CTO"},
        "need": {"level": "high", "summary": "Spreadsheets."},
    }
    suggestion = best(facts(insights=insights))
    assert suggestion.rule == "bant_gaps"
    assert (suggestion.type, suggestion.subject, suggestion.due) == (
        "call",
        "Confirm the budget and the timeline",
        "tomorrow",
    )
    assert suggestion.reason == "The analysis of Dec 2 found no budget amount and no timeline."
    assert [row["state"] for row in next_action.bant_status(insights)] == [
        "open",
        "known",
        "known",
        "unknown",
    ]


def test_no_bant_gaps_without_an_analysis_or_when_all_is_known():
    assert next_action.bant_gaps(facts()) is None
    known = {
        "analyzed_at": ANALYSED,
        "budget": {"level": "confirmed"},
        "authority": {"level": "decision maker"},
        "timeline": {"level": "this quarter"},
    }
    assert next_action.bant_gaps(facts(insights=known)) is None
    influencer = {**known, "authority": {"level": "influencer"}}
    assert next_action.bant_gaps(facts(insights=influencer)).subject == "Confirm the decision maker"


# --- idle steps --------------------------------------------------------------------------------
def test_a_step_held_for_two_weeks_asks_for_a_follow_up():
    suggestion = best(facts(step_since=ago(20)))
    assert suggestion.rule == "step_idle"
    assert suggestion.subject == "Follow up to move past Contacted"
    assert suggestion.reason == "In “Contacted” for 20 days; last activity 2 days ago."


def test_a_proposal_step_idles_after_a_week():
    f = facts(step=PROPOSAL, step_since=ago(8), moves=(), qualified_step=None)
    suggestion = best(f)
    assert (suggestion.rule, suggestion.subject) == ("step_idle", "Follow up on the proposal")
    assert suggestion.reason == "In “Proposal sent” for 8 days; last activity 2 days ago."
    assert next_action.step_idle(facts(step=PROPOSAL, step_since=ago(6))) is None
    assert next_action.step_idle(facts(step_since=ago(13))) is None


# --- the list ----------------------------------------------------------------------------------
def test_every_firing_rule_is_listed_by_priority_without_what_is_planned():
    insights = {"analyzed_at": ANALYSED, "budget": {"level": "unclear"}}
    f = facts(
        score=62,
        step_since=ago(20),
        insights=insights,
        open_activities=(
            act(
                "Confirm the budget, the decision maker and the timeline",
                "call",
                done=False,
                days=-1,
            ),
        ),
    )
    # bant_gaps is planned already: left out; gone_quiet needs silence.
    assert rules(f) == ["score_reached_step", "step_idle"]


@pytest.mark.parametrize(
    ("days", "text"), [(0, "today"), (1, "tomorrow"), (2, "in 2 days"), (14, "in 14 days")]
)
def test_due_reads_as_words(days, text):
    assert next_action.due_text(days) == text


def test_the_tool_shape_keeps_the_analysis_keys():
    move = best(facts(score=62))
    assert move.as_dict() == {
        "rule": "score_reached_step",
        "type": "move",
        "subject": "Move to Qualified",
        "due_in_days": 0,
        "due": "today",
        "reason": move.reason,
        "move_to_step": {"id": 3, "name": "Qualified"},
    }
    assert replace(move, subject="Other").key != move.key
