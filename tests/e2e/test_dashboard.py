"""The dashboard in Chromium (issue 16): the period changes through the filter bar and the
charts redraw; a lead another user creates moves the manager's counter without a reload;
an overdue activity is completed from My day in one click."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from activities import services as activity_services
from crm.roles import Role
from leads import services as lead_services
from tests.e2e.helpers import in_thread, login
from tests.e2e.test_realtime import COUNT_SOCKETS, wait_for_sockets
from tests.factories import PASSWORD, UserFactory
from tests.leads.factories import LeadFactory

pytestmark = pytest.mark.browser


def drawn_at(page) -> str:
    return page.locator("#dashboard-body").get_attribute("data-drawn") or ""


def test_changing_the_period_redraws_the_charts(page) -> None:
    UserFactory(username="dashmgr", role=Role.MANAGER)
    rep = UserFactory(username="dashrep", role=Role.SALES_REP)
    LeadFactory(owner=rep, name="Fresh lead")
    old = LeadFactory(owner=rep, name="Old lead")
    type(old).objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=20))

    login(page, "dashmgr", PASSWORD)
    page.goto("/")
    expect(page.get_by_test_id("period-label")).to_contain_text("Last 30 days")
    expect(page.get_by_test_id("kpi-total_leads-value")).to_have_text("2")
    first = drawn_at(page)
    assert first, "the charts were not drawn"

    page.get_by_label("Period", exact=True).select_option("last_7_days")
    expect(page.get_by_test_id("period-label")).to_contain_text("Last 7 days")
    expect(page.get_by_test_id("kpi-total_leads-value")).to_have_text("1")
    assert "period=last_7_days" in page.url  # the URL holds the filters (back, bookmarks)
    deadline = time.monotonic() + 5
    while drawn_at(page) in ("", first):
        assert time.monotonic() < deadline, "the charts were not redrawn"
        page.wait_for_timeout(50)

    # The text alternative: the same figures as a table.
    page.get_by_test_id("chart-temperature").get_by_role("button", name="Show as table").click()
    expect(page.locator("#table-temperature")).to_be_visible()

    # The figure opens the table with exactly those records.
    page.get_by_test_id("kpi-total_leads-value").click()
    expect(page.get_by_test_id("row-count")).to_contain_text("1")


def test_a_lead_created_elsewhere_updates_the_managers_counter_live(new_context, settings) -> None:
    settings.DASHBOARD_LIVE_SECONDS = 0.5
    UserFactory(username="livemgr2", role=Role.MANAGER)
    rep = UserFactory(username="liverep2", role=Role.SALES_REP)
    LeadFactory(owner=rep)

    context = new_context()
    context.add_init_script(COUNT_SOCKETS)
    page = context.new_page()
    login(page, "livemgr2", PASSWORD)
    page.goto("/")
    wait_for_sockets(page, 2)  # the bell and the dashboard
    page.evaluate("window.__notReloaded = true")
    counter = page.get_by_test_id("kpi-total_leads-value")
    expect(counter).to_have_text("1")

    in_thread(lambda: lead_services.lead_create(by=rep, name="Arrived meanwhile", source="web"))

    expect(counter).to_have_text("2", timeout=5_000)
    expect(page.get_by_test_id("live-status")).to_contain_text("Updated")
    assert page.evaluate("window.__notReloaded === true")


def test_one_click_complete_on_my_day(page) -> None:
    rep = UserFactory(username="dayrep", role=Role.SALES_REP)
    lead = LeadFactory(owner=rep, name="Call me back")
    activity_services.activity_create(
        by=rep,
        type="task",
        subject="Call Ann back",
        due_at=timezone.now() - timedelta(hours=3),
        assigned_to=rep,
        lead=lead,
    )

    login(page, "dayrep", PASSWORD)
    page.goto("/")
    section = page.get_by_test_id("my-day-activities")
    entry = section.get_by_test_id("activity-entry").filter(has_text="Call Ann back")
    expect(entry).to_contain_text("Overdue")
    entry.get_by_test_id("complete-activity").click()
    # Done: the page re-reads My day, and nothing is overdue any more.
    expect(section.get_by_test_id("no-activities")).to_be_visible()


def test_a_viewer_lands_on_what_it_may_see_and_is_told_why_it_is_empty(page) -> None:
    UserFactory(username="dashviewer", role=Role.VIEWER)
    LeadFactory(name="Someone else's lead")

    page.set_viewport_size({"width": 390, "height": 844})
    login(page, "dashviewer", PASSWORD)
    page.goto("/")
    expect(page.get_by_test_id("dashboard-empty")).to_contain_text("yours or shared with you")
    page.get_by_label("Period", exact=True).select_option("all")
    expect(page.get_by_test_id("period-label")).to_contain_text("only the records you may see")
    expect(page.get_by_test_id("dashboard-empty")).to_be_visible()
