"""The scoring rules: from one lead's inputs to its explained breakdown. No database here.

Each factor gives 0–100 and a reason in words. A category's score is the mean of its counted
factors (a factor with nothing to judge, such as an unknown location, is shown but not
counted). The total is the weighted sum of the category scores, the weights divided by their
sum, clamped to 0–100, then lowered by the inactivity decay, and rounded.

The breakdown stored in ``Lead.lead_score_factors``::

    {"version": 1, "total": 62, "raw_total": 65.3, "profile": "Default",
     "decay": {"factor": 0.95, "days_inactive": 34, "reason": "…"},
     "categories": [{"key": "demographic", "name": "Demographic", "weight": 0.25, "score": 70.0,
                     "factors": [{"key": "industry", "name": "Industry", "score": 100,
                                  "reason": "…", "counted": true}, …]}, …],
     "signals": {"inbound_emails": 2, …}}
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from leads.models import Lead
from leads.scoring import defaults
from leads.selectors import email_domain

BREAKDOWN_VERSION = 1

CATEGORY_NAMES = {
    "demographic": "Demographic",
    "behavioural": "Behavioural",
    "interaction": "Interaction",
    "ai": "AI-derived",
}
NEUTRAL = 50
SOURCE_LABELS = dict(Lead.Source.choices)


@dataclass(frozen=True)
class Settings:
    """A scoring profile as plain data, read once per rescore run."""

    name: str = defaults.DEFAULT_PROFILE_NAME
    weights: Mapping[str, float] = field(default_factory=lambda: dict(defaults.DEFAULT_WEIGHTS))
    industry_field: str = "industry"
    target_industries: frozenset[str] = frozenset(
        s.lower() for s in defaults.default_target_industries()
    )
    company_size_field: str = "company_size"
    target_company_sizes: frozenset[str] = frozenset(defaults.default_target_company_sizes())
    location_field: str = "country"
    target_locations: tuple[str, ...] = ()
    source_values: Mapping[str, float] = field(default_factory=defaults.default_source_values)
    saturation: Mapping[str, int] = field(
        default_factory=lambda: {
            "inbound_emails": 5,
            "form_submissions": 3,
            "web_visits": 10,
            "content_downloads": 3,
            "calls": 3,
            "meetings": 2,
        }
    )
    engagement_window_days: int = 90
    activity_kinds: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: {k: tuple(v) for k, v in defaults.default_activity_kinds().items()}
    )
    response_time_bands: tuple[tuple[float, float], ...] = tuple(
        (float(h), float(s)) for h, s in defaults.default_response_time_bands()
    )
    recency_half_life_days: int = 14
    decay_after_days: int = 30
    decay_half_life_days: int = 60
    auto_qualify_threshold: int | None = defaults.DEFAULT_AUTO_QUALIFY_THRESHOLD

    @classmethod
    def from_profile(cls, profile) -> Settings:
        kinds = {**defaults.default_activity_kinds(), **(profile.activity_kinds or {})}
        return cls(
            name=profile.name,
            weights=profile.weights,
            industry_field=profile.industry_field,
            target_industries=frozenset(s.strip().lower() for s in profile.target_industries or []),
            company_size_field=profile.company_size_field,
            target_company_sizes=frozenset(
                s.strip().lower() for s in profile.target_company_sizes or []
            ),
            location_field=profile.location_field,
            target_locations=tuple(s.strip().lower() for s in profile.target_locations or []),
            source_values=dict(profile.source_values or {}),
            saturation={
                "inbound_emails": profile.inbound_email_saturation,
                "form_submissions": profile.form_submission_saturation,
                "web_visits": profile.web_visit_saturation,
                "content_downloads": profile.content_download_saturation,
                "calls": profile.calls_saturation,
                "meetings": profile.meetings_saturation,
            },
            engagement_window_days=profile.engagement_window_days,
            activity_kinds={k: tuple(v) for k, v in kinds.items()},
            response_time_bands=tuple(
                (float(h), float(s)) for h, s in profile.response_time_bands or []
            ),
            recency_half_life_days=max(1, profile.recency_half_life_days),
            decay_after_days=profile.decay_after_days,
            decay_half_life_days=profile.decay_half_life_days,
            auto_qualify_threshold=profile.auto_qualify_threshold,
        )

    @property
    def normalized_weights(self) -> dict[str, float]:
        total = sum(max(0.0, w) for w in self.weights.values())
        if total <= 0:  # the profile's validation forbids it; never divide by zero
            return {k: 1 / len(CATEGORY_NAMES) for k in CATEGORY_NAMES}
        return {k: max(0.0, self.weights.get(k, 0.0)) / total for k in CATEGORY_NAMES}


@dataclass
class Signals:
    """What a lead's activities say, aggregated (``leads.scoring.inputs``)."""

    inbound_emails: int = 0
    form_submissions: int = 0
    web_visits: int = 0
    content_downloads: int = 0
    calls: int = 0
    meetings: int = 0
    first_response_at: datetime | None = None
    last_activity_at: datetime | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "inbound_emails": self.inbound_emails,
            "form_submissions": self.form_submissions,
            "web_visits": self.web_visits,
            "content_downloads": self.content_downloads,
            "calls": self.calls,
            "meetings": self.meetings,
            "responded": self.first_response_at is not None,
        }


