"""Offline understanding: a request in words → one intent and its arguments.

Pure text work, no database: what the words may name beyond the product's own terms (the
workflow steps, the users, the custom fields and their choices) comes in a ``Vocabulary``
that the caller builds for the user (``aiagent.commands.vocabulary_for``). ``parse`` never
decides what a user may see or do: the intents run through the same tools as Claude's calls,
with the user's rights (``aiagent.commands``).

Declined: an NLU library (Rasa, spaCy's matchers, a trained classifier). The requests reps
make of a CRM are a closed set of a dozen intents whose arguments are the product's own
terms; ordered patterns over a typo-corrected text, checked by a corpus of phrasings
(``tests/aiagent/intent_corpus.py``), are small, explainable and need no model at run time.
Typo correction uses rapidfuzz, as the duplicate rules do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from rapidfuzz import fuzz, process

from aiagent.dates import WEEKDAYS, add_months, number, parse_when

# --- what the words name ---------------------------------------------------------------------
THIS = "this"  # the conversation's record (the page the drawer was opened on)
TEMPERATURES = ("hot", "warm", "cold")
ACTIVITY_TYPES = {
    "call": "call",
    "phone": "call",
    "ring": "call",
    "meeting": "meeting",
    "meet": "meeting",
    "demo": "meeting",
    "task": "task",
    "reminder": "task",
    "todo": "task",
    "to-do": "task",
    "email": "email",
    "e-mail": "email",
    "mail": "email",
    "note": "note",
}
# Lead sources by the words reps use for them (``Lead.Source`` values). Longest first.
SOURCE_WORDS = {
    "cold calls": "cold_call",
    "cold calling": "cold_call",
    "cold call": "cold_call",
    "email campaigns": "email_campaign",
    "email campaign": "email_campaign",
    "newsletters": "email_campaign",
    "newsletter": "email_campaign",
    "mailings": "email_campaign",
    "mailing": "email_campaign",
    "social media": "social",
    "linkedin": "social",
    "twitter": "social",
    "facebook": "social",
    "social": "social",
    "trade shows": "event",
    "trade show": "event",
    "conferences": "event",
    "conference": "event",
    "webinars": "event",
    "webinar": "event",
    "events": "event",
    "event": "event",
    "referrals": "referral",
    "referral": "referral",
    "referred": "referral",
    "partners": "partner",
    "partner": "partner",
    "google ads": "advertising",
    "advertising": "advertising",
    "adverts": "advertising",
    "ads": "advertising",
    "websites": "web",
    "website": "web",
    "web form": "web",
    "web": "web",
    "inbound": "web",
    "imported": "import",
    "imports": "import",
    "import": "import",
}
MONTHS = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
]
MONTH_ABBR = {m[:3]: i + 1 for i, m in enumerate(MONTHS)} | {"sept": 9}

# The words the patterns below look for: a word of the request within a typo of one of these
# is read as it (only lower-case words of four letters or more; names are left alone).
KEYWORDS = sorted(
    set(
        """
        leads lead deals deal hot warm cold show list find search summarize summarise summary
        schedule remind reminder tomorrow today yesterday qualified qualify disqualify
        disqualified convert converted analyze analyse assign assigned move meeting call task
        email note overdue activities tasks metrics pipeline opportunities next week month
        quarter year count many number created closing close open won lost score owned people
        contacts organizations organisations companies accounts draft write follow followup
        prospects record overview status details everyone team mine please between above below
        least most including include closed webinar webinars referral referrals partner partners
        website advertising social newsletter conference event events calendar agenda upcoming
        suggest recommend should friday monday tuesday wednesday thursday saturday sunday january
        february march april june july august september october november december weeks months
        days unqualified contacted contact prospect account calls meetings analysis create added
        came last past stats called named stage step steps proposal pricing budget morning
        afternoon evening tonight drop want need have does done into over under less more than
        since when where what which with this that from your their them they about after before
        give hand mark send sent push again later soon thanks thank okay sure know going doing
        would could story situation catch brief tell also just only some much each every other
        like look found tried talked spoke reply replied emailed phoned ones here there then were
        been being share same week's today's monday's demo demos discovery negotiation initial
        """.split()  # noqa: SIM905 - a list of words reads best as words
    )
)
_KEYWORD_SET = frozenset(KEYWORDS)


@dataclass(frozen=True)
class Vocabulary:
    """What the user's words may name in this installation."""

    lead_steps: tuple[str, ...] = ()
    deal_steps: tuple[str, ...] = ()
    # Every way to name a user (username, first name, full name; lower case) → username.
    users: dict[str, str] = field(default_factory=dict)
    # Lead custom fields: name → label and choices (empty for free text).
    custom_fields: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)


@dataclass(frozen=True)
class Intent:
    name: str
    args: dict = field(default_factory=dict)


