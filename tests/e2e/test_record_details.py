"""The detail pages in the browser: a person's page leads to their leads, the history shows the
system's changes on request, and at 390 px no detail page scrolls sideways."""

from __future__ import annotations

from decimal import Decimal

import pytest
from playwright.sync_api import Page, expect

from crm.roles import Role
from leads.models import Lead
from tests.activities.factories import ActivityFactory
from tests.deals.factories import make_deal
from tests.e2e.helpers import in_thread, login
from tests.factories import PASSWORD, OrganizationFactory, PersonFactory, UserFactory
from tests.leads.factories import LeadFactory

LONG = "Consolidated Intercontinental Refrigerated Logistics and Warehousing"


def _records(rep):
    org = OrganizationFactory(
        owner=rep, name=LONG, domain="consolidated-intercontinental-logistics.example"
    )
    person = PersonFactory(
        owner=rep,
        organization=org,
        first_name="Maximiliane",
        last_name="Oberhausen-Wittgenstein",
        email="maximiliane.oberhausen-wittgenstein@consolidated-logistics.example",
        phone="+49 30 1234 5678",
        job_title="Head of Procurement and Supplier Relationship Management",
    )
    lead = LeadFactory(
        owner=rep,
        person=person,
        organization=org,
        name=f"{LONG} – fleet tracking rollout",
        contact_email=person.email,
        estimated_value=Decimal("82600"),
    )
    from leads.scoring.services import lead_rescore

    in_thread(lead_rescore, by=None, lead=lead)  # the score panel gets its factor table
    deal = in_thread(
        make_deal, rep, name=f"{LONG} – enterprise licence", person=person, organization=org
    )
    ActivityFactory(assigned_to=rep, lead=lead, subject="Send the rollout plan")
    return person, org, lead, deal


@pytest.mark.browser
def test_a_person_page_lists_their_leads_and_links_to_them(page: Page) -> None:
    rep = UserFactory(username="detailrep", role=Role.SALES_REP)
    person, _, lead, deal = _records(rep)
    login(page, "detailrep", PASSWORD)

    page.goto(f"/people/{person.pk}/")
    leads = page.get_by_test_id("related-leads")
    expect(leads).to_contain_text("€82,600")
    expect(page.get_by_test_id("related-deals")).to_contain_text(deal.name)
    expect(page.get_by_test_id("related-activities")).to_contain_text("Send the rollout plan")
    expect(
        page.get_by_test_id("record-facts").get_by_role("link", name=person.email)
    ).to_have_attribute("href", f"mailto:{person.email}")

    leads.get_by_role("link", name=lead.name).click()
    page.wait_for_url(f"**/leads/{lead.pk}/")
    expect(page.get_by_role("heading", name=lead.name)).to_be_visible()
    expect(page.locator("#lead-main .step-badge")).to_have_text("New Lead")


@pytest.mark.browser
def test_the_history_shows_system_changes_when_asked(page: Page) -> None:
    rep = UserFactory(username="historyrep", role=Role.SALES_REP)
    lead = LeadFactory(owner=rep, name="Quiet lead")
    lead.lead_score = 64
    Lead.save(lead, update_fields=["lead_score"])  # a recorded rescore: the system's change
    login(page, "historyrep", PASSWORD)

    page.goto(f"/leads/{lead.pk}/")
    history = page.get_by_test_id("history")
    expect(history).not_to_contain_text("Score")
    history.get_by_test_id("history-toggle").click()
    expect(page.get_by_test_id("history")).to_contain_text("Score")
    expect(page.get_by_test_id("history-toggle")).to_have_text("Hide system changes")
    page.get_by_test_id("history-toggle").click()
    expect(page.get_by_test_id("history")).not_to_contain_text("Score")


@pytest.mark.browser
def test_no_detail_page_scrolls_sideways_at_390_px(new_context) -> None:
    rep = UserFactory(username="narrowrep", role=Role.SALES_REP)
    person, org, lead, deal = _records(rep)
    page = new_context(viewport={"width": 390, "height": 844}).new_page()
    login(page, "narrowrep", PASSWORD)

    for path in (
        f"/leads/{lead.pk}/",
        f"/deals/{deal.pk}/",
        f"/people/{person.pk}/",
        f"/organizations/{org.pk}/",
    ):
        page.goto(path)
        expect(page.get_by_test_id("timeline")).to_be_visible()  # lazily loaded regions are in
        if path.startswith("/leads/"):
            expect(page.get_by_test_id("score-panel")).to_contain_text("Company and domain")
        width, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert width <= inner, f"{path} is {width} px wide at {inner} px"


