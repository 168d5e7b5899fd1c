"""Offline mode: what a request asks (``aiagent.intents``) done with the same tools as Claude's
calls, so with the same permissions, confirmations, records and audit, and answered for
people: money with its currency, labels instead of internal values, relative dates, links to
records, compact tables and a "show all in the table" link carrying the same filters.

"This lead", "it", or no record at all mean the record the conversation is about (the page
the drawer was opened on, or the API's ``context_type``/``context_id``). Anything else gets
what works offline, with examples.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from aiagent import intents, llm, realtime, registry
from aiagent.intents import THIS, Intent, Vocabulary
from aiagent.models import Conversation, Message
from aiagent.services import conversation_follow, message_add
from crm import formatting

HELP = """\
{reason} I can still do these, with your rights and the same confirmations:
- **Find leads**: *show my hot leads* · *leads from webinars this month* · \
*warm leads in healthcare* · *leads with no activity in 2 weeks*
- **Count**: *how many leads from referrals last month* · *how many deals close this month*
- **About a record** (from its page, or by name): *summarize this lead* · \
*what should I do next on Acme*
- **Plan and log**: *remind me to call Dana on Friday* · *log a call with Acme* · \
*schedule a demo with Globex next Tuesday at 3pm*
- **Change** (you confirm first): *move Acme platform to Proposal* · *qualify this lead* · \
*assign it to Sam* · *disqualify it because no budget* · *convert this lead*
- **Write** (you confirm before it is sent): *draft an email to this lead*
- **Your day**: *my overdue tasks* · *what's due today* · *show my deals* · *my stats*"""

KIND_NAMES = {"lead": "lead", "deal": "deal", "person": "person", "organization": "organization"}
GET_TOOLS = {
    "lead": "get_lead",
    "deal": "get_deal",
    "person": "get_person",
    "organization": "get_organization",
}
SEARCH_TOOLS = {
    "lead": "search_leads",
    "deal": "search_deals",
    "person": "search_people",
    "organization": "search_organizations",
}
LIST_ROWS = 10


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
    intent = intents.parse(text, vocab=vocabulary_for(user), now=timezone.localtime())
    answer = EXECUTORS.get(intent.name, do_help)(runner, intent)
    runner.close()
    reply = message_add(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        kind=Message.Kind.TEXT,
        content=answer,
        data={"offline": True, "intent": intent.name},
    )
    realtime.message_added(user, reply)
    return [m for m in (runner.message, reply) if m is not None]


def vocabulary_for(user) -> Vocabulary:
    """The steps, users and custom fields the user's words may name (cached reference data)."""
    from crm.selectors import assignable_users
    from customfields.selectors import definitions_for
    from deals.selectors import deal_steps
    from leads.selectors import lead_steps

    names: dict[str, str] = {}
    for person in assignable_users(with_roles=False):
        for name in (person.username, person.first_name, person.get_full_name()):
            if name and name.strip():
                names.setdefault(name.strip().lower(), person.username)
    custom = {
        d.name: (d.label, tuple(str(c) for c in (d.options or []) if isinstance(c, str)))
        for d in definitions_for("lead")
        if d.is_active
    }
    return Vocabulary(
        lead_steps=tuple(dict.fromkeys(s.name for s in lead_steps())),
        deal_steps=tuple(dict.fromkeys(s.name for s in deal_steps())),
        users=names,
        custom_fields=custom,
    )


def _reason() -> str:
    status = llm.status()
    return status.label if not status.online else "I did not understand that offline."


# --- formatting for people ----------------------------------------------------------------------
def _link(record: dict) -> str:
    name = (record.get("name") or "untitled").replace("[", "(").replace("]", ")")
    name = name.replace("|", "/")
    return f"[{name}]({record['url']})" if record.get("url") else name


def money(text: str | None) -> str:
    """A tool's amount ("46700.00 EUR") as people read it ("€46,700")."""
    if not text:
        return ""
    amount, _, currency = str(text).partition(" ")
    try:
        return formatting.money(Decimal(amount), currency)
    except (InvalidOperation, ValueError):
        return str(text)


