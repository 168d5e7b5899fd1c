"""The AI assistant in the browser, offline (no API key): the chat answers "show my hot leads"
with links, a lead's notes are analysed and a suggested field is applied, and the drawer of a
lead page chats about that lead. With a scripted Claude: a streamed answer is stopped."""

from __future__ import annotations

import time

import httpx2
import pytest
from playwright.sync_api import Page, expect

from aiagent import breaker, llm
from aiagent.models import Message
from crm.roles import Role
from customfields.services import custom_field_create
from leads.models import Lead
from tests.aiagent.conftest import ScriptedClaude, text_reply, tool_reply
from tests.aiagent.factories import make_lead
from tests.e2e.helpers import in_thread, login
from tests.factories import PASSWORD, UserFactory

NOTES = (
    "Call with Dana Reyes, CTO of Northwind. They have a budget of $50k approved for this. "
    "They are struggling with manual spreadsheets and losing deals. They want to go live "
    "next quarter and asked us to send a proposal."
)


def rep(username: str = "airep"):
    return in_thread(UserFactory, username=username, role=Role.SALES_REP)


@pytest.mark.browser
def test_show_my_hot_leads_answers_with_links(page: Page, live_server_url) -> None:
    user = rep()
    other = rep("otherrep")
    hot = in_thread(make_lead, user, "Acme expansion", score=88)
    in_thread(make_lead, user, "Cold prospect", score=12)
    in_thread(make_lead, other, "Someone else's hot lead", score=99)
    login(page, "airep", PASSWORD)

    page.goto("/ai/")
    expect(page.get_by_test_id("ai-mode")).to_have_text("AI offline")
    expect(page.locator("nav").get_by_text("AI offline")).to_be_visible()
    page.get_by_test_id("ai-input").fill("show my hot leads")
    page.get_by_test_id("ai-input").press("Enter")
    page.wait_for_url("**/ai/*/")

    answer = page.get_by_test_id("ai-answer").first
    expect(answer).to_contain_text("Acme expansion")
    expect(answer).not_to_contain_text("Cold prospect")
    expect(answer).not_to_contain_text("Someone else")
    link = answer.get_by_role("link", name="Acme expansion")
    expect(link).to_have_attribute("href", f"/leads/{hot.pk}/")
    expect(page.get_by_test_id("ai-message")).to_have_count(3)  # no duplicates

    step = page.get_by_test_id("ai-tool-call").first
    expect(step).to_contain_text("search_leads")
    expect(step.locator("pre").first).to_be_hidden()
    step.locator("summary").click()
    expect(step.locator("pre").first).to_contain_text('"temperature": "hot"')
    expect(page.get_by_test_id("ai-record-link").first).to_have_attribute(
        "href", f"/leads/{hot.pk}/"
    )
    expect(page.get_by_test_id("ai-conversations")).to_contain_text("show my hot leads")

    # A follow-up in the same conversation.
    page.get_by_test_id("ai-input").fill("lead metrics")
    page.get_by_test_id("ai-send").click()
    expect(page.get_by_test_id("ai-answer").last).to_contain_text("2 leads")
    expect(page.get_by_test_id("ai-input")).to_have_value("")

    link.click()
    page.wait_for_url(f"**/leads/{hot.pk}/")


@pytest.mark.browser
def test_analyse_a_leads_notes_and_apply_a_suggested_field(page: Page, live_server_url) -> None:
    manager = in_thread(UserFactory, username="aimanager", role=Role.MANAGER)
    in_thread(
        custom_field_create,
        by=manager,
        entity_type="lead",
        name="budget",
        label="Budget",
        type="decimal",
    )
    user = rep()
    lead = in_thread(make_lead, user, "Northwind rollout")
    login(page, "airep", PASSWORD)

    page.goto(f"/leads/{lead.pk}/")
    panel = page.get_by_test_id("ai-insights")
    expect(panel).to_contain_text("No analysis yet")
    expect(panel).to_contain_text("AI offline")
    panel.get_by_test_id("ai-analyze-text").fill(NOTES)
    panel.get_by_test_id("ai-analyze").click()
    expect(panel.get_by_test_id("ai-insights-source")).to_contain_text("offline analyser")
    expect(panel.get_by_test_id("ai-level-authority")).to_have_text("decision maker")
    expect(panel.get_by_test_id("ai-level-budget")).to_have_text("confirmed")
    expect(panel).to_contain_text("Send the proposal")

    suggestion = panel.locator('[data-testid="ai-suggestion"][data-field="cf:budget"]')
    expect(suggestion).to_contain_text("50000.00")
    suggestion.get_by_test_id("ai-apply").click()
    expect(page.locator(".toast", has_text="Budget set to")).to_contain_text("50000.00")
    expect(page.locator(".detail-fields")).to_contain_text("50")
    expect(page.locator('[data-testid="ai-suggestion"][data-field="cf:budget"]')).to_have_count(0)
    stored = in_thread(lambda: Lead.objects.get(pk=lead.pk).custom_field_values)
    assert stored["budget"] == "50000.00"