# --- the text --------------------------------------------------------------------------------
def normalize(text: str) -> str:
    """One line, no trailing punctuation, curly quotes straightened, typos of the product's
    words corrected (e.g. "summarise my hott leds" → "summarise my hot leads")."""
    text = (text or "").replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')
    text = " ".join(text.strip().rstrip("?!. ").split())
    text = re.sub(r"[\s,]+(?:please|pls|plz|thanks|thank you|thx|ty)$", "", text, flags=re.I)
    words = []
    for word in text.split(" "):
        core = word.strip(",;:")
        if len(core) >= 4 and core.isalpha() and core.islower() and core not in _KEYWORD_SET:
            found = process.extractOne(core, KEYWORDS, scorer=fuzz.ratio, score_cutoff=80)
            # The same first letter: a typo rarely changes it, and another word often does.
            if found and found[0][0] == core[0] and abs(len(found[0]) - len(core)) <= 2:
                word = word.replace(core, found[0])
        words.append(word)
    return " ".join(words)


# --- periods and days ------------------------------------------------------------------------
def _quarter(year: int, q: int) -> tuple[date, date]:
    start = date(year, 3 * (q - 1) + 1, 1)
    return start, add_months(start, 3) - timedelta(days=1)


def _month(year: int, month: int) -> tuple[date, date]:
    start = date(year, month, 1)
    return start, add_months(start, 1) - timedelta(days=1)


_PERIOD = re.compile(
    r"\b(?P<p>today|yesterday|this week|last week|past week|next week|this month|last month|"
    r"past month|next month|this quarter|last quarter|next quarter|this year|last year|"
    r"(?:in )?the (?:last|past) (?:\d+|\w+) (?:days?|weeks?|months?)|"
    r"(?:in )?(?:the )?(?:last|past) (?:\d+|\w+) (?:days?|weeks?|months?)|"
    r"q[1-4](?: \d{4})?|since (?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|"
    r"\d{4}-\d{2}-\d{2})|in (?:" + "|".join(MONTHS) + r"|" + "|".join(MONTH_ABBR) + r")\b"
    r"(?: \d{4})?)",
    re.I,
)


def period(text: str, today: date) -> tuple[date, date, str] | None:
    """The first period the text names, as (first day, last day, the words); None if none."""
    match = _PERIOD.search(text)
    if not match:
        return None
    words = match.group("p").lower()
    try:
        start_end = _period_bounds(words, today)
    except (ValueError, OverflowError):  # "since 2026-13-45", "the last 10**12 days"
        return None
    return (*start_end, match.group(0)) if start_end else None


def _period_bounds(words: str, today: date) -> tuple[date, date] | None:
    monday = today - timedelta(days=today.weekday())
    if words == "today":
        return today, today
    if words == "yesterday":
        return today - timedelta(days=1), today - timedelta(days=1)
    if words == "this week":
        return monday, monday + timedelta(days=6)
    if words in ("last week", "past week"):
        return monday - timedelta(days=7), monday - timedelta(days=1)
    if words == "next week":
        return monday + timedelta(days=7), monday + timedelta(days=13)
    if words == "this month":
        return _month(today.year, today.month)
    if words in ("last month", "past month"):
        previous = add_months(today.replace(day=1), -1)
        return _month(previous.year, previous.month)
    if words == "next month":
        following = add_months(today.replace(day=1), 1)
        return _month(following.year, following.month)
    q = (today.month - 1) // 3 + 1
    if words == "this quarter":
        return _quarter(today.year, q)
    if words == "last quarter":
        return _quarter(today.year - (q == 1), 4 if q == 1 else q - 1)
    if words == "next quarter":
        return _quarter(today.year + (q == 4), 1 if q == 4 else q + 1)
    if words == "this year":
        return date(today.year, 1, 1), date(today.year, 12, 31)
    if words == "last year":
        return date(today.year - 1, 1, 1), date(today.year - 1, 12, 31)
    match = re.match(r"(?:in )?(?:the )?(?:last|past) (\d+|\w+) (day|week|month)s?", words)
    if match:
        amount = number(match.group(1))
        if amount is None:
            return None
        unit = match.group(2)
        if unit == "day":
            return today - timedelta(days=amount - 1), today
        if unit == "week":
            return today - timedelta(weeks=amount) + timedelta(days=1), today
        return add_months(today, -amount) + timedelta(days=1), today
    match = re.match(r"q([1-4])(?: (\d{4}))?", words)
    if match:
        return _quarter(int(match.group(2) or today.year), int(match.group(1)))
    match = re.match(r"since (\w+|\d{4}-\d{2}-\d{2})", words)
    if match:
        since = match.group(1)
        if since in WEEKDAYS:
            back = (today.weekday() - WEEKDAYS.index(since)) % 7
            return today - timedelta(days=back), today
        return date.fromisoformat(since), today
    match = re.match(r"in (\w+)(?: (\d{4}))?", words)
    if match:
        month = MONTH_ABBR.get(match.group(1)[:3]) if match.group(1)[:3] in MONTH_ABBR else None
        if month is None:
            return None
        year = int(match.group(2)) if match.group(2) else today.year
        if not match.group(2) and month > today.month:
            year -= 1  # "in November" said in March: the last November
        return _month(year, month)
    return None


