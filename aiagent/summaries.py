"""The dashboard's on-demand "AI summary of the period" (analytics.registry): Claude writes a
few sentences from the figures the dashboard computed. Only figures and labels are sent."""

from __future__ import annotations

import json

from aiagent import llm
from analytics.registry import SummaryUnavailable

SYSTEM = (
    "You summarise a sales team's CRM dashboard for its manager. You get the period's figures "
    "as JSON (labels, values, changes against the previous period, and observations already "
    "computed). Write 3 to 5 short sentences in plain English: what went well, what needs "
    "attention, and one concrete suggestion. Use only the figures given; do not invent numbers."
)
MAX_TOKENS = 400


def summarize_period(*, user, facts: dict) -> str:
    try:
        response = llm.create_message(
            system=SYSTEM,
            max_tokens=MAX_TOKENS,
            messages=[{"role": "user", "content": json.dumps(facts, default=str)}],
        )
    except llm.AIUnavailable as exc:
        raise SummaryUnavailable(exc.message) from exc
    text = "".join(block.text for block in response.content if block.type == "text").strip()
    if not text:
        raise SummaryUnavailable("The AI returned no summary; try again.")
    return text
