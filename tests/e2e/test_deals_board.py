"""The deals kanban board in headless Chromium: drag and drop through SortableJS and
static/js/board.js against the live ASGI server."""

from __future__ import annotations

import re
from datetime import date

import pytest
from playwright.sync_api import Locator, Page, expect

from crm.roles import Role
from deals.models import Deal
from tests.deals.factories import make_deal, pipeline_step
from tests.e2e.helpers import in_thread, login
from tests.factories import PASSWORD, UserFactory
from wfm.defaults import DealStep


def drag(page: Page, source: Locator, target: Locator) -> None:
    """Drag like a hand does: SortableJS needs the intermediate mouse moves."""
    source.scroll_into_view_if_needed()
    start = source.bounding_box()
    end = target.bounding_box()
    assert start and end
    page.mouse.move(start["x"] + start["width"] / 2, start["y"] + 12)
    page.mouse.down()
    page.mouse.move(start["x"] + start["width"] / 2 + 8, start["y"] + 20, steps=4)
    page.mouse.move(end["x"] + end["width"] / 2, end["y"] + 30, steps=20)
    page.mouse.move(end["x"] + end["width"] / 2, end["y"] + 34, steps=4)
    page.mouse.up()


def column(page: Page, step) -> Locator:
    return page.locator(f'section[data-step-id="{step.pk}"]')


def current_step(deal: Deal) -> str:
    return (
        Deal.objects.select_related("wfm_project__current_step__status")
        .get(pk=deal.pk)
        .wfm_project.current_step.name
    )


@pytest.fixture
def rep(live_server_url):
    return UserFactory(username="boardrep", role=Role.SALES_REP)


@pytest.mark.browser
def test_drag_a_deal_to_the_next_step_and_a_refused_move_snaps_back(page: Page, rep) -> None:
    deal = in_thread(make_deal, rep, name="Drag me", amount=1000, step=DealStep.DISCOVERY)
    discovery, proposal, qualification = (
        pipeline_step(DealStep.DISCOVERY),
        pipeline_step(DealStep.PROPOSAL),
        pipeline_step(DealStep.QUALIFICATION),
    )
    login(page, "boardrep", PASSWORD)
    page.goto("/deals/board/")
    card = page.locator(f'[data-deal-id="{deal.pk}"]')
    expect(column(page, discovery).locator(f'[data-deal-id="{deal.pk}"]')).to_be_visible()

    drag(page, card, column(page, proposal).locator("[data-board-list]"))

    # The server answered: the card is in Proposal and both headers were refreshed.
    expect(page.locator(f"#board-head-{proposal.pk} [data-column-count]")).to_have_text("1")
    expect(page.locator(f"#board-head-{discovery.pk} [data-column-count]")).to_have_text("0")
    expect(column(page, proposal).locator(f'[data-deal-id="{deal.pk}"]')).to_be_visible()
    assert current_step(deal) == DealStep.PROPOSAL

    page.reload()
    expect(column(page, proposal).locator(f'[data-deal-id="{deal.pk}"]')).to_be_visible()
    expect(page.locator(f"#board-head-{proposal.pk}")).to_contain_text("Weighted €500")

    # Proposal → Qualification is not a transition of the Sales Pipeline.
    drag(page, card, column(page, qualification).locator("[data-board-list]"))

    toast = page.locator("#toasts .toast")
    expect(toast).to_contain_text("Cannot move “Drag me” from “Proposal” to “Qualification”")
    expect(column(page, proposal).locator(f'[data-deal-id="{deal.pk}"]')).to_be_visible()
    expect(column(page, qualification).locator(f'[data-deal-id="{deal.pk}"]')).to_have_count(0)
    expect(page.locator(f"#board-head-{proposal.pk} [data-column-count]")).to_have_text("1")
    assert current_step(deal) == DealStep.PROPOSAL


@pytest.mark.browser
def test_dropping_on_the_lost_column_asks_for_the_reason(page: Page, rep) -> None:
    deal = in_thread(make_deal, rep, name="Lose me", step=DealStep.NEGOTIATION)
    negotiation, lost = pipeline_step(DealStep.NEGOTIATION), pipeline_step(DealStep.CLOSED_LOST)
    login(page, "boardrep", PASSWORD)
    page.goto("/deals/board/")
    card = page.locator(f'[data-deal-id="{deal.pk}"]')

    drag(page, card, column(page, lost).locator("[data-board-list]"))

    dialog = page.locator("#modal-dialog")
    expect(dialog).to_contain_text("Why was “Lose me” lost?")
    # The card waits in its column until the reason is given.
    expect(column(page, negotiation).locator(f'[data-deal-id="{deal.pk}"]')).to_be_visible()
    dialog.get_by_label("Reason").select_option(label="No budget")
    dialog.get_by_role("button", name="Save").click()

    expect(column(page, lost).locator(f'[data-deal-id="{deal.pk}"]')).to_be_visible()
    expect(column(page, lost).locator(f'[data-deal-id="{deal.pk}"]')).to_contain_text("No budget")
    deal = Deal.objects.get(pk=deal.pk)
    assert deal.lost_reason == "No budget" and deal.lost_at is not None