_DUE = re.compile(
    r"\b(?:by |before |on |for |at |due |due on |due by )?(?P<d>"
    r"end of (?:the )?(?:day|week|month|quarter|year|q[1-4])|"
    r"(?:the )?day after tomorrow|tomorrow(?: morning| afternoon| evening)?|"
    r"today|tonight|this afternoon|this morning|this evening|"
    r"next (?:week|month)|next (?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)|"
    r"(?:this )?(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)|"
    r"in (?:\d+|a|an|one|two|three|four|five|six|seven|eight|nine|ten) "
    r"(?:days?|weeks?|months?|hours?)|"
    r"\d{4}-\d{2}-\d{2}|"
    r"(?:" + "|".join(MONTHS) + "|" + "|".join(MONTH_ABBR) + r")\.? \d{1,2}(?:st|nd|rd|th)?|"
    r"\d{1,2}(?:st|nd|rd|th)? (?:of )?(?:" + "|".join(MONTHS) + "|" + "|".join(MONTH_ABBR) + r")"
    r")(?: at \d{1,2}(?::\d{2})? ?(?:am|pm)?| at noon| in the (?:morning|afternoon))?\b|"
    r"\bat \d{1,2}(?::\d{2})? ?(?:am|pm)\b",
    re.I,
)


def due(text: str, now: datetime) -> tuple[datetime | None, str]:
    """The moment a task is due as the text says it (and the words that said it); none for a
    day that does not exist or lies beyond the calendar."""
    try:
        return _due(text, now)
    except (ValueError, OverflowError):
        return None, ""


def _due(text: str, now: datetime) -> tuple[datetime | None, str]:
    match = _DUE.search(text)
    if not match:
        return None, ""
    words = match.group(0)
    lowered = words.lower()
    lowered = re.sub(r"^(?:due )?(by|before|on|for|at) (?!\d)|^due ", "", lowered)
    today = now.date()
    end = re.search(r"end of (?:the )?(day|week|month|quarter|year|q([1-4]))", lowered)
    if end:
        unit, q = end.group(1), end.group(2)
        if unit == "day":
            day = today
        elif unit == "week":
            day = today + timedelta(days=(4 - today.weekday()) % 7)  # Friday
        elif unit == "month":
            day = _month(today.year, today.month)[1]
        elif unit == "year":
            day = date(today.year, 12, 31)
        else:
            quarter = int(q) if q else (today.month - 1) // 3 + 1
            day = _quarter(today.year, quarter)[1]
            if day < today:
                day = _quarter(today.year + 1, quarter)[1]
        return _on(day, lowered, now), words
    named = re.search(
        r"(?:(" + "|".join(MONTHS) + "|" + "|".join(MONTH_ABBR) + r")\.? (\d{1,2})"
        r"|(\d{1,2})(?:st|nd|rd|th)? (?:of )?("
        + "|".join(MONTHS)
        + "|"
        + "|".join(MONTH_ABBR)
        + r"))",
        lowered,
    )
    if named:
        month = MONTH_ABBR[(named.group(1) or named.group(4))[:3]]
        day_number = int(named.group(2) or named.group(3))
        try:
            day = date(today.year, month, day_number)
        except ValueError:
            return None, ""
        if day < today:
            day = date(today.year + 1, month, day_number)
        return _on(day, lowered[named.end() :], now), words
    lowered = lowered.replace("this ", "") if re.match(r"this \w+day", lowered) else lowered
    moment = parse_when(lowered, now=now)
    weekday = re.match(r"next (" + "|".join(WEEKDAYS) + ")", lowered)
    if moment is not None and weekday:
        # "next Friday": the Friday of next week ("Friday" alone is the coming one).
        next_monday = today + timedelta(days=7 - today.weekday())
        if moment.date() < next_monday:
            moment += timedelta(days=7)
    return moment, words


def _on(day: date, rest: str, now: datetime) -> datetime | None:
    """``day`` at the time ``rest`` names ("at 3pm"), else at the default hour."""
    at = (
        parse_when("today " + rest, now=now)
        if re.search(r"\bat\b|morning|afternoon", rest)
        else None
    )
    moment = parse_when("today", now=now)
    if moment is None:
        return None
    moment = moment.replace(year=day.year, month=day.month, day=day.day)
    return moment.replace(hour=at.hour, minute=at.minute) if at else moment


# --- records named in the request ------------------------------------------------------------
_THIS_WORDS = re.compile(
    r"^(?:(?:this|that|the|current|the current|same)\s*(?:lead|deal|one|record|person|contact|"
    r"organi[sz]ation|company|account|opportunity)?|it|here|him|her|them)$",
    re.I,
)
_KIND_WORDS = {
    "lead": "lead",
    "deal": "deal",
    "opportunity": "deal",
    "person": "person",
    "contact": "person",
    "organization": "organization",
    "organisation": "organization",
    "company": "organization",
    "account": "organization",
}


_RECORD_LINK = re.compile(
    r"/(?P<kind>leads|deals|people|organizations)/(?P<id>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-"
    r"[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})/"
)
_LINK_KINDS = {
    "leads": "lead",
    "deals": "deal",
    "people": "person",
    "organizations": "organization",
}


