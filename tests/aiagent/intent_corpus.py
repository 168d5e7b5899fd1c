"""What reps ask the assistant, in their own words, with the intent and arguments the offline
parser must find (``aiagent.intents.parse``). Said on Wednesday 2 December 2026 at 09:00 (UTC),
with the default workflows' steps, the demo users and the demo custom fields.

Varied wording, typos ("leds", "summerize"), and dates as people say them ("next Friday",
"end of Q3", "this month"). Add a phrasing here when a user's request was misread.
"""

from __future__ import annotations

from datetime import UTC, datetime

from aiagent.intents import THIS, Vocabulary

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)  # a Wednesday

VOCABULARY = Vocabulary(
    lead_steps=("New Lead", "Contacted", "Qualified", "Converted", "Disqualified"),
    deal_steps=(
        "Qualification",
        "Initial Contact",
        "Discovery",
        "Proposal",
        "Negotiation",
        "Closed Won",
        "Closed Lost",
    ),
    users={
        "rep1": "rep1",
        "riley": "rep1",
        "riley rep": "rep1",
        "rep2": "rep2",
        "sam": "rep2",
        "sam seller": "rep2",
        "manager": "manager",
        "morgan": "manager",
        "morgan manager": "manager",
    },
    custom_fields={
        "industry": (
            "Industry",
            ("Software", "Manufacturing", "Healthcare", "Finance", "Retail", "Education"),
        ),
        "company_size": ("Company size", ("1-10", "11-50", "51-200", "201-1000", "1000+")),
    },
)


def day(d: int, month: int = 12, year: int = 2026, hour: int = 10, minute: int = 0) -> str:
    return datetime(year, month, d, hour, minute, tzinfo=UTC).isoformat()


THIS_MONTH = {"created_after": "2026-12-01", "created_before": "2026-12-31"}
LAST_MONTH = {"created_after": "2026-11-01", "created_before": "2026-11-30"}
THIS_WEEK = {"created_after": "2026-11-30", "created_before": "2026-12-06"}
HOT = {"temperature": "hot"}
MINE = {"scope": "mine"}
it = {"target": THIS}

