"""The chat pages, the drawer, proposal buttons, live progress and the app shell's badge."""

from __future__ import annotations

import pytest

from aiagent import breaker, services
from aiagent.models import Conversation, Proposal
from aiagent.templatetags.ai_tags import ai_markdown
from crm import realtime as crm_realtime
from leads.models import Lead
from tests.aiagent.conftest import text_reply, tool_reply

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def web(client):
    def login(user):
        client.force_login(user)
        return client

    return login


def test_chat_home_offers_a_composer_and_says_offline(world, web):
    html = web(world.rep1).get("/ai/").content.decode()
    assert 'data-testid="ai-input"' in html
    assert "AI offline" in html and "no API key" in html
    assert "Show my hot leads" in html  # a suggestion chip
    assert 'src="/static/js/ai.js"' in html


def test_start_then_run_answers_with_links(world, web):
    client = web(world.rep1)
    response = client.post("/ai/new/", {"content": "show my hot leads"})
    conv = Conversation.objects.get(user=world.rep1)
    assert response.status_code == 302 and response["Location"] == f"/ai/{conv.pk}/"
    page = client.get(f"/ai/{conv.pk}/").content.decode()
    assert 'data-testid="ai-run"' in page  # the page starts the run
    assert "user: show my hot leads" not in page  # not mistaken for the shell's messages
    html = client.post(f"/ai/{conv.pk}/run/", **HX).content.decode()
    assert f'<a href="/leads/{world.leads1[0].pk}/">Acme expansion</a>' in html
    assert 'data-testid="ai-tool-call"' in html and "search_leads" in html
    assert 'data-testid="ai-run"' not in html
    assert "show my hot leads" in client.get("/ai/").content.decode()  # in the list


def test_htmx_start_redirects_on_the_client(world, web):
    response = web(world.rep1).post("/ai/new/", {"content": "hi"}, **HX)
    assert response["HX-Redirect"].startswith("/ai/")


def test_send_adds_the_message_and_asks_for_a_run(world, web):
    client = web(world.rep1)
    conv = services.conversation_create(by=world.rep1)
    html = client.post(f"/ai/{conv.pk}/send/", {"content": "lead metrics"}, **HX).content.decode()
    assert "lead metrics" in html and 'data-testid="ai-run"' in html
    html = client.post(f"/ai/{conv.pk}/run/", **HX).content.decode()
    assert "<strong>3 leads</strong>" in html
    empty = client.post(f"/ai/{conv.pk}/send/", {"content": "  "}, **HX).content.decode()
    assert "Write a message" in empty


def test_conversations_are_private(world, web):
    conv = services.conversation_create(by=world.rep1, title="Private chat")
    client = web(world.rep2)
    assert client.get(f"/ai/{conv.pk}/").status_code == 404
    assert client.post(f"/ai/{conv.pk}/send/", {"content": "x"}).status_code == 404
    assert client.post(f"/ai/{conv.pk}/run/").status_code == 404
    assert client.post(f"/ai/{conv.pk}/delete/").status_code == 404
    assert "Private chat" not in client.get("/ai/").content.decode()


def test_anonymous_users_are_sent_to_login(client):
    assert client.get("/ai/").status_code == 302


def test_drawer_starts_with_the_record_as_context(world, web):
    client = web(world.rep1)
    lead = world.leads1[0]
    html = client.get(f"/ai/drawer/?type=lead&id={lead.pk}", **HX).content.decode()
    assert "Summarize this lead" in html and f'value="{lead.pk}"' in html
    html = client.post(
        "/ai/new/",
        {
            "content": "what should I do next on this lead",
            "context_type": "lead",
            "context_id": str(lead.pk),
            "drawer": "1",
        },
        **HX,
    ).content.decode()
    conv = Conversation.objects.get(user=world.rep1)
    assert conv.context_type == "lead" and conv.context_id == str(lead.pk)
    assert 'data-testid="ai-run"' in html
    client.post(f"/ai/{conv.pk}/run/", **HX)
    html = client.get(f"/ai/drawer/?type=lead&id={lead.pk}", **HX).content.decode()
    assert "Next for" in html  # the drawer reopens the latest conversation
    assert client.get(f"/ai/drawer/?type=lead&id={world.leads2[0].pk}").status_code == 404
    assert client.get("/ai/drawer/?type=invoice&id=x").status_code == 400
    assert client.get("/ai/drawer/?type=person&id=x").status_code == 404