def target(words: str) -> dict:
    """The record a request is about: ``{"target": THIS}`` for "this lead", "it" or nothing,
    else its name, with the kind when the words give it ("the deal Acme platform")."""
    words = (words or "").strip().strip("\"'").strip()
    link = _RECORD_LINK.search(words)
    if link:  # a record's link pasted into the chat
        return {"target": link.group("id").lower(), "kind": _LINK_KINDS[link.group("kind")]}
    words = re.sub(r"^(?:on|for|about|of|with|to)\s+", "", words, flags=re.I)
    kind = None
    match = re.match(
        r"^(?:the\s+)?(lead|deal|opportunity|person|contact|organi[sz]ation|company|account)\b"
        r"\s*(?:called|named)?\s*",
        words,
        re.I,
    )
    if match and words[match.end() :].strip():
        kind = _KIND_WORDS[match.group(1).lower()]
        words = words[match.end() :]
    match = re.search(
        r"\s+(lead|deal|opportunity|record)$", words, re.I
    )  # "the Acme lead" → "Acme" (a lead)
    if match and not _THIS_WORDS.match(words):
        kind = kind or _KIND_WORDS.get(match.group(1).lower())
        words = words[: match.start()]
    words = re.sub(r"^the\s+", "", words.strip(), flags=re.I).strip().strip("\"'")
    if not words or _THIS_WORDS.match(words):
        this_kind = re.search(
            r"(lead|deal|opportunity|person|contact|organi[sz]ation|company|account)", words, re.I
        )
        args = {"target": THIS}
        if this_kind:
            args["kind"] = _KIND_WORDS[this_kind.group(1).lower().replace("organis", "organiz")]
        return args
    return {"target": words, **({"kind": kind} if kind else {})}


# --- filters of lists and counts -------------------------------------------------------------
def _find_step(text: str, steps: tuple[str, ...]) -> str | None:
    lowered = text.lower()
    for step in sorted(steps, key=len, reverse=True):
        name = step.lower()
        if re.search(
            rf"\b(?:in|at|to|into|on)\s+(?:the\s+)?{re.escape(name)}(?:\s+(?:step|stage))?\b",
            lowered,
        ) or re.search(rf"\b{re.escape(name)}\s+(?:step|stage)\b", lowered):
            return step
    return None


def _find_user(text: str, vocab: Vocabulary, patterns: tuple[str, ...]) -> str | None:
    lowered = text.lower()
    for pattern in patterns:
        for name in sorted(vocab.users, key=len, reverse=True):
            if re.search(pattern.format(name=re.escape(name)), lowered):
                return vocab.users[name]
    return None


_OWNER_PATTERNS = (
    r"\b(?:owned by|assigned to|belonging to|of|for)\s+{name}\b",
    r"\b(?:does|did|has)\s+{name}\s+(?:own|have|got)\b",
    r"\b{name}\s+(?:owns|has)\b",
    r"\b{name}'s\b",
    r"\b{name}s\s+(?:leads|deals)\b",
)


def _custom_fields(text: str, vocab: Vocabulary) -> dict:
    found: dict[str, str] = {}
    lowered = text.lower()
    for name, (label, choices) in vocab.custom_fields.items():
        for choice in sorted(choices, key=len, reverse=True):
            if re.search(rf"(?<![\w-]){re.escape(choice.lower())}(?![\w-])", lowered):
                found[name] = choice
                break
        else:
            match = re.search(
                rf"\b{re.escape(label.lower())}\s+(?:is|=|:|of)\s+([\w&/+ -]+?)(?:\s+(?:and|with|"
                r"from|in|created|closing)\b|$)",
                lowered,
            )
            if match:
                found[name] = match.group(1).strip()
    return found


def _score_range(text: str) -> dict:
    lowered = text.lower()
    args: dict = {}
    match = re.search(
        r"\bscores?d?\s+(?:of\s+)?(?:between|from)\s+(\d{1,3})\s+(?:and|to|-)\s+"
        r"(\d{1,3})\b",
        lowered,
    )
    if match:
        return {"score_min": int(match.group(1)), "score_max": int(match.group(2))}
    match = re.search(
        r"\bscores?d?\s*(?:of\s+)?(?:(above|over|more than|greater than|higher than|at least|"
        r">=|>|min(?:imum)?)|(below|under|less than|lower than|at most|<=|<|max(?:imum)?))\s*"
        r"(\d{1,3})\b",
        lowered,
    ) or re.search(r"\bscores?d?\s+(\d{1,3})\s*(\+|or more|and up|or less|or below)?", lowered)
    if match and match.lastindex == 3:
        value = int(match.group(3))
        above, below = match.group(1), match.group(2)
        if above:
            strict = above in ("above", "over", "more than", "greater than", "higher than", ">")
            args["score_min"] = min(value + strict, 100)
        elif below:
            strict = below in ("below", "under", "less than", "lower than", "<")
            args["score_max"] = max(value - strict, 0)
    elif match:
        value = int(match.group(1))
        suffix = match.group(2) or ""
        if suffix in ("or less", "or below"):
            args["score_max"] = value
        else:
            args["score_min"] = value
    return args


def _lead_source(text: str) -> tuple[str | None, str]:
    lowered = text.lower()
    for words, source in SOURCE_WORDS.items():
        match = re.search(rf"\b{re.escape(words)}\b", lowered)
        if match:
            if words in ("email", "mail") and not re.search(r"\bfrom\b", lowered):
                continue
            return source, lowered[: match.start()] + lowered[match.end() :]
    return None, lowered


