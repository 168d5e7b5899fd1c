"""Custom fields in the browser: a manager defines a dropdown for leads on the management page,
a rep sets it on a lead in the edit modal, then filters the leads table by it."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from crm.roles import Role
from customfields.models import CustomFieldDefinition
from leads.models import Lead
from tests.e2e.helpers import login
from tests.factories import PASSWORD, UserFactory
from tests.leads.factories import LeadFactory


@pytest.mark.browser
def test_manager_adds_a_dropdown_rep_sets_it_and_filters_leads_by_it(
    new_context, live_server_url
) -> None:
    UserFactory(username="cfmanager", role=Role.MANAGER)
    rep = UserFactory(username="cfrep", role=Role.SALES_REP)
    lead = LeadFactory(owner=rep, name="Warehouse robots for Brightline")
    LeadFactory(owner=rep, name="Spreadsheet cleanup for Dunmore")

    # The manager adds a dropdown field for leads, reaching the page from the navigation.
    manager_page = new_context().new_page()
    login(manager_page, "cfmanager", PASSWORD)
    manager_page.goto("/leads/")
    manager_page.locator("#main-nav .dropdown-toggle").click()
    manager_page.get_by_test_id("nav-custom-fields").click()
    expect(manager_page.get_by_test_id("custom-fields-empty")).to_contain_text("No lead fields yet")
    manager_page.get_by_test_id("new-custom-field").click()
    modal = manager_page.locator("#modal")
    expect(modal.get_by_role("heading", name="New lead field")).to_be_visible()
    options = modal.locator("#id_options")
    expect(options).to_be_hidden()  # text is the default type
    modal.locator("#id_label").fill("Budget range")
    expect(modal.locator("#id_name")).to_have_value("budget_range")  # suggested from the label
    modal.locator("#id_type").select_option("dropdown")
    expect(options).to_be_visible()
    options.fill("small\nmedium\nlarge")
    modal.get_by_label("Show in table").check()
    modal.get_by_role("button", name="Save").click()
    expect(modal).to_be_hidden()
    table = manager_page.get_by_test_id("custom-field-table")
    expect(table).to_contain_text("Budget range")
    expect(table).to_contain_text("budget_range")
    field = CustomFieldDefinition.objects.get(entity_type="lead", name="budget_range")
    assert field.options == ["small", "medium", "large"] and field.show_in_table

    # The rep sets it on a lead from the lead's edit modal.
    rep_page = new_context().new_page()
    login(rep_page, "cfrep", PASSWORD)
    rep_page.goto(f"/leads/{lead.pk}/")
    rep_page.get_by_role("link", name="Edit").click()
    rep_modal = rep_page.locator("#modal")
    rep_modal.get_by_label("Budget range").select_option("large")
    rep_modal.get_by_role("button", name="Save").click()
    expect(rep_modal).to_be_hidden()
    lead.refresh_from_db()
    assert lead.custom_field_values == {"budget_range": "large"}

    # And filters the leads table by it.
    rep_page.goto("/leads/")
    leads_table = rep_page.get_by_test_id("lead-table")
    expect(leads_table).to_contain_text("Spreadsheet cleanup for Dunmore")
    rep_page.get_by_role("button", name="More").click()
    rep_page.locator("#filters").get_by_role("combobox", name="Budget range").select_option("large")
    expect(rep_page).to_have_url(re.compile(r"cf_budget_range=large"))
    expect(leads_table).to_contain_text("Warehouse robots for Brightline")
    expect(leads_table).not_to_contain_text("Spreadsheet cleanup for Dunmore")
    assert Lead.objects.filter(custom_field_values__budget_range="large").count() == 1
