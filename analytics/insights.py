"""Plain-language observations about a period, computed deterministically from the
dashboard's own figures (no model involved). Each says why it was raised and links to the
table that shows the records behind it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from leads.models import Lead

# An observation is raised only past these thresholds, so a quiet week says nothing.
SOURCE_CHANGE = 0.5  # this week vs the trailing weekly average, either way
SOURCE_MIN_AVERAGE = 3  # leads per week: below it, swings are noise
STEP_TIME_FACTOR = 2.0  # the median time in a step doubled (or halved)
STEP_MIN_LEADS = 3


@dataclass(frozen=True)
class Insight:
    text: str
    why: str
    url: str
    tone: str  # "up", "down" or "info"


def source_trends(
    counts: dict[tuple[date, str], int], *, today: date, weeks: int, link
) -> list[Insight]:
    """This week (the last 7 days) per source against the average of the ``weeks`` weeks
    before it. ``link(source, start, end)`` gives the table URL."""
    this_start = today - timedelta(days=6)
    before_start = this_start - timedelta(days=7 * weeks)
    now: dict[str, int] = {}
    before: dict[str, int] = {}
    for (day, source), n in counts.items():
        if this_start <= day <= today:
            now[source] = now.get(source, 0) + n
        elif before_start <= day < this_start:
            before[source] = before.get(source, 0) + n
    labels = dict(Lead.Source.choices)
    found = []
    for source in sorted(set(now) | set(before)):
        average = before.get(source, 0) / weeks
        if average < SOURCE_MIN_AVERAGE:
            continue
        current = now.get(source, 0)
        delta = (current - average) / average
        if abs(delta) < SOURCE_CHANGE:
            continue
        label = labels.get(source, source)
        verb = "rose" if delta > 0 else "fell"
        found.append(
            Insight(
                text=f"{label} leads {verb} {abs(delta):.0%} this week vs the {weeks}-week average",
                why=f"{current} in the last 7 days; {average:.1f} a week on average over the "
                f"{weeks} weeks before.",
                url=link(source, this_start, today),
                tone="up" if delta > 0 else "down",
            )
        )
    return found


def step_times(funnel: list[dict], *, link) -> list[Insight]:
    """Steps whose median time doubled or halved against the previous period.
    ``link(step_id)`` gives the table URL."""
    found = []
    for row in funnel:
        now, before = row.get("median_seconds"), row.get("median_seconds_before")
        if not now or not before or row["reached"] < STEP_MIN_LEADS:
            continue
        factor = now / before
        if factor >= STEP_TIME_FACTOR:
            grew = "doubled" if factor < 3 else f"grew {factor:.1f}×"
            text = f"{row['name']} step median time {grew}"
            tone = "down"
        elif factor <= 1 / STEP_TIME_FACTOR:
            text = f"{row['name']} step median time halved"
            tone = "up"
        else:
            continue
        found.append(
            Insight(
                text=text,
                why=f"{_duration(now)} now vs {_duration(before)} in the previous period.",
                url=link(row["step_id"]),
                tone=tone,
            )
        )
    return found


def rate_changes(label: str, now: float | None, before: float | None, *, url: str) -> list[Insight]:
    """A rate that moved by 10 points or more against the previous period."""
    if now is None or before is None or abs(now - before) < 0.10:
        return []
    verb = "rose" if now > before else "fell"
    return [
        Insight(
            text=f"{label} {verb} from {before:.0%} to {now:.0%}",
            why="Against the previous period of the same length.",
            url=url,
            tone="up" if now > before else "down",
        )
    ]


def _duration(seconds: float) -> str:
    if seconds >= 86400:
        return f"{seconds / 86400:.1f} days"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} hours"
    return f"{seconds / 60:.0f} minutes"


duration = _duration