def label(value: str | None, choices) -> str:
    """An internal value ("email_campaign") as its label ("Email campaign")."""
    if not value:
        return ""
    return dict(choices).get(value, str(value).replace("_", " ").capitalize())


def relative(value: str | None) -> str:
    """An ISO date or time as people say it: "today", "tomorrow 10:00", "in 3 days",
    "9 days ago", "Mon 14 Dec"."""
    if not value:
        return ""
    moment = parse_datetime(value) if "T" in value else None
    day = timezone.localtime(moment).date() if moment else parse_date(value)
    if day is None:
        return value
    today = timezone.localdate()
    days = (day - today).days
    at = f" {timezone.localtime(moment):%H:%M}" if moment and days >= -1 else ""
    if days == 0:
        return f"today{at}"
    if days == 1:
        return f"tomorrow{at}"
    if days == -1:
        return f"yesterday{at}"
    if 1 < days <= 6:
        return f"{day:%A}{at}"
    if -30 <= days < -1:
        return f"{-days} days ago"
    if 6 < days <= 30:
        return f"in {days} days"
    return f"{day:%a %d %b %Y}" if day.year != today.year else f"{day:%a %d %b}"


def _score(score) -> str:
    if score is None:
        return ""
    return f"{score} ({formatting.temperature(score)})"


def _sources():
    from leads.models import Lead

    return Lead.Source.choices


def _table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell or "—" for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _lead_rows(leads: list[dict]) -> str:
    sources = _sources()
    return _table(
        ["Lead", "Company", "Step", "Score", "Value", "Source"],
        [
            [
                _link(lead),
                lead.get("company") or "",
                lead.get("step") or "",
                _score(lead.get("score")),
                money(lead.get("value")),
                label(lead.get("source"), sources),
            ]
            for lead in leads
        ],
    )


def _deal_rows(deals: list[dict]) -> str:
    return _table(
        ["Deal", "Step", "Amount", "Closes", "Owner"],
        [
            [
                _link(deal),
                deal.get("step") or "",
                money(deal.get("amount")),
                relative(deal.get("expected_close_date")),
                deal.get("owner") or "",
            ]
            for deal in deals
        ],
    )


def _show_all(result: dict, noun: str) -> str:
    count, url = result.get("count", 0), result.get("table_url")
    if not url:
        return ""
    shown = len(result.get("results", []))
    words = f"Show all {count} in the table" if count > shown else "Open in the table"
    return f"\n\n[{words}]({url}) · {noun}"


def _error(outcome: registry.Outcome) -> str:
    return outcome.result.get("error", {}).get("message", "That did not work.")


def _activity_line(activity: dict) -> str:
    due = f" · due {relative(activity['due_at'])}" if activity.get("due_at") else ""
    late = " · **overdue**" if activity.get("overdue") else ""
    kind = label(activity.get("kind"), ())
    return f"- {_link(activity)} · {kind}{due}{late}"