@pytest.mark.browser
def test_the_lead_drawer_chats_about_that_lead(page: Page, live_server_url) -> None:
    user = rep()
    lead = in_thread(make_lead, user, "Drawer lead", score=40)
    login(page, "airep", PASSWORD)
    page.goto(f"/leads/{lead.pk}/")
    page.get_by_test_id("ai-drawer-toggle").click()
    drawer = page.locator("#ai-drawer")
    expect(drawer.get_by_test_id("ai-mode")).to_have_text("AI offline")
    drawer.get_by_role("button", name="Next steps").click()
    answer = drawer.get_by_test_id("ai-answer").last
    expect(answer).to_contain_text("Next for")
    expect(answer.get_by_role("link", name="Drawer lead")).to_have_attribute(
        "href", f"/leads/{lead.pk}/"
    )


@pytest.mark.browser
def test_on_a_phone_the_ask_ai_button_hides_nothing_at_the_end_of_the_page(
    page: Page, live_server_url
) -> None:
    user = rep()
    lead = in_thread(make_lead, user, "Phone lead", score=40)
    page.set_viewport_size({"width": 390, "height": 800})
    login(page, "airep", PASSWORD)
    page.goto(f"/leads/{lead.pk}/")
    expect(page.get_by_test_id("timeline")).to_be_visible()
    page.wait_for_load_state("networkidle")  # the lazy regions are in: the page has its length
    page.mouse.wheel(0, 20000)  # scrolled to the end, as a thumb does
    # The wheel scrolls asynchronously (slowly on a busy machine): wait until the end is reached.
    page.wait_for_function(
        "window.scrollY + window.innerHeight >= document.documentElement.scrollHeight - 1"
    )
    button = page.get_by_role("button", name="Ask AI")
    last = page.locator("#main .card").last
    button_box, last_box = button.bounding_box(), last.bounding_box()
    assert button_box["width"] < 60  # an icon on a phone
    assert last_box["y"] + last_box["height"] <= button_box["y"], (last_box, button_box)

    button.click()
    expect(page.locator("#ai-drawer").get_by_test_id("ai-mode")).to_have_text("AI offline")


@pytest.mark.browser
def test_claude_streams_an_answer_and_the_user_stops_it(
    page: Page, live_server_url, settings, monkeypatch
) -> None:
    """Claude is scripted on a mocked transport of the SDK: the live server runs in this
    process, so ``llm.http_client_factory`` and the settings reach it; the transport sends the
    stream's events slowly, as a model generating."""
    user = rep()
    in_thread(make_lead, user, "Acme expansion", score=88)
    plan = "Monday: call Acme about the pricing sheet and book the demo. " * 25
    scripted = ScriptedClaude(pause=0.04)
    scripted.replies = [
        tool_reply(("search_leads", {"hot": True, "mine": True}), text="Looking at your leads."),
        text_reply(plan),
    ]
    # Give the page's socket time to connect before the first event.
    scripted.on_event = lambda index, event: time.sleep(1) if index == 0 else None
    settings.ANTHROPIC_API_KEY = "test-key"
    settings.ANTHROPIC_MODEL = "claude-test"
    settings.AI_MAX_RETRIES = 0
    monkeypatch.setattr(
        llm,
        "http_client_factory",
        lambda: httpx2.Client(transport=httpx2.MockTransport(scripted.handler)),
    )
    in_thread(breaker.reset)
    login(page, "airep", PASSWORD)

    page.goto("/ai/")
    expect(page.get_by_test_id("ai-mode")).to_have_text("AI online")
    page.get_by_test_id("ai-input").fill("Plan my week around my hot leads")
    page.get_by_test_id("ai-input").press("Enter")
    page.wait_for_url("**/ai/*/")

    step = page.get_by_test_id("ai-tool-call").first  # the tool call, live, as a closed step
    expect(step).to_contain_text("search_leads")
    expect(step.locator("pre").first).to_be_hidden()
    draft = page.get_by_test_id("ai-draft-text")
    expect(draft).to_contain_text("Monday: call Acme")
    shown = len(draft.text_content())
    page.wait_for_function(
        "n => (document.querySelector('[data-testid=ai-draft-text]')?.textContent.length || 0) > n",
        arg=shown,
    )  # the text grows as it streams
    page.locator("[data-testid=ai-stop]:visible").click()

    answer = page.get_by_test_id("ai-answer").last
    expect(answer).to_contain_text("(stopped)")
    expect(answer).to_contain_text("Monday: call Acme")
    expect(page.get_by_test_id("ai-draft")).to_have_count(0)
    expect(page.locator("[data-testid=ai-stop]:visible")).to_have_count(0)
    stored = in_thread(lambda: list(Message.objects.filter(data__stopped=True)))
    assert len(stored) == 1 and stored[0].content.endswith("(stopped)")
    assert len(stored[0].content) < len(plan)
    assert len(scripted.requests) == 2

    # The conversation goes on: the next answer comes as usual.
    scripted.on_event = None
    scripted.replies = [text_reply("Tuesday: send Acme the proposal.")]
    page.get_by_test_id("ai-input").fill("And Tuesday?")
    page.get_by_test_id("ai-send").click()
    expect(page.get_by_test_id("ai-answer").last).to_contain_text("Tuesday: send Acme")
