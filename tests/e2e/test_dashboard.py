"""The dashboard in Chromium (issue 16): the period changes through the filter bar and the
charts redraw (a preset leaves no custom dates in the URL); a lead another user creates moves
the manager's counter without a reload; an overdue activity is completed from My day in one
click; a My day number opens the table of exactly its leads; the AI section shows its
figures and the model's calibration, and the leaderboard fits a phone."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from activities import services as activity_services
from crm import permissions
from crm.roles import Role
from leads import predictive
from leads import services as lead_services
from leads.models import ConversionModel, Lead
from tests.aiagent.factories import AnalysisRunFactory, ProposalFactory
from tests.deals.factories import make_deal
from tests.e2e.helpers import in_thread, login
from tests.e2e.test_realtime import COUNT_SOCKETS, wait_for_sockets
from tests.factories import PASSWORD, UserFactory
from tests.leads.factories import LeadFactory
from wfm.defaults import DealStep

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


def test_a_preset_clears_the_custom_range_from_the_url(page) -> None:
    UserFactory(username="rangemgr", role=Role.MANAGER)
    login(page, "rangemgr", PASSWORD)
    page.goto("/dashboard/?period=last_7_days")
    period = page.get_by_label("Period", exact=True)

    period.select_option("custom")
    page.get_by_label("From", exact=True).fill("2026-01-05")
    expect(page.get_by_test_id("period-label")).to_contain_text("05 Jan 2026")
    assert "date_from=2026-01-05" in page.url and "period=custom" in page.url
    # The answer replaced the filters with the figures: choose again once htmx has settled
    # the new ones (a choice made in between reached a select no trigger listened to yet;
    # seen once on a loaded machine).
    expect(
        page.locator(".htmx-request, .htmx-swapping, .htmx-settling, .htmx-added")
    ).to_have_count(0)

    period.select_option("last_30_days")
    expect(page.get_by_test_id("period-label")).to_contain_text("Last 30 days")
    assert "period=last_30_days" in page.url
    assert "date_from" not in page.url and "date_to" not in page.url


def test_a_my_day_number_opens_the_table_of_exactly_its_leads(page) -> None:
    rep = UserFactory(username="numbersrep", role=Role.SALES_REP)
    other = UserFactory(username="numbersother", role=Role.SALES_REP)
    yesterday = timezone.now() - timedelta(days=1)
    mine = [
        LeadFactory(owner=rep, name="Mine owned"),
        LeadFactory(owner=other, assigned_to=rep, name="Mine assigned"),
    ]
    LeadFactory(owner=rep, name="Not qualified")
    shared = LeadFactory(owner=other, name="Shared, not mine")
    permissions.share(rep, shared)
    Lead.objects.filter(pk__in=[x.pk for x in [*mine, shared]]).update(qualified_at=yesterday)

    login(page, "numbersrep", PASSWORD)
    page.goto("/")
    figure = page.get_by_test_id("kpi-qualified-value")
    expect(figure).to_have_text("2")
    figure.click()
    expect(page).to_have_url(re.compile(r"/leads/\?.*qualified_after="))
    expect(page.get_by_test_id("row-count")).to_contain_text("2")
    rows = page.locator("#rows tbody tr")
    expect(rows).to_have_count(2)
    expect(page.locator("#rows")).not_to_contain_text("Shared, not mine")
    # The table says why: its More filters are open on the period and "Owner or assignee".
    expect(page.locator("#f-owner_or_assignee")).to_have_value(str(rep.pk))
    expect(page.locator("#f-qualified_after")).to_be_visible()
    # On a phone they wait behind the Filters button (which counts them): the rows come first.
    page.set_viewport_size({"width": 390, "height": 844})
    expect(page.locator("#f-qualified_after")).to_be_hidden()
    expect(page.get_by_test_id("filters-toggle")).to_contain_text("3")
    page.get_by_test_id("filters-toggle").click()
    expect(page.locator("#f-qualified_after")).to_be_visible()


def test_the_ai_section_shows_its_figures_and_calibration(page) -> None:
    manager = UserFactory(username="aimgr", role=Role.MANAGER)
    rep = UserFactory(
        username="airep", first_name="Maximiliane", last_name="Oberhauser", role=Role.SALES_REP
    )
    for _ in range(12):
        LeadFactory(owner=rep)
    in_thread(make_deal, rep, amount=257_500, step=DealStep.CLOSED_WON)
    in_thread(make_deal, manager, amount=1_197_900, step=DealStep.CLOSED_WON)
    ProposalFactory(user=rep, status="confirmed")
    ProposalFactory(user=manager, status="rejected")
    AnalysisRunFactory(user=rep, suggested=3, applied=1)
    scores = [n / 40 for n in range(40)]
    ConversionModel.objects.create(
        version=1,
        auc=0.78,
        n_train=160,
        n_test=40,
        calibration=predictive.calibration(scores, [s > 0.5 for s in scores]),
    )

    page.set_viewport_size({"width": 390, "height": 844})
    login(page, "aimgr", PASSWORD)
    page.goto("/dashboard/")
    section = page.get_by_test_id("ai-section")
    section.scroll_into_view_if_needed()
    expect(section.get_by_test_id("kpi-ai_suggestions_shown-value")).to_have_text("5")
    expect(section.get_by_test_id("kpi-ai_suggestions_applied-value")).to_have_text("2")
    expect(section.get_by_test_id("kpi-ai_apply_rate-value")).to_have_text("40%")
    expect(section.get_by_test_id("kpi-ai_analyses-value")).to_have_text("1")
    expect(section.get_by_test_id("model-auc")).to_have_text("0.780")
    expect(section.locator("#chart-calibration")).to_be_visible()
    section.get_by_role("button", name="Show as table").click()
    expect(section.locator("#table-calibration tbody tr")).to_have_count(5)

    # At phone width the leaderboard's last visible column still fits inside its card.
    board = page.get_by_test_id("leaderboard")
    won_value = board.get_by_role("columnheader", name="Won value")
    card, cell = board.bounding_box(), won_value.bounding_box()
    assert cell["x"] + cell["width"] <= card["x"] + card["width"], (cell, card)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways: {width}px"
