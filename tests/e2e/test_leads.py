"""A lead's life in the browser: created in the modal, dragged on the board, converted."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from crm.roles import Role
from deals.models import Deal
from leads.models import Lead
from tests.e2e.helpers import login
from tests.e2e.test_deals_board import drag
from tests.factories import PASSWORD, UserFactory
from wfm.defaults import DealStep, LeadStep
from wfm.models import WorkflowStep


def step(workflow: str, name: str) -> WorkflowStep:
    return WorkflowStep.objects.select_related("status").get(
        workflow__name=workflow, status__name=name
    )


@pytest.mark.browser
def test_create_drag_convert_and_find_the_deal_on_the_deals_board(
    page: Page, live_server_url
) -> None:
    UserFactory(username="leadrep", role=Role.SALES_REP)
    new_lead, contacted = (
        step("Lead Qualification", LeadStep.NEW_LEAD),
        step("Lead Qualification", LeadStep.CONTACTED),
    )
    login(page, "leadrep", PASSWORD)

    # Create through the modal.
    page.goto("/leads/")
    page.get_by_test_id("new-lead").click()
    modal = page.locator("#modal")
    modal.locator("#id_name").fill("Fleet tracking for Acme")
    modal.get_by_label("Company").fill("Acme Logistics")
    modal.locator("#id_contact_name").fill("Maria Lopez")
    modal.get_by_label("Contact email").fill("maria@acme-logistics.example")
    modal.get_by_label("Estimated value").fill("24000")
    modal.get_by_role("button", name="Save").click()
    expect(modal).to_be_hidden()
    expect(page.get_by_test_id("lead-table")).to_contain_text("Fleet tracking for Acme")
    lead = Lead.objects.get(name="Fleet tracking for Acme")

    # Drag it from New Lead to Contacted.
    page.goto("/leads/board/")
    card = page.locator(f'[data-lead-id="{lead.pk}"]')
    expect(
        page.locator(f'section[data-step-id="{new_lead.pk}"] [data-lead-id="{lead.pk}"]')
    ).to_be_visible()
    drag(page, card, page.locator(f'section[data-step-id="{contacted.pk}"] [data-board-list]'))
    expect(page.locator(f"#board-head-{contacted.pk} [data-column-count]")).to_have_text("1")
    page.reload()
    expect(
        page.locator(f'section[data-step-id="{contacted.pk}"] [data-lead-id="{lead.pk}"]')
    ).to_be_visible()

    # Convert it from the detail page.
    page.locator(f'[data-lead-id="{lead.pk}"] a.board-card-title').click()
    expect(page.get_by_role("heading", name="Fleet tracking for Acme")).to_be_visible()
    # Contacted: Qualify is the next step; Convert waits in the "Move to…" menu.
    expect(
        page.get_by_test_id("record-actions").get_by_role("link", name="Qualify")
    ).to_be_visible()
    page.get_by_test_id("move-menu").click()
    page.get_by_test_id("convert-lead").click()
    expect(modal.get_by_text("New: Maria Lopez")).to_be_visible()
    modal.get_by_test_id("confirm-convert").click()
    page.wait_for_url("**/deals/*/")
    deal = Deal.objects.get(source_lead=lead)
    assert deal.amount == 24000 and deal.person.email == "maria@acme-logistics.example"

    # The new deal waits in the Sales Pipeline's first step.
    page.goto("/deals/board/")
    qualification = step("Sales Pipeline", DealStep.QUALIFICATION)
    expect(
        page.locator(f'section[data-step-id="{qualification.pk}"] [data-deal-id="{deal.pk}"]')
    ).to_contain_text("Fleet tracking for Acme")
