"""Offline mode: a small command parser for the common requests, using the same tools (and so
the same permissions, confirmations, records and audit) as Claude.

It understands, for example: "show my hot leads", "find leads from referral", "lead metrics",
"create a follow-up call for Acme tomorrow", "schedule a meeting with Globex on Friday at 3pm",
"move Acme expansion to Proposal", "analyse Acme", "qualify Acme", "disqualify Acme because
no budget", "convert Acme", "what should I do next on Acme", "my overdue tasks", "show my
deals", "find people at Globex". "this lead" / "it" means the record a drawer chat was opened
from. Anything else gets the list of what works offline.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from aiagent import llm, realtime, registry
from aiagent.dates import parse_when
from aiagent.models import Conversation, Message
from aiagent.services import message_add

HELP = """\
{reason} I can still do these (same rights as you, same confirmations):
- **show my hot leads** · **find leads from referral** · **show qualified leads**
- **lead metrics**
- **create a follow-up call for** *lead or deal* **tomorrow** (or *on Friday at 3pm*, *in 3 days*)
- **move** *deal* **to** *step* (e.g. Proposal)
- **analyse** *lead* · **qualify** *lead* · **disqualify** *lead* **because** *reason* · \
**convert** *lead*
- **what should I do next on** *lead*
- **show my deals** · **my overdue tasks** · **find people at** *company*"""

ACTIVITY_WORDS = {
    "call": ("call", "Call"),
    "phone call": ("call", "Call"),
    "meeting": ("meeting", "Meeting"),
    "demo": ("meeting", "Demo"),
    "task": ("task", "Task"),
    "reminder": ("task", "Reminder"),
    "to-do": ("task", "To-do"),
    "todo": ("task", "To-do"),
    "email": ("email", "Email"),
    "e-mail": ("email", "Email"),
    "note": ("note", "Note"),
}
THIS = re.compile(r"^(this|that|the|current)?\s*(lead|deal|one|record)?$|^(it|this|here)$", re.I)


@dataclass
class Runner:
    """Runs tools for one offline turn, all in one tool message of the conversation."""

    user: object
    conversation: Conversation
    message: Message | None = None
    names: list[str] = field(default_factory=list)

    def call(self, name: str, **arguments) -> registry.Outcome:
        if self.message is None:
            self.message = message_add(
                conversation=self.conversation,
                role=Message.Role.TOOL,
                kind=Message.Kind.TOOLS,
                content="",
                data={"offline": True},
            )
            realtime.message_added(self.user, self.message)
        ctx = registry.ToolContext(user=self.user, source="offline", conversation=self.conversation)
        outcome = registry.execute(ctx, name, arguments, message=self.message)
        realtime.tool_call_added(self.user, outcome.tool_call)
        self.names.append(name + (" (failed)" if outcome.error else ""))
        return outcome

    def close(self) -> None:
        if self.message is not None:
            self.message.content = ", ".join(self.names)
            self.message.save(update_fields=["content"])


def handle(*, user, conversation: Conversation, text: str) -> list[Message]:
    """Answer ``text`` without Claude; returns the messages added."""
    realtime.status(user, conversation, "Working offline…")
    runner = Runner(user=user, conversation=conversation)
    clean = " ".join((text or "").strip().rstrip("?!.").split())
    answer = None
    for pattern, command in COMMANDS:
        match = pattern.search(clean)
        if match:
            answer = command(runner, match, clean)
            if answer is not None:
                break
    if answer is None:
        answer = HELP.format(reason=_reason())
    runner.close()
    reply = message_add(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        kind=Message.Kind.TEXT,
        content=answer,
        data={"offline": True},
    )
    realtime.message_added(user, reply)
    added = [m for m in (runner.message, reply) if m is not None]
    return added


def _reason() -> str:
    status = llm.status()
    return status.label if not status.online else "I did not understand that offline."


# --- formatting ---------------------------------------------------------------------------------
def _link(record: dict) -> str:
    name = (record.get("name") or "untitled").replace("[", "(").replace("]", ")")
    return f"[{name}]({record['url']})" if record.get("url") else name


def _lead_line(lead: dict) -> str:
    bits = [_link(lead)]
    if lead.get("company"):
        bits.append(lead["company"])
    bits.append(f"score {lead.get('score')}")
    if lead.get("step"):
        bits.append(lead["step"])
    if lead.get("value"):
        bits.append(lead["value"])
    return "- " + " · ".join(bits)


def _deal_line(deal: dict) -> str:
    bits = [_link(deal), deal.get("step") or "", deal.get("amount") or ""]
    if deal.get("expected_close_date"):
        bits.append(f"closes {deal['expected_close_date']}")
    return "- " + " · ".join(b for b in bits if b)


def _when(value: str | None) -> str:
    """An ISO time from a tool result, as people read it: "Wed Nov 25, 10:00"."""
    from django.utils import timezone
    from django.utils.dateparse import parse_datetime

    moment = parse_datetime(value or "")
    return f"{timezone.localtime(moment):%a %b %d, %H:%M}" if moment else (value or "")


def _in_days(days: int) -> str:
    return "today" if not days else "tomorrow" if days == 1 else f"in {days} days"


def _error(outcome: registry.Outcome) -> str:
    return outcome.result.get("error", {}).get("message", "That did not work.")


def _context_id(runner: Runner, kind: str) -> str | None:
    conversation = runner.conversation
    if conversation.context_type == kind and conversation.context_id:
        return conversation.context_id
    return None


def _strip_who(who: str) -> str:
    who = who.strip().strip("\"'“”‘’")
    who = re.sub(r"^(the\s+)?(lead|deal)\s+", "", who, flags=re.I)
    return who.strip()


def _find(runner: Runner, kind: str, who: str) -> tuple[dict | None, str | None]:
    """One lead or deal by name (or the conversation's record for "this lead"); else an
    answer asking which one."""
    who = _strip_who(who)
    if not who or THIS.match(who):
        context = _context_id(runner, kind)
        if context:
            outcome = runner.call(f"get_{kind}", **{f"{kind}_id": context})
            if outcome.ok:
                return outcome.result, None
            return None, _error(outcome)
        return None, f"Which {kind}? Give its name."
    tool = "search_leads" if kind == "lead" else "search_deals"
    outcome = runner.call(tool, query=who, limit=5)
    if not outcome.ok:
        return None, _error(outcome)
    results = outcome.result.get("results", [])
    if len(results) == 1:
        return results[0], None
    exact = [
        r
        for r in results
        if who.lower() in ((r.get("name") or "").lower(), (r.get("company") or "").lower())
    ]
    if len(exact) == 1:
        return exact[0], None
    if not results:
        return None, f"I found no {kind} matching “{who}” that you can see."
    lines = "\n".join(_lead_line(r) if kind == "lead" else _deal_line(r) for r in results)
    return None, f"Several {kind}s match “{who}”; which one?\n{lines}"


def _find_lead_or_deal(runner: Runner, who: str) -> tuple[str, dict | None, str | None]:
    lead, problem = _find(runner, "lead", who)
    if lead is not None:
        return "lead", lead, None
    if problem and problem.startswith("Several"):
        return "lead", None, problem
    deal, deal_problem = _find(runner, "deal", who)
    if deal is not None:
        return "deal", deal, None
    if deal_problem and deal_problem.startswith("Several"):
        return "deal", None, deal_problem
    return "", None, f"I found no lead or deal matching “{_strip_who(who)}” that you can see."


# --- commands -----------------------------------------------------------------------------------
def cmd_help(runner: Runner, match: re.Match, text: str) -> str:
    return HELP.format(reason=_reason())


def cmd_leads(runner: Runner, match: re.Match, text: str) -> str | None:
    lowered = text.lower()
    hot = bool(re.search(r"\b(hot|best|top|hottest)\b", lowered))
    mine = bool(re.search(r"\b(my|mine|i own|assigned to me)\b", lowered))
    args: dict = {"limit": 10}
    if mine:
        args["mine"] = True
    if hot:
        args["hot"] = True
        args["ordering"] = "-lead_score"
    if re.search(r"\bunqualified\b|\bnot qualified\b", lowered):
        args["is_qualified"] = False
    elif re.search(r"\bqualified\b", lowered):
        args["is_qualified"] = True
    source = re.search(r"\bfrom (?:the )?(\w[\w ]*?)(?: source)?$", lowered)
    if source:
        wanted = source.group(1).replace(" ", "_")
        sources = registry.get("search_leads").input_schema["properties"]["source"]["enum"]
        match_source = next((s for s in sources if s.startswith(wanted[:5])), None)
        if match_source:
            args["source"] = match_source
    query = re.search(r"\b(?:named|called|about|for|matching|with)\s+(.+)$", text, re.I)
    if query and "source" not in args:
        args["query"] = query.group(1).strip("\"'“”")
    outcome = runner.call("search_leads", **args)
    if not outcome.ok:
        return _error(outcome)
    results = outcome.result.get("results", [])
    count = outcome.result.get("count", len(results))
    title = ("Your " if mine else "") + ("hot leads (score 70+)" if hot else "leads")
    if not results:
        answer = f"No {title.lower() if not mine else title[5:]} right now."
        if hot:
            best = runner.call("search_leads", mine=mine, ordering="-lead_score", limit=5)
            rows = best.result.get("results", []) if best.ok else []
            if rows:
                answer += " Your highest-scoring leads:\n" + "\n".join(_lead_line(r) for r in rows)
        return answer
    shown = f"{len(results)} of {count}" if count > len(results) else str(count)
    return f"{title[0].upper() + title[1:]}: {shown}\n" + "\n".join(_lead_line(r) for r in results)


def cmd_deals(runner: Runner, match: re.Match, text: str) -> str:
    lowered = text.lower()
    args: dict = {"limit": 10}
    if re.search(r"\b(my|mine)\b", lowered):
        args["mine"] = True
    for outcome_word in ("open", "won", "lost"):
        if re.search(rf"\b{outcome_word}\b", lowered):
            args["outcome"] = outcome_word
    step = re.search(r"\bin (?:the )?([a-z ]+?)(?: stage| step)?$", lowered)
    if step:
        args["step"] = step.group(1).strip()
    outcome = runner.call("search_deals", **args)
    if not outcome.ok:
        return _error(outcome)
    results = outcome.result.get("results", [])
    if not results:
        return "No deals match."
    count = outcome.result.get("count", len(results))
    return f"Deals: {len(results)} of {count}\n" + "\n".join(_deal_line(d) for d in results)


def cmd_metrics(runner: Runner, match: re.Match, text: str) -> str:
    mine = bool(re.search(r"\b(my|mine)\b", text, re.I))
    outcome = runner.call("lead_metrics", mine=mine)
    if not outcome.ok:
        return _error(outcome)
    m = outcome.result
    steps = ", ".join(f"{k}: {v}" for k, v in m.get("by_step", {}).items())
    sources = ", ".join(f"{k}: {v}" for k, v in list(m.get("by_source", {}).items())[:5])
    return (
        f"**{m['total']} leads** ({'yours' if mine else 'that you can see'}), "
        f"{m['new_this_week']} new this week, {m['hot']} hot.\n"
        f"- Average score {m['average_score']}; qualified {m['qualified']} "
        f"({m['qualification_rate']}%), converted {m['converted']} ({m['conversion_rate']}%)\n"
        f"- By step: {steps or '—'}\n- Top sources: {sources or '—'}"
    )


def cmd_activity(runner: Runner, match: re.Match, text: str) -> str | None:
    word = match.group("kind").lower()
    kind, label = ACTIVITY_WORDS.get(word, ("task", word.capitalize()))
    follow_up = bool(match.group("follow"))
    rest = match.group("rest")
    when_text = ""
    when_match = re.search(
        r"\s+((?:today|tomorrow|tonight|next week|next month|day after tomorrow|"
        r"(?:on |next )?(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)|"
        r"in \d+ \w+|in (?:a|an|one|two|three) \w+|at \d).*)$",
        rest,
        re.I,
    )
    if when_match:
        when_text = when_match.group(1)
        rest = rest[: when_match.start()]
    target_kind, record, problem = _find_lead_or_deal(runner, rest)
    if record is None:
        return problem
    due = parse_when(when_text or "tomorrow") if kind != "note" else None
    subject = f"Follow-up {label.lower()}" if follow_up else label
    subject = f"{subject}: {record.get('name')}"[:255]
    arguments = {
        "type": kind,
        "subject": subject,
        f"{target_kind}_id": record["id"],
    }
    if due is not None:
        arguments["due_at"] = due.isoformat()
    outcome = runner.call("create_activity", **arguments)
    if not outcome.ok:
        return _error(outcome)
    activity = outcome.result["activity"]
    when = f" due {_when(activity['due_at'])}" if activity.get("due_at") else ""
    return f"Created the {label.lower()} “{activity['subject']}”{when} on {_link(record)}."


def cmd_move_deal(runner: Runner, match: re.Match, text: str) -> str | None:
    deal, problem = _find(runner, "deal", match.group("who"))
    if deal is None:
        return problem
    step = match.group("step").strip().strip("\"'“”")
    step = re.sub(r"\s+(stage|step)$", "", step, flags=re.I)
    arguments = {"deal_id": deal["id"], "step": step}
    reason = match.group("reason")
    if reason:
        arguments["reason"] = reason
    outcome = runner.call("move_deal_stage", **arguments)
    if not outcome.ok:
        return f"I could not move {_link(deal)}: {_error(outcome)}"
    moved = outcome.result["deal"]
    return f"Moved {_link(moved)} to **{moved['step']}** ({moved.get('probability')}%)."


def cmd_analyze(runner: Runner, match: re.Match, text: str) -> str | None:
    lead, problem = _find(runner, "lead", match.group("who"))
    if lead is None:
        return problem
    outcome = runner.call("analyze_lead", lead_id=lead["id"])
    if not outcome.ok:
        return f"I could not analyse {_link(lead)}: {_error(outcome)}"
    insights = outcome.result.get("insights", {})
    lines = [f"Analysis of {_link(lead)} ({outcome.result.get('analysed_by')}):"]
    for key in ("budget", "authority", "need", "timeline", "sentiment", "intent"):
        item = insights.get(key)
        if isinstance(item, dict):
            lines.append(f"- **{key.capitalize()}**: {item.get('level')} — {item.get('summary')}")
    actions = insights.get("next_actions") or []
    if actions:
        lines.append("Next: " + "; ".join(a["subject"] for a in actions[:3]) + ".")
    if not outcome.result.get("stored"):
        lines.append("(Not stored: you may not change this lead.)")
    return "\n".join(lines)


def cmd_qualify(runner: Runner, match: re.Match, text: str) -> str | None:
    lead, problem = _find(runner, "lead", match.group("who"))
    if lead is None:
        return problem
    outcome = runner.call("qualify_lead", lead_id=lead["id"], notes="Qualified from the chat.")
    return f"Qualified {_link(lead)}." if outcome.ok else _error(outcome)


def cmd_disqualify(runner: Runner, match: re.Match, text: str) -> str | None:
    reason = (match.group("reason") or "").strip()
    if not reason:
        return "Tell me why: “disqualify *lead* because *reason*”."
    lead, problem = _find(runner, "lead", match.group("who"))
    if lead is None:
        return problem
    outcome = runner.call("disqualify_lead", lead_id=lead["id"], reason=reason)
    return f"Disqualified {_link(lead)}: {reason}." if outcome.ok else _error(outcome)


def cmd_convert(runner: Runner, match: re.Match, text: str) -> str | None:
    lead, problem = _find(runner, "lead", match.group("who"))
    if lead is None:
        return problem
    outcome = runner.call("convert_lead", lead_id=lead["id"])
    if not outcome.ok:
        return _error(outcome)
    return f"{outcome.result['summary']} Press **Confirm** above to do it; nothing changes before."


def cmd_next(runner: Runner, match: re.Match, text: str) -> str | None:
    kind, record, problem = _find_lead_or_deal(runner, match.group("who"))
    if record is None:
        return problem
    outcome = runner.call("suggest_next_actions", **{f"{kind}_id": record["id"]})
    if not outcome.ok:
        return _error(outcome)
    rows = outcome.result.get("results", [])
    if not rows:
        return f"Nothing stands out for {_link(record)}."
    return f"Next steps for {_link(record)}:\n" + "\n".join(
        f"- {a['subject']} ({a['type']}, {_in_days(a['due_in_days'])}) — {a.get('reason', '')}"
        for a in rows
    )


def cmd_activities(runner: Runner, match: re.Match, text: str) -> str:
    lowered = text.lower()
    status = "overdue" if "overdue" in lowered else "open"
    outcome = runner.call("list_activities", mine=True, status=status, limit=10)
    if not outcome.ok:
        return _error(outcome)
    rows = outcome.result.get("results", [])
    if not rows:
        return "Nothing overdue." if status == "overdue" else "You have no open activities."
    title = "Your overdue activities" if status == "overdue" else "Your open activities"
    return f"{title} ({outcome.result.get('count')}):\n" + "\n".join(
        f"- {_link(a)} · {a['kind']}"
        + (f" · due {_when(a['due_at'])}" if a.get("due_at") else "")
        + (" · **overdue**" if a.get("overdue") else "")
        for a in rows
    )


def cmd_people(runner: Runner, match: re.Match, text: str) -> str:
    query = (match.group("q") or "").strip()
    outcome = runner.call("search_people", **({"query": query} if query else {}))
    if not outcome.ok:
        return _error(outcome)
    rows = outcome.result.get("results", [])
    if not rows:
        return "No people match."
    return "People:\n" + "\n".join(
        f"- {_link(p)}"
        + (f" · {p['job_title']}" if p.get("job_title") else "")
        + (f" · {p['organization']}" if p.get("organization") else "")
        for p in rows
    )


def cmd_organizations(runner: Runner, match: re.Match, text: str) -> str:
    query = (match.group("q") or "").strip()
    outcome = runner.call("search_organizations", **({"query": query} if query else {}))
    if not outcome.ok:
        return _error(outcome)
    rows = outcome.result.get("results", [])
    if not rows:
        return "No organizations match."
    return "Organizations:\n" + "\n".join(
        f"- {_link(o)}" + (f" · {o['industry']}" if o.get("industry") else "") for o in rows
    )


def cmd_show_lead(runner: Runner, match: re.Match, text: str) -> str | None:
    kind, record, problem = _find_lead_or_deal(runner, match.group("who"))
    if record is None:
        return problem
    outcome = runner.call(f"get_{kind}", **{f"{kind}_id": record["id"]})
    if not outcome.ok:
        return _error(outcome)
    r = outcome.result
    if kind == "lead":
        return (
            f"{_link(r)} · {r.get('company') or '—'} · {r.get('step')} · score {r.get('score')}"
            f"{' · ' + r['value'] if r.get('value') else ''}\n"
            f"- Contact: {r.get('contact') or '—'} {r.get('email') or ''}\n"
            f"- Owner {r.get('owner') or '—'}, assignee {r.get('assignee') or '—'}"
        )
    return f"{_link(r)} · {r.get('step')} · {r.get('amount')} · owner {r.get('owner') or '—'}"


Command = Callable[[Runner, re.Match, str], "str | None"]
_KINDS = "|".join(sorted(map(re.escape, ACTIVITY_WORDS), key=len, reverse=True))
COMMANDS: list[tuple[re.Pattern, Command]] = [
    (re.compile(r"^(help|\?|what can you do|commands)$", re.I), cmd_help),
    (
        re.compile(
            rf"^(?:please\s+)?(?:create|add|schedule|plan|log|set up|book|make)\s+"
            rf"(?:a\s+|an\s+|the\s+)?(?P<follow>follow[- ]?up\s+)?(?P<kind>{_KINDS})\s+"
            r"(?:with|for|to|on|about|at)\s+(?P<rest>.+)$",
            re.I,
        ),
        cmd_activity,
    ),
    (
        re.compile(
            r"^(?:please\s+)?(?:move|advance|push|set|put)\s+(?:the\s+)?(?:deal\s+)?(?P<who>.+?)"
            r"\s+(?:to|into)\s+(?P<step>.+?)(?:\s+because\s+(?P<reason>.+))?$",
            re.I,
        ),
        cmd_move_deal,
    ),
    (re.compile(r"^(?:please\s+)?(?:analy[sz]e|assess)\s+(?P<who>.+)$", re.I), cmd_analyze),
    (
        re.compile(
            r"^(?:please\s+)?disqualify\s+(?P<who>.+?)(?:\s+(?:because|as|reason:?|since)\s+"
            r"(?P<reason>.+))?$",
            re.I,
        ),
        cmd_disqualify,
    ),
    (re.compile(r"^(?:please\s+)?qualify\s+(?P<who>.+)$", re.I), cmd_qualify),
    (re.compile(r"^(?:please\s+)?convert\s+(?P<who>.+)$", re.I), cmd_convert),
    (
        re.compile(
            r"\b(?:next (?:steps?|actions?)|what should i do(?: next)?|what next)\b"
            r".*?\b(?:for|on|with|about)\s+(?P<who>.+)$",
            re.I,
        ),
        cmd_next,
    ),
    (
        re.compile(r"\b(metrics|kpis?|stats|statistics|how many leads|conversion rate)\b", re.I),
        cmd_metrics,
    ),
    (
        re.compile(r"\b(activities|tasks|to-?dos?|overdue|due today|agenda|my day)\b", re.I),
        cmd_activities,
    ),
    (re.compile(r"\bdeals?\b", re.I), cmd_deals),
    (re.compile(r"\bleads?\b", re.I), cmd_leads),
    (
        re.compile(
            r"\b(?:people|contacts|persons)\b(?:\s+(?:at|from|in|named|called))?\s*"
            r"(?P<q>.*)$",
            re.I,
        ),
        cmd_people,
    ),
    (
        re.compile(
            r"\b(?:organi[sz]ations|companies|accounts)\b(?:\s+(?:named|called|in))?\s*"
            r"(?P<q>.*)$",
            re.I,
        ),
        cmd_organizations,
    ),
    (
        re.compile(r"^(?:show|open|tell me about|what about|details of|get)\s+(?P<who>.+)$", re.I),
        cmd_show_lead,
    ),
]
