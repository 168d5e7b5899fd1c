"""The assistant as a rep uses it offline (no API key, the mode of every install without one):
from a lead page's drawer, "summarize this lead" and "what should I do next" are about that
lead; in the chat, "show my hot leads" lists only the rep's open hot leads, formatted, with a
working "show in the table" link (issue 19)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from playwright.sync_api import Page, expect

from crm.roles import Role
from leads import services as lead_services
from leads.models import Lead
from tests.aiagent.factories import make_lead
from tests.e2e.helpers import ask_assistant, in_thread, login
from tests.factories import PASSWORD, UserFactory


def _world():
    rep = UserFactory(username="riley", first_name="Riley", role=Role.SALES_REP)
    other = UserFactory(username="sam", role=Role.SALES_REP)
    hot = make_lead(rep, "Acme expansion", score=88, company_name="Acme Robotics")
    Lead.objects.filter(pk=hot.pk).update(
        estimated_value=Decimal("46700"), currency="EUR", source="email_campaign"
    )
    dropped = make_lead(rep, "Dropped hot lead", score=91, company_name="Gone Co")
    lead_services.lead_disqualify(by=rep, lead=dropped, reason="No budget")
    make_lead(rep, "Cold prospect", score=12)
    make_lead(other, "Someone else's hot lead", score=99)
    return hot


@pytest.mark.browser
def test_the_drawer_answers_about_its_lead(page: Page, live_server_url) -> None:
    hot = in_thread(_world)
    login(page, "riley", PASSWORD)
    page.goto(f"/leads/{hot.pk}/")
    page.get_by_test_id("ai-drawer-toggle").click()
    drawer = page.locator("#ai-drawer")
    expect(drawer.get_by_test_id("ai-mode")).to_have_text("AI offline")

    answer = ask_assistant(drawer, "summarize this lead")
    expect(answer.get_by_role("link", name="Acme expansion")).to_have_attribute(
        "href", f"/leads/{hot.pk}/"
    )
    expect(answer).to_contain_text("€46,700")
    expect(answer).to_contain_text("Email campaign")
    expect(answer).not_to_contain_text("Cold prospect")

    answer = ask_assistant(drawer, "what should I do next")
    expect(answer).to_contain_text("Next for Acme expansion")


@pytest.mark.browser
def test_show_my_hot_leads_then_open_them_in_the_table(page: Page, live_server_url) -> None:
    in_thread(_world)
    login(page, "riley", PASSWORD)
    page.goto("/ai/")
    page.get_by_role("button", name="Show my hot leads").click()
    answer = page.get_by_test_id("ai-answer").last
    table = answer.locator("table")
    expect(table.locator("tbody tr")).to_have_count(1)
    expect(table).to_contain_text("Acme expansion")
    expect(table).to_contain_text("€46,700")
    expect(table).to_contain_text("88 (hot)")
    expect(answer).not_to_contain_text("Dropped hot lead")  # disqualified
    expect(answer).not_to_contain_text("Someone else")

    answer.get_by_role("link", name="Open in the table").click()
    page.wait_for_url("**/leads/?*")
    rows = page.locator("#rows tbody tr[data-id]")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Acme expansion")