# (what the user typed, the intent, its arguments)
CORPUS: list[tuple[str, str, dict]] = [
    # --- lists of leads -------------------------------------------------------------------
    ("show my hot leads", "list_leads", {**HOT, **MINE}),
    ("Show my hot leads", "list_leads", {**HOT, **MINE}),
    ("my hot leads?", "list_leads", {**HOT, **MINE}),
    ("which of my leads are hot", "list_leads", {**HOT, **MINE}),
    ("list my hottest leads", "list_leads", {**HOT, **MINE}),
    ("show me my hot leeds", "list_leads", {**HOT, **MINE}),
    ("hot leads", "list_leads", HOT),
    ("show hot leads for the whole team", "list_leads", {**HOT, "scope": "all"}),
    ("what are my team's hot leads", "list_leads", {**HOT, "scope": "all"}),
    ("warm leads", "list_leads", {"temperature": "warm"}),
    ("show me my warm leads", "list_leads", {"temperature": "warm", **MINE}),
    ("any cold leads I should drop?", "list_leads", {"temperature": "cold", **MINE}),
    ("list my leads", "list_leads", MINE),
    ("show me all leads", "list_leads", {}),
    ("my leds", "list_leads", MINE),
    ("find leads from referral", "list_leads", {"source": "referral"}),
    ("leads from referrals", "list_leads", {"source": "referral"}),
    ("show leads that came from webinars", "list_leads", {"source": "event"}),
    ("leads from the trade show", "list_leads", {"source": "event"}),
    ("my leads from linkedin", "list_leads", {"source": "social", **MINE}),
    ("cold call leads", "list_leads", {"source": "cold_call"}),
    ("show leads from partners", "list_leads", {"source": "partner"}),
    ("website leads this week", "list_leads", {"source": "web", **THIS_WEEK}),
    (
        "leads from the newsletter last month",
        "list_leads",
        {"source": "email_campaign", **LAST_MONTH},
    ),
    ("leads from ads", "list_leads", {"source": "advertising"}),
    ("show qualified leads", "list_leads", {"qualified": True}),
    ("my unqualified leads", "list_leads", {"qualified": False, **MINE}),
    ("leads not qualified yet", "list_leads", {"qualified": False}),
    ("show disqualified leads", "list_leads", {"state": "disqualified"}),
    ("converted leads this month", "list_leads", {"state": "converted", **THIS_MONTH}),
    ("all leads including closed ones", "list_leads", {"state": "all"}),
    ("leads in the contacted step", "list_leads", {"step": "Contacted"}),
    ("show my leads in New Lead", "list_leads", {"step": "New Lead", **MINE}),
    ("leads at the qualified stage", "list_leads", {"step": "Qualified"}),
    ("leads owned by Sam", "list_leads", {"owner": "rep2"}),
    ("show Riley's leads", "list_leads", {"owner": "rep1"}),
    ("leads assigned to sam seller", "list_leads", {"owner": "rep2"}),
    ("leads created this month", "list_leads", THIS_MONTH),
    ("new leads this week", "list_leads", THIS_WEEK),
    ("leads added last month", "list_leads", LAST_MONTH),
    (
        "leads from the last 7 days",
        "list_leads",
        {"created_after": "2026-11-26", "created_before": "2026-12-02"},
    ),
    (
        "leads created in the past 2 weeks",
        "list_leads",
        {"created_after": "2026-11-19", "created_before": "2026-12-02"},
    ),
    (
        "leads created in Q3",
        "list_leads",
        {"created_after": "2026-07-01", "created_before": "2026-09-30"},
    ),
    (
        "leads created this quarter",
        "list_leads",
        {"created_after": "2026-10-01", "created_before": "2026-12-31"},
    ),
    (
        "leads from last quarter",
        "list_leads",
        {"created_after": "2026-07-01", "created_before": "2026-09-30"},
    ),
    ("leads created in November", "list_leads", LAST_MONTH),
    (
        "leads since Monday",
        "list_leads",
        {"created_after": "2026-11-30", "created_before": "2026-12-02"},
    ),
    (
        "leads created today",
        "list_leads",
        {"created_after": "2026-12-02", "created_before": "2026-12-02"},
    ),
    (
        "leads from yesterday",
        "list_leads",
        {"created_after": "2026-12-01", "created_before": "2026-12-01"},
    ),
    (
        "leads closing this month",
        "list_leads",
        {"close_after": "2026-12-01", "close_before": "2026-12-31"},
    ),
    (
        "my leads expected to close next month",
        "list_leads",
        {"close_after": "2027-01-01", "close_before": "2027-01-31", **MINE},
    ),
    ("leads with a score above 80", "list_leads", {"score_min": 81}),
    ("leads with score over 60", "list_leads", {"score_min": 61}),
    ("leads with a score of at least 50", "list_leads", {"score_min": 50}),
    ("leads with score below 30", "list_leads", {"score_max": 29}),
    ("leads scored 90+", "list_leads", {"score_min": 90}),
    ("leads with a score between 40 and 60", "list_leads", {"score_min": 40, "score_max": 60}),
    ("healthcare leads", "list_leads", {"custom_fields": {"industry": "Healthcare"}}),
    ("my leads in software", "list_leads", {"custom_fields": {"industry": "Software"}, **MINE}),
    (
        "hot leads in manufacturing",
        "list_leads",
        {**HOT, "custom_fields": {"industry": "Manufacturing"}},
    ),
    (
        "leads where company size is 51-200",
        "list_leads",
        {"custom_fields": {"company_size": "51-200"}},
    ),
    ("find leads named Acme", "list_leads", {"query": "Acme"}),
    ("search leads called Initech pilot", "list_leads", {"query": "Initech pilot"}),
    ("leads matching globex", "list_leads", {"query": "globex"}),
    ("show my prospects", "list_leads", MINE),
    (
        "hot prospects from events this month",
        "list_leads",
        {**HOT, "source": "event", **THIS_MONTH},
    ),
    ("show me my hot ones", "list_leads", {**HOT, **MINE}),
    ("pls list hot leads from referral", "list_leads", {**HOT, "source": "referral"}),
    # --- counts and metrics ---------------------------------------------------------------
    ("how many leads from webinars this month", "count_leads", {"source": "event", **THIS_MONTH}),
    ("how many leads do I have", "count_leads", MINE),
    ("how many hot leads", "count_leads", HOT),
    ("number of leads created last month", "count_leads", LAST_MONTH),
    (
        "how many leads did we get from referrals in Q3",
        "count_leads",
        {"source": "referral", "created_after": "2026-07-01", "created_before": "2026-09-30"},
    ),
    ("count my qualified leads", "count_leads", {"qualified": True, **MINE}),
    ("how many leads are in contacted", "count_leads", {"step": "Contacted"}),
    ("how many leads does Sam own", "count_leads", {"owner": "rep2"}),
    ("total leads this week", "count_leads", THIS_WEEK),
    ("hw many leads this month", "count_leads", THIS_MONTH),
    (
        "how many deals are closing this month",
        "count_deals",
        {"close_after": "2026-12-01", "close_before": "2026-12-31"},
    ),
    ("how many open deals do I have", "count_deals", {"outcome": "open", **MINE}),
    (
        "number of deals won this quarter",
        "count_deals",
        {"outcome": "won", "created_after": "2026-10-01", "created_before": "2026-12-31"},
    ),
    ("lead metrics", "lead_metrics", {}),
    ("my stats", "lead_metrics", MINE),
    ("how am I doing", "lead_metrics", MINE),
    ("what's our conversion rate", "lead_metrics", {}),
    ("lead KPIs for last month", "lead_metrics", LAST_MONTH),
    ("show the funnel numbers", "lead_metrics", {}),
    (
        "statistics this quarter",
        "lead_metrics",
        {"created_after": "2026-10-01", "created_before": "2026-12-31"},
    ),
    # --- deals ----------------------------------------------------------------------------
    ("show my deals", "list_deals", MINE),
    ("my open deals", "list_deals", {"outcome": "open", **MINE}),
    ("deals won this month", "list_deals", {"outcome": "won", **THIS_MONTH}),
    (
        "lost deals last quarter",
        "list_deals",
        {"outcome": "lost", "created_after": "2026-07-01", "created_before": "2026-09-30"},
    ),
    ("deals in negotiation", "list_deals", {"step": "Negotiation"}),
    ("deals at the proposal stage", "list_deals", {"step": "Proposal"}),
    (
        "my deals closing next month",
        "list_deals",
        {"close_after": "2027-01-01", "close_before": "2027-01-31", **MINE},
    ),
    ("show the pipeline", "list_deals", {}),
    ("my pipeline", "list_deals", MINE),
    ("deals over 50k", "list_deals", {"amount_min": 50000}),
    ("opportunities owned by Sam", "list_deals", {"owner": "rep2"}),
    ("show my opportunites", "list_deals", MINE),
    # --- the record on screen or by name ----------------------------------------------------
    ("summarize this lead", "summarize", {**it, "kind": "lead"}),
    ("summarise this lead", "summarize", {**it, "kind": "lead"}),
    ("summarize", "summarize", it),
    ("summerize this", "summarize", it),
    ("give me a summary", "summarize", it),
    ("give me an overview of this deal", "summarize", {**it, "kind": "deal"}),
    ("tell me about it", "summarize", it),
    ("what's the status of this one", "summarize", it),
    ("catch me up on this account", "summarize", {**it, "kind": "organization"}),
    ("summarize Acme expansion", "summarize", {"target": "Acme expansion"}),
    ("tell me about Initech pilot", "summarize", {"target": "Initech pilot"}),
    ("what do we know about Globex", "summarize", {"target": "Globex"}),
    (
        "where are we with the Acme platform deal",
        "summarize",
        {"target": "Acme platform", "kind": "deal"},
    ),
    (
        "brief me on the lead Stark Renewables",
        "summarize",
        {"target": "Stark Renewables", "kind": "lead"},
    ),
    ("status of Acme", "summarize", {"target": "Acme"}),
    ("show Acme expansion", "summarize", {"target": "Acme expansion"}),
    ("open Initech pilot", "summarize", {"target": "Initech pilot"}),
    # --- next best action -----------------------------------------------------------------
    ("what should I do next", "next_action", it),
    ("what's next", "next_action", it),
    ("what's next?", "next_action", it),
    ("next steps", "next_action", it),
    ("what should i do next on this lead", "next_action", {**it, "kind": "lead"}),
    ("what should I do next on Acme expansion", "next_action", {"target": "Acme expansion"}),
    ("next best action for Initech pilot", "next_action", {"target": "Initech pilot"}),
    (
        "suggest next steps for the Acme platform deal",
        "next_action",
        {"target": "Acme platform", "kind": "deal"},
    ),
    ("how do I move this forward", "next_action", it),
    ("what now", "next_action", it),
    ("what shuold i do next", "next_action", it),
    # --- tasks and calls ------------------------------------------------------------------
    (
        "remind me to call Dana on Friday",
        "create_activity",
        {"type": "call", "target": "Dana", "subject": "Call Dana", "due_at": day(4)},
    ),
    (
        "remind me to call Dana next Friday",
        "create_activity",
        {"type": "call", "target": "Dana", "subject": "Call Dana", "due_at": day(11)},
    ),
    (
        "remind me to email Priya tomorrow",
        "create_activity",
        {"type": "email", "target": "Priya", "subject": "Email Priya", "due_at": day(3)},
    ),
    (
        "remind me to follow up with Acme expansion in 3 days",
        "create_activity",
        {
            "type": "task",
            "target": "Acme expansion",
            "subject": "Follow up with Acme expansion",
            "due_at": day(5),
        },
    ),
    (
        "remind me to send the proposal to Initech pilot by end of Q3",
        "create_activity",
        {
            "type": "task",
            "target": "Initech pilot",
            "subject": "Send the proposal to Initech pilot",
            "due_at": day(30, 9, 2027),
        },
    ),
    (
        "remind me to call it tomorrow at 3pm",
        "create_activity",
        {"type": "call", "target": THIS, "subject": "Call it", "due_at": day(3, hour=15)},
    ),
    (
        "create a follow-up call for Acme expansion tomorrow",
        "create_activity",
        {"type": "call", "follow_up": True, "target": "Acme expansion", "due_at": day(3)},
    ),
    (
        "schedule a meeting with Globex on Friday at 3pm",
        "create_activity",
        {"type": "meeting", "target": "Globex", "due_at": day(4, hour=15)},
    ),
    (
        "book a demo with Initech pilot next week",
        "create_activity",
        {"type": "meeting", "target": "Initech pilot", "due_at": day(7)},
    ),
    (
        "set up a call with this lead on monday",
        "create_activity",
        {"type": "call", **it, "kind": "lead", "due_at": day(7)},
    ),
    (
        "add a task for Acme expansion about pricing",
        "create_activity",
        {"type": "task", "target": "Acme expansion", "subject": "Pricing"},
    ),
    (
        "log a call with Acme expansion",
        "create_activity",
        {"type": "call", "done": True, "target": "Acme expansion"},
    ),
    ("log a call", "create_activity", {"type": "call", "done": True, **it}),
    (
        "log an email to this lead",
        "create_activity",
        {"type": "email", "done": True, **it, "kind": "lead"},
    ),
    ("add a note to this deal", "create_activity", {"type": "note", **it, "kind": "deal"}),
    (
        "schedule a call tomorrow morning",
        "create_activity",
        {"type": "call", **it, "due_at": day(3, hour=9)},
    ),
    (
        "create a task for Acme expansion due end of month",
        "create_activity",
        {"type": "task", "target": "Acme expansion", "due_at": day(31)},
    ),
    (
        "schedule a meeting with Globex on Dec 15 at 2pm",
        "create_activity",
        {"type": "meeting", "target": "Globex", "due_at": day(15, hour=14)},
    ),
    (
        "call Acme expansion tomorrow",
        "create_activity",
        {"type": "call", "target": "Acme expansion", "due_at": day(3)},
    ),
    (
        "please schedule a follow up call with Initech pilot in 2 days",
        "create_activity",
        {"type": "call", "follow_up": True, "target": "Initech pilot", "due_at": day(4)},
    ),
    (
        "shedule a meeting with Globex tomorrow",
        "create_activity",
        {"type": "meeting", "target": "Globex", "due_at": day(3)},
    ),
    # --- moves, qualification, assignment, conversion ---------------------------------------
    (
        "move Acme platform deal to Proposal",
        "move",
        {"target": "Acme platform", "kind": "deal", "step": "Proposal"},
    ),
    ("move this deal to negotiation", "move", {**it, "kind": "deal", "step": "Negotiation"}),
    ("move it to contacted", "move", {**it, "step": "Contacted"}),
    (
        "advance Initech pilot to the Qualified step",
        "move",
        {"target": "Initech pilot", "step": "Qualified"},
    ),
    (
        "push the Acme platform deal to discovery",
        "move",
        {"target": "Acme platform", "kind": "deal", "step": "Discovery"},
    ),
    ("mark this deal as won", "move", {**it, "kind": "deal", "step": "Closed Won"}),
    (
        "move Acme platform to Proposal because they asked for pricing",
        "move",
        {"target": "Acme platform", "step": "Proposal", "reason": "they asked for pricing"},
    ),
    ("move this to propsal", "move", {**it, "step": "Proposal"}),
    ("qualify Acme expansion", "qualify", {"target": "Acme expansion"}),
    ("qualify this lead", "qualify", {**it, "kind": "lead"}),
    ("qualify it", "qualify", it),
    (
        "disqualify Cold prospect because no budget",
        "disqualify",
        {"target": "Cold prospect", "reason": "no budget"},
    ),
    (
        "disqualify this lead, no budget",
        "disqualify",
        {**it, "kind": "lead", "reason": "no budget"},
    ),
    (
        "disqualify it since they went with a competitor",
        "disqualify",
        {**it, "reason": "they went with a competitor"},
    ),
    ("disqualify Cold prospect", "disqualify", {"target": "Cold prospect"}),
    ("assign Acme expansion to Sam", "assign", {"target": "Acme expansion", "assignee": "rep2"}),
    ("assign this lead to riley", "assign", {**it, "kind": "lead", "assignee": "rep1"}),
    ("reassign it to Morgan", "assign", {**it, "assignee": "manager"}),
    ("give this lead to sam seller", "assign", {**it, "kind": "lead", "assignee": "rep2"}),
    ("assign me to this lead", "assign", {**it, "kind": "lead", "assignee": "me"}),
    ("convert Acme expansion", "convert", {"target": "Acme expansion"}),
    ("convert this lead", "convert", {**it, "kind": "lead"}),
    ("please convert it", "convert", it),
    ("analyse Acme expansion", "analyze", {"target": "Acme expansion"}),
    ("analyze this lead", "analyze", {**it, "kind": "lead"}),
    ("run an analysis on Initech pilot", "analyze", {"target": "Initech pilot"}),
    # --- activities -----------------------------------------------------------------------
    ("my overdue tasks", "list_activities", {"status": "overdue"}),
    ("what's overdue", "list_activities", {"status": "overdue"}),
    ("what's on my agenda today", "list_activities", {"status": "today"}),
    ("my tasks", "list_activities", {"status": "open"}),
    ("what do I have due today", "list_activities", {"status": "today"}),
    ("upcoming meetings", "list_activities", {"status": "week"}),
    ("show my calls this week", "list_activities", {"status": "week"}),
    ("how many tasks are overdue", "list_activities", {"status": "overdue"}),
    # --- email ----------------------------------------------------------------------------
    ("draft an email to this lead", "draft_email", {**it, "kind": "lead"}),
    ("write a follow-up email for Acme expansion", "draft_email", {"target": "Acme expansion"}),
    ("draft a reply", "draft_email", it),
    ("email Initech pilot about the demo", "draft_email", {"target": "Initech pilot"}),
    # --- people and organizations -----------------------------------------------------------
    ("find people at Globex", "search_people", {"query": "Globex"}),
    ("contacts at Acme Robotics", "search_people", {"query": "Acme Robotics"}),
    ("show companies named Initech", "search_organizations", {"query": "Initech"}),
    ("list organizations", "search_organizations", {}),
    # --- help and the unknown ---------------------------------------------------------------
    ("help", "help", {}),
    ("what can you do", "help", {}),
    ("hello", "help", {}),
    ("what's the weather in Paris", "unknown", {}),
    ("tell me a joke", "unknown", {}),
    ("asdf qwer", "unknown", {}),
    # --- written after the parser, then fixed (it read 32 of these 40 right first) -------
    (
        "pull up my hot leads from events",
        "list_leads",
        {"temperature": "hot", "scope": "mine", "source": "event"},
    ),
    (
        "which leads came in this week",
        "list_leads",
        {"created_after": "2026-11-30", "created_before": "2026-12-06"},
    ),
    ("show me leads with score > 75", "list_leads", {"score_min": 76}),
    (
        "warm leads from partners in healthcare",
        "list_leads",
        {"temperature": "warm", "source": "partner", "custom_fields": {"industry": "Healthcare"}},
    ),
    ("list all of Sam's hot leads", "list_leads", {"temperature": "hot", "owner": "rep2"}),
    ("how many warm leads do I have", "count_leads", {"temperature": "warm", "scope": "mine"}),
    (
        "how many leads came from referrals last month",
        "count_leads",
        {"source": "referral", "created_after": "2026-11-01", "created_before": "2026-11-30"},
    ),
    ("count leads in the new lead step", "count_leads", {"step": "New Lead"}),
    ("what is the status of this deal", "summarize", {**it, "kind": "deal"}),
    ("give me a rundown of Acme expansion", "summarize", {"target": "Acme expansion"}),
    ("sumarize this lead pls", "summarize", {**it, "kind": "lead"}),
    ("whats next for this lead", "next_action", {**it, "kind": "lead"}),
    ("what should we do next with Globex", "next_action", {"target": "Globex"}),
    ("recommend the next step", "next_action", it),
    (
        "remind me to ring Kenji on Monday at 11am",
        "create_activity",
        {"type": "call", "target": "Kenji", "subject": "Ring Kenji", "due_at": day(7, hour=11)},
    ),
    (
        "remind me tomorrow to call Dana",
        "create_activity",
        {"type": "call", "target": "Dana", "subject": "Call Dana", "due_at": day(3)},
    ),
    (
        "schedule a demo with Stark Renewables on December 10",
        "create_activity",
        {"type": "meeting", "target": "Stark Renewables", "due_at": day(10)},
    ),
    (
        "log a meeting with this deal",
        "create_activity",
        {"type": "meeting", "done": True, **it, "kind": "deal"},
    ),
    (
        "create a task to send pricing for Acme expansion by Friday",
        "create_activity",
        {"type": "task", "target": "Acme expansion", "subject": "Send pricing", "due_at": day(4)},
    ),
    ("move Initech pilot into discovery", "move", {"target": "Initech pilot", "step": "Discovery"}),
    (
        "mark Acme platform as lost because budget cut",
        "move",
        {"target": "Acme platform", "step": "Closed Lost", "reason": "budget cut"},
    ),
    ("set this lead to qualified", "move", {**it, "kind": "lead", "step": "Qualified"}),
    ("disqualify it - wrong industry", "disqualify", {**it, "reason": "wrong industry"}),
    ("hand this lead over to Morgan", "assign", {**it, "kind": "lead", "assignee": "manager"}),
    ("assign Initech pilot to rep2", "assign", {"target": "Initech pilot", "assignee": "rep2"}),
    ("convert the Acme expansion lead", "convert", {"target": "Acme expansion", "kind": "lead"}),
    ("what's overdue for me", "list_activities", {"status": "overdue"}),
    ("what's due today", "list_activities", {"status": "today"}),
    (
        "deals in the proposal stage owned by Riley",
        "list_deals",
        {"step": "Proposal", "owner": "rep1"},
    ),
    (
        "won deals this year",
        "list_deals",
        {"outcome": "won", "created_after": "2026-01-01", "created_before": "2026-12-31"},
    ),
    (
        "how many deals did we lose this month",
        "count_deals",
        {"created_after": "2026-12-01", "created_before": "2026-12-31"},
    ),
    ("people at Initech", "search_people", {"query": "Initech"}),
    ("draft an email for it", "draft_email", it),
    ("write to Globex about the proposal", "draft_email", {"target": "Globex"}),
    (
        "show me my leads closing this quarter",
        "list_leads",
        {"scope": "mine", "close_after": "2026-10-01", "close_before": "2026-12-31"},
    ),
    ("leads that are hot and unassigned", "list_leads", {"temperature": "hot", "unassigned": True}),
    ("my leads with no activity in 2 weeks", "list_leads", {"scope": "mine", "idle_days": 14}),
    (
        "book a call with Priya Nair for next Tuesday",
        "create_activity",
        {"type": "call", "target": "Priya Nair", "due_at": day(8)},
    ),
    ("what can I ask you", "help", {}),
    ("sing me a song", "unknown", {}),
    # --- a record's link as the context ---------------------------------------------------
    (
        "what about /leads/5b1f3f0e-6f7e-4a53-9d0a-0c1d2e3f4a5b/",
        "summarize",
        {"target": "5b1f3f0e-6f7e-4a53-9d0a-0c1d2e3f4a5b", "kind": "lead"},
    ),
    (
        "https://crm.example.com/deals/5B1F3F0E-6F7E-4A53-9D0A-0C1D2E3F4A5B/",
        "summarize",
        {"target": "5b1f3f0e-6f7e-4a53-9d0a-0c1d2e3f4a5b", "kind": "deal"},
    ),
    (
        "log a call with /people/5b1f3f0e-6f7e-4a53-9d0a-0c1d2e3f4a5b/",
        "create_activity",
        {
            "type": "call",
            "done": True,
            "target": "5b1f3f0e-6f7e-4a53-9d0a-0c1d2e3f4a5b",
            "kind": "person",
        },
    ),
]