@dataclass
class LeadInputs:
    """Everything the rules look at for one lead."""

    created_at: datetime
    source: str = ""
    company_name: str = ""
    contact_email: str = ""
    custom_field_values: Mapping[str, Any] = field(default_factory=dict)
    organization_name: str = ""
    organization_industry: str = ""
    organization_size: str = ""
    organization_address: str = ""
    organization_domain: str = ""
    ai_insights: Mapping[str, Any] = field(default_factory=dict)
    last_activity_at: datetime | None = None
    signals: Signals = field(default_factory=Signals)


def _factor(key: str, name: str, score: float, reason: str, counted: bool = True) -> dict:
    return {
        "key": key,
        "name": name,
        "score": int(round(min(100.0, max(0.0, score)))),
        "reason": reason,
        "counted": counted,
    }


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value if v not in (None, ""))
    return str(value).strip()


# --- demographic ---------------------------------------------------------------------------------
def industry_of(inputs: LeadInputs, settings: Settings) -> str:
    """The lead's industry: its custom field when filled, else its organization's."""
    return _text(inputs.custom_field_values.get(settings.industry_field)) or (
        inputs.organization_industry or ""
    )


def company_size_of(inputs: LeadInputs, settings: Settings) -> str:
    return _text(inputs.custom_field_values.get(settings.company_size_field)) or (
        inputs.organization_size or ""
    )


def location_of(inputs: LeadInputs, settings: Settings) -> str:
    return _text(inputs.custom_field_values.get(settings.location_field)) or (
        inputs.organization_address or ""
    )


def _matches(value: str, targets: frozenset[str]) -> bool:
    parts = {p.strip().lower() for p in value.split(",")} | {value.strip().lower()}
    return bool(parts & targets)


def _industry(value: str, s: Settings) -> dict:
    if not s.target_industries:
        return _factor("industry", "Industry", NEUTRAL, "No target industries set.", False)
    if not value:
        return _factor("industry", "Industry", 0, "Industry unknown.")
    if _matches(value, s.target_industries):
        return _factor("industry", "Industry", 100, f"{value} is a target industry.")
    return _factor("industry", "Industry", 20, f"{value} is not a target industry.")


def _company_size(value: str, s: Settings) -> dict:
    if not s.target_company_sizes:
        return _factor("company_size", "Company size", NEUTRAL, "No target sizes set.", False)
    if not value:
        return _factor("company_size", "Company size", 0, "Company size unknown.")
    if _matches(value, s.target_company_sizes):
        return _factor("company_size", "Company size", 100, f"{value} employees is a target size.")
    return _factor("company_size", "Company size", 30, f"{value} employees is not a target size.")


