"""Duplicates in the browser: the new-lead form warns of an existing lead as the email is
typed, and the warning's link opens that lead."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from crm.roles import Role
from tests.e2e.helpers import login
from tests.factories import PASSWORD, UserFactory
from tests.leads.factories import LeadFactory


@pytest.mark.browser
def test_a_rep_typing_a_known_email_sees_the_duplicate_and_opens_it(
    page: Page, live_server_url
) -> None:
    rep = UserFactory(username="duprep", role=Role.SALES_REP)
    existing = LeadFactory(
        owner=rep,
        name="Northwind fleet telematics",
        contact_name="Hannah Weber",
        contact_email="hannah.weber@northwind.example",
    )
    login(page, "duprep", PASSWORD)
    page.goto("/leads/")
    page.get_by_test_id("new-lead").click()
    modal = page.locator("#modal")
    warning = modal.get_by_test_id("duplicate-warning")
    expect(warning).to_have_count(0)
    # The modal focuses its first field 150 ms after it opens: type after that.
    expect(modal.locator("#id_name")).to_be_visible()
    page.wait_for_timeout(400)
    email = modal.get_by_label("Contact email")
    email.click()
    email.press_sequentially("Hannah.Weber@Northwind.example")
    expect(warning).to_contain_text("Possible duplicate of")
    expect(warning).to_contain_text("Same email hannah.weber@northwind.example")
    link = warning.get_by_role("link", name="Northwind fleet telematics")
    with page.context.expect_page() as opened:
        link.click()
    lead_page = opened.value
    lead_page.wait_for_url(f"**/leads/{existing.pk}/")
    expect(lead_page.get_by_role("heading", name="Northwind fleet telematics")).to_be_visible()
    # The form stays open, with what was typed, and can still be saved.
    expect(modal.get_by_label("Contact email")).to_have_value("Hannah.Weber@Northwind.example")


@pytest.mark.browser
def test_a_duplicate_found_from_the_form_warning_is_merged_from_its_page(
    page: Page, live_server_url
) -> None:
    """Issue 18's path end to end: the new-lead form warns of a lead typed before, its page
    shows the other copy, and merging them there takes a field from each."""
    from leads.models import Lead

    rep = UserFactory(username="duprep2", role=Role.SALES_REP)
    first = LeadFactory(
        owner=rep,
        name="Contoso warehouse robots",
        contact_email="lena.fischer@contoso.example",
        contact_phone="+49 30 5550 7000",
    )
    second = LeadFactory(
        owner=rep,
        name="Contoso – robots for two sites",
        contact_email="Lena.Fischer@contoso.example",
        contact_phone="",
    )
    login(page, "duprep2", PASSWORD)
    page.goto("/leads/")
    page.get_by_test_id("new-lead").click()
    modal = page.locator("#modal")
    expect(modal.locator("#id_name")).to_be_visible()
    page.wait_for_timeout(400)
    modal.get_by_label("Contact email").click()
    modal.get_by_label("Contact email").press_sequentially("lena.fischer@contoso.example")
    warning = modal.get_by_test_id("duplicate-warning")
    expect(warning).to_contain_text(first.name)
    expect(warning).to_contain_text(second.name)
    with page.context.expect_page() as opened:
        warning.get_by_role("link", name=first.name).click()
    lead_page = opened.value
    lead_page.wait_for_url(f"**/leads/{first.pk}/")

    notice = lead_page.get_by_test_id("duplicate-notice")
    expect(notice).to_contain_text(second.name)
    notice.get_by_role("link", name="Merge…").click()
    # The name from the second lead, the phone from the first (the second has none).
    lead_page.locator('[data-field="name"]').get_by_text(second.name, exact=True).click()
    phone = lead_page.locator('[data-field="contact_phone"]')
    expect(phone.locator("input:checked")).to_have_count(1)
    phone.get_by_text("+49 30 5550 7000").click()
    lead_page.locator(f'input[name="survivor"][value="{first.pk}"]').check()
    lead_page.get_by_test_id("merge-review").click()
    lead_page.get_by_test_id("merge-confirm-button").click()

    lead_page.wait_for_url(f"**/leads/{first.pk}/")
    expect(lead_page.get_by_role("heading", name=second.name)).to_be_visible()
    expect(lead_page.locator("#lead-main")).to_contain_text("+49 30 5550 7000")
    assert Lead.all_objects.get(pk=second.pk).merged_into_id == first.pk
    expect(lead_page.get_by_test_id("duplicate-notice")).to_have_count(0)


@pytest.mark.browser
def test_a_lead_alike_a_contact_is_converted_linking_that_contact_from_its_notice(
    page: Page, live_server_url
) -> None:
    """A lead from someone already a contact: the notice on the lead's page offers to convert
    it linking that person, and the convert modal comes with the person chosen."""
    from leads.models import Lead
    from tests.factories import PersonFactory

    rep = UserFactory(username="duprep3", role=Role.SALES_REP)
    person = PersonFactory(
        owner=rep, first_name="Kenji", last_name="Sato", email="kenji@starkrenew.example"
    )
    lead = LeadFactory(
        owner=rep,
        name="Stark – solar monitoring",
        contact_name="Kenji Sato",
        contact_email="Kenji@StarkRenew.example",
    )
    login(page, "duprep3", PASSWORD)
    page.goto("/leads/")
    page.get_by_role("link", name="Stark – solar monitoring").click()
    notice = page.get_by_test_id("duplicate-notice")
    expect(notice).to_contain_text("Same email kenji@starkrenew.example")
    notice.get_by_role("link", name="Convert, linking Kenji Sato").click()

    modal = page.locator("#modal")
    expect(modal.get_by_label("Link an existing person")).to_be_checked()
    expect(modal.locator("select[name=person]")).to_have_value(str(person.pk))
    modal.get_by_test_id("confirm-convert").click()
    page.wait_for_url(re.compile(r"/deals/[0-9a-f-]+/$"))  # the new deal's page
    lead = Lead.all_objects.get(pk=lead.pk)
    assert lead.converted_to_person_id == person.pk
