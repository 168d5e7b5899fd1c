"""How values read on screen, in one place: money, ages, contact links and badges.

Used by the record tables' cells (built in Python: a page renders hundreds of them, and a
template include per cell costs several times more), by the template filters in
``crm.templatetags.crm_tags`` and by the AI agent's answers, so a lead's value reads the same
everywhere.
"""

from __future__ import annotations

import html
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from django.utils import timezone
from django.utils.dates import MONTHS_3
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

DASH = "—"


def esc(value) -> str:
    """``conditional_escape`` without its lazy-argument wrapper, which costs more than the
    escaping itself: text that is already safe as it is, anything else escaped (the same
    output). For HTML built in Python a page at a time (cells, badges)."""
    if hasattr(value, "__html__"):
        return value.__html__()
    return html.escape(str(value))


# Symbols for the currencies teams use most; any other code is written after the amount.
CURRENCY_SYMBOLS = {
    "EUR": "€",
    "USD": "$",
    "GBP": "£",
    "JPY": "¥",
    "CHF": "CHF ",
    "CAD": "CA$",
    "AUD": "A$",
    "INR": "₹",
}

# Score temperature (SPEC §6 Scoring): the legend the tables and cards show.
WARM_FROM = 40
HOT_FROM = 70
TEMPERATURES = (
    ("cold", f"Cold (0–{WARM_FROM - 1})"),
    ("warm", f"Warm ({WARM_FROM}–{HOT_FROM - 1})"),
    ("hot", f"Hot ({HOT_FROM}–100)"),
)


def money(amount, currency: str = "") -> str:
    """``€82,600`` / ``$3,600.50`` / ``82,600 SEK``: grouped, decimals only when not whole."""
    if amount is None or amount == "":
        return DASH
    try:
        value = Decimal(str(amount))
    except (InvalidOperation, ValueError):
        return str(amount)
    whole = value == value.to_integral_value()
    number = f"{value:,.0f}" if whole else f"{value:,.2f}"
    code = (currency or "").upper()
    symbol = CURRENCY_SYMBOLS.get(code)
    if symbol is not None:
        sign, number = ("-", number[1:]) if number.startswith("-") else ("", number)
        return f"{sign}{symbol}{number}"
    return f"{number} {code}".strip()


def age(value, now: datetime | None = None) -> str:
    """How long ago, in one short unit: ``now``, ``5 min``, ``3 h``, ``3 d``, ``2 w``,
    ``4 mo``, ``2 y``. Dates count from midnight."""
    if value is None:
        return DASH
    now = now or timezone.now()
    if isinstance(value, date) and not isinstance(value, datetime):
        value = timezone.make_aware(datetime(value.year, value.month, value.day))
    seconds = max(0, int((now - value).total_seconds()))
    if seconds < 60:
        return "now"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours = minutes // 60
    if hours < 24:
        return f"{hours} h"
    days = hours // 24
    if days < 14:
        return f"{days} d"
    if days < 60:
        return f"{days // 7} w"
    if days < 365:
        return f"{days // 30} mo"
    return f"{days // 365} y"


def day_text(value) -> str:
    """``Dec 4, 2026``: the ``date`` filter's ``M j, Y`` (its month names translated), written
    directly: it costs a tenth of the filter, and cards and cells write one per record.
    A datetime is written in its own time zone, as the filter called from Python does."""
    return f"{MONTHS_3[value.month].title()} {value.day}, {value.year:04d}"


def exact_text(value) -> str:
    """``Dec 4, 2026 14:05`` (``M j, Y H:i``) for a datetime; a date has no time (``""``,
    as the ``date`` filter gives)."""
    if not isinstance(value, datetime):
        return ""
    return f"{day_text(value)} {value.hour:02d}:{value.minute:02d}"


def when(value, fmt: str = "M j, Y") -> SafeString | str:
    """A date as text with its exact value in the tooltip."""
    from django.template.defaultfilters import date as date_filter

    if not value:
        return DASH
    if not isinstance(value, date):  # as the ``date`` filter reads anything else
        title, text = date_filter(value, "M j, Y"), date_filter(value, fmt)
    else:
        title = exact_text(value) if isinstance(value, datetime) else day_text(value)
        text = day_text(value) if fmt == "M j, Y" else date_filter(value, fmt)
    return mark_safe(f'<span title="{esc(title)}">{esc(text)}</span>')


def ago(value) -> SafeString | str:
    """A relative age (``3 d``) with the exact time in the tooltip."""
    return _time(value, age(value)) if value else DASH


def since(value) -> SafeString | str:
    """The age for a sentence (``3 d ago``, ``just now``), with the exact time in the tooltip."""
    if not value:
        return DASH
    text = age(value)
    return _time(value, "just now" if text == "now" else f"{text} ago")


def _time(value, text: str) -> SafeString:
    stamp, title = esc(value.isoformat()), esc(exact_text(value))
    return mark_safe(f'<time datetime="{stamp}" title="{title}">{esc(text)}</time>')


def mailto(email: str) -> SafeString | str:
    if not email:
        return DASH
    return format_html('<a href="mailto:{}" class="text-truncate-link">{}</a>', email, email)


def tel(phone: str) -> SafeString | str:
    if not phone:
        return DASH
    digits = "".join(ch for ch in phone if ch.isdigit() or ch == "+")
    return format_html('<a href="tel:{}">{}</a>', digits, phone)


def temperature(score) -> str:
    score = score or 0
    if score >= HOT_FROM:
        return "hot"
    return "warm" if score >= WARM_FROM else "cold"


def score_badge(score) -> SafeString:
    return _score_badge(score or 0)


# Badges are written once per distinct value (a page shows a few steps and scores many times).
@lru_cache(maxsize=512)
def _score_badge(score) -> SafeString:
    band = temperature(score)
    score = esc(score)
    return mark_safe(
        f'<span class="badge score-badge score-{band}" title="Score {score} ({band})" '
        f'data-score="{score}">{score}</span>'
    )


def step_badge(step) -> SafeString:
    """A workflow step in its status colour; won and lost steps get their state's colour."""
    return _step_badge(
        getattr(step, "outcome", "none") or "none",
        getattr(step, "color", "") or "#6c757d",
        str(step.name),
    )


@lru_cache(maxsize=512)
def _step_badge(outcome: str, color: str, name: str) -> SafeString:
    return mark_safe(
        f'<span class="badge step-badge step-{esc(outcome)}" style="--step-color: {esc(color)}">'
        f"{esc(name)}</span>"
    )


def state_badge(label: str, state: str) -> SafeString:
    """A small state label (``converted``, ``won``, ``lost``, ``inactive``) with readable
    contrast in light and dark mode (``.state-badge.state-<state>`` in app.css)."""
    return mark_safe(f'<span class="badge state-badge state-{esc(state)}">{esc(label)}</span>')


def person_name(user) -> str:
    return user.display_name if user else DASH