def _company_domain(inputs: LeadInputs, s: Settings) -> dict:
    company = inputs.company_name or inputs.organization_name
    domain = email_domain(inputs.contact_email) or (inputs.organization_domain or "").lower()
    name = "Company and domain"
    if company and domain:
        return _factor("company_domain", name, 100, f"{company}, with its own domain {domain}.")
    if company:
        why = "a free-mail address" if inputs.contact_email else "no email address"
        return _factor("company_domain", name, 50, f"{company}, but {why}.")
    if domain:
        return _factor("company_domain", name, 50, f"Company domain {domain}; no company name.")
    return _factor("company_domain", name, 0, "No company name and no company domain.")


def _location(value: str, s: Settings) -> dict:
    if not s.target_locations:
        return _factor("location", "Location", NEUTRAL, "No target locations set.", False)
    if not value:
        return _factor("location", "Location", NEUTRAL, "Location unknown; not counted.", False)
    lowered = value.lower()
    if any(re.search(rf"\b{re.escape(t)}\b", lowered) for t in s.target_locations):
        return _factor("location", "Location", 100, f"{value} is in a target location.")
    return _factor("location", "Location", 20, f"{value} is outside the target locations.")


def _source(source: str, s: Settings) -> dict:
    label = SOURCE_LABELS.get(source, source or "none")
    value = s.source_values.get(source)
    if value is None:
        return _factor("source", "Source", 0, f"{label} is not a valued source.")
    return _factor("source", "Source", float(value), f"{label} is valued {value:g}.")


# --- behavioural ---------------------------------------------------------------------------------
def _saturating(key: str, name: str, count: int, full: int, what: str, window: str) -> dict:
    score = 100.0 * min(count, full) / full if full > 0 else 0.0
    noun = what if count == 1 else f"{what}s"
    return _factor(key, name, score, f"{count} {noun}{window}; {full} count fully.")


# (signal, factor name, noun) of the saturating counts, by category.
BEHAVIOURAL_COUNTS = (
    ("inbound_emails", "Inbound emails", "inbound email"),
    ("form_submissions", "Form submissions", "form submission"),
    ("web_visits", "Web visits", "web visit"),
    ("content_downloads", "Content downloads", "content download"),
)
INTERACTION_COUNTS = (
    ("calls", "Calls completed", "completed call"),
    ("meetings", "Meetings held", "meeting"),
)
BEHAVIOURAL_KEYS = frozenset(k for k, _, _ in BEHAVIOURAL_COUNTS)


# --- interaction ---------------------------------------------------------------------------------
def _hours(value: float) -> str:
    if value < 1:
        return f"{max(1, round(value * 60))} min"
    if value < 48:
        return f"{value:.1f} h".replace(".0 h", " h")
    return f"{value / 24:.0f} days"


def _first_response(inputs: LeadInputs, s: Settings) -> dict:
    name = "First response"
    first = inputs.signals.first_response_at
    if first is None:
        return _factor("first_response", name, 0, "No outbound contact yet.")
    hours = max(0.0, (first - inputs.created_at).total_seconds() / 3600)
    for limit, score in s.response_time_bands:
        if hours <= limit:
            return _factor(
                "first_response",
                name,
                score,
                f"First outbound contact after {_hours(hours)} "
                f"(within {_hours(limit)}: {score:g}).",
            )
    slowest = s.response_time_bands[-1][0] if s.response_time_bands else 0
    return _factor(
        "first_response",
        name,
        0,
        f"First outbound contact after {_hours(hours)}, slower than {_hours(slowest)}.",
    )


def last_activity(inputs: LeadInputs) -> datetime | None:
    times = [t for t in (inputs.last_activity_at, inputs.signals.last_activity_at) if t]
    return max(times) if times else None


