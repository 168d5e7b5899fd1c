import re

import pytest
from playwright.sync_api import Page, expect

from crm.roles import Role
from tests.e2e.helpers import in_thread, login
from tests.factories import PASSWORD, UserFactory
from tests.leads.factories import LeadFactory


def _setup():
    rep = UserFactory(username="e2eactivities", role=Role.SALES_REP)
    return LeadFactory(owner=rep, assigned_to=rep, name="Globex – Telehealth pilot")


@pytest.mark.browser
def test_rep_logs_a_call_from_the_lead_page_and_finds_it_in_my_activities(page: Page) -> None:
    lead = in_thread(_setup)
    login(page, "e2eactivities", PASSWORD)

    page.goto(f"/leads/{lead.pk}/")
    timeline = page.get_by_test_id("timeline")
    expect(timeline).to_contain_text("No activities yet.")
    form = timeline.get_by_test_id("quick-log")
    form.get_by_label("Type").select_option("call")
    form.get_by_label("Subject").fill("Called Maria about the pilot")
    form.get_by_test_id("log-activity").click()

    # The toast first (it fades after a few seconds), then the refreshed timeline.
    expect(page.locator("#toasts")).to_contain_text("Logged: Called Maria about the pilot")
    entry = timeline.get_by_test_id("activity-entry").filter(
        has_text="Called Maria about the pilot"
    )
    expect(entry).to_be_visible()
    expect(entry).to_contain_text("Call")
    expect(form.get_by_label("Subject")).to_have_value("")

    # Plan a task too, then tick it off on "My activities". The first entry's live refresh
    # may redraw the form while this is typed: what is typed stays.
    form.get_by_label("Type").select_option("task")
    form.get_by_label("Subject").fill("Send the pilot proposal")
    expect(form.get_by_label("Type")).to_have_value("task")
    form.get_by_test_id("log-activity").click()
    expect(timeline).to_contain_text("Planned")
    expect(timeline).to_contain_text("Send the pilot proposal")

    page.get_by_role("link", name="Activities").first.click()
    expect(page.get_by_role("heading", name="My activities")).to_be_visible()
    done = page.get_by_test_id("section-done")
    expect(done).to_contain_text("Called Maria about the pilot")
    expect(done).to_contain_text(lead.name)
    upcoming = page.get_by_test_id("section-upcoming")
    task = upcoming.get_by_test_id("activity-entry").filter(has_text="Send the pilot proposal")
    task.get_by_test_id("complete-activity").click()
    expect(page.locator("#toasts")).to_contain_text("Done: Send the pilot proposal")
    expect(task.get_by_test_id("reopen-activity")).to_be_visible()


def _renamed_by_a_manager(lead_pk) -> None:
    from leads import services as lead_services
    from leads.models import Lead

    manager = UserFactory(username="e2eactivitiesmgr", role=Role.MANAGER)
    lead = Lead.objects.get(pk=lead_pk)
    lead_services.lead_update(by=manager, lead=lead, data={"name": "Globex – Telehealth rollout"})


@pytest.mark.browser
def test_a_live_refresh_keeps_what_the_rep_is_typing_in_the_quick_log(page: Page) -> None:
    lead = in_thread(_setup)
    login(page, "e2eactivities", PASSWORD)
    page.goto(f"/leads/{lead.pk}/")
    form = page.get_by_test_id("quick-log")
    form.get_by_label("Type").select_option("meeting")
    form.get_by_label("Subject").fill("Demo with the CTO")
    form.get_by_text("Notes, due date").click()
    form.get_by_label("Notes").fill("Bring the rollout plan")

    # Someone else changes the lead meanwhile: the page redraws it live, timeline included.
    in_thread(_renamed_by_a_manager, lead.pk)
    expect(page.locator("main")).to_contain_text("Globex – Telehealth rollout")
    page.wait_for_load_state("networkidle")

    expect(form.get_by_label("Type")).to_have_value("meeting")
    expect(form.get_by_label("Subject")).to_have_value("Demo with the CTO")
    expect(form.get_by_label("Notes")).to_have_value("Bring the rollout plan")
    # The field being typed in keeps the keyboard: typing goes on where it was.
    page.keyboard.type(" and the budget")
    expect(form.get_by_label("Notes")).to_have_value("Bring the rollout plan and the budget")
    form.get_by_test_id("log-activity").click()
    entry = page.get_by_test_id("activity-entry").filter(has_text="Demo with the CTO")
    expect(entry).to_contain_text("Meeting")
    expect(form.get_by_label("Subject")).to_have_value("")  # the saved entry is not kept


@pytest.mark.browser
def test_what_the_rep_types_while_an_entry_is_saving_stays_in_the_quick_log(page: Page) -> None:
    lead = in_thread(_setup)
    login(page, "e2eactivities", PASSWORD)
    page.goto(f"/leads/{lead.pk}/")
    timeline = page.get_by_test_id("timeline")
    form = timeline.get_by_test_id("quick-log")
    expect(timeline).to_contain_text("No activities yet.")

    # A slow network: the first entry's answer is held back, and the rep types the next entry
    # meanwhile. The page's live redraw (the lead changed) is held too, so the submission's own
    # answer lands first, in the form the rep is typing in.
    saving, held = re.compile(r"/activities/timeline/lead/[^/]+/log/$"), []
    redraw, redraws = re.compile(rf"/leads/{lead.pk}/$"), []
    page.route(saving, lambda route: held.append(route))
    page.route(
        redraw,
        lambda route: (
            redraws.append(route) if route.request.headers.get("hx-request") else route.continue_()
        ),
    )
    form.get_by_label("Subject").fill("Called Maria about the pilot")
    form.get_by_test_id("log-activity").click()
    for _ in range(50):
        if held:
            break
        page.wait_for_timeout(100)
    assert len(held) == 1, "the quick log was not submitted"
    form.get_by_label("Type").select_option("task")
    form.get_by_label("Subject").fill("Send the pilot")
    page.get_by_role("heading", name=lead.name).click()  # and looks elsewhere on the page
    held[0].continue_()
    page.unroute(saving)

    entry = timeline.get_by_test_id("activity-entry").filter(
        has_text="Called Maria about the pilot"
    )
    expect(entry).to_be_visible()
    expect(form.get_by_label("Type")).to_have_value("task")
    expect(form.get_by_label("Subject")).to_have_value("Send the pilot")
    for route in redraws:
        route.continue_()
    page.unroute(redraw)
    page.wait_for_load_state("networkidle")
    expect(form.get_by_label("Subject")).to_have_value("Send the pilot")
    expect(form.get_by_label("Subject")).not_to_be_focused()  # the redraw left the focus alone

    form.get_by_label("Subject").press("End")
    page.keyboard.type(" proposal")
    form.get_by_test_id("log-activity").click()
    expect(timeline).to_contain_text("Planned")
    planned = timeline.get_by_test_id("activity-entry").filter(has_text="Send the pilot proposal")
    expect(planned).to_contain_text("Task")
    expect(form.get_by_label("Subject")).to_have_value("")