# --- the record a request is about --------------------------------------------------------------
def _resolve(
    runner: Runner, intent: Intent, kinds: tuple[str, ...] = ("lead", "deal")
) -> tuple[str, dict | None, str | None]:
    """The record the intent names, read in full with the user's rights: (kind, record,
    None), or (kind, None, what to answer: not found, which one, …)."""
    wanted = intent.args.get("kind")
    if intent.args.get("target", THIS) == THIS:
        if wanted and wanted not in kinds:
            return wanted, None, f"I can't do that with a {wanted}; it works on a {_or(kinds)}."
        kinds = (wanted,) if wanted else kinds
        conversation = runner.conversation
        kind = conversation.context_type
        if not kind or not conversation.context_id:
            return (
                "",
                None,
                (
                    f"Which {_or(kinds)}? Give its name, or ask from its page (the assistant "
                    "button there knows the record)."
                ),
            )
        if kind not in kinds:
            return kind, None, (f"This chat is about a {kind}; name the {_or(kinds)} you mean.")
        outcome = runner.call(GET_TOOLS[kind], **{f"{kind}_id": conversation.context_id})
        return (kind, outcome.result, None) if outcome.ok else (kind, None, _error(outcome))
    name = intent.args["target"]
    if wanted in kinds and _UUID.fullmatch(name):  # from a record's link
        outcome = runner.call(GET_TOOLS[wanted], **{f"{wanted}_id": name})
        if not outcome.ok:
            return wanted, None, f"I found no {wanted} at that link that you can see."
        _remember(runner, wanted, outcome.result)
        return wanted, outcome.result, None
    if wanted in kinds:  # "the Acme deal": deals first, yet a lead named so is found too
        kinds = (wanted, *(k for k in kinds if k != wanted))
    several: list[tuple[str, list[dict]]] = []
    for kind in kinds:
        outcome = runner.call(SEARCH_TOOLS[kind], query=name, limit=5)
        if not outcome.ok:
            return kind, None, _error(outcome)
        results = outcome.result.get("results", [])
        exact = [
            r
            for r in results
            if name.lower() in ((r.get("name") or "").lower(), (r.get("company") or "").lower())
        ]
        chosen = results[0] if len(results) == 1 else exact[0] if len(exact) == 1 else None
        if chosen is not None:
            full = runner.call(GET_TOOLS[kind], **{f"{kind}_id": chosen["id"]})
            if not full.ok:
                return kind, None, _error(full)
            _remember(runner, kind, full.result)
            return kind, full.result, None
        if results:
            several.append((kind, results))
    if several:
        kind, results = several[0]
        lines = "\n".join(f"- {_link(r)}" + _brief_tail(r) for r in results)
        return kind, None, f"Several {kind}s match “{name}”; which one?\n{lines}"
    return "", None, f"I found no {_or(kinds)} matching “{name}” that you can see."


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _remember(runner: Runner, kind: str, record: dict) -> None:
    """In a chat not opened from a record's page, the record last named is "it" next."""
    runner.conversation = conversation_follow(
        by=runner.user, conversation=runner.conversation, context_type=kind, context_id=record["id"]
    )


def _brief_tail(record: dict) -> str:
    bits = [record.get("company"), record.get("step"), money(record.get("amount"))]
    bits = [b for b in bits if b]
    return (" · " + " · ".join(bits)) if bits else ""


def _or(kinds: tuple[str, ...]) -> str:
    names = [KIND_NAMES[k] for k in kinds]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


# --- lists and counts ---------------------------------------------------------------------------
def _lead_search_args(args: dict) -> dict:
    out: dict = {}
    if args.get("scope") == "mine":
        out["mine"] = True
    for key in ("temperature", "source", "step", "query", "owner", "custom_fields", "state"):
        if args.get(key):
            out[key] = args[key]
    if "qualified" in args:
        out["is_qualified"] = args["qualified"]
    if args.get("unassigned"):
        out["assigned_to"] = 0
    if args.get("idle_days"):
        out["inactive_days"] = args["idle_days"]
    for key in (
        "score_min",
        "score_max",
        "created_after",
        "created_before",
        "close_after",
        "close_before",
    ):
        if args.get(key) is not None:
            out[key] = args[key]
    return out


def _lead_title(args: dict) -> str:
    words = []
    if args.get("temperature"):
        words.append(args["temperature"])
    state = args.get("state")
    if state and state != "all":
        words.append(state)
    elif not state:
        words.append("open")
    if args.get("qualified") is True:
        words.append("qualified")
    elif args.get("qualified") is False:
        words.append("unqualified")
    title = " ".join(words + ["leads"])
    if args.get("source"):
        title += f" from {label(args['source'], _sources()).lower()}"
    if args.get("step"):
        title += f" in {args['step']}"
    if args.get("created_after"):
        title += f" created {_period(args['created_after'], args['created_before'])}"
    if args.get("close_after"):
        title += f" closing {_period(args['close_after'], args['close_before'])}"
    if args.get("scope") == "mine":
        title = "your " + title
    return title


def _period(start: str, end: str) -> str:
    first, last = parse_date(start), parse_date(end)
    if first == last:
        return relative(start)
    return f"{first:%d %b} – {last:%d %b %Y}"


