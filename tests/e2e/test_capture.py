"""Web-to-lead capture in the browser (issue 15): a visitor fills a hosted form twice (one lead,
two touch points), and a manager makes a form on the settings page and copies its snippet."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from crm.roles import Role
from leads.models import CaptureForm, Lead
from tests.e2e.helpers import login
from tests.factories import PASSWORD, UserFactory
from tests.leads.factories import CaptureFormFactory


@pytest.mark.browser
def test_a_visitor_fills_the_hosted_form_twice(new_context, live_server_url, settings) -> None:
    settings.CAPTURE_MIN_FILL_SECONDS = 1
    form = CaptureFormFactory(name="Website contact", slug="website-contact")
    page = new_context(viewport={"width": 390, "height": 844}).new_page()

    page.goto("/f/website-contact/?utm_source=google&utm_medium=cpc&utm_campaign=spring")
    expect(page.get_by_role("heading", name="Website contact")).to_be_visible()
    page.get_by_label("Your name").fill("Ann Lee")
    page.get_by_label("Email").fill("ann@lee.example")
    page.get_by_label("Company").fill("Lee Ltd")
    page.get_by_label("Message").fill("Please call me about pricing.")
    page.wait_for_timeout(1100)  # a person takes a moment; a bot sending at once is refused
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_test_id("capture-thanks")).to_contain_text(form.thank_you_message)

    lead = Lead.objects.get(contact_email="ann@lee.example")
    assert (lead.contact_name, lead.company_name) == ("Ann Lee", "Lee Ltd")
    assert (lead.utm_source, lead.utm_medium, lead.utm_campaign) == ("google", "cpc", "spring")
    assert lead.landing_page.startswith(f"{live_server_url}/f/website-contact/")
    assert lead.touch_points.get().form == form

    # The same visitor comes back from the newsletter: a touch point, no second lead.
    page.goto("/f/website-contact/?utm_source=newsletter&utm_campaign=may")
    page.get_by_label("Your name").fill("Ann Lee")
    page.get_by_label("Email").fill("ANN@lee.example")
    page.wait_for_timeout(1100)
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_test_id("capture-thanks")).to_be_visible()
    assert Lead.objects.filter(contact_email="ann@lee.example").count() == 1
    lead.refresh_from_db()
    assert lead.utm_source == "google" and lead.last_touch_source == "newsletter"
    assert lead.touch_points.count() == 2


@pytest.mark.browser
def test_the_hosted_form_shows_errors_inline_and_keeps_what_was_typed(
    new_context, settings
) -> None:
    settings.CAPTURE_MIN_FILL_SECONDS = 0
    CaptureFormFactory(slug="fair")
    page = new_context().new_page()
    page.goto("/f/fair/")
    page.get_by_label("Company").fill("Lee Ltd")
    page.get_by_label("Email").fill("ann@")
    # The browser's own checks are off for this test: the server's answer is what is tested.
    page.locator("form[data-testid=capture-form]").evaluate("f => f.noValidate = true")
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_test_id("capture-errors")).to_be_visible()
    expect(page.get_by_label("Email")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Company")).to_have_value("Lee Ltd")
    expect(page.locator("#id_contact_name_error")).to_contain_text("required")
    assert not Lead.objects.exists()


@pytest.mark.browser
def test_a_manager_creates_a_form_and_copies_its_snippet(new_context) -> None:
    UserFactory(username="capmanager", role=Role.MANAGER)
    context = new_context(permissions=["clipboard-read", "clipboard-write"])
    page = context.new_page()
    login(page, "capmanager", PASSWORD)
    page.locator("#main-nav .dropdown-toggle").last.click()
    page.get_by_test_id("nav-capture-forms").click()
    expect(page.get_by_test_id("capture-forms-empty")).to_be_visible()
    page.get_by_test_id("new-capture-form").click()

    page.get_by_role("textbox", name="Name", exact=True).fill("Spring webinar")
    page.get_by_role("combobox", name="Source", exact=True).select_option("event")
    page.get_by_label("Show Phone").check()
    page.get_by_label("Phone is required").check()
    page.get_by_label("Allowed origins").fill("https://www.acme.example")
    page.get_by_label("Thank-you message").fill("See you at the webinar!")
    page.get_by_role("button", name="Create form").click()

    expect(page).to_have_url(re.compile(r"/settings/capture-forms/[0-9a-f-]{36}/$"))
    form = CaptureForm.objects.get(name="Spring webinar")
    assert {"name": "contact_phone", "required": True} in form.fields
    assert form.allowed_origins == ["https://www.acme.example"]
    snippet = page.get_by_test_id("capture-snippet")
    expect(snippet).to_contain_text(form.key)
    expect(snippet).to_contain_text("/api/v1/lead-capture/")
    page.get_by_test_id("copy-snippet").click()
    expect(page.get_by_test_id("copy-snippet")).to_contain_text("Copied")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert form.key in copied and copied.startswith("<form")

    # The live preview is the hosted page.
    preview = page.frame_locator("[data-testid=capture-preview]")
    expect(preview.get_by_label("Phone")).to_be_visible()
    expect(preview.get_by_role("heading", name="Spring webinar")).to_be_visible()