def list_filters(text: str, vocab: Vocabulary, today: date, *, kind: str = "lead") -> dict:
    """The filters a list or count request gives, as the search tools take them."""
    args: dict = {}
    lowered = text.lower()
    if kind == "lead":
        source, lowered = _lead_source(lowered)
        if source:
            args["source"] = source
    # Who: mine, someone's, or everyone's (what the user may see).
    if re.search(r"\b(?:team|everyone|everybody|all reps|whole company|company-wide)\b", lowered):
        args["scope"] = "all"
    elif re.search(
        r"\b(?:my|mine|assigned to me|on my plate|for me)\b|\bi\s+(?:have|own|should|need|am|"
        r"work|got)\b|\bdo i\b",
        lowered,
    ):
        args["scope"] = "mine"
    owner = _find_user(lowered, vocab, _OWNER_PATTERNS)
    if owner:
        args["owner"] = owner
        args.pop("scope", None)
    if kind == "lead":
        temperature = re.search(r"\b(hot|hottest|warm|cold|coldest)\b", lowered)
        if temperature:
            args["temperature"] = (
                temperature.group(1).replace("hottest", "hot").replace("coldest", "cold")
            )
        if re.search(r"\b(?:unqualified|not qualified|not yet qualified)\b", lowered):
            args["qualified"] = False
        elif re.search(r"(?<!dis)\bqualified\b", lowered) and not re.search(
            r"\b(?:in|at)\s+(?:the\s+)?qualified\b", lowered
        ):
            args["qualified"] = True
        if re.search(r"\bdisqualified\b", lowered):
            args["state"] = "disqualified"
        elif re.search(r"\bconverted\b", lowered):
            args["state"] = "converted"
        elif re.search(
            r"\b(?:all (?:the )?leads including|including (?:closed|converted|disqualified)|"
            r"closed or open|open or closed|any status|every status)\b",
            lowered,
        ):
            args["state"] = "all"
        elif re.search(r"\bclosed\b", lowered):
            args["state"] = "closed"
        args.update(_score_range(lowered))
        if re.search(r"\b(?:unassigned|not assigned|no assignee|nobody assigned)\b", lowered):
            args["unassigned"] = True
        idle = re.search(
            r"\b(?:no activity|not touched|untouched|idle|no contact|nothing)\s+(?:in|for|since)\s+"
            r"(?:the last\s+|the past\s+)?(\d+|\w+)\s+(day|week|month)s?\b",
            lowered,
        )
        if idle and number(idle.group(1)):
            args["idle_days"] = (
                number(idle.group(1)) * {"day": 1, "week": 7, "month": 30}[idle.group(2)]
            )
            lowered = lowered[: idle.start()] + lowered[idle.end() :]
        step = _find_step(lowered, vocab.lead_steps)
    else:
        for word in ("won", "lost", "open"):
            if re.search(rf"\b{word}\b", lowered):
                args["outcome"] = word
        step = _find_step(lowered, vocab.deal_steps)
        amount = re.search(
            r"\b(?:over|above|more than|worth more than|bigger than|at least)\s+"
            r"[$€£]?\s?(\d[\d,.]*)\s*(k|m|thousand|million)?\b",
            lowered,
        )
        if amount and re.fullmatch(r"\d{1,3}(?:,\d{3})*(?:\.\d+)?|\d+(?:\.\d+)?", amount.group(1)):
            value = float(amount.group(1).replace(",", ""))
            value *= {"k": 1e3, "thousand": 1e3, "m": 1e6, "million": 1e6}.get(
                amount.group(2) or "", 1
            )
            args["amount_min"] = int(value)
    if step:
        args["step"] = step
    # When: closing in a period, else created in it.
    found = period(lowered, today)
    if found:
        start, end, words = found
        before = lowered[: lowered.find(words.lower())]
        if re.search(
            r"\b(?:clos(?:e|es|ing)|expected to close|due to close)\s*(?:date\s*)?$",
            before.strip() + " ",
        ) or re.search(r"\bclos(?:e|es|ing)\b", lowered):
            args["close_after"], args["close_before"] = start.isoformat(), end.isoformat()
        else:
            args["created_after"], args["created_before"] = start.isoformat(), end.isoformat()
    if kind == "lead":
        fields = _custom_fields(lowered, vocab)
        if fields:
            args["custom_fields"] = fields
    query = re.search(
        r"\b(?:[Nn]amed|[Cc]alled|[Mm]atching|[Cc]ontaining|with the name|[Aa]bout|at company|"
        r"at(?=\s+[A-Z]))\s+[\"']?([^\"']+?)[\"']?(?:\s+(?:from|in|created|closing|with|owned)"
        r"\b|$)",
        text,
    )
    if query and not period(query.group(1), today):
        args["query"] = query.group(1).strip()
    return args


# --- the intents -----------------------------------------------------------------------------
_PLEASE = r"^(?:(?:please|pls|can you|could you|would you|kindly|hey|ok|okay)\s+)*"
_ACTIVITY_NOUNS = "|".join(sorted(map(re.escape, ACTIVITY_TYPES), key=len, reverse=True))