def do_list_leads(runner: Runner, intent: Intent) -> str:
    search = _lead_search_args(intent.args)
    outcome = runner.call("search_leads", limit=LIST_ROWS, **search)
    if not outcome.ok:
        return _error(outcome)
    result = outcome.result
    title = _lead_title(intent.args)
    rows = result.get("results", [])
    if not rows:
        answer = f"No {_none_title(title)} right now."
        if intent.args.get("temperature") == "hot":
            others = {k: v for k, v in search.items() if k != "temperature"}
            best = runner.call("search_leads", **others, ordering="-lead_score", limit=5)
            if best.ok and best.result.get("results"):
                answer += " The highest-scoring ones:\n\n" + _lead_rows(best.result["results"])
        return answer
    order = "sorted by score" if intent.args.get("temperature") else "newest first"
    return _listed(result, title, _lead_rows(rows), order)


def _listed(result: dict, title: str, table: str, order: str) -> str:
    """A list answer: its title with how many are shown, the table, "show all"."""
    rows, count = len(result.get("results", [])), result.get("count", 0)
    shown = f"{rows} of {count}" if count > rows else str(count)
    return f"**{title[0].upper()}{title[1:]}**: {shown}\n\n{table}" + _show_all(result, order)


def _counted(outcome: registry.Outcome, title: str, noun: str) -> str:
    """A count answer ("**12** open leads from event created …"), linked to the table."""
    if not outcome.ok:
        return _error(outcome)
    count = outcome.result.get("count", 0)
    answer = f"**{count:,}** {title if count != 1 else title.replace(noun + 's', noun, 1)}."
    if outcome.result.get("table_url") and count:
        answer += f"\n\n[Open them in the table]({outcome.result['table_url']})"
    return answer


def _none_title(title: str) -> str:
    """ "your hot open leads" → "hot open leads of yours" (after "No")."""
    return title[5:] + " of yours" if title.startswith("your ") else title


def do_count_leads(runner: Runner, intent: Intent) -> str:
    outcome = runner.call("search_leads", limit=1, **_lead_search_args(intent.args))
    return _counted(outcome, _lead_title(intent.args), "lead")


def _deal_search_args(args: dict) -> dict:
    out: dict = {}
    if args.get("scope") == "mine":
        out["mine"] = True
    for key in ("outcome", "step", "owner", "amount_min"):
        if args.get(key):
            out[key] = args[key]
    if args.get("close_after"):
        out["expected_close_after"] = args["close_after"]
        out["expected_close_before"] = args["close_before"]
    if args.get("created_after"):
        # "deals won this month": won in the period, not created in it.
        prefix = {"won": "won", "lost": "lost"}.get(args.get("outcome", ""), "created")
        out[f"{prefix}_after"] = args["created_after"]
        out[f"{prefix}_before"] = args["created_before"]
    return out


def _deal_title(args: dict) -> str:
    words = [args["outcome"]] if args.get("outcome") else []
    title = " ".join(words + ["deals"])
    if args.get("step"):
        title += f" in {args['step']}"
    if args.get("amount_min"):
        title += f" over {args['amount_min']:,}"
    if args.get("close_after"):
        title += f" closing {_period(args['close_after'], args['close_before'])}"
    if args.get("created_after"):
        verb = {"won": "won", "lost": "lost"}.get(args.get("outcome", ""), "created")
        title += f" {verb} {_period(args['created_after'], args['created_before'])}"
    return ("your " if args.get("scope") == "mine" else "") + title


def do_list_deals(runner: Runner, intent: Intent) -> str:
    outcome = runner.call("search_deals", limit=LIST_ROWS, **_deal_search_args(intent.args))
    if not outcome.ok:
        return _error(outcome)
    rows = outcome.result.get("results", [])
    title = _deal_title(intent.args)
    if not rows:
        return f"No {_none_title(title)} right now."
    return _listed(outcome.result, title, _deal_rows(rows), "newest first")


def do_count_deals(runner: Runner, intent: Intent) -> str:
    outcome = runner.call("search_deals", limit=1, **_deal_search_args(intent.args))
    return _counted(outcome, _deal_title(intent.args), "deal")


