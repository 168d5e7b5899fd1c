"""Personal data in the browser (issue 18): an Admin anonymizes a lead by typing its name and
lands on the anonymized page; the export, consent and anonymize screens at 1440 and 390 px in
both themes (screenshots under SHOTS)."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from crm.roles import Role
from privacy.models import AccessLogEntry, Consent
from tests.e2e.helpers import login
from tests.factories import PASSWORD, PersonFactory, UserFactory
from tests.leads.factories import CaptureFormFactory, LeadFactory

SHOTS = Path(os.environ.get("PRIVACY_SHOTS", "test-artifacts/privacy"))
NAME = "Harbour view refit – Ona Brightwater"


def _lead():
    rep = UserFactory(username="privacyrep", role=Role.SALES_REP)
    lead = LeadFactory(
        owner=rep,
        name=NAME,
        contact_name="Ona Brightwater",
        contact_email="ona.brightwater@harbourview.example",
        contact_phone="+44 20 7946 0018",
        estimated_value=Decimal("48200"),
    )
    Consent.objects.create(
        lead=lead,
        status="granted",
        source="capture_form",
        form=CaptureFormFactory(name="Pricing page"),
        evidence={"wording": "Send me news and offers by email"},
    )
    return rep, lead


@pytest.mark.browser
def test_an_admin_anonymizes_a_lead_by_typing_its_name(page: Page) -> None:
    _, lead = _lead()
    UserFactory(username="privacyadmin", role=Role.ADMIN)
    login(page, "privacyadmin", PASSWORD)

    page.goto(f"/leads/{lead.pk}/")
    page.get_by_test_id("more-menu").click()
    page.get_by_test_id("anonymize").click()
    modal = page.get_by_test_id("anonymize-modal")
    expect(modal).to_contain_text("This cannot be undone.")
    modal.get_by_label("Type the name to confirm").fill("Harbour view refit")
    modal.get_by_label("Reason").fill("Erasure request by email of 3 March")
    modal.get_by_test_id("anonymize-submit").click()
    expect(page.get_by_test_id("anonymize-modal")).to_contain_text("This is not the name")

    modal = page.get_by_test_id("anonymize-modal")
    modal.get_by_label("Type the name to confirm").fill(NAME)
    modal.get_by_test_id("anonymize-submit").click()

    expect(page.get_by_test_id("anonymized-badge")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_have_text("Anonymized lead")
    expect(page.get_by_test_id("record-facts")).not_to_contain_text("ona.brightwater")
    expect(page.get_by_test_id("related-privacy")).to_contain_text("Personal data anonymized")
    assert AccessLogEntry.objects.filter(action="anonymize", record_id=lead.pk).exists()


@pytest.mark.browser
@pytest.mark.parametrize("width", [1440, 390])
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_privacy_screens(new_context, width: int, scheme: str) -> None:
    rep, lead = _lead()
    UserFactory(username="privacyadmin", role=Role.ADMIN)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = new_context(viewport={"width": width, "height": 900}, color_scheme=scheme).new_page()

    def shot(name: str) -> None:
        page.wait_for_timeout(250)  # the modal's fade
        modal = "modal" in name  # a modal is seen in the viewport (a full page cuts its backdrop)
        page.screenshot(path=str(SHOTS / f"{name}-{width}-{scheme}.png"), full_page=not modal)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name} scrolls sideways by {overflow}px at {width}px"

    login(page, "privacyadmin", PASSWORD)
    form = CaptureFormFactory(name="Newsletter", consent_text="Send me news and offers by email")
    page.goto(f"/settings/capture-forms/{form.pk}/")
    expect(page.get_by_label("Consent checkbox")).to_have_value("Send me news and offers by email")
    shot("capture-form-settings")
    page.goto(f"/f/{form.slug}/")
    expect(page.get_by_label("Send me news and offers by email")).not_to_be_checked()
    shot("capture-page")
    person = PersonFactory(owner=rep, first_name="Ilse", last_name="Marrow")
    page.goto(f"/people/{person.pk}/")
    expect(page.get_by_test_id("related-privacy")).to_contain_text("No consent recorded.")
    shot("person-page")
    page.goto(f"/leads/{lead.pk}/")
    expect(page.get_by_test_id("related-privacy")).to_contain_text("Marketing consent")
    page.get_by_test_id("more-menu").click()
    expect(page.get_by_test_id("anonymize")).to_be_visible()
    shot("lead-more-menu")
    page.get_by_test_id("export-personal-data").click()
    expect(page.get_by_test_id("export-modal")).to_be_visible()
    shot("export-modal")
    page.goto(f"/privacy/lead/{lead.pk}/export/")
    expect(page.get_by_test_id("export-page")).to_contain_text("ona.brightwater")
    shot("export-page")
    page.goto(f"/leads/{lead.pk}/")
    page.get_by_test_id("more-menu").click()
    page.get_by_test_id("anonymize").click()
    modal = page.get_by_test_id("anonymize-modal")
    modal.get_by_label("Reason").fill("Erasure request")
    modal.get_by_label("Type the name to confirm").fill("wrong")
    modal.get_by_test_id("anonymize-submit").click()
    expect(page.get_by_test_id("anonymize-modal")).to_contain_text("This is not the name")
    shot("anonymize-modal")
    modal = page.get_by_test_id("anonymize-modal")
    modal.get_by_label("Type the name to confirm").fill(NAME)
    modal.get_by_test_id("anonymize-submit").click()
    expect(page.get_by_test_id("anonymized-badge")).to_be_visible()
    shot("lead-anonymized")

    page.context.clear_cookies()
    login(page, rep.username, PASSWORD)
    other = LeadFactory(owner=rep, name="Quay lights")
    page.goto(f"/leads/{other.pk}/")
    page.get_by_test_id("related-privacy").get_by_role("link", name="Record a consent…").click()
    modal = page.get_by_test_id("consent-modal")
    expect(modal).to_be_visible()
    modal.get_by_label("Evidence").fill("Phone call of 3 March")
    shot("consent-modal")
    modal.get_by_role("button", name="Record").click()
    expect(page.get_by_test_id("related-privacy")).to_contain_text("Granted")
    assert Consent.objects.get(lead=other).evidence == {"note": "Phone call of 3 March"}
