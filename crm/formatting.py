"""How values read on screen, in one place: money, ages, contact links and badges.

Used by the record tables' cells (built in Python: a page renders hundreds of them, and a
template include per cell costs several times more), by the template filters in
``crm.templatetags.crm_tags`` and by the AI agent's answers, so a lead's value reads the same
everywhere.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

DASH = "—"

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


def when(value, fmt: str = "M j, Y") -> SafeString | str:
    """A date as text with its exact value in the tooltip."""
    from django.template.defaultfilters import date as date_filter

    if not value:
        return DASH
    exact = date_filter(value, "M j, Y H:i" if isinstance(value, datetime) else "M j, Y")
    return format_html('<span title="{}">{}</span>', exact, date_filter(value, fmt))


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
    from django.template.defaultfilters import date as date_filter

    return format_html(
        '<time datetime="{}" title="{}">{}</time>',
        value.isoformat(),
        date_filter(value, "M j, Y H:i"),
        text,
    )


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
    score = score or 0
    band = temperature(score)
    return format_html(
        '<span class="badge score-badge score-{}" title="Score {} ({})" data-score="{}">{}</span>',
        band,
        score,
        band,
        score,
        score,
    )


def step_badge(step) -> SafeString:
    """A workflow step in its status colour; won and lost steps get their state's colour."""
    outcome = getattr(step, "outcome", "none") or "none"
    return format_html(
        '<span class="badge step-badge step-{}" style="--step-color: {}">{}</span>',
        outcome,
        getattr(step, "color", "") or "#6c757d",
        step.name,
    )


def state_badge(label: str, state: str) -> SafeString:
    """A small state label (``converted``, ``won``, ``lost``, ``inactive``) with readable
    contrast in light and dark mode (``.state-badge.state-<state>`` in app.css)."""
    return format_html('<span class="badge state-badge state-{}">{}</span>', state, label)


def person_name(user) -> str:
    return user.display_name if user else DASH