def _recency(inputs: LeadInputs, s: Settings, now: datetime) -> dict:
    last = last_activity(inputs)
    if last is None:
        return _factor("recency", "Recent activity", 0, "No activity yet.")
    days = max(0.0, (now - last).total_seconds() / 86400)
    score = 100.0 * 0.5 ** (days / s.recency_half_life_days)
    when = "today" if days < 1 else f"{days:.0f} day{'s' if round(days) != 1 else ''} ago"
    return _factor(
        "recency",
        "Recent activity",
        score,
        f"Last activity {when}; halves every {s.recency_half_life_days} days.",
    )


# --- AI-derived ----------------------------------------------------------------------------------
AI_KEYS = {
    "budget": "Budget",
    "authority": "Authority",
    "need": "Need",
    "timeline": "Timeline",
    "sentiment": "Sentiment",
    "intent": "Intent",
}
# Words an analysis may use for a key's level, and what they are worth.
LEVEL_WORDS = {
    100: (
        "confirmed",
        "approved",
        "yes",
        "true",
        "very high",
        "very positive",
        "decision maker",
        "decision-maker",
        "economic buyer",
        "immediate",
        "urgent",
        "ready to buy",
    ),
    85: ("high", "strong", "positive", "hot", "this month", "this quarter", "champion"),
    65: ("medium", "moderate", "some", "likely", "warm", "next quarter", "influencer"),
    50: ("neutral", "mixed", "unknown", "unclear", "n/a", "not discussed", "tbd"),
    30: ("low", "weak", "limited", "unlikely", "next year", "later", "cold"),
    10: ("very low", "negative", "none", "no", "false", "not interested", "no budget"),
    0: ("very negative", "hostile", "rejected"),
}
_WORD_SCORES = {word: score for score, words in LEVEL_WORDS.items() for word in words}
_NEGATIVE_HINT = re.compile(r"\b(no|not|none|never|lack|lacks|without|unclear|unknown)\b")


def insight_score(key: str, value: Any) -> tuple[float, str] | None:
    """The 0–100 worth of one ``ai_insights`` entry and a short text of it; None if empty.

    Accepted shapes: a number (0–1 as a probability, over 1 as 0–100; for sentiment, −1…1 when
    negative), a boolean, a level word ("high", "confirmed", "next quarter"…), free text
    (something was found: 75, or 30 if it reads negative), a list (of pain points: 50 + 25 per
    item), or an object with a ``score`` or a ``level``/``value``/``status``/``summary``.
    """
    if value is None or value == "" or value == [] or value == {}:
        return None
    if isinstance(value, bool):
        return (100.0 if value else 0.0), ("yes" if value else "no")
    if isinstance(value, int | float):
        number = float(value)
        if key == "sentiment" and -1 <= number < 0:
            score = (number + 1) * 50
        elif 0 <= number <= 1:
            score = number * 100
        else:
            score = number
        return min(100.0, max(0.0, score)), f"{value:g}"
    if isinstance(value, Mapping):
        if isinstance(value.get("score"), int | float) and not isinstance(value["score"], bool):
            return insight_score(key, value["score"])
        for sub in ("level", "value", "status", "label", "summary", "text"):
            if value.get(sub) not in (None, ""):
                return insight_score(key, value[sub])
        return None
    if isinstance(value, list | tuple):
        items = [str(v) for v in value if v not in (None, "")]
        if not items:
            return None
        return min(100.0, 50.0 + 25 * len(items)), "; ".join(items)
    text = str(value).strip()
    lowered = text.lower().rstrip(".!")
    if lowered in _WORD_SCORES:
        return float(_WORD_SCORES[lowered]), text
    if key in ("sentiment", "intent"):
        return (30.0 if _NEGATIVE_HINT.search(lowered) else 60.0), text
    return (30.0 if _NEGATIVE_HINT.search(lowered) else 75.0), text


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _has_insights(insights: Any) -> bool:
    if not insights:
        return False
    return isinstance(insights, Mapping) and any(
        insights.get(k) not in (None, "", [], {}) for k in AI_KEYS
    )