def parse(text: str, *, vocab: Vocabulary | None = None, now: datetime) -> Intent:
    """The intent of one request, and its arguments (see ``tests/aiagent/intent_corpus.py``)."""
    vocab = vocab or Vocabulary()
    clean = normalize(text)
    lowered = clean.lower()
    body = re.sub(_PLEASE, "", lowered)
    body_text = clean[len(clean) - len(body) :] if body else ""
    today = now.date()
    for rule in RULES:
        intent = rule(body, body_text, vocab, now, today)
        if intent is not None:
            return intent
    return Intent("unknown")


def _help(body, text, vocab, now, today):
    if re.fullmatch(
        r"(?:help|\?|commands|menu|what can you do|what do you do|what can i ask(?: you)?|"
        r"how (?:does this|do i use this|can you help)(?: work)?|hi|hello|hey)(?: me)?",
        body,
    ):
        return Intent("help")
    return None


def _draft_email(body, text, vocab, now, today):
    match = re.match(
        r"(?:draft|write|compose|prepare)\s+(?:me\s+)?(?:an?\s+|the\s+)?(?:follow[- ]?up\s+)?"
        r"(?:e-?mail|mail|message|reply)\b(?:\s+(?:to|for|on|about)\s+(?P<who>.+))?$",
        body,
    ) or re.match(
        r"(?:email|e-mail|mail|write to)\s+(?P<who>.+?)(?:\s+(?:about|regarding)\s+.+)?$", body
    )
    if not match:
        return None
    who = match.group("who") or ""
    return Intent("draft_email", target(text[match.start("who") : match.end("who")] if who else ""))


def _remind(body, text, vocab, now, today):
    """ "remind me to call Dana on Friday", "don't let me forget to send the proposal"."""
    match = re.match(
        r"(?:remind me|set a reminder|don't let me forget|do not let me forget|"
        r"add a reminder)(?:\s+(?P<when>(?!to\b|that\b|about\b|for\b).+?))?\s+"
        r"(?:to|that i (?:need|have) to|about|for)\s+(?P<what>.+)$",
        body,
    )
    if not match:
        return None
    what_text = text[match.start("what") :]
    if match.group("when"):  # "remind me tomorrow to call Dana"
        what_text += " " + text[match.start("when") : match.end("when")]
    when, words = due(what_text, now)
    if words:
        what_text = _without(what_text, words)
    verb = re.match(
        r"(call|phone|ring|email|e-mail|mail|meet(?: with)?|follow up with|follow up on|"
        r"check in with|send\b.*?\bto)\s+(?P<who>.+)$",
        what_text,
        re.I,
    )
    args: dict = {"subject": _sentence(what_text)}
    if verb:
        first = verb.group(1).split()[0].lower()
        args["type"] = {
            "call": "call",
            "phone": "call",
            "ring": "call",
            "email": "email",
            "e-mail": "email",
            "mail": "email",
            "meet": "meeting",
        }.get(first, "task")
        args.update(target(verb.group("who")))
    else:
        args["type"] = "task"
        about = re.search(r"\b(?:for|to|on|with)\s+(?P<who>[A-Z][\w&.' -]+)$", what_text)
        args.update(target(about.group("who") if about else ""))
    if when is not None:
        args["due_at"] = when.isoformat()
    return Intent("create_activity", args)


def _create_activity(body, text, vocab, now, today):
    match = re.match(
        r"(?P<verb>create|add|schedule|plan|log|set up|setup|book|make|arrange|record|put in)\s+"
        r"(?:a\s+|an\s+|the\s+|another\s+)?(?P<follow>follow[- ]?up\s+)?"
        rf"(?P<kind>{_ACTIVITY_NOUNS})(?:\s+call)?\b\s*(?P<rest>.*)$",
        body,
    )
    imperative = None
    if not match:
        imperative = re.match(r"(?P<kind>call|ring|phone|meet(?: with)?)\s+(?P<rest>.+)$", body)
        if not imperative or not due(body, now)[1]:
            return None
    found = match or imperative
    kind_word = found.group("kind").split()[0]
    activity_type = ACTIVITY_TYPES.get(kind_word, "task")
    rest = text[found.start("rest") :] if found.group("rest") else ""
    when, words = due(rest, now)
    if words:
        rest = _without(rest, words)
    subject = None
    clause = re.match(r"^to\s+(?P<s>.+?)\s+(?:for|with|on)\s+(?P<who>.+)$", rest.strip(), re.I)
    if clause:  # "a task to send pricing for Acme"
        subject, rest = clause.group("s"), clause.group("who")
    rest = re.sub(r"^(?:with|for|to|on|about|at|regarding)\s+", "", rest.strip(), flags=re.I)
    about = re.search(r"\s+(?:about|regarding|re:?|to discuss)\s+(?P<s>.+)$", rest, re.I)
    if about and not subject:
        subject = about.group("s").strip()
        rest = rest[: about.start()]
    args: dict = {"type": activity_type}
    if match and match.group("verb") in ("log", "record"):
        args["done"] = True
    if (match and match.group("follow")) or "follow" in kind_word:
        args["follow_up"] = True
    if subject:
        args["subject"] = subject[:1].upper() + subject[1:]
    args.update(target(rest))
    if when is not None:
        args["due_at"] = when.isoformat()
    return Intent("create_activity", args)


