"""Merging two leads in the browser (issue 18): from a lead's "Merge with…", find the other
lead, take one field from each, confirm, and land on the kept lead showing both values."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from crm.roles import Role
from leads.models import Lead
from tests.e2e.helpers import login
from tests.factories import PASSWORD, UserFactory
from tests.leads.factories import LeadFactory


@pytest.mark.browser
def test_manager_merges_two_leads_choosing_a_field_from_each(page: Page) -> None:
    UserFactory(username="mergemanager", role=Role.MANAGER)
    rep = UserFactory(username="mergerep", role=Role.SALES_REP)
    keep = LeadFactory(
        owner=rep,
        name="Fabrikam fleet rollout",
        contact_email="ines@fabrikam.example",
        contact_phone="+49 30 5550 1000",
        company_name="Fabrikam",
    )
    other = LeadFactory(
        owner=rep,
        name="Fabrikam – telematics for 40 trucks",
        contact_email="ines.l@fabrikam.example",
        contact_phone="+49 30 5550 2999",
        company_name="Fabrikam GmbH",
    )
    login(page, "mergemanager", PASSWORD)

    page.goto(f"/leads/{keep.pk}/")
    page.get_by_test_id("more-menu").click()
    page.get_by_test_id("merge").click()
    page.get_by_test_id("merge-search").fill("telematics")
    candidates = page.get_by_test_id("merge-candidates")
    expect(candidates).to_contain_text(other.name)
    candidates.get_by_role("link", name="Merge with this one").click()

    # The name from the other lead, the phone from the one kept (not the newest).
    name = page.locator('[data-field="name"]')
    name.get_by_text(other.name, exact=True).click()
    phone = page.locator('[data-field="contact_phone"]')
    phone.get_by_text("+49 30 5550 1000").click()
    expect(page.locator(f'input[name="survivor"][value="{keep.pk}"]')).to_be_checked()
    page.get_by_test_id("merge-review").click()

    confirm = page.get_by_test_id("merge-confirm")
    expect(confirm).to_contain_text(other.name)
    expect(confirm).to_contain_text("+49 30 5550 1000")
    page.get_by_test_id("merge-confirm-button").click()

    page.wait_for_url(f"**/leads/{keep.pk}/")
    expect(page.get_by_role("heading", name=other.name)).to_be_visible()
    expect(page.locator("#lead-main")).to_contain_text("+49 30 5550 1000")
    expect(page.get_by_role("alert")).to_contain_text("Merged")
    assert Lead.all_objects.get(pk=other.pk).merged_into_id == keep.pk

    # The merged-away lead's old address leads to the kept one.
    page.goto(f"/leads/{other.pk}/")
    page.wait_for_url(f"**/leads/{keep.pk}/")
    expect(page.get_by_role("alert")).to_contain_text("was merged into this lead")