def test_lead_and_deal_pages_carry_the_drawer_and_insights(world, web):
    client = web(world.rep1)
    html = client.get(f"/leads/{world.leads1[0].pk}/").content.decode()
    assert 'data-testid="ai-drawer-toggle"' in html
    assert f'hx-get="/ai/leads/{world.leads1[0].pk}/insights/"' in html
    html = client.get(f"/deals/{world.deal1.pk}/").content.decode()
    assert 'data-testid="ai-drawer-toggle"' in html and "type=deal" in html


def test_confirm_and_cancel_buttons(world, web):
    client = web(world.rep1)
    conv = services.conversation_create(by=world.rep1)
    services.conversation_send(by=world.rep1, conversation=conv, content="convert Acme expansion")
    proposal = Proposal.objects.get()
    html = client.get(f"/ai/{conv.pk}/").content.decode()
    assert f"/ai/proposals/{proposal.token}/confirm/" in html
    assert web(world.rep2).post(f"/ai/proposals/{proposal.token}/confirm/").status_code == 404
    client = web(world.rep1)
    response = client.post(f"/ai/proposals/{proposal.token}/confirm/", **HX)
    assert response.status_code == 200
    assert "Done: Convert the lead" in response.content.decode()
    assert Lead.objects.get(pk=world.leads1[0].pk).converted_at is not None
    again = client.post(f"/ai/proposals/{proposal.token}/confirm/", **HX).content.decode()
    assert "confirmed and done" in again.lower()


def test_progress_is_published_live_to_the_user_only(
    world, claude, monkeypatch, django_capture_on_commit_callbacks
):
    sent = []
    monkeypatch.setattr(
        crm_realtime, "send_now", lambda group, message: sent.append((group, message))
    )
    claude.replies = [tool_reply(("lead_metrics", {}), text="Counting."), text_reply("3 leads.")]
    conv = services.conversation_create(by=world.rep1)
    with django_capture_on_commit_callbacks(execute=True):
        services.conversation_send(by=world.rep1, conversation=conv, content="how many?")
    assert {group for group, _ in sent} == {f"user.{world.rep1.pk}"}
    assert all(message["type"] == "send_html" for _, message in sent)
    html = "".join(message["html"] for _, message in sent)
    assert "Thinking…" in html and "Calling lead_metrics…" in html
    assert f'hx-swap-oob="beforeend:#ai-messages-{conv.pk}"' in html
    assert "Counting." in html and "3 leads." in html
    assert 'data-tool="lead_metrics"' in html


def test_the_shell_badge_tells_the_truth(world, web, settings):
    client = web(world.rep1)
    assert ">AI offline<" in client.get("/").content.decode().replace("\n", "")
    settings.ANTHROPIC_API_KEY = "test-key"
    page = client.get("/").content.decode()
    assert "AI online" in page
    settings.AI_BREAKER_FAILURES = 1
    breaker.record_failure("down")
    page = client.get("/").content.decode()
    assert "AI offline" in page and "AI online" not in page


def test_markdown_is_escaped_and_keeps_links_inside_the_app():
    html = ai_markdown(
        "**Hot** leads:\n- [Acme](/leads/1/)\n- [evil](https://evil.example/)\n"
        "- [js](javascript:alert(1))\n<script>alert(1)</script>\n[x](//evil.example)"
    )
    assert "<strong>Hot</strong>" in html
    assert '<li><a href="/leads/1/">Acme</a></li>' in html
    assert "evil.example/" in html and 'href="https://evil' not in html
    assert 'href="javascript' not in html and 'href="//evil' not in html
    assert "<script>" not in html and "&lt;script&gt;" in html