NO_ANALYSIS = _factor("ai_analysis", "AI analysis", NEUTRAL, "No AI analysis yet: neutral 50.")


def _ai(insights: Mapping[str, Any]) -> list[dict]:
    factors = []
    for key, name in AI_KEYS.items():
        found = insight_score(key, insights.get(key))
        if found is None:
            factors.append(_factor(key, name, NEUTRAL, "Not in the analysis: neutral 50."))
        else:
            score, text = found
            value = insights.get(key)
            summary = value.get("summary") if isinstance(value, Mapping) else None
            reason = f"“{_short(text)}”"
            if isinstance(summary, str) and summary.strip() and summary.strip() != text:
                reason += f": {_short(summary.strip(), 80)}"
            factors.append(_factor(key, name, score, f"{reason}."))
    return factors


# --- total ----------------------------------------------------------------------------------------
def decay_factor(inputs: LeadInputs, s: Settings, now: datetime) -> tuple[float, int]:
    """The multiplier of the total for inactivity, and the days without activity (counted
    from the last activity, or from creation when there is none)."""
    since = last_activity(inputs) or inputs.created_at
    days = max(0.0, (now - since).total_seconds() / 86400)
    if s.decay_half_life_days <= 0 or days <= s.decay_after_days:
        return 1.0, int(days)
    return 0.5 ** ((days - s.decay_after_days) / s.decay_half_life_days), int(days)


_encode = json.encoder.encode_basestring  # a str as a JSON string literal (C-accelerated)


def _factor_json(f: dict) -> str:
    return (
        f'{{"key":{_encode(f["key"])},"name":{_encode(f["name"])},"score":{f["score"]},'
        f'"reason":{_encode(f["reason"])},"counted":{"true" if f["counted"] else "false"}}}'
    )


