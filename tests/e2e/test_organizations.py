import pytest
from playwright.sync_api import Page, expect

from crm.models import Organization
from crm.roles import Role
from tests.e2e.helpers import login
from tests.factories import PASSWORD, UserFactory


@pytest.mark.browser
def test_rep_creates_an_organization_in_the_modal_and_finds_it_in_the_table(page: Page) -> None:
    rep = UserFactory(username="e2erep", role=Role.SALES_REP)
    login(page, "e2erep", PASSWORD)

    page.goto("/organizations/")
    expect(page.get_by_text("No organizations yet.")).to_be_visible()
    page.get_by_test_id("new-organization").click()
    modal = page.locator("#modal")
    expect(modal).to_be_visible()

    # Saving empty keeps the modal open with the error next to the field.
    modal.get_by_role("button", name="Save").click()
    expect(modal.get_by_text("This field is required.")).to_be_visible()

    modal.get_by_label("Name").fill("Playwright Industries")
    modal.get_by_label("Domain").fill("playwright.example")
    modal.get_by_role("button", name="Save").click()

    expect(modal).to_be_hidden()
    table = page.get_by_test_id("organization-table")
    expect(table).to_contain_text("Playwright Industries")
    expect(page.locator("#toasts")).to_contain_text("created")

    # The table refreshed itself; a search finds the new row, and the record is the rep's.
    page.get_by_role("searchbox").fill("playwright")
    expect(table.get_by_role("link", name="Playwright Industries")).to_be_visible()
    assert Organization.objects.get(name="Playwright Industries").owner == rep