def do_metrics(runner: Runner, intent: Intent) -> str:
    args = intent.args
    mine = args.get("scope") == "mine"
    arguments = {"mine": mine}
    if args.get("created_after"):
        arguments["created_after"] = args["created_after"]
        arguments["created_before"] = args["created_before"]
    outcome = runner.call("lead_metrics", **arguments)
    if not outcome.ok:
        return _error(outcome)
    m = outcome.result
    sources = _sources()
    steps = ", ".join(f"{k} {v:,}" for k, v in m.get("by_step", {}).items())
    top = ", ".join(
        f"{label(k, sources)} {v:,}" for k, v in list(m.get("by_source", {}).items())[:5]
    )
    period = (
        f" created {_period(args['created_after'], args['created_before'])}"
        if args.get("created_after")
        else ""
    )
    return (
        f"**{m['total']:,} leads**{period} ({'yours' if mine else 'that you can see'}): "
        f"{m['new_this_week']:,} new this week, {m['hot']:,} hot.\n"
        f"- Average score {m['average_score']}; qualified {m['qualified']:,} "
        f"({m['qualification_rate']}%), converted {m['converted']:,} ({m['conversion_rate']}%)\n"
        f"- By step: {steps or '—'}\n- Top sources: {top or '—'}"
    )


def do_activities(runner: Runner, intent: Intent) -> str:
    status = intent.args.get("status", "open")
    outcome = runner.call("list_activities", mine=True, status=status, limit=LIST_ROWS)
    if not outcome.ok:
        return _error(outcome)
    rows = outcome.result.get("results", [])
    title = {
        "overdue": "Your overdue activities",
        "today": "Due today",
        "week": "Due in the next 7 days",
    }.get(status, "Your open activities")
    if not rows:
        return {
            "overdue": "Nothing overdue. Well done.",
            "today": "Nothing is due today.",
            "week": "Nothing is due in the next 7 days.",
        }.get(status, "You have no open activities.")
    return f"**{title}** ({outcome.result.get('count')}):\n" + "\n".join(
        _activity_line(a) for a in rows
    )


def do_people(runner: Runner, intent: Intent) -> str:
    outcome = runner.call("search_people", **intent.args)
    if not outcome.ok:
        return _error(outcome)
    rows = outcome.result.get("results", [])
    if not rows:
        return "No people match."
    return "**People**\n\n" + _table(
        ["Name", "Job title", "Organization", "Email"],
        [
            [_link(p), p.get("job_title") or "", p.get("organization") or "", p.get("email") or ""]
            for p in rows
        ],
    )


def do_organizations(runner: Runner, intent: Intent) -> str:
    outcome = runner.call("search_organizations", **intent.args)
    if not outcome.ok:
        return _error(outcome)
    rows = outcome.result.get("results", [])
    if not rows:
        return "No organizations match."
    return "**Organizations**\n\n" + _table(
        ["Name", "Industry", "Domain"],
        [[_link(o), o.get("industry") or "", o.get("domain") or ""] for o in rows],
    )


# --- one record ---------------------------------------------------------------------------------
def do_summarize(runner: Runner, intent: Intent) -> str:
    kind, record, problem = _resolve(runner, intent, ("lead", "deal", "person", "organization"))
    if record is None:
        return problem or "I could not find it."
    return SUMMARIES[kind](runner, record)


def _lead_summary(runner: Runner, r: dict) -> str:
    head = " · ".join(
        b
        for b in (
            r.get("company"),
            r.get("step"),
            f"score {_score(r.get('score'))}" if r.get("score") is not None else "",
            money(r.get("value")),
        )
        if b
    )
    lines = [f"**{_link(r)}** — {head}"]
    contact = ", ".join(b for b in (r.get("contact"), r.get("email"), r.get("phone")) if b)
    lines.append(f"- Contact: {contact or '—'}")
    people = f"Owner {r.get('owner') or '—'}"
    if r.get("assignee"):
        people += f", assigned to {r['assignee']}"
    source = label(r.get("source"), _sources())
    lines.append(
        f"- {people}; source {source or '—'}; created {relative(r.get('created_at'))}; "
        f"last activity {relative(r.get('last_activity_at')) or 'never'}"
    )
    if r.get("estimated_close_date"):
        lines.append(f"- Expected to close {relative(r['estimated_close_date'])}")
    categories = (r.get("score_breakdown") or {}).get("categories") or []
    top = sorted((c for c in categories if c.get("score")), key=lambda c: -(c.get("score") or 0))[
        :3
    ]
    if top:
        lines.append("- Score from: " + ", ".join(f"{c['name']} {round(c['score'])}" for c in top))
    insights = r.get("ai_insights") or {}
    bant = [
        f"{key.capitalize()} {insights[key].get('level')}"
        for key in ("budget", "authority", "need", "timeline")
        if isinstance(insights.get(key), dict) and insights[key].get("level")
    ]
    if bant:
        lines.append("- BANT: " + ", ".join(bant))
    if r.get("converted"):
        lines.append("- Converted.")
    elif r.get("disqualify_reason"):
        lines.append(f"- Disqualified: {r['disqualify_reason']}")
    lines += _activities_part(r)
    nxt = _next_lines(runner, "lead", r, limit=1)
    if nxt:
        lines.append("Next: " + nxt[0][2:])
    return "\n".join(lines)


