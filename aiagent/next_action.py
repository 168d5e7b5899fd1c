"""The next best action on a lead: one deterministic rule set, no database, no network.

``aiagent.selectors.lead_facts`` gathers what the rules read (a constant number of queries);
``suggest`` runs the rules in priority order and returns every suggestion that fires, the first
being *the* next best action. The lead's intelligence panel, the ``suggest_next_actions`` tool
(chat, MCP) and ``aiagent.services.next_action_apply`` all read this one list, so they agree.

Each rule is a function ``Facts -> Suggestion | None`` and says in its reason the concrete
figures it saw ("No activity for 9 days and the score rose to 78 (from 61) since Nov 29").
The rules, highest priority first:

- ``closed``: converted, disqualified or in a final step: nothing to do (stops the others);
- ``overdue``: an open activity past its due date: do it today;
- ``first_contact``: nobody has contacted the lead yet: first call (or email) today;
- ``buying_signal``: the latest analysis found buying intent: send the proposal / contract;
- ``gone_quiet``: no activity for ``QUIET_DAYS`` and nothing planned: call (today when the score
  rose by ``SCORE_RISE`` points in ``SCORE_WINDOW_DAYS`` or the lead is hot, else tomorrow);
- ``contacted_not_moved``: contacted but still in the initial step: move to the next step;
- ``score_reached_step``: the score passed a later step's threshold: move (qualify) it;
- ``qualified_no_meeting``: qualified, no meeting held or booked: book a meeting / demo;
- ``ready_to_convert``: qualified and a meeting was held: convert it;
- ``bant_gaps``: the latest analysis left budget, decision maker or timeline open: confirm them;
- ``step_idle``: in the same step for ``STEP_IDLE_DAYS`` (a proposal step: ``PROPOSAL_IDLE_DAYS``):
  follow up;
- ``on_track`` / ``plan_next``: when nothing else fires, keep to the planned activity, or plan one.

A suggestion whose subject is already an open activity of the lead is left out (it is planned).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.utils import timezone
from django.utils.dates import MONTHS_3

from crm.formatting import HOT_FROM  # the "hot" band of the score badges

QUIET_DAYS = 7
SCORE_RISE = 10
SCORE_WINDOW_DAYS = 14
STEP_IDLE_DAYS = 14
PROPOSAL_IDLE_DAYS = 7
MEETING_IN_DAYS = 2
MAX_SUGGESTIONS = 5

CONTACT_TYPES = frozenset({"call", "email", "meeting"})
CREATABLE_TYPES = frozenset({"call", "email", "meeting", "task"})

# BANT as the panel shows it and the ``bant_gaps`` rule reads it: per key, the levels that count
# as known (anything else present is "open"; absent is "unknown").
BANT_KEYS = (
    ("budget", "Budget"),
    ("authority", "Authority"),
    ("need", "Need"),
    ("timeline", "Timeline"),
)
BANT_KNOWN = {
    "budget": {"confirmed", "strong", "no budget"},
    "authority": {"decision maker"},
    "need": {"high", "medium", "low"},
    "timeline": {
        "immediate",
        "this month",
        "this quarter",
        "next quarter",
        "next year",
        "later",
    },
}
# What an open or unknown key asks for (the need is left to the discovery the other rules
# prompt: a call about budget, authority and timeline is where it comes up).
BANT_GAP_WORDS = {
    "budget": ("the budget", "no budget amount"),
    "authority": ("the decision maker", "no decision maker"),
    "timeline": ("the timeline", "no timeline"),
}


# --- facts --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ActivityFact:
    id: str
    type: str
    subject: str
    due_at: datetime | None
    is_done: bool
    done_at: datetime | None
    created_at: datetime
    is_system: bool = False
    direction: str = ""  # inbound or outbound, for calls and emails


@dataclass(frozen=True)
class StepFact:
    id: int
    name: str
    order: int
    is_initial: bool = False
    is_final: bool = False
    outcome: str = "none"
    probability: int = 0
    min_score: int | None = None  # the step's ``min_lead_score`` or suggested minimum


@dataclass(frozen=True)
class Facts:
    """What the rules know of one lead, as plain values (``aiagent.selectors.lead_facts``)."""

    now: datetime
    name: str
    contact_name: str = ""
    has_phone: bool = False
    has_email: bool = False
    created_at: datetime | None = None
    source: str = ""
    score: int = 0
    # (at, score) of the score changes of the last SCORE_WINDOW_DAYS, oldest first, and the
    # last change before that window (the baseline), if any.
    score_history: tuple[tuple[datetime, int], ...] = ()
    score_before: tuple[datetime, int] | None = None
    last_activity_at: datetime | None = None
    last_touch_at: datetime | None = None
    last_touch: str = ""  # campaign or source of the latest touch point ("Spring webinar")
    is_qualified: bool = False
    qualified_at: datetime | None = None
    is_converted: bool = False
    converted_at: datetime | None = None
    disqualify_reason: str = ""
    step: StepFact = field(default_factory=lambda: StepFact(0, "", 0))
    step_since: datetime | None = None
    qualified_step: StepFact | None = None
    moves: tuple[StepFact, ...] = ()  # the steps a transition leads to from the current one
    open_activities: tuple[ActivityFact, ...] = ()  # by due date, undated last
    done_activities: tuple[ActivityFact, ...] = ()  # newest first
    insights: dict = field(default_factory=dict)

    @property
    def today(self) -> date:
        return timezone.localtime(self.now).date()

    @property
    def who(self) -> str:
        return self.contact_name or self.name


@dataclass(frozen=True)
class Suggestion:
    rule: str
    type: str  # call, email, meeting, task, move, none
    subject: str
    due_in_days: int
    reason: str
    actions: tuple[str, ...] = ()  # what the panel offers: task, draft, move, complete, convert
    move_to_step_id: int | None = None
    move_to_step: str = ""
    activity_id: str = ""

    @property
    def due(self) -> str:
        return due_text(self.due_in_days)

    @property
    def key(self) -> str:
        """One suggestion, for counting: the rule and a digest of its subject."""
        digest = hashlib.sha1(self.subject.encode()).hexdigest()[:12]
        return f"{self.rule}:{digest}"

    @property
    def is_actionable(self) -> bool:
        return self.type != "none"

    def as_dict(self) -> dict[str, Any]:
        """The tool's (and the API's) shape: the analysis's keys plus the rule's."""
        out: dict[str, Any] = {
            "rule": self.rule,
            "type": self.type,
            "subject": self.subject,
            "due_in_days": self.due_in_days,
            "due": self.due,
            "reason": self.reason,
        }
        if self.move_to_step_id is not None:
            out["move_to_step"] = {"id": self.move_to_step_id, "name": self.move_to_step}
        if self.activity_id:
            out["activity_id"] = self.activity_id
        return out


def due_text(days: int) -> str:
    if days <= 0:
        return "today"
    if days == 1:
        return "tomorrow"
    return f"in {days} days"


# --- helpers ------------------------------------------------------------------------------------
def day_text(value: date | datetime) -> str:
    """``Dec 4`` (local date)."""
    if isinstance(value, datetime):
        value = timezone.localtime(value).date()
    return f"{MONTHS_3[value.month].title()} {value.day}"


def days_since(f: Facts, value: datetime | None) -> int | None:
    if value is None:
        return None
    return max(0, (f.today - timezone.localtime(value).date()).days)


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def ago_text(n: int) -> str:
    return "today" if n == 0 else ("yesterday" if n == 1 else f"{n} days ago")


def _contact_type(f: Facts) -> str:
    return "email" if f.has_email and not f.has_phone else "call"


def _contacted(f: Facts) -> list[ActivityFact]:
    """Our interactions with the contact that happened, newest first (an inbound email, such
    as a form submission, is them reaching us: it still needs an answer)."""
    return [
        a
        for a in f.done_activities
        if a.type in CONTACT_TYPES
        and not a.is_system
        and not (a.type == "email" and a.direction == "inbound")
    ]


def _planned(f: Facts) -> list[ActivityFact]:
    """Open activities due now or later, or undated."""
    return [a for a in f.open_activities if a.due_at is None or a.due_at >= f.now]


def _actions_for(type_: str) -> tuple[str, ...]:
    return ("task", "draft") if type_ == "email" else ("task",)


def score_change(f: Facts) -> tuple[int, int, datetime] | None:
    """(from, to, since) when the score rose by at least ``SCORE_RISE`` points in the window:
    from the last score before the window (or the window's first) to the current score, since
    the window's first change."""
    if not f.score_history:
        return None
    since, base = f.score_history[0]
    if f.score_before is not None:
        base = f.score_before[1]
    if f.score - base >= SCORE_RISE:
        return base, f.score, since
    return None


def bant_status(insights: dict | None) -> list[dict]:
    """Budget, authority, need and timeline of the latest analysis: per key its level,
    summary and state (``known``, ``open`` or ``unknown``)."""
    insights = insights or {}
    rows = []
    for key, label in BANT_KEYS:
        item = insights.get(key)
        if not isinstance(item, dict) or not item.get("level"):
            rows.append(
                {"key": key, "label": label, "state": "unknown", "level": "", "summary": ""}
            )
            continue
        level = str(item["level"])
        state = "known" if level in BANT_KNOWN[key] else "open"
        rows.append(
            {
                "key": key,
                "label": label,
                "state": state,
                "level": level,
                "summary": str(item.get("summary") or ""),
                "amount": item.get("amount"),
                "currency": item.get("currency", ""),
            }
        )
    return rows


def _analysed_on(f: Facts) -> datetime | None:
    from django.utils.dateparse import parse_datetime

    raw = (f.insights or {}).get("analyzed_at")
    try:
        return parse_datetime(str(raw)) if raw else None
    except ValueError:
        return None


def _done_since(f: Facts, subject: str, since: datetime | None) -> bool:
    lowered = subject.lower()
    return any(
        a.subject.lower() == lowered and (since is None or (a.done_at or a.created_at) >= since)
        for a in f.done_activities
    )


# --- the rules ----------------------------------------------------------------------------------
def closed(f: Facts) -> Suggestion | None:
    if f.is_converted:
        when = f" on {day_text(f.converted_at)}" if f.converted_at else ""
        reason = f"The lead was converted{when}: the work goes on in its deal."
    elif f.step.is_final and f.step.outcome == "lost":
        why = f" ({f.disqualify_reason.strip().rstrip('.')})" if f.disqualify_reason else ""
        reason = f"The lead is in “{f.step.name}”{why}: nothing to do."
    elif f.step.is_final:
        reason = f"The lead is in the final step “{f.step.name}”: nothing to do."
    else:
        return None
    return Suggestion("closed", "none", "Nothing to do", 0, reason)


def overdue(f: Facts) -> Suggestion | None:
    late = [a for a in f.open_activities if a.due_at is not None and a.due_at < f.now]
    if not late:
        return None
    first = min(late, key=lambda a: a.due_at)
    days = days_since(f, first.due_at) or 0
    late_by = "due today" if days == 0 else f"{plural(days, 'day')} overdue"
    reason = f"“{first.subject}” was due {day_text(first.due_at)} ({late_by})"
    if len(late) > 1:
        reason += f"; {len(late) - 1} more overdue"
    return Suggestion(
        "overdue",
        first.type,
        first.subject,
        0,
        reason + ".",
        actions=("complete",),
        activity_id=first.id,
    )


def first_contact(f: Facts) -> Suggestion | None:
    if _contacted(f):
        return None
    if any(a.type in CONTACT_TYPES and not a.is_system for a in f.open_activities):
        return None  # a first call or email is planned already
    kind = _contact_type(f)
    subject = f"First {kind} to {f.who}"
    age = days_since(f, f.created_at)
    came = "came in today" if not age else f"came in {plural(age, 'day')} ago"
    source = f" (source: {f.source})" if f.source else ""
    reason = f"Nobody has contacted {f.who} yet; the lead {came}{source}."
    return Suggestion("first_contact", kind, subject, 0, reason, actions=_actions_for(kind))


def buying_signal(f: Facts) -> Suggestion | None:
    intent = (f.insights or {}).get("intent")
    if not isinstance(intent, dict) or intent.get("level") not in ("ready to buy", "high"):
        return None
    analysed = _analysed_on(f)
    if intent["level"] == "ready to buy":
        subject, what = "Send the contract", "that they are ready to buy"
    else:
        subject, what = "Send the proposal", "high buying intent"
    if _done_since(f, subject, analysed):
        return None
    on = f" of {day_text(analysed)}" if analysed else ""
    quote = str(intent.get("summary") or "").strip().rstrip(".")
    reason = f"The analysis{on} found {what}" + (f": “{quote[:120]}”." if quote else ".")
    return Suggestion("buying_signal", "email", subject, 1, reason, actions=("task", "draft"))


def gone_quiet(f: Facts) -> Suggestion | None:
    quiet = days_since(f, f.last_activity_at)
    if quiet is None or quiet < QUIET_DAYS or _planned(f):
        return None
    kind = _contact_type(f)
    verb = "Call" if kind == "call" else "Email"
    reason = f"No activity for {quiet} days"
    change = score_change(f)
    if change is not None:
        base, now_score, since = change
        reason += f" and the score rose to {now_score} (from {base}) since {day_text(since)}"
        touch = days_since(f, f.last_touch_at)
        if f.last_touch and touch is not None and touch <= SCORE_WINDOW_DAYS:
            reason += f" after {f.last_touch}"
        due = 0
    elif f.score >= HOT_FROM:
        reason += f"; the lead is hot (score {f.score})"
        due = 0
    else:
        reason += f" (score {f.score})"
        due = 1
    reason += f" → {verb.lower()} {due_text(due)}."
    return Suggestion("gone_quiet", kind, f"{verb} {f.who}", due, reason, _actions_for(kind))


def _next_moves(f: Facts) -> list[StepFact]:
    """Steps ahead of the current one that a transition reaches, that are not final (the
    converted and disqualified steps have their own forms)."""
    return sorted(
        (s for s in f.moves if not s.is_final and s.order > f.step.order), key=lambda s: s.order
    )


def contacted_not_moved(f: Facts) -> Suggestion | None:
    if not f.step.is_initial:
        return None
    contacts = _contacted(f)
    moves = _next_moves(f)
    if not contacts or not moves:
        return None
    target, last = moves[0], contacts[0]
    when = day_text(last.done_at or last.created_at)
    reason = (
        f"The {last.type} “{last.subject}” on {when} reached {f.who}, "
        f"but the lead is still in “{f.step.name}”."
    )
    return Suggestion(
        "contacted_not_moved",
        "move",
        f"Move to {target.name}",
        0,
        reason,
        actions=("move",),
        move_to_step_id=target.id,
        move_to_step=target.name,
    )


def score_reached_step(f: Facts) -> Suggestion | None:
    floor = f.qualified_step.order if f.qualified_step is not None else None
    ready = [
        s
        for s in _next_moves(f)
        if s.min_score is not None
        and s.min_score > 0
        and f.score >= s.min_score
        and (floor is None or s.order >= floor)
        and not (f.is_qualified and f.qualified_step is not None and s.id == f.qualified_step.id)
    ]
    if not ready:
        return None
    target = ready[-1]
    change = score_change(f)
    rose = f" (up from {change[0]} since {day_text(change[2])})" if change else ""
    reason = (
        f"The score is {f.score}{rose}, past the {target.min_score} that “{target.name}” asks "
        f"for; the lead is still in “{f.step.name}”."
    )
    return Suggestion(
        "score_reached_step",
        "move",
        f"Move to {target.name}",
        0,
        reason,
        actions=("move",),
        move_to_step_id=target.id,
        move_to_step=target.name,
    )


def _is_qualified(f: Facts) -> bool:
    if f.is_qualified:
        return True
    return f.qualified_step is not None and f.step.order >= f.qualified_step.order


def _meetings(f: Facts) -> tuple[list[ActivityFact], list[ActivityFact]]:
    held = [a for a in f.done_activities if a.type == "meeting"]
    booked = [a for a in f.open_activities if a.type == "meeting"]
    return held, booked


def qualified_no_meeting(f: Facts) -> Suggestion | None:
    if not _is_qualified(f):
        return None
    held, booked = _meetings(f)
    if held or booked:
        return None
    since = days_since(f, f.qualified_at)
    when = f"Qualified {ago_text(since)}" if since is not None else f"In “{f.step.name}”"
    reason = f"{when} with score {f.score}, but no meeting has been held or booked."
    return Suggestion(
        "qualified_no_meeting",
        "meeting",
        f"Book a meeting or demo with {f.who}",
        MEETING_IN_DAYS,
        reason,
        actions=("task",),
    )


def ready_to_convert(f: Facts) -> Suggestion | None:
    if not _is_qualified(f):
        return None
    held, _ = _meetings(f)
    if not held:
        return None
    meeting = held[0]
    reason = (
        f"Qualified with score {f.score} and the meeting “{meeting.subject}” was held on "
        f"{day_text(meeting.done_at or meeting.created_at)}."
    )
    return Suggestion(
        "ready_to_convert", "move", "Convert to a deal", 1, reason, actions=("convert",)
    )


def bant_gaps(f: Facts) -> Suggestion | None:
    analysed = _analysed_on(f)
    if analysed is None:
        return None
    gaps = [
        row["key"]
        for row in bant_status(f.insights)
        if row["key"] in BANT_GAP_WORDS and row["state"] != "known"
    ]
    if not gaps:
        return None
    asks = [BANT_GAP_WORDS[k][0] for k in gaps]
    found = [BANT_GAP_WORDS[k][1] for k in gaps]
    subject = "Confirm " + _join(asks)
    if _done_since(f, subject, analysed):
        return None
    reason = f"The analysis of {day_text(analysed)} found {_join(found)}."
    return Suggestion("bant_gaps", "call", subject, 1, reason, actions=("task",))


def step_idle(f: Facts) -> Suggestion | None:
    since = days_since(f, f.step_since)
    proposal = "proposal" in f.step.name.lower()
    limit = PROPOSAL_IDLE_DAYS if proposal else STEP_IDLE_DAYS
    if since is None or since < limit:
        return None
    subject = "Follow up on the proposal" if proposal else f"Follow up to move past {f.step.name}"
    last = days_since(f, f.last_activity_at)
    reason = f"In “{f.step.name}” for {since} days"
    reason += f"; last activity {ago_text(last)}." if last is not None else "; no activity yet."
    return Suggestion("step_idle", "call", subject, 1, reason, actions=("task",))


def on_track(f: Facts) -> Suggestion | None:
    planned = _planned(f)
    if not planned:
        return None
    nxt = planned[0]
    when = f"for {day_text(nxt.due_at)}" if nxt.due_at else "without a date"
    reason = f"The {nxt.type} “{nxt.subject}” is planned {when}; nothing else needs doing now."
    return Suggestion("on_track", "none", f"Keep to the plan: {nxt.subject}", 0, reason)


def plan_next(f: Facts) -> Suggestion | None:
    if _planned(f):
        return None
    last = days_since(f, f.last_activity_at)
    when = f"its last activity was {ago_text(last)}" if last is not None else "it has none yet"
    reason = f"Nothing is planned on this lead and {when}."
    return Suggestion(
        "plan_next", "task", f"Plan the next step with {f.who}", 2, reason, actions=("task",)
    )


def _join(words: list[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


RULES = (
    overdue,
    first_contact,
    buying_signal,
    gone_quiet,
    contacted_not_moved,
    score_reached_step,
    qualified_no_meeting,
    ready_to_convert,
    bant_gaps,
    step_idle,
)
FALLBACKS = (on_track, plan_next)


def suggest(f: Facts) -> list[Suggestion]:
    """Every rule that fires, highest priority first (at most ``MAX_SUGGESTIONS``); the first
    is the next best action. A closed lead gets only ``closed``; when no rule fires, the
    fallback (keep to the plan, or plan the next step)."""
    done = closed(f)
    if done is not None:
        return [done]
    planned = {a.subject.strip().lower() for a in f.open_activities}
    out: list[Suggestion] = []
    for rule in RULES:
        found = rule(f)
        if found is None:
            continue
        if found.rule != "overdue" and found.subject.strip().lower() in planned:
            continue
        if all(s.subject != found.subject for s in out):
            out.append(found)
        if len(out) >= MAX_SUGGESTIONS:
            break
    if not out:
        for rule in FALLBACKS:
            found = rule(f)
            if found is not None:
                out.append(found)
                break
    return out