@pytest.mark.browser
def test_a_person_page_shows_who_else_views_it_and_another_users_edit_live(new_context) -> None:
    """People share the detail frame of leads and deals: one socket, presence, and a change
    made elsewhere re-reads the page's region in place."""
    from tests.e2e.test_realtime import COUNT_SOCKETS, LIVE_MS, not_reloaded, open_page

    rep = UserFactory(username="framerep", role=Role.SALES_REP, first_name="Rita", last_name="Rep")
    UserFactory(username="framemgr", role=Role.MANAGER, first_name="Max", last_name="Manager")
    person = PersonFactory(owner=rep, first_name="Ines", last_name="Gruber", job_title="Buyer")

    rep_context = new_context()
    rep_context.add_init_script(COUNT_SOCKETS)
    login(rep_context.new_page(), "framerep", PASSWORD)
    page = open_page(rep_context, f"/people/{person.pk}/", sockets=2)  # bell + record
    expect(page.get_by_test_id("record-socket")).to_have_count(1)
    expect(page.get_by_test_id("record-facts")).to_contain_text("Buyer")

    manager_context = new_context()
    manager_context.add_init_script(COUNT_SOCKETS)
    login(manager_context.new_page(), "framemgr", PASSWORD)
    manager = open_page(manager_context, f"/people/{person.pk}/", sockets=2)
    expect(page.get_by_test_id("presence")).to_contain_text("Max Manager", timeout=LIVE_MS)

    # The manager edits the job title through the Edit modal, as a person would.
    manager.get_by_role("link", name="Edit").click()
    modal = manager.locator("#modal-dialog")
    modal.get_by_label("Job title").fill("Head of Purchasing")
    modal.get_by_role("button", name="Save").click()
    expect(manager.locator("#person-main [data-testid='record-facts']")).to_contain_text(
        "Head of Purchasing"
    )

    # rep's open page re-read its region without a reload; the socket was not opened twice.
    expect(page.locator("#person-main [data-testid='record-facts']")).to_contain_text(
        "Head of Purchasing", timeout=LIVE_MS
    )
    assert not_reloaded(page)
    assert page.evaluate("window.__wsOpen") == 2


@pytest.mark.browser
def test_a_deal_created_from_the_table_modal_opens_on_its_page(page: Page) -> None:
    """Deals are created by the shared create view: the modal validates, then the deal exists
    with what was typed."""
    UserFactory(username="newdealmgr", role=Role.MANAGER)
    OrganizationFactory(name="Modal Works GmbH")
    login(page, "newdealmgr", PASSWORD)
    page.get_by_role("link", name="Deals", exact=True).first.click()
    page.get_by_role("link", name="New deal").first.click()
    modal = page.locator("#modal-dialog")
    modal.get_by_role("button", name="Save").click()
    expect(modal.locator(".invalid-feedback")).to_contain_text("This field is required.")
    modal.get_by_label("Name").fill("Modal Works – rollout")
    modal.get_by_label("Amount").fill("12500")
    modal.get_by_label("Organization").select_option(label="Modal Works GmbH")
    modal.get_by_role("button", name="Save").click()
    expect(page.locator("#toasts")).to_contain_text("Deal “Modal Works – rollout” created.")
    page.get_by_role("link", name="Modal Works – rollout").first.click()
    expect(page.locator("#deal-main [data-testid='record-facts']")).to_contain_text("€12,500")
    expect(page.locator("#deal-main")).to_contain_text("Modal Works GmbH")


@pytest.mark.browser
def test_an_edit_modal_focuses_its_first_field_but_never_takes_the_one_chosen(page: Page) -> None:
    """The modal's first field has the focus once it is open; a field the user clicks while the
    modal is still fading in keeps it, and what is typed lands there."""

    def setup():
        rep = UserFactory(username="focusrep", role=Role.SALES_REP)
        return PersonFactory(owner=rep, first_name="Ines", last_name="Gruber", job_title="Buyer")

    person = in_thread(setup)
    login(page, "focusrep", PASSWORD)
    page.goto(f"/people/{person.pk}/")
    page.get_by_role("link", name="Edit").click()
    modal = page.locator("#modal-dialog")
    expect(modal.get_by_label("First name")).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.locator("#modal")).to_be_hidden()

    # Straight to the job title, while the dialog fades in.
    page.get_by_role("link", name="Edit").click()
    modal.get_by_label("Job title").click()
    page.keyboard.press("End")
    page.keyboard.type(" and Head of Purchasing")
    page.wait_for_timeout(500)  # past the fade: nothing moves the focus afterwards
    expect(modal.get_by_label("Job title")).to_be_focused()
    expect(modal.get_by_label("Job title")).to_have_value("Buyer and Head of Purchasing")
    expect(modal.get_by_label("First name")).to_have_value("Ines")