class Scorer:
    """Scores leads with one profile at one moment, and serializes their breakdowns.

    Factors that depend on one or two inputs (a source, an industry, a count) are built once
    and reused with their JSON: the bulk rescore's hot loop then mostly assembles strings.
    ``compute`` uses a scorer too, so one lead and a million are scored by the same code.
    """

    CACHE_LIMIT = 100_000

    def __init__(self, settings: Settings, now: datetime):
        self.settings = settings
        self.now = now
        self.weights = settings.normalized_weights
        self.window = (
            f" in {settings.engagement_window_days} days" if settings.engagement_window_days else ""
        )
        self.profile_json = json.dumps(settings.name)
        self.rounded_weights = {k: round(w, 4) for k, w in self.weights.items()}
        # The constant start of each category's JSON object.
        self.category_heads = {
            key: f'{{"key":"{key}","name":{_encode(name)},"weight":{self.rounded_weights[key]!r},'
            for key, name in CATEGORY_NAMES.items()
        }
        self._cache: dict[tuple, tuple[dict, str]] = {}
        self._signals: dict[tuple, str] = {}

    def _cached(self, key: tuple, build) -> tuple[dict, str]:
        hit = self._cache.get(key)
        if hit is None:
            factor = build()
            hit = (factor, _factor_json(factor))
            if len(self._cache) < self.CACHE_LIMIT:
                self._cache[key] = hit
        return hit

    @staticmethod
    def _fresh(factor: dict) -> tuple[dict, str]:
        return factor, _factor_json(factor)

    def _count(self, key: str, name: str, noun: str, count: int) -> tuple[dict, str]:
        full = self.settings.saturation[key]
        window = self.window if key in BEHAVIOURAL_KEYS else ""
        return self._cached((key, count), lambda: _saturating(key, name, count, full, noun, window))

    def _groups(self, inputs: LeadInputs) -> list[tuple[str, list[tuple[dict, str]]]]:
        s, sig = self.settings, inputs.signals
        industry = industry_of(inputs, s)
        size = company_size_of(inputs, s)
        location = location_of(inputs, s) if s.target_locations else ""
        demographic = [
            self._cached(("industry", industry), lambda: _industry(industry, s)),
            self._cached(("company_size", size), lambda: _company_size(size, s)),
            self._fresh(_company_domain(inputs, s)),
            self._cached(("location", location), lambda: _location(location, s)),
            self._cached(("source", inputs.source), lambda: _source(inputs.source, s)),
        ]
        behavioural = [
            self._count(key, name, noun, getattr(sig, key))
            for key, name, noun in BEHAVIOURAL_COUNTS
        ]
        interaction = [
            self._fresh(_first_response(inputs, s)),
            *(
                self._count(key, name, noun, getattr(sig, key))
                for key, name, noun in INTERACTION_COUNTS
            ),
            self._fresh(_recency(inputs, s, self.now)),
        ]
        if _has_insights(inputs.ai_insights):
            ai = [self._fresh(f) for f in _ai(inputs.ai_insights)]
        else:
            ai = [self._cached(("ai_analysis",), lambda: NO_ANALYSIS)]
        return [
            ("demographic", demographic),
            ("behavioural", behavioural),
            ("interaction", interaction),
            ("ai", ai),
        ]

    def score(self, inputs: LeadInputs, *, as_dict: bool = True) -> tuple[int, dict | None, str]:
        """The total, the breakdown (unless ``as_dict`` is False: the bulk rescore stores
        the JSON only) and the breakdown as JSON."""
        categories, parts = [], []
        raw = 0.0
        for key, factors in self._groups(inputs):
            counted = [f["score"] for f, _ in factors if f["counted"]]
            score = sum(counted) / len(counted) if counted else float(NEUTRAL)
            weight = self.weights[key]
            raw += weight * score
            weight, score = self.rounded_weights[key], round(score, 1)
            if as_dict:
                categories.append(
                    {
                        "key": key,
                        "name": CATEGORY_NAMES[key],
                        "weight": weight,
                        "score": score,
                        "factors": [f for f, _ in factors],
                    }
                )
            parts.append(
                f'{self.category_heads[key]}"score":{score!r},'
                f'"factors":[{",".join([j for _, j in factors])}]}}'
            )
        raw = min(100.0, max(0.0, raw))
        multiplier, days = decay_factor(inputs, self.settings, self.now)
        decay = None
        if multiplier < 1.0:
            decay = {
                "factor": round(multiplier, 3),
                "days_inactive": days,
                "reason": (
                    f"No activity for {days} days: the score is multiplied by {multiplier:.2f} "
                    f"(halving every {self.settings.decay_half_life_days} days after "
                    f"{self.settings.decay_after_days})."
                ),
            }
        total = min(100, max(0, int(math.floor(raw * multiplier + 0.5))))
        signals = inputs.signals.as_json()
        document = (
            f'{{"version":{BREAKDOWN_VERSION},"total":{total},"raw_total":{round(raw, 1)!r},'
            f'"profile":{self.profile_json},"decay":{json.dumps(decay) if decay else "null"},'
            f'"categories":[{",".join(parts)}],"signals":{self._signals_json(signals)}}}'
        )
        if not as_dict:
            return total, None, document
        breakdown = {
            "version": BREAKDOWN_VERSION,
            "total": total,
            "raw_total": round(raw, 1),
            "profile": self.settings.name,
            "decay": decay,
            "categories": categories,
            "signals": signals,
        }
        return total, breakdown, document

    def _signals_json(self, signals: dict) -> str:
        key = tuple(signals.values())
        hit = self._signals.get(key)
        if hit is None:
            hit = json.dumps(signals)
            if len(self._signals) < self.CACHE_LIMIT:
                self._signals[key] = hit
        return hit


def compute(inputs: LeadInputs, settings: Settings, now: datetime) -> dict:
    """The breakdown of one lead (see the module docstring)."""
    return Scorer(settings, now).score(inputs)[1]