@pytest.mark.browser
def test_a_long_column_loads_more_cards_on_scroll(page: Page, rep) -> None:
    def make_many() -> None:
        for n in range(24):
            make_deal(rep, name=f"Bulk deal {n:02}")

    in_thread(make_many)
    qualification = pipeline_step(DealStep.QUALIFICATION)
    login(page, "boardrep", PASSWORD)
    page.goto("/deals/board/")
    cards = column(page, qualification).locator("[data-card-id]")
    expect(cards).to_have_count(20)
    expect(page.locator(f"#board-head-{qualification.pk} [data-column-count]")).to_have_text("24")

    column(page, qualification).locator("[data-board-more]").scroll_into_view_if_needed()

    expect(cards).to_have_count(24)
    expect(column(page, qualification).locator("[data-board-more]")).to_have_count(0)
    names = cards.evaluate_all("els => els.map(e => e.querySelector('a').textContent)")
    assert sorted(names) == [f"Bulk deal {n:02}" for n in range(24)]


def _grouped_columns(page: Page) -> list[tuple[str, str, str]]:
    """(label, count, total) of each column of the grouped board, as shown."""
    sections = page.get_by_test_id("grouped-board").locator("section")
    shown = sections.evaluate_all(
        """sections => sections.map(s => [
            s.getAttribute("aria-label"),
            s.querySelector("[data-column-count]").textContent.trim(),
            s.querySelector("[data-column-total]").textContent.trim(),
        ])"""
    )
    return [tuple(column) for column in shown]


@pytest.mark.browser
def test_a_manager_regroups_the_deal_board_by_assignee_and_by_close_month(
    page: Page, live_server_url
) -> None:
    UserFactory(username="salesboss", role=Role.MANAGER)
    ana = UserFactory(username="ana", first_name="Ana", last_name="Alves", role=Role.SALES_REP)
    ben = UserFactory(username="ben", first_name="Ben", last_name="Brook", role=Role.SALES_REP)

    def deals() -> None:
        for owner, name, amount, close in (
            (ana, "Ana March", 1000, date(2031, 3, 10)),
            (ana, "Ana April", 2500, date(2031, 4, 2)),
            (ben, "Ben March", 400, date(2031, 3, 20)),
        ):
            make_deal(owner, name=name, amount=amount, assigned_to=owner, expected_close_date=close)
        make_deal(ben, name="Nobody's", amount=100)

    in_thread(deals)
    login(page, "salesboss", PASSWORD)
    page.locator("#main-nav").get_by_role("link", name="Deals", exact=True).click()
    page.get_by_test_id("board-view").click()
    expect(page.get_by_test_id("board")).to_be_visible()
    switch = page.get_by_label("Columns by")

    switch.select_option(label="Assignee (read-only)")
    grouped = page.get_by_test_id("grouped-board")
    expect(grouped.locator("section")).to_have_count(3)
    expect(page).to_have_url(re.compile(r"/deals/board/\?group=assignee$"))
    assert _grouped_columns(page) == [
        ("Unassigned", "1", "€100"),
        ("Ana Alves", "2", "€3,500"),
        ("Ben Brook", "1", "€400"),
    ]
    expect(grouped.locator("[data-move-url]")).to_have_count(0)  # read-only columns

    switch.select_option(label="Close month (read-only)")
    expect(grouped.get_by_role("region", name="March 2031")).to_be_visible()
    assert _grouped_columns(page) == [
        ("March 2031", "2", "€1,400"),
        ("April 2031", "1", "€2,500"),
        ("No close date", "1", "€100"),
    ]
    march = grouped.get_by_role("region", name="March 2031").locator("[data-deal-id] a")
    expect(march).to_have_text(["Ana March", "Ben March"])  # soonest close first

    # The grouping is in the address: a reload (or a shared link) shows the same columns.
    page.reload()
    expect(page.get_by_label("Columns by")).to_have_value("close_month")
    assert [label for label, _, _ in _grouped_columns(page)][0] == "March 2031"

    # And back to the steps, where cards can be dragged again.
    page.get_by_label("Columns by").select_option(label="Step (drag to move)")
    expect(page.get_by_test_id("grouped-board")).to_have_count(0)
    expect(page.locator("[data-step-id]").first).to_be_visible()
    expect(page.locator("[data-move-url]")).to_have_count(4)
