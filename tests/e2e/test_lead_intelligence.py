"""The lead intelligence panel in the browser: a rep opens a new lead, reads the next best
action and its reason, clicks "Create the task" and finds the planned call in the lead's
activities; the panel then says to keep to that plan."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from crm.roles import Role
from tests.aiagent.factories import make_lead
from tests.e2e.helpers import in_thread, login
from tests.factories import PASSWORD, UserFactory


@pytest.mark.browser
def test_a_rep_plans_the_next_best_action_with_one_click(page: Page, live_server_url) -> None:
    user = in_thread(UserFactory, username="nbarep", role=Role.SALES_REP)
    lead = in_thread(
        make_lead,
        user,
        "Northwind rollout",
        contact_name="Dana Reyes",
        contact_phone="+1 555 0100",
        score=35,
    )
    login(page, "nbarep", PASSWORD)

    page.goto(f"/leads/{lead.pk}/")
    intelligence = page.get_by_test_id("lead-intelligence")
    action = intelligence.get_by_test_id("next-best-action")
    expect(action.get_by_test_id("nba-subject")).to_have_text("First call to Dana Reyes")
    expect(action.get_by_test_id("nba-reason")).to_contain_text("Nobody has contacted Dana Reyes")
    expect(action.get_by_test_id("nba-due")).to_have_text("Today")
    expect(intelligence.get_by_test_id("intel-temperature")).to_have_text("Cold")
    expect(intelligence.get_by_test_id("bant-not-analysed")).to_be_visible()

    action.get_by_test_id("nba-create-task").click()

    expect(page.locator("#toasts")).to_contain_text("Planned: First call to Dana Reyes")
    timeline = page.get_by_test_id("timeline")
    entry = timeline.get_by_test_id("activity-entry").filter(has_text="First call to Dana Reyes")
    expect(entry).to_be_visible()
    expect(timeline).to_contain_text("Planned")
    expect(intelligence.get_by_test_id("nba-subject")).to_contain_text(
        "Keep to the plan: First call to Dana Reyes"
    )
