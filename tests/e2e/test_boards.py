"""The one board (crm/records/boards.py) in headless Chromium, for leads and deals: real mouse
drags, refused moves, load more on scroll, one websocket per URL, roles and the phone width."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Page, WebSocket, expect

from crm import permissions
from crm.roles import Role
from deals.models import Deal
from leads.models import Lead
from tests.deals.factories import make_deal, pipeline_step
from tests.e2e.helpers import in_thread, login
from tests.e2e.test_deals_board import column, drag
from tests.factories import PASSWORD, UserFactory
from tests.leads.factories import LeadFactory
from wfm.defaults import DealStep, LeadStep
from wfm.models import WorkflowStep


def lead_step(name: str) -> WorkflowStep:
    return WorkflowStep.objects.select_related("status").get(
        workflow__name="Lead Qualification", status__name=name
    )


def lead_step_name(lead: Lead) -> str:
    return (
        Lead.objects.select_related("wfm_project__current_step__status")
        .get(pk=lead.pk)
        .wfm_project.current_step.name
    )


class Sockets:
    """The page's websockets as Chromium sees them (``page.on("websocket")``)."""

    def __init__(self, page: Page) -> None:
        self.all: list[WebSocket] = []
        page.on("websocket", lambda ws: self.all.append(ws))

    def fresh(self, page: Page) -> None:
        """Forget the sockets of the pages before (leaving them closes their sockets)."""
        page.goto("about:blank")
        page.wait_for_timeout(300)  # let Chromium report what the last page opened and closed
        self.all.clear()

    def open_urls(self) -> list[str]:
        return sorted(ws.url.split("/ws/", 1)[1] for ws in self.all if not ws.is_closed())

    def wait_for(self, page: Page, predicate, timeout: float = 10.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while True:
            urls = self.open_urls()
            if predicate(urls):
                return urls
            assert time.monotonic() < deadline, f"sockets now: {urls}"
            page.wait_for_timeout(100)


@pytest.fixture
def rep(live_server_url):
    return UserFactory(username="boarder", role=Role.SALES_REP)


@pytest.mark.browser
def test_drag_a_lead_card_and_a_refused_move_snaps_back_with_the_reason(page: Page, rep) -> None:
    lead = LeadFactory(owner=rep, name="Dragged Lead", estimated_value=1200, currency="EUR")
    new_lead, contacted, qualified = (
        lead_step(LeadStep.NEW_LEAD),
        lead_step(LeadStep.CONTACTED),
        lead_step(LeadStep.QUALIFIED),
    )
    login(page, "boarder", PASSWORD)
    page.goto("/leads/board/")
    card = page.locator(f"#card-{lead.pk}")
    expect(column(page, new_lead).locator(f"#card-{lead.pk}")).to_contain_text("€1,200")
    expect(page.get_by_test_id("pipeline-totals")).to_contain_text("€1,200")

    # New Lead → Qualified skips a step the workflow requires: the card goes back, the reason
    # shows.
    drag(page, card, column(page, qualified).locator("[data-board-list]"))
    expect(page.locator("#toasts .toast")).to_contain_text(
        "Cannot move “Dragged Lead” from “New Lead” to “Qualified”"
    )
    expect(column(page, new_lead).locator(f"#card-{lead.pk}")).to_be_visible()
    expect(column(page, qualified).locator(f"#card-{lead.pk}")).to_have_count(0)
    expect(page.locator(f"#board-head-{new_lead.pk} [data-column-count]")).to_have_text("1")
    assert lead_step_name(lead) == LeadStep.NEW_LEAD

    drag(page, card, column(page, contacted).locator("[data-board-list]"))

    expect(page.locator(f"#board-head-{contacted.pk} [data-column-count]")).to_have_text("1")
    expect(page.locator(f"#board-head-{new_lead.pk} [data-column-count]")).to_have_text("0")
    expect(page.locator(f"#board-head-{contacted.pk} [data-column-total]")).to_have_text("€1,200")
    expect(column(page, contacted).locator(f"#card-{lead.pk}")).to_be_visible()
    assert lead_step_name(lead) == LeadStep.CONTACTED
    page.reload()
    expect(column(page, contacted).locator(f"#card-{lead.pk}")).to_be_visible()


@pytest.mark.browser
def test_a_lead_column_with_more_than_twenty_cards_loads_more_when_scrolled(
    page: Page, rep
) -> None:
    for n in range(27):
        LeadFactory(owner=rep, name=f"Lead {n:02}")
    new_lead = lead_step(LeadStep.NEW_LEAD)
    login(page, "boarder", PASSWORD)
    page.goto("/leads/board/")
    cards = column(page, new_lead).locator("[data-card-id]")
    expect(cards).to_have_count(20)
    expect(page.locator(f"#board-head-{new_lead.pk} [data-column-count]")).to_have_text("27")

    body = column(page, new_lead).locator(".board-column-body")
    body.hover()
    for _ in range(30):  # scroll the column with the wheel, as a person does
        page.mouse.wheel(0, 600)
        if cards.count() == 27:
            break
        page.wait_for_timeout(100)

    expect(cards).to_have_count(27)
    expect(column(page, new_lead).locator("[data-board-more]")).to_have_count(0)
    names = cards.evaluate_all("els => els.map(e => e.querySelector('a').textContent)")
    assert sorted(names) == [f"Lead {n:02}" for n in range(27)]


@pytest.mark.browser
def test_exactly_one_websocket_per_url_on_boards_and_tables_and_after_a_filter_change(
    page: Page, rep
) -> None:
    LeadFactory(owner=rep, source="web", name="Web lead")
    LeadFactory(owner=rep, source="referral", name="Referred lead")
    in_thread(make_deal, rep, name="A deal")
    sockets = Sockets(page)
    login(page, "boarder", PASSWORD)

    for path, expected in (
        ("/leads/board/", "boards/"),
        ("/deals/board/", "boards/"),
        ("/leads/", "tables/lead/"),
        ("/deals/", "tables/deal/"),
    ):
        sockets.fresh(page)
        page.goto(path)
        urls = sockets.wait_for(page, lambda u, e=expected: any(x.startswith(e) for x in u))
        page.wait_for_timeout(500)  # a duplicate would open in the same tick
        urls = sockets.open_urls()
        assert len(urls) == len(set(urls)) == 2, f"{path}: {urls}"
        assert len(sockets.all) == 2, f"{path}: {[ws.url for ws in sockets.all]}"

    # A filter change on the board moves its socket to the new filters: still one of each.
    sockets.fresh(page)
    page.goto("/leads/board/")
    sockets.wait_for(page, lambda u: len(u) == 2)
    page.get_by_label("Source", exact=True).select_option("web")
    expect(page.locator("[data-lead-id]")).to_have_count(1)
    urls = sockets.wait_for(page, lambda u: any("source=web" in x for x in u))
    page.wait_for_timeout(500)
    urls = sockets.open_urls()
    assert len(urls) == 2 and urls[0].startswith("boards/") and "source=web" in urls[0], urls
    assert "notifications/" in urls
    # Moving back to the same filters (a refresh) keeps the socket it has.
    opened = len(sockets.all)
    page.evaluate("htmx.trigger(document.body, 'recordSaved')")
    expect(page.locator("[data-lead-id]")).to_have_count(1)
    page.wait_for_timeout(500)
    assert len(sockets.all) == opened and sockets.open_urls() == urls

    # The table: a filter change swaps #rows and opens no second socket.
    sockets.fresh(page)
    page.goto("/leads/")
    sockets.wait_for(page, lambda u: any(x.startswith("tables/lead/") for x in u))
    page.get_by_role("combobox", name="Source", exact=True).select_option("web")
    expect(page.locator("tr[data-id]")).to_have_count(1)
    page.wait_for_timeout(500)
    urls = sockets.open_urls()
    assert len(urls) == len(set(urls)) == 2, urls


@pytest.mark.browser
def test_analysts_get_no_drag_and_no_new_button(page: Page, live_server_url) -> None:
    owner = UserFactory(username="owner1", role=Role.SALES_REP)
    UserFactory(username="numbers", role=Role.ANALYST)
    lead = LeadFactory(owner=owner, name="Look, don't touch")
    deal = in_thread(make_deal, owner, name="Hands off")
    login(page, "numbers", PASSWORD)
    cards = {"/leads/board/": f"#card-{lead.pk}", "/deals/board/": f"#card-{deal.pk}"}
    for path, card in cards.items():
        page.goto(path)
        expect(page.locator(card)).to_be_visible()
        expect(page.locator("[data-move-url]")).to_have_count(0)
        expect(page.locator("[data-testid^=new-]")).to_have_count(0)
        assert page.locator(card).evaluate("e => getComputedStyle(e).cursor") != "grab"


@pytest.mark.browser
def test_the_board_scrolls_by_column_at_phone_width_and_the_page_never_sideways(
    new_context, rep
) -> None:
    for n in range(3):
        in_thread(make_deal, rep, name=f"Phone deal {n}", step=DealStep.DISCOVERY)
    page = new_context(viewport={"width": 390, "height": 844}).new_page()
    login(page, "boarder", PASSWORD)
    for path in ("/leads/board/", "/deals/board/"):
        page.goto(path)
        expect(page.locator("[data-board]")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth <= innerWidth"), path
        board = page.locator("[data-board]")
        assert board.evaluate("e => getComputedStyle(e).scrollSnapType").startswith("x")
        assert board.evaluate("e => e.scrollWidth > e.clientWidth")
        # A swipe moves the board by whole columns: it snaps to the second column's start.
        board.evaluate("e => e.scrollBy({left: e.clientWidth * 0.6})")
        page.wait_for_timeout(600)
        second = page.locator("[data-step-id]").nth(1)
        offset = second.evaluate(
            "e => e.getBoundingClientRect().left - e.parentElement.getBoundingClientRect().left"
        )
        assert abs(offset) < 24, offset
        assert page.evaluate("document.documentElement.scrollWidth <= innerWidth"), path


@pytest.mark.browser
def test_shared_deal_is_visible_but_not_draggable(page: Page, rep) -> None:
    other = UserFactory(username="sharer", role=Role.SALES_REP)
    shared = in_thread(make_deal, other, name="Shared with me", step=DealStep.DISCOVERY)
    mine = in_thread(make_deal, rep, name="Mine to move", step=DealStep.DISCOVERY)
    in_thread(permissions.share, rep, Deal.objects.get(pk=shared.pk))
    discovery = pipeline_step(DealStep.DISCOVERY)
    login(page, "boarder", PASSWORD)
    page.goto("/deals/board/")
    expect(column(page, discovery).locator("[data-card-id]")).to_have_count(2)
    expect(page.locator(f"#card-{shared.pk}[data-move-url]")).to_have_count(0)
    expect(page.locator(f"#card-{mine.pk}[data-move-url]")).to_have_count(1)
