"""The dashboard's "AI summary of the period": Claude gets the figures only and its text is
shown; without an API key the page says the assistant is offline."""

from __future__ import annotations

import json

from django.urls import reverse

from tests.aiagent.conftest import text_reply
from tests.leads.factories import LeadFactory


def test_summary_is_written_from_the_figures_only(claude, web, manager, rep1):
    LeadFactory(owner=rep1, name="Secret Project Falcon", source="event")
    claude.replies.append(text_reply("Event leads carried the month."))
    client = web(manager)
    assert (
        'data-testid="ai-summary-button"' in client.get(reverse("analytics:team")).content.decode()
    )
    response = client.post(reverse("analytics:summary") + "?period=last_30_days")
    assert response.status_code == 200
    assert "Event leads carried the month." in response.content.decode()
    sent = json.loads(claude.requests[0]["messages"][0]["content"])
    assert {"label": "Leads", "value": "1", "change": None} in sent["figures"]
    assert "Secret Project Falcon" not in claude.requests[0]["messages"][0]["content"]


def test_offline_the_button_is_replaced_by_a_note(web, manager):
    client = web(manager)
    html = client.get(reverse("analytics:team")).content.decode()
    assert 'data-testid="ai-summary-offline"' in html
    response = client.post(reverse("analytics:summary"))
    assert response.status_code == 200
    assert "No Anthropic API key" in response.content.decode()