def _move(body, text, vocab, now, today):
    match = re.match(
        r"(?:move|advance|push|set|put|progress|bump|shift|change)\s+(?P<who>.+?)\s+"
        r"(?:to|into|on to|onto)\s+(?:the\s+)?(?P<step>.+?)(?:\s+(?:step|stage|column))?"
        r"(?:\s+because\s+(?P<reason>.+))?$",
        body,
    ) or re.match(
        r"(?:mark|set)\s+(?P<who>.+?)\s+as\s+(?P<step>won|lost|closed won|closed lost)"
        r"(?:\s+because\s+(?P<reason>.+))?$",
        body,
    )
    if not match:
        return None
    step_words = match.group("step").strip()
    steps = vocab.lead_steps + vocab.deal_steps
    step = next((s for s in steps if s.lower() == step_words), None)
    if step is None:
        named = {"won": "Closed Won", "lost": "Closed Lost", "next": "next", "next step": "next"}
        step = named.get(step_words)
        if step and step != "next" and step not in steps and steps:
            step = next((s for s in steps if step_words in s.lower()), step)
    if step is None:
        best = process.extractOne(step_words, list(steps), scorer=fuzz.WRatio, score_cutoff=85)
        step = best[0] if best else step_words.title()
    args = {**target(text[match.start("who") : match.end("who")]), "step": step}
    if match.group("reason"):
        args["reason"] = text[match.start("reason") :].strip()
    return Intent("move", args)


def _verb_on_record(name: str, verbs: str):
    pattern = re.compile(rf"(?:{verbs})(?:\s+(?P<who>.+?))?$")

    def rule(body, text, vocab, now, today):
        match = pattern.match(body)
        if not match:
            return None
        who = text[match.start("who") : match.end("who")] if match.group("who") else ""
        return Intent(name, target(who))

    return rule


def _disqualify(body, text, vocab, now, today):
    match = re.match(
        r"(?:disqualify|disqualified|drop|reject|mark as disqualified)\s+(?P<who>.+?)"
        r"(?:\s*(?:because|as|since|reason:?|due to|-|,)\s+(?P<reason>.+))?$",
        body,
    ) or re.match(r"(?:disqualify|disqualified)(?:\s+(?:because|since)\s+(?P<reason>.+))?$", body)
    if not match:
        return None
    who = match.groupdict().get("who")
    args = target(text[match.start("who") : match.end("who")] if who else "")
    if match.group("reason"):
        args["reason"] = text[match.start("reason") :].strip()
    return Intent("disqualify", args)


def _assign(body, text, vocab, now, today):
    match = re.match(
        r"(?:assign|reassign)\s+(?P<user>me|myself)\s+(?:to|on)\s+(?P<who>.+)$", body
    ) or re.match(
        r"(?:assign|reassign|give|hand(?: over)?|transfer)\s+(?P<who>.+?)\s+(?:over\s+)?to\s+"
        r"(?P<user>.+)$",
        body,
    )
    if not match:
        return None
    user_words = match.group("user").strip()
    if user_words in ("me", "myself"):
        assignee = "me"
    else:
        assignee = (
            vocab.users.get(user_words)
            or _find_user(user_words, vocab, (r"\b{name}\b",))
            or user_words
        )
    return Intent(
        "assign", {**target(text[match.start("who") : match.end("who")]), "assignee": assignee}
    )


def _next_action(body, text, vocab, now, today):
    match = re.match(
        r"(?:what(?:'s| is| are)?\s+(?:the\s+)?(?:my\s+)?next(?:\s+(?:best\s+)?"
        r"(?:steps?|actions?|move))?|what should (?:i|we) do(?: next)?|what now|what do i do next|"
        r"what do (?:i|we) do now|next (?:best )?(?:steps?|actions?)|suggest (?:a |the )?next "
        r"(?:steps?|actions?)|how (?:do|can|should) (?:i|we) (?:move|push|take) (?:this|it|.+?) "
        r"forward|recommend (?:a |the )?next (?:steps?|actions?)|any suggestions|"
        r"what(?:'s| is) the next best action)"
        r"(?:\s+(?:for|on|with|about|regarding)\s+(?P<who>.+?))?(?:\s+next)?$",
        body,
    )
    if not match:
        return None
    who = text[match.start("who") : match.end("who")] if match.group("who") else ""
    return Intent("next_action", target(who))


def _summarize(body, text, vocab, now, today):
    match = re.match(
        r"(?:summari[sz]e|sum up|recap|brief me on|give me (?:a |an )?(?:summary|overview|recap|"
        r"rundown)(?: of| on)?|(?:a |an )?(?:summary|overview|recap|rundown) of|"
        r"tell me about|tell me more about|what(?:'s| is) (?:the )?(?:status|story|deal|"
        r"situation) (?:of|with|on)|what do we know about|where are we (?:with|on)|"
        r"what(?:'s| is) going on with|catch me up on|status of|details of|describe)"
        r"(?:\s+(?P<who>.+?))?$",
        body,
    )
    if not match:
        return None
    who = text[match.start("who") : match.end("who")] if match.group("who") else ""
    return Intent("summarize", target(who))


