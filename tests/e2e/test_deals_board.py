"""The deals kanban board in headless Chromium: drag and drop through SortableJS and
static/js/board.js against the live ASGI server."""

from __future__ import annotations

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