def _activities_part(r: dict) -> list[str]:
    activities = r.get("activities") or []
    open_ = [a for a in activities if not a.get("done")]
    done = [a for a in activities if a.get("done")]
    lines = []
    if open_:
        lines.append("Open activities:")
        lines += [_activity_line(a) for a in open_[:3]]
    if done:
        last = done[0]
        when = relative(last.get("done_at") or last.get("due_at"))
        lines.append(f"Last done: {_link(last)}" + (f" ({when})" if when else ""))
    return lines


def _deal_summary(runner: Runner, r: dict) -> str:
    head = " · ".join(
        b
        for b in (
            r.get("step") + (f" ({r['probability']}%)" if r.get("probability") is not None else "")
            if r.get("step")
            else "",
            money(r.get("amount")),
            f"closes {relative(r['expected_close_date'])}" if r.get("expected_close_date") else "",
        )
        if b
    )
    lines = [f"**{_link(r)}** — {head}"]
    lines.append(f"- Owner {r.get('owner') or '—'}; created {relative(r.get('created_at'))}")
    if r.get("weighted_amount"):
        lines.append(f"- Weighted {money(r['weighted_amount'])}")
    if r.get("lost_reason"):
        lines.append(f"- Lost: {r['lost_reason']}")
    lines += _activities_part(r)
    nxt = _next_lines(runner, "deal", r, limit=1)
    if nxt:
        lines.append("Next: " + nxt[0][2:])
    return "\n".join(lines)


def _person_summary(runner: Runner, r: dict) -> str:
    head = " · ".join(b for b in (r.get("job_title"), r.get("organization")) if b)
    lines = [f"**{_link(r)}**" + (f" — {head}" if head else "")]
    contact = ", ".join(b for b in (r.get("email"), r.get("phone")) if b)
    lines.append(f"- Contact: {contact or '—'}; owner {r.get('owner') or '—'}")
    return "\n".join(lines + _related_part(r))


def _organization_summary(runner: Runner, r: dict) -> str:
    head = " · ".join(b for b in (r.get("industry"), r.get("size"), r.get("domain")) if b)
    lines = [f"**{_link(r)}**" + (f" — {head}" if head else "")]
    people = r.get("people") or []
    if people:
        lines.append("- People: " + ", ".join(_link(p) for p in people[:5]))
    return "\n".join(lines + _related_part(r))


def _related_part(r: dict) -> list[str]:
    lines = []
    deals = r.get("deals") or []
    if deals:
        lines.append(
            "- Deals: "
            + ", ".join(
                f"{_link(d)} ({d.get('step')}, {money(d.get('amount'))})" for d in deals[:5]
            )
        )
    leads = r.get("leads") or []
    if leads:
        lines.append(
            "- Leads: " + ", ".join(f"{_link(lead)} ({lead.get('step')})" for lead in leads[:5])
        )
    return lines + _activities_part(r)


SUMMARIES: dict[str, Callable[[Runner, dict], str]] = {
    "lead": _lead_summary,
    "deal": _deal_summary,
    "person": _person_summary,
    "organization": _organization_summary,
}