def _count(body, text, vocab, now, today):
    match = re.search(
        r"\b(?:h[a-z]{0,3} many|number of|count(?: of)?|total(?: number of)?|how much)\b", body
    )
    if not match:
        return None
    if re.search(r"\bdeals?\b|\bopportunit(?:y|ies)\b|\bpipeline\b", body):
        return Intent("count_deals", list_filters(text, vocab, today, kind="deal"))
    if re.search(r"\b(?:tasks?|activities|calls|meetings)\b", body) and not re.search(
        r"\bleads?\b", body
    ):
        return Intent("list_activities", _activity_filter(body))
    return Intent("count_leads", list_filters(text, vocab, today))


def _metrics(body, text, vocab, now, today):
    if not re.search(
        r"\b(?:metrics|kpis?|stats|statistics|conversion rate|qualification rate|"
        r"how (?:am i|are we) doing|performance|numbers|funnel|overview of (?:my |the )?leads)\b",
        body,
    ):
        return None
    args: dict = {}
    if re.search(r"\b(?:my|mine|am i)\b", body):
        args["scope"] = "mine"
    found = period(body, today)
    if found:
        args["created_after"], args["created_before"] = found[0].isoformat(), found[1].isoformat()
    return Intent("lead_metrics", args)


def _activity_filter(body: str) -> dict:
    if re.search(r"\boverdue|late|missed|past due\b", body):
        return {"status": "overdue"}
    if re.search(r"\btoday|my day|agenda\b", body):
        return {"status": "today"}
    if re.search(r"\bthis week|upcoming|coming up|next few days\b", body):
        return {"status": "week"}
    return {"status": "open"}


def _activities(body, text, vocab, now, today):
    if re.search(
        r"\b(?:my\s+)?(?:activities|tasks|to-?dos?|follow-?ups|reminders|calls|meetings)\b|"
        r"\boverdue\b|\bdue today\b|\bagenda\b|\bmy day\b|\bcalendar\b|\bon my plate\b",
        body,
    ) and not re.search(r"\b(?:leads?|deals?)\b", body):
        return Intent("list_activities", _activity_filter(body))
    return None


def _deals(body, text, vocab, now, today):
    if re.search(r"\bdeals?\b|\bopportunit(?:y|ies)\b|\bpipeline\b", body):
        return Intent("list_deals", list_filters(text, vocab, today, kind="deal"))
    return None


def _leads(body, text, vocab, now, today):
    if re.search(
        r"\bleads?\b|\bprospects?\b|\b(?:hot|warm|cold|hottest)\s+ones\b|^(?:show|list|find)\s+"
        r"(?:me\s+)?(?:my\s+|all\s+)?(?:hot|warm|cold|hottest)\b",
        body,
    ):
        return Intent("list_leads", list_filters(text, vocab, today))
    return None


def _people(body, text, vocab, now, today):
    match = re.search(
        r"\b(?:people|contacts|persons|who works)\b(?:\s+(?:at|from|in|named|called|for))?\s*"
        r"(?P<q>.*)$",
        body,
    )
    if not match:
        return None
    query = text[match.start("q") :].strip() if match.group("q") else ""
    return Intent("search_people", {"query": query} if query else {})


def _organizations(body, text, vocab, now, today):
    match = re.search(
        r"\b(?:organi[sz]ations|companies|accounts)\b(?:\s+(?:named|called|in|matching))?\s*"
        r"(?P<q>.*)$",
        body,
    )
    if not match:
        return None
    query = text[match.start("q") :].strip() if match.group("q") else ""
    return Intent("search_organizations", {"query": query} if query else {})


def _record_link(body, text, vocab, now, today):
    if _RECORD_LINK.search(text):  # a record's link alone, or "what about <link>"
        return Intent("summarize", target(text))
    return None


def _show(body, text, vocab, now, today):
    match = re.match(r"(?:show|open|get|find|look up|pull up|go to)\s+(?:me\s+)?(?P<who>.+)$", body)
    if not match:
        return None
    return Intent("summarize", target(text[match.start("who") :]))


def _without(text: str, words: str) -> str:
    index = text.lower().find(words.lower())
    if index < 0:
        return text
    return " ".join((text[:index] + " " + text[index + len(words) :]).split())


def _sentence(text: str) -> str:
    text = " ".join(text.split()).strip(" ,.")
    return text[:1].upper() + text[1:]


RULES = [
    _help,
    _remind,
    _draft_email,
    _create_activity,
    _assign,
    _disqualify,
    _verb_on_record("qualify", r"qualify|mark as qualified"),
    _verb_on_record("convert", r"convert"),
    _verb_on_record("analyze", r"analy[sz]e|assess|evaluate|run (?:an )?analysis on"),
    _move,
    _next_action,
    _summarize,
    _record_link,
    _count,
    _metrics,
    _activities,
    _deals,
    _leads,
    _people,
    _organizations,
    _show,
]
