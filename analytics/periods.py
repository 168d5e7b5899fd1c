"""Reporting periods: presets, custom ranges and the previous period of equal length.

A period is a range of whole local days (``settings.TIME_ZONE``, or the active time zone),
``start`` and ``end`` both included. Its bounds as aware datetimes are the local midnights
that open ``start`` and close ``end``, so a lead created at 23:59 local time on the last day
counts and one created at 00:00 the day after does not, whatever the server's UTC offset.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.utils import timezone

from crm.dates import local_midnight

PRESETS: dict[str, str] = {
    "today": "Today",
    "this_week": "This week",
    "last_7_days": "Last 7 days",
    "last_30_days": "Last 30 days",
    "last_90_days": "Last 90 days",
    "this_month": "This month",
    "this_quarter": "This quarter",
    "this_year": "This year",
    "all": "All time",
    "custom": "Custom range",
}
DEFAULT_PRESET = "last_30_days"
# Dates outside these are brought to them: no record is that old or that far ahead, and the
# arithmetic around them (the previous period, a local midnight in UTC) stays in range.
EARLIEST, LATEST = date(1900, 1, 1), date(2999, 12, 31)


def clamp(day: date | None) -> date | None:
    return None if day is None else min(max(day, EARLIEST), LATEST)


@dataclass(frozen=True)
class Period:
    key: str
    start: date | None  # None: from the beginning (all time)
    end: date | None  # None: up to now (all time)

    @property
    def label(self) -> str:
        if self.key == "custom" and self.start and self.end:
            return f"{self.start:%d %b %Y} – {self.end:%d %b %Y}"
        return PRESETS.get(self.key, self.key)

    @property
    def is_all_time(self) -> bool:
        return self.start is None and self.end is None

    @property
    def days(self) -> int:
        if self.start is None or self.end is None:
            return 0
        return (self.end - self.start).days + 1

    def bounds(self) -> tuple[datetime | None, datetime | None]:
        """``[since, until)``: aware datetimes at the local midnights around the days."""
        since = local_midnight(self.start) if self.start else None
        until = local_midnight(self.end + timedelta(days=1)) if self.end else None
        return since, until

    def previous(self) -> Period | None:
        """The period of equal length that ends the day before this one starts."""
        if self.start is None or self.end is None or self.days <= 0:
            return None  # all time, open-ended, or a range that ends before it starts
        end = self.start - timedelta(days=1)
        return Period("previous", end - timedelta(days=self.days - 1), end)

    def query(self) -> dict[str, str]:
        """The table filters (``created_after`` / ``created_before``) for these days."""
        params = {}
        if self.start:
            params["created_after"] = self.start.isoformat()
        if self.end:
            params["created_before"] = self.end.isoformat()
        return params


def today() -> date:
    return timezone.localdate()


def preset(key: str, *, on: date | None = None) -> Period:
    """The preset period ``key`` as seen on day ``on`` (default: today, local)."""
    on = on or today()
    if key == "today":
        return Period(key, on, on)
    if key == "this_week":  # Monday to today
        return Period(key, on - timedelta(days=on.weekday()), on)
    if key in {"last_7_days", "last_30_days", "last_90_days"}:
        n = int(key.split("_")[1])
        return Period(key, on - timedelta(days=n - 1), on)
    if key == "this_month":
        return Period(key, on.replace(day=1), on)
    if key == "this_quarter":
        first_month = 3 * ((on.month - 1) // 3) + 1
        return Period(key, on.replace(month=first_month, day=1), on)
    if key == "this_year":
        return Period(key, on.replace(month=1, day=1), on)
    if key == "all":
        return Period(key, None, None)
    raise ValueError(f"Unknown period {key!r}")


def custom(start: date | None, end: date | None) -> Period:
    """Days ``start`` to ``end`` (clamped to ``EARLIEST``…``LATEST``); a range that ends
    before it starts holds no days."""
    start, end = clamp(start), clamp(end)
    if start is None and end is None:
        return Period("all", None, None)
    return Period("custom", start, end)


def month_bounds(on: date) -> tuple[date, date]:
    """The first and last day of ``on``'s month."""
    first = on.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return first, following - timedelta(days=1)