def _next_lines(runner: Runner, kind: str, record: dict, limit: int = 5) -> list[str]:
    outcome = runner.call("suggest_next_actions", **{f"{kind}_id": record["id"]})
    if not outcome.ok:
        return []
    lines = []
    for action in outcome.result.get("results", [])[:limit]:
        days = action.get("due_in_days")
        when = "today" if days == 0 else "tomorrow" if days == 1 else f"in {days} days"
        reason = action.get("reason") or ""
        kind_label = label(action.get("type"), ())
        lines.append(
            f"- **{action['subject']}** ({kind_label.lower()}, {when})"
            + (f" — {reason}" if reason else "")
        )
    return lines


def do_next_action(runner: Runner, intent: Intent) -> str:
    kind, record, problem = _resolve(runner, intent)
    if record is None:
        return problem or "I could not find it."
    if record.get("converted"):
        return f"{_link(record)} is converted; work its deal instead."
    lines = _next_lines(runner, kind, record)
    if not lines:
        return f"Nothing stands out for {_link(record)} right now."
    return f"**Next for {_link(record)}**\n" + "\n".join(lines)


def do_create_activity(runner: Runner, intent: Intent) -> str:
    args = intent.args
    kind, record, problem = _resolve(runner, intent, ("lead", "deal", "person", "organization"))
    if record is None:
        return problem or "I could not find it."
    activity_type = args.get("type", "task")
    noun = label(activity_type, ()).lower()
    subject = args.get("subject")
    if not subject:
        subject = "Follow-up " + noun if args.get("follow_up") else noun.capitalize()
        subject = f"{subject}: {record.get('name')}"
    elif args.get("target") == THIS:
        subject = (
            subject.replace(" it", f" {record.get('name')}", 1)
            if subject.endswith(" it")
            else subject
        )
    arguments = {"type": activity_type, "subject": subject[:255], f"{kind}_id": record["id"]}
    if args.get("done"):
        arguments["is_done"] = True
    elif activity_type != "note":
        arguments["due_at"] = (
            args.get("due_at") or intents.due("tomorrow", timezone.localtime())[0].isoformat()
        )
    outcome = runner.call("create_activity", **arguments)
    if not outcome.ok:
        return _error(outcome)
    activity = outcome.result["activity"]
    if args.get("done"):
        return f"Logged the {noun} “{activity['subject']}” on {_link(record)}."
    when = f", due {relative(activity['due_at'])}" if activity.get("due_at") else ""
    return f"Created the {noun} “{activity['subject']}”{when} on {_link(record)}."


def _proposed(outcome: registry.Outcome, done: str) -> str:
    """A change tool's answer: a proposal to confirm, or what was done."""
    if not outcome.ok:
        return _error(outcome)
    if outcome.result.get("status") == "needs_confirmation":
        summary = outcome.result.get("summary") or "This change"
        return f"{summary} Press **Confirm** above to do it; nothing changes before."
    return done


def do_move(runner: Runner, intent: Intent) -> str:
    kind, record, problem = _resolve(runner, intent)
    if record is None:
        return problem or "I could not find it."
    arguments = {f"{kind}_id": record["id"], "step": intent.args["step"]}
    if intent.args.get("reason"):
        arguments["reason"] = intent.args["reason"]
    tool = "move_deal_stage" if kind == "deal" else "move_lead"
    outcome = runner.call(tool, **arguments)
    if not outcome.ok:
        return f"I could not move {_link(record)}: {_error(outcome)}"
    moved = outcome.result.get(kind) or record
    return _proposed(outcome, f"Moved {_link(moved)} to **{moved.get('step')}**.")


def do_qualify(runner: Runner, intent: Intent) -> str:
    _, lead, problem = _resolve(runner, intent, ("lead",))
    if lead is None:
        return problem or "I could not find it."
    outcome = runner.call("qualify_lead", lead_id=lead["id"], notes="Qualified from the chat.")
    return _proposed(outcome, f"Qualified {_link(lead)}.")


def do_disqualify(runner: Runner, intent: Intent) -> str:
    reason = (intent.args.get("reason") or "").strip()
    if not reason:
        return "Tell me why, e.g. “disqualify this lead because no budget”."
    _, lead, problem = _resolve(runner, intent, ("lead",))
    if lead is None:
        return problem or "I could not find it."
    outcome = runner.call("disqualify_lead", lead_id=lead["id"], reason=reason)
    return _proposed(outcome, f"Disqualified {_link(lead)}: {reason}.")


