"""The lead intelligence panel of a lead's page: the next best action with its one-click
actions, the score, the likelihood and BANT; who may act; counting what is shown and applied;
the assistant's tool agreeing with the panel; constant queries; the dashboard's figure."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from activities import services as activity_services
from activities.models import Activity
from aiagent import next_action, registry, selectors, services
from aiagent.models import NextActionSuggestion
from analytics.filters import Filters
from analytics.periods import Period
from crm import permissions
from leads.models import Lead, LeadScoreSnapshot
from tests.aiagent.factories import make_lead

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


def dana_lead(owner, name: str = "Acme expansion", **fields) -> Lead:
    fields.setdefault("contact_name", "Dana Reyes")
    fields.setdefault("contact_phone", "+1 555 0100")
    fields.setdefault("contact_email", "dana@acme.example")
    return make_lead(owner, name, **fields)


def panel_url(lead) -> str:
    return reverse("aiagent:intelligence", args=[lead.pk])


def apply_url(lead) -> str:
    return reverse("aiagent:intelligence_apply", args=[lead.pk])


def panel(client, lead) -> str:
    response = client.get(panel_url(lead), **HX)
    assert response.status_code == 200
    return response.content.decode()


def shown_rule(html: str) -> str:
    match = re.search(r'data-testid="next-best-action" data-rule="([a-z_]+)"', html)
    assert match, "no next best action"
    return match.group(1)


def shown_reason(html: str) -> str:
    match = re.search(r'data-testid="nba-reason">([^<]*)<', html)
    assert match
    return unescape(match.group(1))


def run_tool(user, lead) -> dict:
    ctx = registry.ToolContext(user=user, source="test")
    outcome = registry.execute(ctx, "suggest_next_actions", {"lead_id": str(lead.pk)})
    assert not outcome.error, outcome.result
    return outcome.result


def reload(lead) -> Lead:
    from leads.selectors import lead_get

    return lead_get(user=lead.owner, lead_id=lead.pk)


# --- what the panel shows ----------------------------------------------------------------------
def test_the_panel_shows_the_next_best_action_score_likelihood_and_bant(web, rep1):
    lead = dana_lead(rep1, score=35)
    html = panel(web(rep1), lead)
    assert shown_rule(html) == "first_contact"
    assert "First call to Dana Reyes" in html
    assert shown_reason(html).startswith("Nobody has contacted Dana Reyes yet; the lead came in")
    assert 'data-testid="nba-create-task"' in html and "Create the task" in html
    assert 'data-score="35"' in html and 'data-testid="intel-temperature">Cold<' in html
    # No trained model yet: the estimate, with its terms.
    assert 'data-testid="intel-likelihood-percent"' in html and "estimate" in html
    assert "step probability" in html and "Engagement" in html
    assert 'data-testid="bant-not-analysed"' in html and 'data-testid="intel-analyse"' in html


def test_the_lead_page_loads_the_panel(web, rep1):
    lead = dana_lead(rep1)
    html = web(rep1).get(reverse("leads:detail", args=[lead.pk])).content.decode()
    assert f'hx-get="{panel_url(lead)}"' in html
    assert 'data-testid="lead-intelligence-region"' in html


def test_bant_from_the_latest_analysis(web, rep1):
    lead = dana_lead(rep1)
    services.lead_analyze(
        by=rep1,
        lead=lead,
        text="Call with Dana, CTO. Budget of $50k approved. They want to go live next quarter.",
    )
    html = panel(web(rep1), reload(lead))
    assert 'data-testid="bant-budget" data-state="known"' in html
    assert 'data-testid="bant-authority" data-state="known"' in html
    assert 'data-testid="bant-timeline" data-state="known"' in html
    assert "offline analyser" in html and 'data-testid="bant-not-analysed"' not in html


# --- who may act -------------------------------------------------------------------------------
def test_viewers_and_analysts_see_the_panel_without_buttons(web, rep1, analyst, viewer):
    lead = dana_lead(rep1)
    permissions.share(viewer, lead)
    for user in (analyst, viewer):
        html = panel(web(user), lead)
        assert shown_rule(html) == "first_contact"
        assert 'data-testid="nba-actions"' not in html
        assert 'data-testid="intel-analyse"' not in html
    assert not NextActionSuggestion.objects.exists()  # nobody who could act saw it


def test_a_user_who_cannot_see_the_lead_gets_nothing(web, rep1, rep2):
    lead = dana_lead(rep1)
    assert web(rep2).get(panel_url(lead), **HX).status_code == 404


@pytest.mark.parametrize(("who", "status"), [("analyst", 403), ("rep2", 404), ("viewer", 403)])
def test_a_user_who_may_not_change_the_lead_cannot_apply(request, web, rep1, who, status):
    lead = dana_lead(rep1)
    user = request.getfixturevalue(who)
    if who == "viewer":
        permissions.share(user, lead)
    response = web(user).post(apply_url(lead), {"rule": "first_contact", "action": "task"}, **HX)
    assert response.status_code == status
    assert not Activity.objects.filter(lead=lead).exists()
    assert not NextActionSuggestion.objects.exists()


def test_the_service_refuses_a_user_who_may_not_change_the_lead(rep1, analyst):
    from crm.errors import PermissionDenied

    lead = dana_lead(rep1)
    with pytest.raises(PermissionDenied):
        services.next_action_apply(by=analyst, lead=lead, rule="first_contact", action="task")


# --- one-click actions -------------------------------------------------------------------------
def test_create_the_task_plans_the_activity_and_counts_it(web, rep1):
    lead = dana_lead(rep1)
    client = web(rep1)
    panel(client, lead)
    shown = NextActionSuggestion.objects.get()
    assert (shown.user, shown.lead_id, shown.rule, shown.applied_at) == (
        rep1,
        lead.pk,
        "first_contact",
        None,
    )

    response = client.post(apply_url(lead), {"rule": "first_contact", "action": "task"}, **HX)

    assert response.status_code == 200
    assert "activitySaved" in response["HX-Trigger"]
    activity = Activity.objects.get(lead=lead)
    assert (activity.type, activity.subject, activity.is_done) == (
        "call",
        "First call to Dana Reyes",
        False,
    )
    assert activity.due_at > timezone.now() and activity.assigned_to == rep1
    assert activity.notes.startswith("Nobody has contacted Dana Reyes yet")
    assert activity.metadata == {"next_action": "first_contact"}
    shown.refresh_from_db()
    assert shown.applied_at is not None and shown.applied_action == "task"
    # The call is planned now: the panel says to keep to it.
    html = response.content.decode()
    assert shown_rule(html) == "on_track"
    assert "Keep to the plan: First call to Dana Reyes" in html


def test_move_to_the_next_step_goes_through_the_workflow(web, rep1):
    lead = dana_lead(rep1)
    activity_services.activity_create(by=rep1, type="call", subject="Intro call", lead=lead)
    lead = reload(lead)
    assert shown_rule(panel(web(rep1), lead)) == "contacted_not_moved"

    response = web(rep1).post(
        apply_url(lead), {"rule": "contacted_not_moved", "action": "move"}, **HX
    )

    assert response.status_code == 200 and "recordSaved" in response["HX-Trigger"]
    lead = reload(lead)
    assert lead.wfm_project.current_step.name == "Contacted"
    move = lead.wfm_project.history.order_by("-at", "-pk").first()
    assert move.changed_by == rep1 and move.reason.startswith("The call “Intro call” on")
    applied = NextActionSuggestion.objects.get(rule="contacted_not_moved")
    assert applied.applied_action == "move"


def test_mark_done_completes_the_overdue_activity(web, rep1):
    lead = dana_lead(rep1)
    activity_services.activity_create(by=rep1, type="call", subject="Intro call", lead=lead)
    late = activity_services.activity_create(
        by=rep1,
        type="task",
        subject="Send pricing",
        lead=lead,
        due_at=timezone.now() - timedelta(days=2),
    )
    html = panel(web(rep1), reload(lead))
    assert shown_rule(html) == "overdue" and 'data-testid="nba-complete"' in html

    web(rep1).post(apply_url(lead), {"rule": "overdue", "action": "complete"}, **HX)

    late.refresh_from_db()
    assert late.is_done and late.done_at is not None


def _loader(response) -> tuple[str, str]:
    html = response.content.decode()
    assert 'data-testid="nba-draft-loader"' in html
    found = re.search(r'<div hidden hx-get="([^"]+)" hx-trigger="load" hx-target="([^"]+)"', html)
    return unescape(found.group(1)), found.group(2)


def test_draft_the_email_opens_the_composer_with_a_drafted_email_and_counts(web, rep1):
    lead = dana_lead(rep1, contact_phone="")
    client = web(rep1)
    html = panel(client, lead)
    assert "First email to Dana Reyes" in html and 'data-testid="nba-draft-email"' in html

    response = client.post(apply_url(lead), {"rule": "first_contact", "action": "draft"}, **HX)

    url, target = _loader(response)
    assert url.startswith(reverse("emails:compose", args=["lead", lead.pk]) + "?")
    assert target == "#modal-dialog"
    form = client.get(url, **HX).content.decode()
    assert 'data-testid="compose-modal"' in form
    assert 'value="First email to Dana Reyes"' in form and 'value="dana@acme.example"' in form
    assert "Hi Dana," in form and 'data-testid="compose-draft-note"' in form
    assert not Activity.objects.filter(lead=lead).exists()  # nothing is sent or logged yet
    assert NextActionSuggestion.objects.get().applied_action == "draft"


def test_who_may_not_send_email_gets_the_activity_form_instead(web, rep1, monkeypatch):
    from emails import services as email_services

    monkeypatch.setattr(email_services, "can_send_from", lambda user, record: False)
    lead = dana_lead(rep1, contact_phone="")
    client = web(rep1)
    response = client.post(apply_url(lead), {"rule": "first_contact", "action": "draft"}, **HX)
    url, target = _loader(response)
    assert url.startswith(f"/activities/timeline/lead/{lead.pk}/?") and target == "#timeline"
    form = client.get(url, **HX).content.decode()
    assert 'value="First email to Dana Reyes"' in form
    assert '<option value="email" selected>' in form


def test_a_suggestion_that_no_longer_applies_is_refused(web, rep1):
    lead = dana_lead(rep1)
    response = web(rep1).post(apply_url(lead), {"rule": "bant_gaps", "action": "task"}, **HX)
    assert 'data-testid="nba-error"' in response.content.decode()
    assert "no longer applies" in response.content.decode()
    response = web(rep1).post(apply_url(lead), {"rule": "first_contact", "action": "move"}, **HX)
    assert "cannot be applied that way" in response.content.decode()
    assert not Activity.objects.filter(lead=lead).exists()
    assert not NextActionSuggestion.objects.filter(applied_at__isnull=False).exists()


def test_without_htmx_the_apply_returns_to_the_lead(web, rep1):
    lead = dana_lead(rep1)
    response = web(rep1).post(apply_url(lead), {"rule": "first_contact", "action": "task"})
    assert response.status_code == 302
    assert response["Location"] == reverse("leads:detail", args=[lead.pk])
    assert Activity.objects.filter(lead=lead).count() == 1


# --- counting ----------------------------------------------------------------------------------
def test_shown_is_counted_once_a_day_per_user_and_lead(web, rep1, manager):
    lead = dana_lead(rep1)
    panel(web(rep1), lead)
    panel(web(rep1), lead)
    assert NextActionSuggestion.objects.count() == 1
    panel(web(manager), lead)
    assert NextActionSuggestion.objects.count() == 2
    NextActionSuggestion.objects.update(day=timezone.localdate() - timedelta(days=1))
    panel(web(manager), lead)
    assert NextActionSuggestion.objects.count() == 3


def test_nothing_to_do_is_not_counted(web, rep1):
    from leads import services as lead_services

    lead = dana_lead(rep1)
    lead_services.lead_disqualify(by=rep1, lead=lead, reason="Went with a competitor")
    html = panel(web(rep1), reload(lead))
    assert shown_rule(html) == "closed"
    assert "Went with a competitor" in shown_reason(html)
    assert 'data-testid="nba-actions"' not in html
    assert not NextActionSuggestion.objects.exists()


def test_applied_on_a_later_day_counts_that_day_once(rep1):
    lead = dana_lead(rep1)
    suggestion = selectors.lead_next_actions(user=rep1, lead=lead)[0]
    services.next_action_shown(by=rep1, lead=lead, suggestion=suggestion)
    NextActionSuggestion.objects.update(day=timezone.localdate() - timedelta(days=2))
    services.next_action_apply(by=rep1, lead=lead, rule=suggestion.rule, action="task")
    row = NextActionSuggestion.objects.get()  # the earlier showing is the one applied
    assert row.applied_action == "task"


def kpi(html: str, key: str) -> str:
    match = re.search(rf'data-testid="kpi-{key}-value"[^>]*>([^<]*)<', html)
    assert match, key
    return match.group(1).strip()


def test_the_dashboard_reports_next_best_action_acceptance(web, api_as, rep1, rep2, manager):
    first, second = dana_lead(rep1, "First"), dana_lead(rep1, "Second")
    client = web(rep1)
    panel(client, first)
    panel(client, second)
    client.post(apply_url(first), {"rule": "first_contact", "action": "task"}, **HX)
    # After the click the panel says "keep to the plan": no action, nothing more counted.
    panel(web(rep2), dana_lead(rep2, "Third"))

    today = timezone.localdate()
    usage = selectors.ai_usage(user=manager, filters=Filters(Period("custom", today, today)))
    assert (usage["next_actions_shown"], usage["next_actions_applied"]) == (3, 1)
    assert usage["next_action_rate"] == pytest.approx(1 / 3)
    assert usage["suggestions_shown"] == 3 and usage["suggestions_applied"] == 1
    own = selectors.ai_usage(user=rep1, filters=Filters(Period("custom", today, today)))
    assert (own["next_actions_shown"], own["next_actions_applied"]) == (2, 1)

    team = web(manager).get(reverse("analytics:team")).content.decode()
    assert kpi(team, "ai_next_action_rate") == "33%"
    assert (
        kpi(web(rep1).get(reverse("analytics:team")).content.decode(), "ai_next_action_rate")
        == "50%"
    )
    metrics = api_as(manager).get("/api/v1/metrics/ai/").json()["usage"]
    assert (metrics["next_actions_shown"], metrics["next_actions_applied"]) == (3, 1)


# --- the tool and the panel agree ----------------------------------------------------------------
def _overdue(rep, lead):
    activity_services.activity_create(by=rep, type="call", subject="Intro call", lead=lead)
    activity_services.activity_create(
        by=rep,
        type="task",
        subject="Send pricing",
        lead=lead,
        due_at=timezone.now() - timedelta(days=3),
    )


def _contacted(rep, lead):
    activity_services.activity_create(by=rep, type="call", subject="Intro call", lead=lead)


def _qualified(rep, lead):
    from leads import services as lead_services

    _contacted(rep, lead)
    lead_services.lead_qualify(by=rep, lead=reload(lead), notes="Good fit")


@pytest.mark.parametrize(
    ("setup", "rule"),
    [
        (None, "first_contact"),
        (_overdue, "overdue"),
        (_contacted, "contacted_not_moved"),
        (_qualified, "qualified_no_meeting"),
    ],
)
def test_the_tool_and_the_panel_agree(web, rep1, setup, rule):
    lead = dana_lead(rep1)
    if setup is not None:
        setup(rep1, lead)
    lead = reload(lead)
    html = panel(web(rep1), lead)
    result = run_tool(rep1, lead)
    first = result["results"][0]
    assert shown_rule(html) == first["rule"] == rule
    assert shown_reason(html) == first["reason"]
    assert first["subject"] in unescape(html)
    assert {"type", "subject", "due_in_days", "reason"} <= set(first)  # the chat's keys


def test_the_tool_says_why_a_closed_lead_has_nothing_to_do(rep1):
    from leads import services as lead_services

    lead = dana_lead(rep1)
    lead_services.lead_disqualify(by=rep1, lead=lead, reason="No budget")
    result = run_tool(rep1, reload(lead))
    assert result["results"] == []
    assert result["situation"].startswith(
        "Nothing to do: The lead is in “Disqualified” (No budget)"
    )


def test_the_tool_refuses_a_lead_the_user_cannot_see(rep1, rep2):
    lead = dana_lead(rep1)
    ctx = registry.ToolContext(user=rep2, source="test")
    outcome = registry.execute(ctx, "suggest_next_actions", {"lead_id": str(lead.pk)})
    assert outcome.error


# --- facts from the database ---------------------------------------------------------------------
def test_silence_and_a_score_rise_after_the_webinar_read_from_the_history(rep1):
    lead = dana_lead(rep1)
    call = activity_services.activity_create(by=rep1, type="call", subject="Intro call", lead=lead)
    now = timezone.now()
    nine_days = now - timedelta(days=9)
    Activity.objects.filter(pk=call.pk).update(created_at=nine_days, done_at=nine_days)
    LeadScoreSnapshot.objects.create(lead=lead, score=61, at=now - timedelta(days=16))
    LeadScoreSnapshot.objects.create(lead=lead, score=78, at=now - timedelta(days=5))
    Lead.objects.filter(pk=lead.pk).update(
        lead_score=78,
        last_activity_at=nine_days,
        last_touch_campaign="Spring webinar",
        last_touch_at=now - timedelta(days=5),
    )

    suggestions = selectors.lead_next_actions(user=rep1, lead=reload(lead), now=now)

    since = next_action.day_text(now - timedelta(days=5))
    assert suggestions[0].rule == "gone_quiet"
    assert suggestions[0].reason == (
        f"No activity for 9 days and the score rose to 78 (from 61) since {since} after Spring "
        "webinar → call today."
    )
    assert "contacted_not_moved" in [s.rule for s in suggestions]


# --- queries -----------------------------------------------------------------------------------
def _busy(rep, lead, n: int) -> None:
    now = timezone.now()
    for i in range(n):
        activity_services.activity_create(by=rep, type="call", subject=f"Call {i}", lead=lead)
        activity_services.activity_create(
            by=rep, type="task", subject=f"Task {i}", lead=lead, due_at=now + timedelta(days=i + 1)
        )
        LeadScoreSnapshot.objects.create(lead=lead, score=i % 100, at=now - timedelta(days=i))


def test_the_panel_reads_a_constant_number_of_queries(web, rep1, django_assert_max_num_queries):
    small, large = dana_lead(rep1, "Small"), dana_lead(rep1, "Large")
    _busy(rep1, small, 1)
    _busy(rep1, large, 40)
    client = web(rep1)
    panel(client, small)  # warm the session and the per-day row
    counts = []
    for lead in (small, large):
        with CaptureQueriesContext(connection) as ctx:
            panel(client, lead)
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1]
    with django_assert_max_num_queries(16):
        panel(client, large)


def test_applying_reads_a_constant_number_of_queries(web, rep1):
    counts = []
    for n in (1, 30):
        lead = dana_lead(rep1, f"Lead {n}")
        for i in range(n):
            LeadScoreSnapshot.objects.create(lead=lead, score=i % 100)
        client = web(rep1)
        with CaptureQueriesContext(connection) as ctx:
            client.post(apply_url(lead), {"rule": "first_contact", "action": "task"}, **HX)
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1]


# --- Claude's rewording --------------------------------------------------------------------------
QUIET = "No activity for 9 days and the score rose to 78 (from 61) since Nov 29 → call today."


def text(reply: str) -> dict:
    return {"content": [{"type": "text", "text": reply}]}


def test_claude_rewords_the_reason_keeping_every_figure(claude):
    claude.replies.append(
        text("Dana went quiet 9 days ago while her score climbed from 61 to 78 since Nov 29.")
    )
    refined = services.next_action_refine(rule="gone_quiet", subject="Call Dana", reason=QUIET)
    assert refined.startswith("Dana went quiet 9 days ago")
    suggestion = next_action.Suggestion("gone_quiet", "call", "Call Dana", 0, QUIET)
    assert selectors.refined_reason(suggestion) == refined
    assert "untrusted_record_data" in claude.requests[0]["messages"][0]["content"]


def test_a_rewording_that_drops_a_figure_is_not_used(claude):
    claude.replies.append(text("Dana went quiet and her score climbed: call today."))
    assert services.next_action_refine(rule="gone_quiet", subject="Call Dana", reason=QUIET) == ""
    suggestion = next_action.Suggestion("gone_quiet", "call", "Call Dana", 0, QUIET)
    assert selectors.refined_reason(suggestion) == ""


def test_the_panel_shows_a_cached_rewording_and_never_calls_claude_itself(claude, web, rep1):
    lead = dana_lead(rep1)
    best = selectors.lead_next_actions(user=rep1, lead=lead)[0]
    claude.replies.append(text("Dana Reyes is new and nobody has called her yet."))
    services.next_action_refine(rule=best.rule, subject=best.subject, reason=best.reason)

    html = panel(web(rep1), lead)

    assert 'data-testid="nba-refined"' in html and "nobody has called her yet" in html
    assert shown_reason(html) == best.reason  # the rules' reason stays on the page
    assert run_tool(rep1, lead)["results"][0]["reason"] == best.reason
    assert len(claude.requests) == 1  # the page asked Claude nothing


def test_the_rewording_is_asked_for_after_commit_once(
    claude, web, rep1, settings, monkeypatch, django_capture_on_commit_callbacks
):
    from aiagent import tasks

    settings.CELERY_TASK_ALWAYS_EAGER = False
    queued = []
    monkeypatch.setattr(tasks.refine_next_action, "delay", lambda *args: queued.append(args))
    lead = dana_lead(rep1)
    with django_capture_on_commit_callbacks(execute=True):
        panel(web(rep1), lead)
        panel(web(rep1), lead)
    best = selectors.lead_next_actions(user=rep1, lead=lead)[0]
    assert queued == [(best.rule, best.subject, best.reason)]
    assert claude.requests == []


def test_no_rewording_is_asked_for_where_tasks_run_in_the_request(claude, web, rep1, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    panel(web(rep1), dana_lead(rep1))
    assert claude.requests == []


def test_the_top_score_reasons_are_the_factors_that_move_it_most():
    from leads.scoring.selectors import top_reasons

    breakdown = {
        "categories": [
            {
                "name": "Demographic",
                "weight": 0.4,
                "factors": [
                    {"name": "Industry", "score": 100, "reason": "Target", "counted": True},
                    {"name": "Size", "score": 10, "reason": "Too small", "counted": True},
                    {"name": "Location", "score": 90, "reason": "?", "counted": False},
                ],
            },
            {
                "name": "AI-derived",
                "weight": 0.6,
                "factors": [{"name": "AI", "score": 50, "reason": "Neutral", "counted": True}],
            },
        ]
    }
    reasons = top_reasons(breakdown)
    assert [(r["name"], r["points"], r["lift"]) for r in reasons] == [
        ("Industry", 20.0, 10.0),
        ("Size", 2.0, -8.0),
    ]
