"""A scripted stand-in for Claude, for recording without API access
(``REPLAY_UPSTREAM=tests.aiagent.replay.standin:upstream``, README.md).

It answers each scenario the way Claude answered such requests (tool choices, arguments,
wording), with the ids of the test world's records. Recordings made with it test the same
things as recordings of Claude; re-record against Claude when the prompts or tools change in a
way that should change Claude's choices.
"""

from __future__ import annotations

import os

import httpx2

from tests.aiagent.conftest import ScriptedClaude, text_reply, tool_reply


def _hot_leads_then_log_call(world) -> list:
    acme, initech, _ = world.leads1
    return [
        tool_reply(
            ("search_leads", {"hot": True, "mine": True}),
            text="I'll look up your hot leads.",
            ids=["toolu_01HpK8mQe3VvTnZr6sWc1yLd"],
        ),
        text_reply(
            "You have 2 hot leads:\n\n"
            f"1. [Acme expansion](/leads/{acme.pk}/) (Acme Robotics), score 85\n"
            f"2. [Initech pilot](/leads/{initech.pk}/) (Initech), score 72\n\n"
            "Acme expansion is the warmest. Want me to plan a follow-up?"
        ),
        tool_reply(
            (
                "create_activity",
                {
                    "type": "call",
                    "subject": "Call about the pricing sheet",
                    "notes": "Discussed the pricing sheet.",
                    "is_done": True,
                    "lead_id": str(acme.pk),
                },
            ),
            text="Logging the call on Acme expansion.",
            ids=["toolu_01Bq7TtR2nXwJ4kLm9PdVh3e"],
        ),
        text_reply(
            f"Done: I logged a completed call “Call about the pricing sheet” on "
            f"[Acme expansion](/leads/{acme.pk}/)."
        ),
    ]


def _convert_needs_confirmation(world) -> list:
    acme = world.leads1[0]
    return [
        tool_reply(
            ("search_leads", {"query": "Acme expansion"}),
            ids=["toolu_01Xc4vNn8RzQ2wLk5Tm7HgYb"],
        ),
        tool_reply(
            ("convert_lead", {"lead_id": str(acme.pk), "deal_name": "Acme expansion"}),
            text="Found it. Preparing the conversion.",
            ids=["toolu_01Ke9WdF3pTq6ZsM1rVn8AcJ"],
        ),
        text_reply(
            f"I prepared the conversion of [Acme expansion](/leads/{acme.pk}/) into a person, "
            "an organization and the deal “Acme expansion”. Nothing has changed yet: press "
            "**Confirm** on the proposal above to convert it."
        ),
    ]


def _hidden_record_not_found(world) -> list:
    secret = world.leads2[0]
    return [
        tool_reply(
            ("get_lead", {"lead_id": str(secret.pk)}),
            ids=["toolu_01Lm2QaZ7xPv4NcR8sTd5WkE"],
        ),
        tool_reply(
            ("search_leads", {"query": "Globex"}),
            text="That id did not open a lead; searching by name instead.",
            ids=["toolu_01Rt6YhB1nMs9KqW3vXc2JpF"],
        ),
        text_reply(
            "I can't find that lead: it doesn't exist, or it isn't shared with you. If a "
            "colleague owns it, ask them or a manager to assign or share it."
        ),
    ]


def _move_deal_to_proposal(world) -> list:
    deal = world.deal1
    return [
        tool_reply(
            ("search_deals", {"query": "Acme platform"}),
            ids=["toolu_01Vg3HsK8wNq2ZtP6mRc9LxD"],
        ),
        tool_reply(
            ("move_deal_stage", {"deal_id": str(deal.pk), "step": "Proposal"}),
            text="Moving the Acme platform deal to Proposal.",
            ids=["toolu_01Nw5JcT4rLx8PsV2kQm7GhB"],
        ),
        text_reply(
            f"I couldn't move [Acme platform deal](/deals/{deal.pk}/) straight to Proposal: "
            "the pipeline only allows moving one step at a time from where it is now. Shall I "
            "move it to the next step instead?"
        ),
    ]


SCRIPTS = {
    "hot_leads_then_log_call": _hot_leads_then_log_call,
    "convert_needs_confirmation": _convert_needs_confirmation,
    "hidden_record_not_found": _hidden_record_not_found,
    "move_deal_to_proposal": _move_deal_to_proposal,
}


def upstream(world) -> httpx2.BaseTransport:
    scripted = ScriptedClaude(replies=SCRIPTS[os.environ["REPLAY_RECORD"]](world))
    return httpx2.MockTransport(scripted.handler)