def do_assign(runner: Runner, intent: Intent) -> str:
    kind, record, problem = _resolve(runner, intent)
    if record is None:
        return problem or "I could not find it."
    tool = "assign_lead" if kind == "lead" else "assign_deal"
    outcome = runner.call(tool, **{f"{kind}_id": record["id"], "user": intent.args["assignee"]})
    who = (outcome.result.get(kind) or {}).get("assignee") if outcome.ok else None
    return _proposed(outcome, f"Assigned {_link(record)} to {who or intent.args['assignee']}.")


def do_convert(runner: Runner, intent: Intent) -> str:
    _, lead, problem = _resolve(runner, intent, ("lead",))
    if lead is None:
        return problem or "I could not find it."
    outcome = runner.call("convert_lead", lead_id=lead["id"])
    return _proposed(outcome, f"Converted {_link(lead)}.")


def do_analyze(runner: Runner, intent: Intent) -> str:
    _, lead, problem = _resolve(runner, intent, ("lead",))
    if lead is None:
        return problem or "I could not find it."
    outcome = runner.call("analyze_lead", lead_id=lead["id"])
    if not outcome.ok:
        return f"I could not analyse {_link(lead)}: {_error(outcome)}"
    insights = outcome.result.get("insights", {})
    lines = [f"**Analysis of {_link(lead)}** ({outcome.result.get('analysed_by')})"]
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


def do_draft_email(runner: Runner, intent: Intent) -> str:
    """A draft grounded on the record (``draft_email``), proposed for sending
    (``send_email``): the user confirms it, or opens it in the composer to edit it first."""
    kind, record, problem = _resolve(runner, intent, ("lead", "deal", "person"))
    if record is None:
        return problem or "I could not find it."
    outcome = runner.call("draft_email", record_type=kind, record_id=record["id"])
    if not outcome.ok:
        return f"I could not draft it: {_error(outcome)}"
    draft = outcome.result
    to = draft.get("to") or []
    text = (
        f"**Draft email** from {_link(record)}" + (f" to {', '.join(to)}" if to else "") + "\n\n"
        f"Subject: {draft['subject']}\n\n{draft['body']}"
    )
    if not draft.get("can_send"):
        return text + "\n\nYou may not send email from this record; copy the text if it helps."
    if not to:
        return text + (
            f"\n\nThis {kind} has no email address: add one, then open the Email card's "
            "composer (or ask me again)."
        )
    proposal = runner.call(
        "send_email",
        record_type=kind,
        record_id=record["id"],
        to=to,
        subject=draft["subject"],
        body=draft["body"],
    )
    if not proposal.ok:
        return text + f"\n\nI cannot send it: {_error(proposal)}"
    return text + (
        "\n\nNothing is sent yet: **Confirm** sends it as it is, **Edit in the composer** "
        "opens it to change it first."
    )


def do_help(runner: Runner, intent: Intent) -> str:
    return HELP.format(reason=_reason())


def do_unknown(runner: Runner, intent: Intent) -> str:
    status = llm.status()
    reason = (
        f"{status.label} I did not understand that offline."
        if not status.online
        else "I did not understand that offline."
    )
    return HELP.format(reason=reason)


EXECUTORS: dict[str, Callable[[Runner, Intent], str]] = {
    "help": do_help,
    "unknown": do_unknown,
    "list_leads": do_list_leads,
    "count_leads": do_count_leads,
    "list_deals": do_list_deals,
    "count_deals": do_count_deals,
    "lead_metrics": do_metrics,
    "list_activities": do_activities,
    "search_people": do_people,
    "search_organizations": do_organizations,
    "summarize": do_summarize,
    "next_action": do_next_action,
    "create_activity": do_create_activity,
    "move": do_move,
    "qualify": do_qualify,
    "disqualify": do_disqualify,
    "assign": do_assign,
    "convert": do_convert,
    "analyze": do_analyze,
    "draft_email": do_draft_email,
}
